//! Every capture in `../shared/realworld/captures/` (tcpdump's 830 test
//! captures and libpcap's 37 filter savefiles, many malformed or cut short
//! on purpose) read as the installed tcpdump reads it, and filtered as it
//! filters it.
//!
//! For each file, `tcpdump -r F -w OUT` gives the records libpcap hands on
//! (timestamps, captured and wire lengths, bytes); our reader must give the
//! same ones (compared as tcpdump writes them: seconds in 32 bits,
//! microseconds). Then, for a few simple expressions, the records
//! `tcpdump -r F -w OUT EXPR` keeps must be the ones we keep, on every
//! engine (cbpf, interp, jit), through the library; a sample of files goes
//! through `cranebpf filter` itself. Needs tcpdump and the shared data:
//! fails under CI=true without them, else skips.

mod support;

use cranebpf::capture::scan::{ScanError, ScanOptions};
use cranebpf::capture::{packets, CaptureFilter, CaptureFilterError};
use cranebpf::{Engine, FilterOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use support::{records, Record};

/// The expressions every capture is filtered with.
const EXPRS: [&str; 4] = ["ip", "ip6", "tcp or udp port 53", "greater 100"];

/// The engines compared; the first runs on every file, all on a sample.
const ENGINES: [Engine; 3] = [Engine::Jit, Engine::Cbpf, Engine::Interp];

/// Captures known to be filtered differently, and why: none. (The five
/// BSD-loopback savefiles that differed until DLT_NULL was compiled for
/// savefiles are in `cli/tests/savefile_loopback.rs`.)
const EXPLAINED: [&str; 0] = [];

/// What tcpdump made of a file with an expression (`None`: none).
enum Theirs {
    /// The records it wrote.
    Kept(Vec<Record>),
    /// It refused the expression for this file's link type.
    Refused,
}

fn tcpdump(input: &Path, output: &Path, expr: Option<&str>) -> Theirs {
    let mut cmd = Command::new("tcpdump");
    cmd.arg("-r").arg(input).arg("-w").arg(output);
    cmd.args(expr);
    let out = cmd.output().expect("run tcpdump");
    let written = std::fs::read(output).unwrap_or_default();
    let _ = std::fs::remove_file(output);
    if written.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            expr.is_some(),
            "tcpdump did not read {}: {stderr}",
            input.display()
        );
        return Theirs::Refused;
    }
    Theirs::Kept(records(&written))
}

