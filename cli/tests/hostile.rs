//! Hostile input through every subcommand: each malformed program,
//! expression, capture, eBPF program, packet file and conformance
//! directory under `tests/hostile/` (plus some too big to commit, made
//! here) must end the command cleanly — the documented exit code (2 for
//! malformed input, 1 for a program the kernel or verifier would refuse),
//! a message naming the input and the place (line and column, byte offset
//! or instruction), no panic, no signal, no partial output file, and
//! within a time bound.

mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::temp_file;

/// Longest a command may take on one hostile input. Generous: CI shares
/// two cores; a hang (not slowness) is what this catches.
const TIME_LIMIT: Duration = Duration::from_secs(60);

const MALFORMED: i32 = 2;
const REFUSED: i32 = 1;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn hostile(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/hostile").join(dir))
        .expect("tests/hostile directory")
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "tests/hostile/{dir} is empty");
    files
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` from the crate root and stdin closed;
/// fails the test on a signal or after [`TIME_LIMIT`].
fn run(args: &[OsString]) -> Outcome {
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let stdout_path = temp_file("stdout", b"");
    let stderr_path = temp_file("stderr", b"");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .current_dir(root())
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("run cranebpf");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`cranebpf {shown}` ran longer than {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).expect("output")).into_owned();
    let Some(code) = status.code() else {
        panic!("`cranebpf {shown}` was killed by a signal: {status:?}");
    };
    Outcome {
        code,
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
    }
}

/// Whether `text` has `word` followed by a number (`line 3`, `byte offset
/// 24`, `instruction 0`, `at 9`).
fn has_numbered(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        text[at + word.len()..]
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit())
    })
}

/// Places a message may name.
const PLACES: &[&str] = &["line", "column", "byte offset", "byte", "instruction", "at"];

/// Runs `args` and checks a clean failure: `code`, one `cranebpf:` message
/// naming `what` (when given) and a place, no panic.
fn expect_failure(args: &[OsString], code: i32, what: Option<&str>) -> Outcome {
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = run(args);
    assert_eq!(
        out.code, code,
        "`cranebpf {shown}`: exit {} instead of {code}\nstderr: {}",
        out.code, out.stderr
    );
    assert!(
        !out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"),
        "`cranebpf {shown}` panicked: {}",
        out.stderr
    );
    assert!(
        PLACES.iter().any(|p| has_numbered(&out.stderr, p)),
        "`cranebpf {shown}`: the message names no place: {}",
        out.stderr
    );
    if let Some(what) = what {
        assert!(
            out.stderr.contains(what),
            "`cranebpf {shown}`: the message does not name {what}: {}",
            out.stderr
        );
    }
    out
}

/// A path's last component, for messages.
fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// A path for an output file that must not exist after a failed command.
fn output_path(name: &str) -> support::TempFile {
    support::temp_path(&format!("{name}-out"))
}

