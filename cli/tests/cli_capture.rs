//! The capture commands as tcpdump users type them: expressions in several
//! unquoted words, `-c N`, `-F FILE`, `-y LINKTYPE`, no expression at all
//! (keep everything), `-w -`.

mod support;

use cranebpf::capture::packets;
use std::process::Command;
use support::cli;

const SAMPLE: &str = "examples/sample.pcap";

#[test]
fn unquoted_words_are_one_expression() {
    let quoted = cli(&["filter", "-q", "-r", SAMPLE, "tcp port 443"]);
    let words = cli(&["filter", "-q", "-r", SAMPLE, "tcp", "port", "443"]);
    assert_eq!(quoted.0, 0, "{}", quoted.2);
    assert_eq!(quoted, words);
    assert_eq!(words.1.trim(), "202");
    // The same for run -r and for the program commands.
    let run = cli(&["run", "-r", SAMPLE, "tcp", "port", "443"]);
    assert_eq!(run.0, 0, "{}", run.2);
    assert_eq!(run.1.lines().filter(|l| *l != "0").count(), 202);
    let check = cli(&["check", "udp", "port", "53"]);
    assert_eq!((check.0, check.1.trim()), (0, "ok"));
}

#[test]
fn no_expression_keeps_every_packet() {
    let (code, out, err) = cli(&["filter", "-q", "-r", SAMPLE]);
    assert_eq!((code, out.trim()), (0, "400"), "{err}");
    // `-w -`: the whole capture on stdout, byte for byte.
    let out = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["filter", "-q", "-r", SAMPLE, "-w", "-"])
        .output()
        .expect("run cranebpf");
    assert!(out.status.success());
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/sample.pcap"
    ));
    assert!(out.stdout == sample.unwrap());
}

#[test]
fn count_stops_after_n_matches() {
    let out = support::temp_file("c.pcap", b"");
    let path = out.to_str().unwrap();
    let (code, _, err) = cli(&["filter", "-q", "-c", "5", "-r", SAMPLE, "-w", path, "tcp"]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&out).unwrap();
    let kept = packets(&bytes).unwrap();
    assert_eq!(kept.len(), 5);
    // The first five tcp packets of the sample, as the full output starts.
    let (code, _, err) = cli(&["filter", "-q", "-r", SAMPLE, "-w", path, "tcp"]);
    assert_eq!(code, 0, "{err}");
    let all = std::fs::read(&out).unwrap();
    assert_eq!(all[..bytes.len()], bytes[..]);
    let (code, out, _) = cli(&["filter", "-q", "-c", "3", "-r", SAMPLE, "--count", "udp"]);
    assert_eq!((code, out.trim()), (0, "3"));
}

#[test]
fn expression_file_with_comments() {
    let file = support::temp_file(
        "expr.txt",
        b"# https only\ntcp # the protocol\n  port 443\n",
    );
    let f = file.to_str().unwrap();
    let (code, out, err) = cli(&["filter", "-q", "-r", SAMPLE, "-F", f]);
    assert_eq!((code, out.trim()), (0, "202"), "{err}");
    // -F and an expression on the command line: one or the other.
    let (code, _, err) = cli(&["filter", "-q", "-r", SAMPLE, "-F", f, "tcp"]);
    assert_eq!(code, 2, "{err}");
    // A missing file is named.
    let (code, _, err) = cli(&["filter", "-q", "-r", SAMPLE, "-F", "/nonexistent/expr"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/expr"), "{err}");
}

#[test]
fn y_names_the_link_type() {
    let long = cli(&["disasm", "--linktype", "RAW", "ip"]);
    let short = cli(&["disasm", "-y", "RAW", "ip"]);
    assert_eq!(long.0, 0, "{}", long.2);
    assert_eq!(long, short);
    assert!(short.1.contains("ldb      [0]"), "{}", short.1);
}

fn sample() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/sample.pcap"
    ))
    .unwrap()
}

/// Runs the binary with `stdin` as its input; returns (status, stdout).
fn with_stdin(args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run cranebpf");
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (out.status.code().unwrap_or(-1), out.stdout)
}

/// `-r -` from a pipe, whole or cut inside a record, writes what the
/// mapped file gives, with the same status (1 for the cut one).
#[test]
fn stdin_pipe_filters_as_the_file_does() {
    let bytes = sample();
    let cut = &bytes[..bytes.len() - 50];
    let file = support::temp_file("cut.pcap", cut);
    for (input, path, status) in [
        (&bytes[..], SAMPLE.to_string(), 0),
        (cut, file.display().to_string(), 1),
    ] {
        let (code, piped) = with_stdin(&["filter", "-q", "-r", "-", "-w", "-", "tcp"], input);
        let mapped = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args(["filter", "-q", "-r", &path, "-w", "-", "tcp"])
            .output()
            .unwrap();
        assert_eq!(code, status);
        assert_eq!(mapped.status.code(), Some(status));
        assert!(!piped.is_empty() && piped == mapped.stdout);
        let (code, verdicts) = with_stdin(&["run", "-r", "-", "tcp"], input);
        assert_eq!(code, status);
        let lines = String::from_utf8(verdicts).unwrap().lines().count();
        assert_eq!(lines, packets(input).map_or(399, |p| p.len()));
    }
}