/// Our output for `filter` over `bytes`: the records kept, or `None` when
/// we do not compile the expression for the file's link type.
fn ours(bytes: &[u8], filter: &CaptureFilter, name: &str) -> Option<Vec<Record>> {
    let mut out = Vec::new();
    match filter.scan(bytes, Some(&mut out), &ScanOptions::default()) {
        Ok(summary) => {
            assert!(
                summary.error.is_none(),
                "{name}: tcpdump reads it whole, we stop at {:?}",
                summary.error
            );
            Some(records(&out))
        }
        Err(ScanError::Filter {
            error: CaptureFilterError::UnknownLinkType(_) | CaptureFilterError::Expression { .. },
            ..
        }) => None,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// The figures of a run.
#[derive(Default)]
struct Figures {
    files: usize,
    read_same: usize,
    compared: usize,
    same: usize,
    theirs_refused: usize,
    ours_refused: BTreeMap<u32, usize>,
    differ: Vec<String>,
    cli_checked: usize,
}

/// Every capture file of `shared/realworld/captures`, in order.
fn realworld() -> Option<Vec<PathBuf>> {
    let root = support::shared_dir("realworld/captures")?;
    let mut files = Vec::new();
    for dir in ["tcpdump", "libpcap-filter"] {
        let entries = std::fs::read_dir(root.join(dir)).expect("the capture directories");
        files.extend(entries.map(|e| e.expect("directory entry").path()));
    }
    files.sort();
    assert!(
        files.len() >= 867,
        "captures missing from {}",
        root.display()
    );
    Some(files)
}

fn link_type(bytes: &[u8]) -> u32 {
    packets(bytes)
        .ok()
        .and_then(|p| p.first().map(|(_, p)| p.link_type))
        .unwrap_or(u32::MAX)
}

#[test]
fn every_capture_reads_and_filters_as_tcpdump_does() {
    if !support::tcpdump_available() {
        return;
    }
    let Some(files) = realworld() else { return };
    let scratch = support::temp_file("placeholder", b"");
    let dir = scratch.parent().expect("scratch dir").to_path_buf();
    let filters: Vec<Vec<CaptureFilter>> = EXPRS
        .iter()
        .map(|e| {
            ENGINES
                .iter()
                .map(|&engine| {
                    let options = FilterOptions {
                        engine: Some(engine),
                        ..FilterOptions::default()
                    };
                    CaptureFilter::expression_with(e, None, options).expect("compiles")
                })
                .collect()
        })
        .collect();
    let figures = Mutex::new(Figures::default());
    let next = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for worker in 0..4 {
            let (files, filters, figures, next, dir) = (&files, &filters, &figures, &next, &dir);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let name = format!(
                    "{}/{}",
                    path.parent()
                        .and_then(Path::file_name)
                        .unwrap()
                        .to_string_lossy(),
                    path.file_name().unwrap().to_string_lossy()
                );
                let out = dir.join(format!("tcpdump-{worker}.pcap"));
                let bytes = std::fs::read(path).expect("read capture");
                let Theirs::Kept(all) = tcpdump(path, &out, None) else {
                    unreachable!()
                };
                let keep_all = CaptureFilter::accept_all(FilterOptions::default()).unwrap();
                let read = ours(&bytes, &keep_all, &name).expect("a program runs anywhere");
                let mut f = Figures {
                    files: 1,
                    read_same: usize::from(read == all),
                    ..Figures::default()
                };
                if read != all {
                    f.differ.push(format!(
                        "{name}: read {} records, tcpdump {}",
                        read.len(),
                        all.len()
                    ));
                }
                // Every engine on one file in four; the JIT on all.
                let engines = if i % 4 == 0 { 3 } else { 1 };
                for (expr, by_engine) in EXPRS.iter().zip(filters) {
                    let Theirs::Kept(want) = tcpdump(path, &out, Some(expr)) else {
                        f.theirs_refused += 1;
                        continue;
                    };
                    let Some(got) = ours(&bytes, &by_engine[0], &name) else {
                        *f.ours_refused.entry(link_type(&bytes)).or_default() += 1;
                        continue;
                    };
                    f.compared += 1;
                    if got == want {
                        f.same += 1;
                    } else {
                        f.differ.push(format!(
                            "{name} '{expr}': kept {} records, tcpdump {}",
                            got.len(),
                            want.len()
                        ));
                    }
                    for (engine, filter) in engines_after_first(by_engine, engines) {
                        if ours(&bytes, filter, &name).as_ref() != Some(&want) {
                            f.differ.push(format!(
                                "{name} '{expr}' on {}: differs from tcpdump",
                                ENGINES[engine]
                            ));
                        }
                    }
                    // The command itself on one file in twelve.
                    if i % 12 == 0 && expr == &EXPRS[0] {
                        let mine = dir.join(format!("ours-{worker}.pcap"));
                        let status = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
                            .args(["filter", "-q", "-r"])
                            .arg(path)
                            .arg("-w")
                            .arg(&mine)
                            .arg(expr)
                            .status()
                            .expect("run cranebpf");
                        assert!(status.success(), "{name}: cranebpf filter failed");
                        let got = records(&std::fs::read(&mine).expect("output written"));
                        assert!(got == want, "{name}: cranebpf filter differs from tcpdump");
                        f.cli_checked += 1;
                    }
                }
                let mut total = figures.lock().unwrap();
                total.files += f.files;
                total.read_same += f.read_same;
                total.compared += f.compared;
                total.same += f.same;
                total.theirs_refused += f.theirs_refused;
                total.cli_checked += f.cli_checked;
                for (k, v) in f.ours_refused {
                    *total.ours_refused.entry(k).or_default() += v;
                }
                total.differ.extend(f.differ);
            });
        }
    });
    let f = figures.into_inner().unwrap();
    println!(
        "{} captures: {} read with tcpdump's records ({:.1} s)",
        f.files,
        f.read_same,
        started.elapsed().as_secs_f64()
    );
    println!(
        "filtered with {EXPRS:?}: {} (file, expression) pairs compared, {} identical to tcpdump's \
         output; {} refused by tcpdump for the file's link type; {} refused by us (link types \
         the expression compiler does not know: {:?}); {} checked through `cranebpf filter`",
        f.compared,
        f.same,
        f.theirs_refused,
        f.ours_refused.values().sum::<usize>(),
        f.ours_refused,
        f.cli_checked
    );
    for d in &f.differ {
        println!("differs: {d}");
    }
    assert_eq!(f.files, files.len());
    assert_eq!(
        f.read_same, f.files,
        "captures read differently from tcpdump"
    );
    let unexplained: Vec<&String> = f
        .differ
        .iter()
        .filter(|d| !EXPLAINED.iter().any(|known| d.starts_with(known)))
        .collect();
    assert!(unexplained.is_empty(), "unexplained: {unexplained:#?}");
    // Every expression tcpdump compiled for a file's link type we compile.
    assert!(
        f.ours_refused.is_empty(),
        "refused where tcpdump filtered: {:?}",
        f.ours_refused
    );
}

