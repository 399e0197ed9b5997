//! `cranebpf completions SHELL` and `cranebpf manpage [--dir DIR]`: shell
//! completion scripts and roff man pages generated from the clap
//! definition itself, so they can never disagree with the options the
//! command takes.

use super::{Cli, Failure};
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::path::PathBuf;

const COMPLETION_EXAMPLES: &str = "\
Examples:
  cranebpf completions bash > /etc/bash_completion.d/cranebpf
  cranebpf completions zsh > ~/.zfunc/_cranebpf
  cranebpf completions fish > ~/.config/fish/completions/cranebpf.fish";

/// Arguments of `completions`.
#[derive(Args, Debug)]
#[command(after_help = COMPLETION_EXAMPLES)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `manpage`.
#[derive(Args, Debug)]
pub struct ManpageArgs {
    /// Write cranebpf.1 and one cranebpf-SUBCOMMAND.1 per subcommand into
    /// this directory instead of printing cranebpf(1) on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script for the shell.
pub fn completions(args: CompletionsArgs) -> Result<i32, Failure> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "cranebpf", &mut script);
    super::ebpf::write_out(&String::from_utf8_lossy(&script))
}

/// Prints cranebpf(1), or writes every page into `--dir`.
pub fn manpage(args: ManpageArgs) -> Result<i32, Failure> {
    let mut command = Cli::command();
    command.build();
    let Some(dir) = args.dir else {
        return super::ebpf::write_out(&render(&command)?);
    };
    let write = |name: String, page: String| {
        let path = dir.join(name);
        std::fs::write(&path, page)
            .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))
    };
    write("cranebpf.1".into(), render(&command)?)?;
    let pages = command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help");
    for sub in pages {
        // Named as man(1) finds `man cranebpf-filter`.
        let page = sub.clone().name(format!("cranebpf-{}", sub.get_name()));
        write(format!("cranebpf-{}.1", sub.get_name()), render(&page)?)?;
    }
    Ok(0)
}

fn render(command: &clap::Command) -> Result<String, Failure> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut page)
        .map_err(|e| Failure::bad_input(format!("rendering the man page: {e}")))?;
    Ok(String::from_utf8_lossy(&page).into_owned())
}