/// Fails if `path`'s directory holds anything (the output or debris).
fn assert_nothing_written(path: &Path, command: &str) {
    let dir = path.parent().expect("parent");
    let left: Vec<_> = std::fs::read_dir(dir)
        .expect("output dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "`{command}` left {left:?} behind");
}

/// Every subcommand that reads a classic program, with `prog` in place.
fn program_commands(prog: &str, w: &str) -> Vec<Vec<OsString>> {
    let sample = "examples/sample.pcap";
    let hex = "examples/packets.hex";
    [
        vec!["check", prog],
        vec!["disasm", prog],
        vec!["disasm", prog, "--format", "asm"],
        vec!["disasm", prog, "--ebpf"],
        vec!["disasm", prog, "-o", w],
        vec!["run", prog, "--hex", "00"],
        vec!["run", prog, "--hex-file", hex],
        vec!["run", prog, "-r", sample],
        vec!["filter", "-r", sample, prog],
        vec!["filter", "-r", sample, "-w", w, prog],
        vec!["bench", prog, "--synthetic", "--runs", "1"],
        vec!["diff", "--kernel", prog, "--hex-file", hex],
        vec!["record", prog, "--hex-file", hex, "-o", w],
        vec!["compile", "--xdp", prog, "-o", w],
    ]
    .iter()
    .map(|a| args(a))
    .collect()
}

#[test]
fn malformed_programs_exit_2_naming_file_and_place() {
    for file in hostile("programs") {
        let name = file_name(&file);
        let w = output_path(&name);
        let prog = file.to_str().expect("utf8 path");
        for command in program_commands(prog, w.to_str().expect("utf8")) {
            expect_failure(&command, MALFORMED, Some(&name));
            assert_nothing_written(&w, &format!("{command:?}"));
        }
    }
}

#[test]
fn refused_programs_exit_1_naming_the_instruction() {
    for file in hostile("refused") {
        let prog = file.to_str().expect("utf8 path");
        for command in [
            vec!["check", prog],
            vec!["run", prog, "--hex", "00"],
            vec!["run", prog, "-r", "examples/sample.pcap"],
            vec!["filter", "-r", "examples/sample.pcap", prog],
            vec!["bench", prog, "--synthetic", "--runs", "1"],
            vec!["compile", "--xdp", prog, "-o", "/dev/null/never"],
        ] {
            expect_failure(&args(&command), REFUSED, Some("instruction"));
        }
    }
}

/// Expressions libpcap refuses too; each error names a column.
const BAD_EXPRESSIONS: &[&str] = &[
    "tcp port",
    "port 99999",
    "(ip",
    "ip)",
    "host 1.2.3.4.5",
    "net 10.0.0.0/33",
    "ip[1:3] = 0",
    "frobnicate",
    "tcp and and udp",
    "ether host 01:02:03:04:05",
    "ip proto \\nonesuch",
    "portrange 10-",
    "not",
    "len > ",
    "ip[4294967296] = 1",
    "vlan 4096",
];

#[test]
fn malformed_expressions_exit_2_naming_the_column() {
    for expr in BAD_EXPRESSIONS {
        for command in [
            vec!["check", "--expr", expr],
            vec!["disasm", "--expr", expr],
            vec!["run", "--expr", expr, "--hex", "00"],
            vec!["filter", "-r", "examples/sample.pcap", "--expr", expr],
            vec!["bench", "--expr", expr, "--synthetic", "--runs", "1"],
            vec!["compile", "--xdp", "--expr", expr, "-o", "/dev/null/never"],
        ] {
            expect_failure(&args(&command), MALFORMED, Some(expr));
        }
    }
}

/// A capture whose file header is unreadable is refused whole (exit 2,
/// nothing written). One with a bad record after the header is what
/// tcpdump reads up to that record: `filter` and `run` handle the records
/// before it, write them, name the place and exit 1 (tcpdump's status);
/// `bench` and `diff` refuse it (exit 2, nothing written).
#[test]
fn malformed_captures_exit_2_naming_the_byte_offset_and_write_nothing() {
    for file in hostile("captures") {
        let name = file_name(&file);
        let bytes = std::fs::read(&file).expect("read capture");
        let header_bad = cranebpf::capture::Reader::new(&bytes).is_err();
        let capture = file.to_str().expect("utf8 path");
        let w = output_path(&name);
        let out = w.to_str().expect("utf8");
        for command in [
            vec!["filter", "-r", capture, "ip"],
            vec!["filter", "-r", capture, "--count", "ip"],
            vec!["filter", "-r", capture, "-w", out, "ip"],
            vec!["filter", "-r", capture, "-w", out, "--threads", "2", "ip"],
            vec!["run", "ip", "-r", capture],
            vec!["bench", "ip", "-r", capture, "--runs", "1"],
            vec!["diff", "--kernel", "ip", "-r", capture],
        ] {
            let as_tcpdump = !header_bad && matches!(command[0], "filter" | "run");
            let code = if as_tcpdump { REFUSED } else { MALFORMED };
            let outcome = expect_failure(&args(&command), code, Some(&name));
            assert!(
                has_numbered(&outcome.stderr, "byte offset"),
                "{command:?}: {}",
                outcome.stderr
            );
            if as_tcpdump && command.contains(&"-w") {
                let written = std::fs::read(&w).expect("the records before the bad one");
                cranebpf::capture::packets(&written).expect("a whole capture");
                std::fs::remove_file(&w).expect("remove output");
            }
            assert_nothing_written(&w, &format!("{command:?}"));
        }
    }
}

#[test]
fn malformed_ebpf_exits_2_and_refused_ebpf_exits_1() {
    for file in hostile("ebpf") {
        let name = file_name(&file);
        let prog = file.to_str().expect("utf8 path");
        let sample = "examples/sample.pcap";
        for command in [
            vec!["run", "--ebpf", prog],
            vec!["disasm", "--ebpf", prog],
            vec!["run", "--ebpf", prog, "-r", sample],
            vec!["filter", "--ebpf", prog, "-r", sample],
        ] {
            expect_failure(&args(&command), MALFORMED, Some(&name));
        }
    }
    for file in hostile("ebpf-refused") {
        let prog = file.to_str().expect("utf8 path");
        for engine in ["auto", "interp", "jit"] {
            let command = ["run", "--ebpf", prog, "--engine", engine];
            expect_failure(&args(&command), REFUSED, Some("instruction"));
        }
    }
}

#[test]
fn malformed_elf_objects_exit_2_naming_the_place_and_write_nothing() {
    // Cut or corrupted copies of a clang-built XDP object: the header, the
    // section table, a program section, a relocation, .maps, .BTF, the
    // CO-RE part of .BTF.ext.
    for file in hostile("elf") {
        let name = file_name(&file);
        let prog = file.to_str().expect("utf8 path");
        let w = output_path(&name);
        let w_str = w.to_str().expect("utf8 path");
        let maps_out = w.with_file_name("maps.json");
        let sample = "examples/sample.pcap";
        for command in [
            vec!["run", "--ebpf", prog],
            vec!["disasm", "--ebpf", prog],
            vec!["run", "--ebpf", prog, "-r", sample, "--maps-out"]
                .into_iter()
                .chain([maps_out.to_str().expect("utf8 path")])
                .collect(),
            vec!["filter", "--ebpf", prog, "-r", sample, "-w", w_str],
            vec!["bench", "--ebpf", prog, "-r", sample],
        ] {
            let out = run(&args(&command));
            let shown = command.join(" ");
            assert_eq!(out.code, MALFORMED, "`{shown}`: {}", out.stderr);
            assert!(
                !out.stderr.contains("panicked"),
                "`{shown}`: {}",
                out.stderr
            );
            assert!(
                out.stderr.starts_with("cranebpf: ") && out.stderr.contains(&name),
                "`{shown}`: the message does not name the file: {}",
                out.stderr
            );
            // The place: a byte, a section, an instruction, a map.
            assert!(
                ["byte", "section '", "instruction", "map '"]
                    .iter()
                    .any(|p| out.stderr.contains(p))
                    && out.stderr.contains(|c: char| c.is_ascii_digit()),
                "`{shown}`: the message names no place: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "`{shown}` printed {}", out.stdout);
            assert_nothing_written(&w, &shown);
        }
    }
}

#[test]
fn malformed_packet_files_exit_2_naming_the_line() {
    for file in hostile("hex") {
        let name = file_name(&file);
        let hex = file.to_str().expect("utf8 path");
        for command in [
            vec!["run", "ip", "--hex-file", hex],
            vec!["diff", "--kernel", "ip", "--hex-file", hex],
        ] {
            let out = expect_failure(&args(&command), MALFORMED, Some(&name));
            assert!(has_numbered(&out.stderr, "line"), "{}", out.stderr);
        }
    }
}

#[test]
fn conformance_directories_malformed_or_empty() {
    // A malformed test file is a failed test (exit 1) with its line.
    let dir = root().join("tests/hostile/conformance");
    let out = run(&args(&["conformance", dir.to_str().expect("utf8")]));
    assert_eq!(out.code, REFUSED, "{}", out.stderr);
    for file in hostile("conformance") {
        let name = file_name(&file);
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("FAIL {name}: parse error: line ")))
            .unwrap_or_else(|| panic!("no parse error for {name}:\n{}", out.stdout));
        assert!(has_numbered(line, "line"), "{line}");
    }
    // An empty or missing directory is bad input, named (issue 14: an
    // empty directory used to print only "0 passed, 0 failed").
    let empty = output_path("conformance-empty");
    let empty_dir = empty.parent().expect("dir").to_str().expect("utf8");
    let out = run(&args(&["conformance", empty_dir]));
    assert_eq!(out.code, MALFORMED, "{}", out.stderr);
    assert!(
        out.stderr.contains(empty_dir) && out.stderr.contains("no .data files"),
        "{}",
        out.stderr
    );
    let missing = format!("{empty_dir}/missing");
    let out = run(&args(&["conformance", &missing]));
    assert_eq!(out.code, MALFORMED, "{}", out.stderr);
    assert!(out.stderr.contains(&missing), "{}", out.stderr);
}