/// A FIFO as `-r`, and the first verdict out while the writer still holds
/// the rest: `run -r -` answers each packet as it comes. (The bound only
/// catches a hang: reading everything first would wait forever.)
#[test]
fn first_verdict_before_the_input_ends() {
    use std::io::{BufRead, Write};
    let bytes = sample();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .args(["run", "-r", "-", "tcp", "port", "443"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run cranebpf");
    let mut input = child.stdin.take().unwrap();
    // The file header and the first record (16 + its length) only.
    let first = 24 + 16 + u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
    input.write_all(&bytes[..first]).unwrap();
    input.flush().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a verdict while the input is still open");
    assert!(line.trim().parse::<u32>().is_ok(), "{line}");
    drop(input);
    child.wait().unwrap();

    // A FIFO named with -r.
    let dir = support::temp_file("fifo-dir", b"");
    let fifo = dir.with_file_name("capture.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(writer_path, sample()));
    let (code, out, err) = cli(&["filter", "-q", "-r", fifo.to_str().unwrap(), "tcp port 443"]);
    writer.join().unwrap().unwrap();
    assert_eq!((code, out.trim()), (0, "202"), "{err}");
}

/// SIGINT, SIGTERM and SIGHUP during `filter -w OUT`: the temporary file
/// goes, an existing OUT is left as it was, and the status is 128 + the
/// signal's number.
#[test]
fn interrupted_output_leaves_nothing_behind() {
    use std::io::Write;
    let bytes = sample();
    for (signal, status) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let dir = support::temp_dir(&format!("sig-{signal}"));
        let out = dir.join("out.pcap");
        std::fs::write(&out, b"old").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
            .args(["filter", "-q", "-r", "-", "-w"])
            .arg(&out)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("run cranebpf");
        // Part of the capture, the pipe kept open: the command is mid-way.
        let mut input = child.stdin.take().unwrap();
        input.write_all(&bytes[..10_000]).unwrap();
        input.flush().unwrap();
        let started = std::time::Instant::now();
        while std::fs::read_dir(&dir).unwrap().count() < 2 {
            assert!(started.elapsed().as_secs() < 60, "no temporary file");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(status), "SIG{signal}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["out.pcap"], "SIG{signal}");
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        drop(input);
    }
}

/// A full disk names the file and leaves no output; `disasm -o` keeps an
/// existing file until the new one is complete; a closed pipe ends the
/// command with 141 and no message.
#[test]
fn full_disks_and_closed_pipes() {
    for args in [
        &["filter", "-q", "-r", SAMPLE, "-w", "/dev/full"][..],
        &["disasm", "tcp", "-o", "/dev/full"],
    ] {
        let (code, _, err) = cli(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("/dev/full: No space left on device"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let old = support::temp_file("listing.txt", b"old listing");
    let (code, _, err) = cli(&["disasm", "tcp", "-o", old.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&old)
        .unwrap()
        .contains("ldh      [12]"));
    let dir_left: Vec<_> = std::fs::read_dir(old.parent().unwrap()).unwrap().collect();
    assert_eq!(dir_left.len(), 1, "temporary file left behind");

    // 200,000 verdicts into a pipe closed after the first line.
    let hex = support::temp_file("many.hex", "ff ff\n".repeat(200_000).as_bytes());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .args(["run", "--ddd", "1,6 0 0 1", "--hex-file"])
        .arg(&hex)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 2];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every subcommand that prints to stdout ends at once with 141 and no
/// message when stdout is a pipe already closed, and names stdout with
/// status 2 when stdout is a full disk (`check`, `conformance`, `bench`
/// and `disasm` once panicked here: `println!` panics on such errors).
#[test]
fn every_subcommand_survives_a_lost_stdout() {
    let one = support::temp_file("one.data", b"-- asm\nmov %r0, 3\nexit\n-- result\n3\n");
    let conformance = one.parent().unwrap();
    let ebpf = support::temp_file("one.asm", b"mov %r0, 1\nexit\n");
    let hex = support::temp_file("pipe.hex", b"ff ff\n");
    let commands: Vec<Vec<String>> = [
        &["check", "--ddd", "1,6 0 0 1"][..],
        &["disasm", "tcp"],
        &[
            "run",
            "--ddd",
            "1,6 0 0 1",
            "--hex-file",
            hex.to_str().unwrap(),
        ],
        &["run", "--ebpf", ebpf.to_str().unwrap()],
        &["filter", "-r", SAMPLE, "--count", "tcp"],
        &["filter", "-r", SAMPLE, "-w", "-", "tcp"],
        &[
            "conformance",
            conformance.to_str().unwrap(),
            "--engine",
            "interp",
        ],
        &[
            "bench",
            "--ddd",
            "1,6 0 0 1",
            "--synthetic",
            "--packets",
            "10",
            "--runs",
            "1",
        ],
        &["completions", "bash"],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect())
    .collect();
    for args in &commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");

        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
