//! Output that is never left half-written: files go through
//! [`AtomicFile`] (a temporary file renamed into place when complete), and
//! an interruption (SIGINT, SIGTERM, SIGHUP) removes the temporary files
//! in progress and exits with 128 + the signal's number, as a shell reports
//! a process the signal killed. A closed pipe on stdout ends the command
//! at once with status 141 (128 + SIGPIPE), silently, as `cat` and tcpdump
//! end.

use super::Failure;
use cranebpf::capture::write::AtomicFile;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Exit status for a write to a closed pipe (128 + SIGPIPE).
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Temporary files being written, removed on an interruption. Held while
/// a file is committed, so an interruption comes before (the temporary
/// file goes) or after (the output is complete), never between.
static IN_PROGRESS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the temporary files in progress and ends the process with
/// `code`: what an interruption or a lost stdout does.
fn clean_exit(code: i32) -> ! {
    let files = IN_PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
    for tmp in files.iter() {
        let _ = std::fs::remove_file(tmp);
    }
    std::process::exit(code);
}

/// Writes `args` to stdout. A closed pipe ends the command at once with
/// [`EXIT_BROKEN_PIPE`], silently (`cranebpf check … | head -1`); any other
/// write error (a full disk behind a redirection) is named, with status 1.
/// Either way temporary output files go. This replaces `print!`, which
/// panics on such errors, so every subcommand's stdout behaves alike,
/// including callbacks that cannot return an error.
pub fn say(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            clean_exit(EXIT_BROKEN_PIPE);
        }
        eprintln!("cranebpf: stdout: {e}");
        clean_exit(super::EXIT_BAD_INPUT);
    }
}

/// `println!` through [`say`].
macro_rules! sayln {
    ($($arg:tt)*) => {
        $crate::output::say(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use sayln;

/// Starts the thread that waits for SIGINT, SIGTERM and SIGHUP.
pub fn watch_signals() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        // Without the watcher, the default action (ending the process)
        // stays: only the temporary-file cleanup is lost.
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            std::thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    clean_exit(128 + signal);
                }
            });
        }
    }
}

/// An output file created through a temporary one, removed on an
/// interruption until [`commit`] renames it into place.
pub fn create(path: &Path) -> Result<AtomicFile, Failure> {
    let mut files = IN_PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
    let file = AtomicFile::create(path).map_err(|e| write_failure(path, e))?;
    if let Some(tmp) = file.temp_path() {
        files.push(tmp.to_path_buf());
    }
    Ok(file)
}

/// Writes `bytes` to the file `path` whole or not at all: through a
/// temporary file, so the old one stays until the new one is complete.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut file = create(path)?;
    if let Err(e) = file.write_all(bytes) {
        abandon(file);
        return Err(write_failure(path, e));
    }
    commit(file, path)
}

/// Renames `file` into place (see [`create`]).
pub fn commit(file: AtomicFile, path: &Path) -> Result<(), Failure> {
    let mut files = IN_PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = file.temp_path().map(Path::to_path_buf);
    let result = file.commit();
    files.retain(|p| Some(p) != tmp.as_ref());
    result.map_err(|e| write_failure(path, e))
}

/// Forgets the temporary file of `file`, dropped uncommitted (which
/// removes it).
pub fn abandon(file: AtomicFile) {
    let mut files = IN_PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = file.temp_path().map(Path::to_path_buf);
    drop(file);
    files.retain(|p| Some(p) != tmp.as_ref());
}

/// The failure for a write to `path` (`-`: stdout): a closed pipe ends
/// the command silently with [`EXIT_BROKEN_PIPE`]; anything else (a full
/// disk) names the file.
pub fn write_failure(path: &Path, e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Failure {
            message: String::new(),
            code: EXIT_BROKEN_PIPE,
        };
    }
    let name = if path.as_os_str() == "-" {
        "stdout".to_string()
    } else {
        path.display().to_string()
    };
    Failure::bad_input(format!("{name}: {e}"))
}
