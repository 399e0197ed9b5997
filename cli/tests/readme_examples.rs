//! Keeps the README true: every ```` ```console ```` block in README.md is
//! a transcript — `$ cranebpf ARGS` lines, each followed by exactly what
//! the command prints on stdout — and this test runs each command from the
//! crate root and compares. A command expected to fail ends its output
//! with a line `[exit N]`; otherwise it must exit 0.

use std::path::PathBuf;
use std::process::Command;

/// One `$ cranebpf ...` line and what the README says it prints.
struct Example {
    line: usize,
    args: Vec<String>,
    stdout: String,
    exit: i32,
}

/// Splits a command line as a POSIX shell would for the quoting the README
/// uses: single quotes, double quotes (no expansions), backslash escapes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    for (n, line) in readme.lines().enumerate() {
        if !in_console {
            in_console = line.trim_end() == "```console";
            continue;
        }
        if line.trim_end() == "```" {
            in_console = false;
        } else if let Some(command) = line.strip_prefix("$ ") {
            let mut args = shell_words(command);
            assert_eq!(
                args.first().map(String::as_str),
                Some("cranebpf"),
                "README line {}: console examples run cranebpf",
                n + 1
            );
            args.remove(0);
            out.push(Example {
                line: n + 1,
                args,
                stdout: String::new(),
                exit: 0,
            });
        } else {
            let example = out
                .last_mut()
                .unwrap_or_else(|| panic!("README line {}: output before any command", n + 1));
            match line
                .strip_prefix("[exit ")
                .and_then(|r| r.strip_suffix(']'))
            {
                Some(code) => example.exit = code.parse().expect("[exit N]"),
                None => {
                    example.stdout.push_str(line);
                    example.stdout.push('\n');
                }
            }
        }
    }
    out
}

#[test]
fn shell_words_follow_the_shell() {
    assert_eq!(
        shell_words(r#"run 'tcp port 443' --mem "00 12" a\ b"#),
        ["run", "tcp port 443", "--mem", "00 12", "a b"]
    );
    assert_eq!(shell_words("check ''"), ["check", ""]);
}

#[test]
fn readme_console_examples_print_what_the_readme_says() {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let examples = examples(&readme);
    assert!(
        examples.len() >= 5,
        "only {} console examples found in README.md",
        examples.len()
    );
    for example in examples {
        let out = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
            .current_dir(&root)
            .args(&example.args)
            .output()
            .expect("run cranebpf");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            (out.status.code(), stdout.as_ref()),
            (Some(example.exit), example.stdout.as_str()),
            "README line {}: `cranebpf {}` printed something else (stderr: {})",
            example.line,
            example.args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