#[test]
fn oversized_inputs_are_refused_quickly() {
    use cranebpf::ebpf::MAX_INSNS;
    // eBPF above Linux's 1,000,000 slots (issue 14: 4 M slots took 46 s
    // and 2.9 GB before anything ran): refused by the verifier, exit 1.
    let mov_exit: Vec<u8> = [0xb7u8, 0, 0, 0, 0, 0, 0, 0]
        .repeat(4 * MAX_INSNS)
        .into_iter()
        .chain([0x95, 0, 0, 0, 0, 0, 0, 0])
        .collect();
    let raw = temp_file("huge.bin", &mov_exit);
    let raw = raw.to_str().expect("utf8");
    for engine in ["auto", "interp", "jit"] {
        let out = expect_failure(
            &args(&["run", "--ebpf", raw, "--engine", engine]),
            REFUSED,
            Some("more than the 1000000 Linux accepts"),
        );
        assert!(out.stdout.is_empty());
    }
    // Assembly text of that size stops at the line that crosses the limit.
    let text = "mov %r0, 0\n".repeat(MAX_INSNS + 5);
    let asm = temp_file("huge.s", text.as_bytes());
    let out = expect_failure(
        &args(&["run", "--ebpf", asm.to_str().expect("utf8")]),
        MALFORMED,
        Some("huge.s"),
    );
    assert!(
        out.stderr.contains("line 1000001, column 1"),
        "{}",
        out.stderr
    );
    // Classic programs above the kernel's 4096 instructions: refused (the
    // whole program is at fault, so no instruction is named).
    let mut ddd = String::from("5000\n");
    ddd.push_str(&"6 0 0 1\n".repeat(5000));
    let big = temp_file("big.ddd", ddd.as_bytes());
    let out = run(&args(&["check", big.to_str().expect("utf8")]));
    assert_eq!(out.code, REFUSED, "{}", out.stderr);
    assert!(
        out.stderr.contains("more than 4096 instructions"),
        "{}",
        out.stderr
    );
    // 4 MiB of binary noise as a program and as a capture.
    let noise: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let noise = temp_file("noise.bin", &noise);
    let noise = noise.to_str().expect("utf8");
    let out = run(&args(&["check", noise]));
    assert!(
        out.code == REFUSED || out.code == MALFORMED,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    expect_failure(
        &args(&["filter", "-r", noise, "ip"]),
        MALFORMED,
        Some("noise.bin"),
    );
}

/// The tests' own scratch files go with their guards: a run leaves
/// nothing in the system's temporary directory.
#[test]
fn scratch_files_are_removed_with_their_guards() {
    let file = temp_file("scratch", b"bytes");
    let dir = file.dir().to_path_buf();
    std::fs::write(dir.join("sibling"), b"more").expect("write beside it");
    assert!(file.exists());
    drop(file);
    assert!(!dir.exists(), "{} left behind", dir.display());
    let empty = support::temp_dir("scratch");
    let path = empty.to_path_buf();
    drop(empty);
    assert!(!path.exists(), "{} left behind", path.display());
}
