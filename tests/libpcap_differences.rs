//! Where libpcap's `bpf_validate`/`bpf_filter` and Linux differ, shown on
//! both: each case runs through libpcap itself (a small C harness linked
//! with `-lpcap`), through the running kernel (`SO_ATTACH_FILTER` on an
//! `AF_UNIX` socket pair), and through our checker and interpreter, which
//! must give the kernel's answer. The README's list is this table.
//!
//! Needs gcc and libpcap-dev (and the kernel); under `CI=true` missing
//! ones fail the test, elsewhere it skips with the reason.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use cranebpf::cbpf::parse::parse_comma;
use cranebpf::cbpf::{check::check, interp, Metadata, Program};
use cranebpf_harness::kernel::classic::{Delivery, SocketPair};

/// What one side made of a program and packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Refused at load (`bpf_validate` false / `EINVAL`).
    Refused,
    /// Accepted, and this many bytes kept (0 = dropped).
    Kept(usize),
    /// Accepted; not run (libpcap's interpreter would not terminate or
    /// would read uninitialised memory).
    Accepted,
}

struct Case {
    what: &'static str,
    /// Program in the comma form, without the count.
    program: &'static str,
    packet: &'static [u8],
    libpcap: Outcome,
    linux: Outcome,
}

const CASES: &[Case] = &[
    Case {
        what: "shift by a constant >= 32",
        program: "0 0 0 1,100 0 0 33,22 0 0 0",
        packet: &[0; 4],
        libpcap: Outcome::Kept(2),
        linux: Outcome::Refused,
    },
    Case {
        what: "shift by X >= 32 (Linux: X mod 32; libpcap: 0)",
        program: "1 0 0 33,0 0 0 1,108 0 0 0,22 0 0 0",
        packet: &[0; 4],
        libpcap: Outcome::Kept(0),
        linux: Outcome::Kept(2),
    },
    Case {
        what: "scratch read before any write",
        program: "96 0 0 0,22 0 0 0",
        packet: &[],
        libpcap: Outcome::Accepted,
        linux: Outcome::Refused,
    },
    Case {
        what: "ja whose offset wraps (libpcap's interpreter then never ends)",
        program: "5 0 0 4294967295,6 0 0 1",
        packet: &[],
        libpcap: Outcome::Accepted,
        linux: Outcome::Refused,
    },
    Case {
        what: "ja backwards without wrapping",
        program: "5 0 0 4294967294,6 0 0 1,6 0 0 2",
        packet: &[],
        libpcap: Outcome::Refused,
        linux: Outcome::Refused,
    },
    Case {
        what: "SKF_NET_OFF + 0 reads the first byte on Linux",
        program: "48 0 0 4293918720,22 0 0 0",
        packet: &[7, 8, 9],
        libpcap: Outcome::Kept(0),
        linux: Outcome::Kept(3),
    },
    Case {
        what: "ancillary #ifidx without a device ends the program with A",
        program: "0 0 0 5,32 0 0 4294963208,22 0 0 0",
        packet: &[1, 2, 3, 4, 5, 6, 7, 8],
        libpcap: Outcome::Kept(0),
        linux: Outcome::Kept(5),
    },
    Case {
        what: "division by X = 0",
        program: "1 0 0 0,0 0 0 7,60 0 0 0,22 0 0 0",
        packet: &[0; 4],
        libpcap: Outcome::Kept(0),
        linux: Outcome::Kept(0),
    },
    Case {
        what: "modulo by X = 0",
        program: "1 0 0 0,0 0 0 7,156 0 0 0,22 0 0 0",
        packet: &[0; 4],
        libpcap: Outcome::Kept(0),
        linux: Outcome::Kept(0),
    },
];

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Builds the harness, or says why it cannot.
fn harness() -> Result<support::TempFile, String> {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/libpcap/harness.c");
    let bin = support::temp_path("libpcap-harness");
    let out = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(src)
        .arg("-lpcap")
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "gcc -lpcap failed (is libpcap-dev installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(bin)
}

fn program(case: &Case) -> Program {
    let n = case.program.split(',').count();
    parse_comma(&format!("{n},{}", case.program)).expect("case program parses")
}

fn ours(prog: &Program, packet: &[u8]) -> Outcome {
    match check(prog) {
        Err(_) => Outcome::Refused,
        Ok(()) => {
            let v = interp::run(prog, packet, &Metadata::default());
            Outcome::Kept((v as usize).min(packet.len()))
        }
    }
}

#[test]
fn libpcap_and_linux_differ_where_the_readme_says() {
    let bin = match harness() {
        Ok(b) => b,
        Err(why) if ci() => panic!("libpcap harness unavailable under CI=true: {why}"),
        Err(why) => {
            eprintln!("skipping libpcap comparison: {why}");
            return;
        }
    };
    let mut pair = match SocketPair::new() {
        Ok(p) => p,
        Err(e) if ci() => panic!("socketpair unavailable under CI=true: {e}"),
        Err(e) => {
            eprintln!("skipping libpcap comparison: socketpair: {e}");
            return;
        }
    };
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("harness starts");
    let mut to = child.stdin.take().expect("stdin");
    let mut from = BufReader::new(child.stdout.take().expect("stdout"));
    for case in CASES {
        // Programs libpcap's interpreter must not run are only validated.
        let run = case.libpcap != Outcome::Accepted;
        let hex: String = case.packet.iter().map(|b| format!("{b:02x}")).collect();
        let hex = if run && hex.is_empty() {
            "00".into()
        } else {
            hex
        };
        writeln!(
            to,
            "{}|{}",
            case.program,
            if run { hex.as_str() } else { "" }
        )
        .expect("send");
        let mut line = String::new();
        from.read_line(&mut line).expect("harness answers");
        let libpcap = match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["invalid"] => Outcome::Refused,
            ["valid"] => Outcome::Accepted,
            ["valid", v] => {
                let v: usize = v.parse().expect("verdict");
                Outcome::Kept(v.min(case.packet.len()))
            }
            _ => panic!("harness said {line:?}"),
        };
        let prog = program(case);
        let linux = match pair.attach(&prog) {
            Err(_) => Outcome::Refused,
            Ok(()) => match pair.deliver(case.packet).expect("send") {
                Delivery::Dropped => Outcome::Kept(0),
                Delivery::Delivered(n) => Outcome::Kept(n),
            },
        };
        assert_eq!(libpcap, case.libpcap, "libpcap, {}", case.what);
        assert_eq!(linux, case.linux, "Linux, {}", case.what);
        assert_eq!(ours(&prog, case.packet), case.linux, "ours, {}", case.what);
        eprintln!("{:<70} libpcap {libpcap:?}, Linux {linux:?}", case.what);
    }
    drop(to);
    let _ = child.wait();
}