fn engines_after_first(
    filters: &[CaptureFilter],
    count: usize,
) -> impl Iterator<Item = (usize, &CaptureFilter)> {
    filters.iter().enumerate().skip(1).take(count - 1)
}

/// `protochain` walks IPv6 extension headers and AH in a loop that jumps
/// backwards, which Linux refuses: the capture filter runs it in libpcap's
/// dialect, and the packets kept are tcpdump's, on the captures that have
/// such headers.
#[test]
fn protochain_filters_as_tcpdump_does() {
    if !support::tcpdump_available() {
        return;
    }
    let Some(root) = support::shared_dir("realworld/captures/tcpdump") else {
        return;
    };
    const FILES: [&str; 8] = [
        "OSPFv3_with_AH.pcap",
        "dcb_ets.pcap",
        "ipv6-routing-header.pcap",
        "icmpv6.pcap",
        "ipv6_jumbogram_1.pcap",
        "ipv6_frag6_negative_len.pcap",
        "ipv6-srh-tlv-pad1-padn-5.pcap",
        "LINKTYPE_RAW_ipv6.pcap",
    ];
    const CHAINS: [&str; 8] = [
        "protochain 51",
        "ip6 protochain 17",
        "ip6 protochain 58",
        "ip6 protochain 6",
        "ip6 protochain 44",
        "ip6 protochain 43",
        "ip protochain 6",
        "protochain 89",
    ];
    let scratch = support::temp_file("protochain", b"");
    let (mut compared, mut kept) = (0, 0);
    for file in FILES {
        let path = root.join(file);
        let bytes = std::fs::read(&path).expect("the capture");
        for expr in CHAINS {
            let filter = CaptureFilter::expression(expr).expect("compiles");
            let Theirs::Kept(theirs) = tcpdump(&path, &scratch, Some(expr)) else {
                panic!("{file} '{expr}': tcpdump refused it");
            };
            let ours = ours(&bytes, &filter, file).expect("compiled");
            assert_eq!(ours, theirs, "{file} '{expr}'");
            compared += 1;
            kept += ours.len();
        }
    }
    println!("protochain: {compared} (file, expression) pairs as tcpdump's, {kept} records kept");
    assert!(kept > 60, "the captures should exercise the loop");
}

