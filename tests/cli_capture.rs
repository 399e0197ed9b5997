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
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["filter", "-q", "-r", SAMPLE, "-w", "-"])
        .output()
        .expect("run cranebpf");
    assert!(out.status.success());
    let sample = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample.pcap"));
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
