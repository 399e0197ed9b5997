//! `cranebpf filter -w` against `tcpdump -r IN -w OUT FILTER` on generated
//! captures: the same records (timestamps, lengths, bytes, order) for every
//! filter, and byte-identical files for little-endian microsecond pcap.
//! Needs tcpdump: fails under CI=true without it, else skips.

mod support;

use cranebpf::capture::{packets, Timestamp};
use cranebpf_harness::synth::{capture, SynthOptions};
use std::path::Path;
use std::process::Command;

/// Filters compared; each matches something in the generated traffic.
const FILTERS: [&str; 30] = [
    "tcp port 443",
    "udp port 53",
    "host 8.8.8.8",
    "net 192.168.1.0/24",
    "icmp",
    "arp",
    "ip6",
    "tcp",
    "udp",
    "vlan",
    "tcp[tcpflags] & tcp-syn != 0",
    "ip[6:2] & 0x1fff != 0",
    "greater 500",
    "less 100",
    "len > 1000",
    "src host 1.1.1.1 and dst port 443",
    "ether broadcast",
    "ip6 and tcp port 443",
    "portrange 1-1023",
    "udp port 123 or icmp",
    "not tcp",
    "ether host 02:42:ac:11:00:01",
    "ip proto 47",
    "tcp dst port 80",
    "vlan and tcp port 443",
    "icmp6",
    "ip multicast",
    "tcp[13] = 0x12",
    "ether[12:2] = 0x88cc",
    "ip and udp and port 443",
];

fn scratch(name: &str) -> support::TempFile {
    support::temp_path(name)
}

fn ours(input: &Path, output: &Path, filter: &str, threads: u32) {
    ours_with(input, output, filter, &["--threads", &threads.to_string()]);
}

/// `cranebpf filter -q ARGS -r INPUT -w OUTPUT FILTER`.
fn ours_with(input: &Path, output: &Path, filter: &str, args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .args(["filter", "-q"])
        .args(args)
        .arg("-r")
        .arg(input)
        .arg("-w")
        .arg(output)
        .arg(filter)
        .status()
        .expect("run cranebpf");
    assert!(status.success(), "cranebpf filter '{filter}' failed");
}

fn theirs(input: &Path, output: &Path, filter: &str, nano: bool) {
    let precision: &[&str] = if nano {
        &["--time-stamp-precision=nano"]
    } else {
        &[]
    };
    theirs_with(input, output, filter, precision);
}