/// Expressions beyond [`EXPRS`], each of a different part of the
/// compiler: encapsulations (VLAN, MPLS, PPPoE), link-level addresses and
/// protocols, IP header fields and arithmetic, transport header fields
/// behind a variable IP header, TCP flags, ICMP types, ranges, masks,
/// IPv6 next headers and packet lengths.
const WIDER_EXPRS: [&str; 24] = [
    "vlan and tcp",
    "mpls and ip",
    "pppoed or pppoes",
    "ether multicast and not ether broadcast",
    "ether proto 0x88cc or stp or llc",
    "arp or rarp",
    "icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) != 0",
    "ip[6:2] & 0x1fff != 0",
    "ip[8] < 64 and ip[16] ^ ip[12] != 0",
    "udp dst port 53 and udp[10] & 0x80 = 0",
    "tcp src portrange 1000-2000 or udp portrange 1-1024",
    "net 192.168.0.0 mask 255.255.0.0 or src net 172.16/12",
    "ip multicast or ip6 multicast",
    "icmp6 and ip6[40] == 135",
    "ip6 proto 17 or ip6[6] == 58",
    "igmp or pim or vrrp",
    "sctp or ah or esp or ip proto 47",
    "isis or clnp or esis",
    "less 64 or len >= 1500",
    "ether[len - 1] == 0",
    "udp[4:2] % 7 == 3",
    "not ip and not ip6 and not arp",
];

/// [`WIDER_EXPRS`] on a third of the captures each (expression `j` on the
/// files `i` with `(i + j) % 3 == 0`), through the default engine: the
/// records kept must be tcpdump's. Every expression must keep some records
/// and leave others, so each one tells something.
#[test]
fn a_wider_set_of_expressions_filters_as_tcpdump_does() {
    if !support::tcpdump_available() {
        return;
    }
    let Some(files) = realworld() else { return };
    let scratch = support::temp_file("wider", b"");
    let dir = scratch.parent().expect("scratch dir").to_path_buf();
    let filters: Vec<CaptureFilter> = WIDER_EXPRS
        .iter()
        .map(|e| CaptureFilter::expression(e).expect("compiles"))
        .collect();
    // Per expression: (records kept, records left, files compared).
    let tally = Mutex::new(vec![(0usize, 0usize, 0usize); WIDER_EXPRS.len()]);
    let differ = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for worker in 0..4 {
            let (files, filters, tally, differ, next, dir) =
                (&files, &filters, &tally, &differ, &next, &dir);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let name = path.display().to_string();
                let out = dir.join(format!("wider-{worker}.pcap"));
                let bytes = std::fs::read(path).expect("read capture");
                let total = match tcpdump(path, &out, None) {
                    Theirs::Kept(all) => all.len(),
                    Theirs::Refused => unreachable!("tcpdump reads every capture"),
                };
                for (j, (expr, filter)) in WIDER_EXPRS.iter().zip(filters).enumerate() {
                    if (i + j) % 3 != 0 {
                        continue;
                    }
                    let Theirs::Kept(want) = tcpdump(path, &out, Some(expr)) else {
                        continue;
                    };
                    let Some(got) = ours(&bytes, filter, &name) else {
                        differ.lock().unwrap().push(format!(
                            "{name} '{expr}': refused, tcpdump kept {}",
                            want.len()
                        ));
                        continue;
                    };
                    if got != want {
                        differ.lock().unwrap().push(format!(
                            "{name} '{expr}': kept {} records, tcpdump {}",
                            got.len(),
                            want.len()
                        ));
                    }
                    let mut t = tally.lock().unwrap();
                    t[j].0 += want.len();
                    t[j].1 += total - want.len();
                    t[j].2 += 1;
                }
            });
        }
    });
    let tally = tally.into_inner().unwrap();
    for (expr, (kept, left, compared)) in WIDER_EXPRS.iter().zip(&tally) {
        println!("'{expr}': {compared} files, {kept} records kept, {left} left");
    }
    let differ = differ.into_inner().unwrap();
    assert!(differ.is_empty(), "differs from tcpdump: {differ:#?}");
    for (expr, &(kept, left, compared)) in WIDER_EXPRS.iter().zip(&tally) {
        assert!(
            kept > 0 && left > 0 && compared > 100,
            "'{expr}' tells nothing: {compared} files, {kept} kept, {left} left"
        );
    }
}
