//! Malformed captures: every case gives its own error with the byte offset
//! (library and CLI); a bad file header is exit code 2 with no output file
//! left behind, a bad record after it exit code 1 with the records before
//! it written (as tcpdump does); seeded random corruption never panics,
//! and threads agree with one thread, output included.

mod support;

use cranebpf::capture::scan::{scan, ScanError, ScanOptions, Summary};
use cranebpf::capture::write::{PcapEncoder, PcapngEncoder};
use cranebpf::capture::{packets, CaptureFilter, Reader, Timestamp};
use cranebpf_harness::synth::{capture, SynthOptions};
use cranebpf_harness::Rng;
use std::process::Command;

const TS: Timestamp = Timestamp {
    secs: 1_700_000_000,
    nanos: 5000,
};

fn pcap(snaplen: u32, records: &[&[u8]]) -> Vec<u8> {
    let enc = PcapEncoder::new(1, snaplen, false, false);
    let mut out = Vec::new();
    enc.file_header(&mut out);
    for r in records {
        enc.record(&mut out, TS, r, r.len() as u32);
    }
    out
}

fn pcapng(snaplen: u32, records: &[&[u8]]) -> Vec<u8> {
    let enc = PcapngEncoder { big_endian: false };
    let mut out = Vec::new();
    enc.section_header(&mut out);
    enc.interface(&mut out, 1, snaplen, None);
    for r in records {
        enc.packet(&mut out, 0, 1_700_000_000_000_000, r, r.len() as u32);
    }
    out
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The malformed files, with the offset and words of the expected error.
fn cases() -> Vec<(&'static str, Vec<u8>, u64, &'static str)> {
    let frame = [0x11u8; 60];
    let good = pcap(65535, &[&frame, &frame]);
    let second = 24 + 16 + 60; // offset of the second pcap record
    let ng = pcapng(65535, &[&frame, &frame]);
    let shb_len = 28;
    let idb_len = 20;
    let epb = shb_len + idb_len; // offset of the first enhanced packet block
    let epb_len = 32 + 60;
    let mut cases = Vec::new();

    cases.push(("empty file", Vec::new(), 0, "file too short"));
    cases.push((
        "bad magic",
        b"GIF89a, not a capture at all".to_vec(),
        0,
        "bad magic number",
    ));
    cases.push((
        "truncated file header",
        good[..10].to_vec(),
        0,
        "truncated pcap file header: 10 of 24",
    ));
    let mut v = good.clone();
    v[4] = 3;
    cases.push(("pcap version 3", v, 4, "unsupported pcap version 3.4"));
    let mut v = good[..second].to_vec();
    v.extend_from_slice(&[0; 10]);
    cases.push((
        "truncated record header",
        v,
        second as u64,
        "truncated record header: 10 of 16",
    ));
    let mut v = pcap(50, &[&frame]);
    put_u32(&mut v, 24 + 8, 262_145);
    cases.push((
        "record over libpcap's maximum",
        v,
        24,
        "captured length 262145 is over the maximum of 262144 for link type 1",
    ));
    let mut v = good.clone();
    put_u32(&mut v, second + 8, 61);
    put_u32(&mut v, second + 12, 61);
    cases.push((
        "record past the end",
        v,
        second as u64,
        "runs past the end of the file (60 bytes left)",
    ));
    let mut v = good.clone();
    v.truncate(v.len() - 1);
    cases.push((
        "last record cut",
        v,
        second as u64,
        "runs past the end of the file (59 bytes left)",
    ));

    let mut v = ng.clone();
    v[8..12].copy_from_slice(&[1, 2, 3, 4]);
    cases.push(("pcapng bad byte-order magic", v, 8, "bad byte-order magic"));
    let mut v = ng.clone();
    v[12] = 2;
    cases.push((
        "pcapng version 2",
        v,
        12,
        "unsupported pcapng major version 2",
    ));
    let mut v = ng.clone();
    put_u32(&mut v, epb + 4, 93);
    cases.push((
        "block length not a multiple of 4",
        v,
        epb as u64,
        "total length 93 is not a multiple of 4",
    ));
    let mut v = ng.clone();
    put_u32(&mut v, epb + 4, 8);
    cases.push((
        "block length below 12",
        v,
        epb as u64,
        "total length 8 is below the minimum of 12",
    ));
    let mut v = ng.clone();
    put_u32(&mut v, epb + epb_len + 4, 4096);
    cases.push((
        "block past the end",
        v,
        (epb + epb_len) as u64,
        "total length 4096 runs past the end of the file (92 bytes left)",
    ));
    let mut v = ng.clone();
    put_u32(&mut v, epb + epb_len - 4, 96);
    cases.push((
        "trailing length differs",
        v,
        epb as u64,
        "trailing total length 96 differs from the leading 92",
    ));
    let mut v = ng.clone();
    put_u32(&mut v, epb + 20, 61);
    cases.push((
        "packet longer than its block",
        v,
        epb as u64,
        "captured length 61 is over its block's 60 bytes",
    ));
    let mut v = ng.clone();
    put_u32(&mut v, epb + 8, 3);
    cases.push((
        "unknown interface",
        v,
        epb as u64,
        "refers to interface 3, but its section describes 1",
    ));
    cases.push((
        "pcapng packet over the snap length",
        pcapng(50, &[&frame]),
        epb as u64,
        "over its interface's snapshot length 50",
    ));
    let mut v = ng.clone();
    v.extend_from_slice(&[6, 0, 0, 0, 0, 0]);
    cases.push((
        "truncated block header",
        v,
        ng.len() as u64,
        "truncated block header: 6 of 12",
    ));
    let mut v = ng[..shb_len].to_vec();
    put_u32(&mut v, 4, 24);
    put_u32(&mut v, 20, 24);
    v.truncate(24);
    cases.push((
        "section header too short",
        v,
        0,
        "section header block: total length 24 is below the minimum of 28",
    ));
    let mut v = ng[..shb_len].to_vec();
    v.extend_from_slice(&[1, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0]);
    cases.push((
        "interface description too short",
        v,
        shb_len as u64,
        "interface description block: total length 16 is below the minimum of 20",
    ));
    cases
}

#[test]
fn each_malformed_capture_has_its_error_and_offset() {
    for (name, bytes, offset, words) in cases() {
        let err = match packets(&bytes) {
            Ok(p) => panic!("{name}: accepted ({} packets)", p.len()),
            Err(e) => e,
        };
        assert_eq!(err.offset, offset, "{name}: {err}");
        assert!(
            err.to_string().contains(words),
            "{name}: got `{err}`, want `{words}`"
        );
        assert!(err
            .to_string()
            .starts_with(&format!("byte offset {offset}: ")));
    }
}

#[test]
fn the_cli_reports_the_offset_and_keeps_only_what_tcpdump_keeps() {
    let exe = env!("CARGO_BIN_EXE_cranebpf");
    for (i, (name, bytes, offset, words)) in cases().into_iter().enumerate() {
        let dir = support::temp_dir(&format!("malformed-case{i}"));
        let input = dir.join("in.cap");
        let output = dir.join("out.cap");
        std::fs::write(&input, &bytes).unwrap();
        for threads in ["1", "2"] {
            let out = Command::new(exe)
                .args(["filter", "--threads", threads, "-r"])
                .arg(&input)
                .arg("-w")
                .arg(&output)
                .arg("tcp")
                .output()
                .expect("run cranebpf");
            let stderr = String::from_utf8_lossy(&out.stderr);
            // A file header it cannot read: nothing to filter.
            let unreadable = Reader::new(&bytes).is_err();
            let want = if unreadable { 2 } else { 1 };
            assert_eq!(out.status.code(), Some(want), "{name}: {stderr}");
            assert!(
                stderr.contains(&format!("byte offset {offset}: ")) && stderr.contains(words),
                "{name} (threads {threads}): {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
            let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
            assert_eq!(
                left.len(),
                if unreadable { 1 } else { 2 },
                "{name}: want the input{}, and nothing else",
                if unreadable { "" } else { " and the output" }
            );
            if !unreadable {
                // The header and the blocks before the bad one ("tcp"
                // matches none of the packets).
                let written = std::fs::read(&output).unwrap();
                assert!(offset as usize >= written.len(), "{name}");
                assert_eq!(written[..], bytes[..written.len()], "{name}");
                std::fs::remove_file(&output).unwrap();
            }
        }
    }
}

#[test]
fn an_expression_needs_a_link_type_it_knows() {
    let exe = env!("CARGO_BIN_EXE_cranebpf");
    // Outside the range libpcap's compiler takes (104–289).
    let enc = PcapEncoder::new(300, 65535, false, false);
    let mut bytes = Vec::new();
    enc.file_header(&mut bytes);
    enc.record(&mut bytes, TS, &[0u8; 40], 40);
    let input = support::temp_path("linktype300.pcap");
    std::fs::write(&input, &bytes).unwrap();
    let out = Command::new(exe)
        .args(["filter", "--count", "-r"])
        .arg(&input)
        .arg("tcp")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("byte offset 20: link type 300: unknown link type 300"),
        "{stderr}"
    );
    // A program does not care about the link type.
    let out = Command::new(exe)
        .args(["filter", "--count", "-q", "-r"])
        .arg(&input)
        .args(["--ddd", "1,6 0 0 1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}

/// As tcpdump compiles its filter for the link type a file declares
/// before reading any packet, an expression that cannot be built for it
/// fails on a capture with no packets too (pcap: the header's link type;
/// pcapng: the first interface's), read from a file or a pipe, threaded
/// or not, by `filter` and `run -r`; one that can be built counts 0.
#[test]
fn a_filter_is_built_for_the_declared_link_type_before_any_packet() {
    let exe = env!("CARGO_BIN_EXE_cranebpf");
    let wlan = "wlan type mgt";
    let refused = "802.11 link-layer types supported only on 802.11";
    for (name, bytes, at) in [
        ("empty.pcap", pcap(65535, &[]), 20),
        ("empty.pcapng", pcapng(65535, &[]), 28),
        ("one.pcap", pcap(65535, &[&[0u8; 60]]), 20),
    ] {
        let input = support::temp_path(name);
        std::fs::write(&input, &bytes).unwrap();
        let output = support::temp_path(&format!("out-{name}"));
        let _ = std::fs::remove_file(&output);
        let want = format!("byte offset {at}: link type 1: expression '{wlan}'");
        for stdin in [false, true] {
            let mut cmd = Command::new(exe);
            cmd.args(["filter", "-r"]);
            if stdin {
                cmd.arg("-").stdin(std::fs::File::open(&input).unwrap());
            } else {
                cmd.arg(&input);
            }
            let out = cmd.arg("-w").arg(&output).arg(wlan).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
            assert!(
                stderr.contains(&want) && stderr.contains(refused),
                "{name}: {stderr}"
            );
            assert!(!output.exists(), "{name}: output left behind");
            // `run -r` as well: no verdict printed.
            let mut cmd = Command::new(exe);
            cmd.args(["run", "-r"]);
            if stdin {
                cmd.arg("-").stdin(std::fs::File::open(&input).unwrap());
            } else {
                cmd.arg(&input);
            }
            let out = cmd.arg(wlan).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} run: {stderr}");
            assert!(stderr.contains(&want), "{name} run: {stderr}");
            assert!(out.stdout.is_empty(), "{name} run");
        }
        let out = Command::new(exe)
            .args(["filter", "-q", "--count", "-r"])
            .arg(&input)
            .arg("type data")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("byte offset {at}: link type 1")),
            "{name}: {stderr}"
        );
        let out = Command::new(exe)
            .args(["filter", "-q", "--count", "-r"])
            .arg(&input)
            .arg("tcp")
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "{name}");
        // The library, on one thread and on two.
        let filter = CaptureFilter::expression(wlan).unwrap();
        for threads in [1, 2] {
            let options = ScanOptions {
                threads,
                ..ScanOptions::default()
            };
            match scan(&bytes, &filter, None, &options) {
                Err(ScanError::Filter {
                    offset, link_type, ..
                }) => assert_eq!((offset, link_type), (at, 1), "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}

fn summarize(
    bytes: &[u8],
    filters: &CaptureFilter,
    threads: usize,
) -> Result<(Summary, Vec<u8>), u64> {
    let mut out = Vec::new();
    let options = ScanOptions {
        threads,
        ..ScanOptions::default()
    };
    scan(bytes, filters, Some(&mut out), &options)
        .map(|s| (s, out))
        .map_err(|e| match e {
            cranebpf::capture::scan::ScanError::Capture(c) => c.offset,
            other => panic!("unexpected {other}"),
        })
}

#[test]
fn random_corruption_never_panics_and_threads_agree() {
    let filters = CaptureFilter::expression_with(
        "tcp port 443 or udp",
        Some(cranebpf::LinkType::Ethernet),
        cranebpf::FilterOptions::default(),
    )
    .unwrap();
    let bases = [
        capture(&SynthOptions {
            seed: 3,
            packets: 300,
            ..SynthOptions::default()
        }),
        capture(&SynthOptions {
            seed: 4,
            packets: 300,
            pcapng: true,
            big_endian: true,
            ..SynthOptions::default()
        }),
    ];
    let mut rng = Rng::new(99);
    for round in 0..600 {
        let mut bytes = bases[round % 2].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(4) {
                0 => bytes[at] = rng.next_u32() as u8,
                1 => bytes.truncate(at),
                2 if at + 4 <= bytes.len() => {
                    let v = *rng.pick(&[0u32, 3, 12, 13, 0xffff_ffff, 0x8000_0000, 262_145]);
                    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
                _ => bytes[at] ^= 1 << rng.below(8),
            }
        }
        let _ = packets(&bytes);
        let serial = summarize(&bytes, &filters, 1);
        let threaded = summarize(&bytes, &filters, 2);
        assert_eq!(serial, threaded, "round {round}: threads disagree");
    }
}