/// `tcpdump ARGS -r INPUT -w OUTPUT FILTER`.
fn theirs_with(input: &Path, output: &Path, filter: &str, args: &[&str]) {
    let out = Command::new("tcpdump")
        .args(args)
        .arg("-r")
        .arg(input)
        .arg("-w")
        .arg(output)
        .arg(filter)
        .output()
        .expect("run tcpdump");
    assert!(
        out.status.success(),
        "tcpdump '{filter}': {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The records of a capture: timestamp, wire length, captured bytes.
fn records(path: &Path) -> Vec<(Timestamp, u32, Vec<u8>)> {
    let bytes = std::fs::read(path).expect("read output");
    packets(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .map(|(ts, p)| (ts, p.wire_len, p.data.to_vec()))
        .collect()
}

fn generate(name: &str, options: SynthOptions) -> support::TempFile {
    let path = scratch(name);
    std::fs::write(&path, capture(&options)).expect("write capture");
    path
}

#[test]
fn little_endian_microsecond_pcap_is_byte_identical_to_tcpdump() {
    if !support::tcpdump_available() {
        return;
    }
    // Frames cut at 200 bytes, so `len`, `greater` and `less` see wire
    // lengths that differ from captured ones.
    let input = generate(
        "le.pcap",
        SynthOptions {
            seed: 5,
            packets: 30_000,
            snaplen: 200,
            ..SynthOptions::default()
        },
    );
    let (a, b) = (scratch("le-ours.pcap"), scratch("le-tcpdump.pcap"));
    let mut matched_total = 0;
    for filter in FILTERS {
        ours(&input, &a, filter, 1);
        theirs(&input, &b, filter, false);
        let (mine, reference) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let n = records(&b).len();
        assert!(n > 0, "'{filter}' matches nothing; pick a better filter");
        matched_total += n;
        assert!(
            mine == reference,
            "'{filter}': output differs from tcpdump's"
        );
    }
    assert!(matched_total > 100_000);
    // Two threads write the same bytes.
    for filter in ["tcp port 443", "icmp", "not tcp"] {
        ours(&input, &a, filter, 1);
        ours(&input, &b, filter, 2);
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "'{filter}': --threads 2 differs"
        );
    }
}

/// `-O` (no optimiser) keeps what `tcpdump -O` keeps, including where the
/// unoptimised program differs from the optimised one: a division by a
/// computed zero, which the optimiser refuses and the unoptimised program
/// meets at run time (rejecting the packet), and arithmetic through
/// scratch registers.
#[test]
fn unoptimised_filters_keep_what_tcpdump_o_keeps() {
    if !support::tcpdump_available() {
        return;
    }
    let input = generate(
        "unopt.pcap",
        SynthOptions {
            seed: 9,
            packets: 5_000,
            ..SynthOptions::default()
        },
    );
    let (a, b) = (scratch("unopt-ours.pcap"), scratch("unopt-tcpdump.pcap"));
    for filter in [
        "tcp port 443",
        "udp or ip[0] / (1 - 1) = 1",
        "ip[2:2] - ((ip[0] & 0xf) << 2) > 100 and tcp",
        "host 8.8.8.8 or 1.1.1.1 or 9.9.9.9",
        "vlan and ip[9] = 17",
    ] {
        ours_with(&input, &a, filter, &["-O"]);
        theirs_with(&input, &b, filter, &["-O"]);
        assert!(!records(&b).is_empty(), "'{filter}' matches nothing");
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "'{filter}': -O output differs from tcpdump -O's"
        );
    }
}

#[test]
fn big_endian_nanosecond_pcap_records_match_tcpdump() {
    if !support::tcpdump_available() {
        return;
    }
    let input = generate(
        "be-nano.pcap",
        SynthOptions {
            seed: 6,
            packets: 20_000,
            big_endian: true,
            nanos: true,
            ..SynthOptions::default()
        },
    );
    let (a, b) = (scratch("be-ours.pcap"), scratch("be-tcpdump.pcap"));
    for filter in &FILTERS[..12] {
        ours(&input, &a, filter, 2);
        theirs(&input, &b, filter, true);
        let (mine, reference) = (records(&a), records(&b));
        assert!(!reference.is_empty(), "'{filter}' matches nothing");
        assert!(
            mine == reference,
            "'{filter}': records differ from tcpdump's"
        );
    }
}

#[test]
fn pcapng_records_match_tcpdump() {
    if !support::tcpdump_available() {
        return;
    }
    let input = generate(
        "in.pcapng",
        SynthOptions {
            seed: 8,
            packets: 20_000,
            pcapng: true,
            snaplen: 300,
            ..SynthOptions::default()
        },
    );
    let (a, b) = (scratch("ng-ours.pcapng"), scratch("ng-tcpdump.pcap"));
    for filter in &FILTERS[10..] {
        ours(&input, &a, filter, 1);
        theirs(&input, &b, filter, false);
        // Ours stays pcapng (the input's format); tcpdump writes pcap.
        assert_eq!(&std::fs::read(&a).unwrap()[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
        let (mine, reference) = (records(&a), records(&b));
        assert!(!reference.is_empty(), "'{filter}' matches nothing");
        assert!(
            mine == reference,
            "'{filter}': records differ from tcpdump's"
        );
    }
}

/// Rewrites a little-endian pcap's header and records in place: version
/// `minor`, lengths swapped where that version keeps them swapped.
fn with_version(bytes: &[u8], minor: u16) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[6..8].copy_from_slice(&minor.to_le_bytes());
    let mut at = 24;
    while at + 16 <= out.len() {
        let caplen = u32::from_le_bytes(out[at + 8..at + 12].try_into().unwrap());
        let wire = u32::from_le_bytes(out[at + 12..at + 16].try_into().unwrap());
        // 2.0-2.2 always swap; 2.3 swaps where the caplen is the larger.
        if minor < 3 || (minor == 3 && wire < caplen) {
            out[at + 8..at + 12].copy_from_slice(&wire.to_le_bytes());
            out[at + 12..at + 16].copy_from_slice(&caplen.to_le_bytes());
        }
        at += 16 + caplen as usize;
    }
    out
}

/// Kuznetzov's patched format: magic 0xa1b2cd34, 8 more bytes per record
/// header (interface index, protocol, packet type, pad).
fn patched(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes[..24].to_vec();
    out[..4].copy_from_slice(&0xa1b2_cd34u32.to_le_bytes());
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.extend_from_slice(&bytes[at..at + 16]);
        out.extend_from_slice(&[2, 0, 0, 0, 0x08, 0x00, 0, 0]);
        out.extend_from_slice(&bytes[at + 16..at + 16 + caplen]);
        at += 16 + caplen;
    }
    out
}

/// Headers libpcap reads that are not today's 2.4: old versions with
/// swapped length fields, the patched format, snapshot lengths of 0,
/// above `i32::MAX` and below the records' lengths, a file cut inside a
/// record: `tcpdump -r F -w OUT [EXPR]` and `cranebpf filter -r F -w OUT
/// [EXPR]` keep the same records, and a cut file gives tcpdump's exit
/// status (1) after them.
#[test]
fn odd_but_valid_headers_read_as_tcpdump_reads_them() {
    if !support::tcpdump_available() {
        return;
    }
    let base = capture(&SynthOptions {
        seed: 8,
        packets: 400,
        snaplen: 300,
        ..SynthOptions::default()
    });
    let snaplen = |bytes: &[u8], v: u32| {
        let mut out = bytes.to_vec();
        out[16..20].copy_from_slice(&v.to_le_bytes());
        out
    };
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("version 2.0", with_version(&base, 0), false),
        ("version 2.2", with_version(&base, 2), false),
        ("version 2.3", with_version(&base, 3), false),
        ("patched format", patched(&base), false),
        ("snaplen 0", snaplen(&base, 0), false),
        ("snaplen above i32::MAX", snaplen(&base, 0x8000_0000), false),
        ("snaplen below the records'", snaplen(&base, 97), false),
        (
            "cut inside a record",
            base[..base.len() - 30].to_vec(),
            true,
        ),
    ];
    for (name, bytes, cut) in cases {
        let input = scratch("odd.pcap");
        std::fs::write(&input, &bytes).unwrap();
        for expr in [None, Some("tcp")] {
            let (t_out, o_out) = (scratch("odd-t.pcap"), scratch("odd-o.pcap"));
            let mut tcpdump = Command::new("tcpdump");
            tcpdump
                .arg("-r")
                .arg(&input)
                .arg("-w")
                .arg(&t_out)
                .args(expr);
            let theirs = tcpdump.output().expect("run tcpdump");
            let mut cranebpf = Command::new(env!("CARGO_BIN_EXE_cranebpf"));
            cranebpf
                .args(["filter", "-q", "-r"])
                .arg(&input)
                .arg("-w")
                .arg(&o_out);
            let ours = cranebpf.args(expr).output().expect("run cranebpf");
            let stderr = String::from_utf8_lossy(&ours.stderr);
            assert_eq!(theirs.status.code(), Some(i32::from(cut)), "{name}");
            assert_eq!(ours.status.code(), theirs.status.code(), "{name}: {stderr}");
            let want = support::records(&std::fs::read(&t_out).unwrap());
            let got = support::records(&std::fs::read(&o_out).unwrap());
            assert!(!want.is_empty(), "{name}");
            assert!(
                got == want,
                "{name} {expr:?}: records differ from tcpdump's"
            );
        }
    }
}
