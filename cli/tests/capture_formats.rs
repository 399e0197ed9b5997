//! Capture formats: pcapng with several interfaces, link types, sections
//! and timestamp resolutions; simple packet blocks; the output file that
//! appears only when complete; the bundled sample capture.

mod support;

use cranebpf::capture::scan::{scan, ScanOptions};
use cranebpf::capture::write::{AtomicFile, PcapngEncoder};
use cranebpf::capture::{packets, CaptureFilter, Item, Reader, Timestamp};
use cranebpf::expr::{compile_expr, LinkType};
use cranebpf::Filter;
use cranebpf_harness::synth::{capture, packet_mix, SynthOptions};
use std::io::Write;

const EXPR: &str = "tcp port 443 or icmp";

fn expr_filters() -> CaptureFilter {
    CaptureFilter::expression(EXPR).unwrap()
}

/// A section with an Ethernet and a raw-IP interface, packets interleaved;
/// then a big-endian section with a raw interface only.
fn mixed_pcapng() -> (Vec<u8>, Vec<bool>) {
    let frames = packet_mix(21, 3000);
    let mut out = Vec::new();
    let mut expected = Vec::new();
    let eth = Filter::new(compile_expr(EXPR, LinkType::Ethernet).unwrap()).unwrap();
    let raw = Filter::new(compile_expr(EXPR, LinkType::Raw).unwrap()).unwrap();
    for (section, big_endian) in [(0, false), (1, true)] {
        let enc = PcapngEncoder { big_endian };
        enc.section_header(&mut out);
        if section == 0 {
            enc.interface(&mut out, 1, 0, Some(9));
        }
        enc.interface(&mut out, 101, 0, None);
        for (i, frame) in frames.iter().enumerate() {
            // Raw-IP packets: the frame without its Ethernet header.
            let to_raw = section == 1 || i % 3 == 0;
            let (iface, data, filter) = if to_raw {
                let ip = frame.get(14..).unwrap_or(&[]);
                (u32::from(section == 0), ip, &raw)
            } else {
                (0, frame.as_slice(), &eth)
            };
            enc.packet(
                &mut out,
                iface,
                1_700_000_000_000 + i as u64,
                data,
                data.len() as u32,
            );
            expected.push(filter.run(data) != 0);
        }
    }
    (out, expected)
}

#[test]
fn pcapng_expressions_compile_per_interface_link_type() {
    let (bytes, expected) = mixed_pcapng();
    let all = packets(&bytes).unwrap();
    assert_eq!(all.len(), expected.len());
    let want = expected.iter().filter(|m| **m).count() as u64;
    assert!(want > 100);
    let filters = expr_filters();
    let mut first = None;
    for threads in [1, 2, 3, 5] {
        let mut out = Vec::new();
        let options = ScanOptions {
            threads,
            ..ScanOptions::default()
        };
        let summary = scan(&bytes, &filters, Some(&mut out), &options).unwrap();
        assert_eq!(summary.packets, expected.len() as u64);
        assert_eq!(summary.matched, want, "threads {threads}");
        let kept: Vec<Vec<u8>> = packets(&out)
            .unwrap()
            .iter()
            .map(|(_, p)| p.data.to_vec())
            .collect();
        let reference: Vec<Vec<u8>> = all
            .iter()
            .zip(&expected)
            .filter(|(_, m)| **m)
            .map(|(p, _)| p.1.data.to_vec())
            .collect();
        assert!(kept == reference, "threads {threads}: wrong packets kept");
        // Every non-packet block (both sections, all interfaces) is kept.
        let mut r = Reader::new(&out).unwrap();
        let mut others = 0;
        while let Some(item) = r.next_item() {
            others += usize::from(matches!(item.unwrap(), Item::Other(_)));
        }
        assert_eq!(others, 5);
        match &first {
            None => first = Some(out),
            Some(f) => assert!(*f == out, "threads {threads}: output differs"),
        }
    }
}

#[test]
fn pcapng_timestamp_resolutions() {
    let enc = PcapngEncoder { big_endian: false };
    let mut out = Vec::new();
    enc.section_header(&mut out);
    enc.interface(&mut out, 1, 0, Some(9)); // nanoseconds
    enc.interface(&mut out, 1, 0, Some(0x80 | 20)); // 2^-20 s
    enc.interface(&mut out, 1, 0, None); // microseconds
    enc.packet(&mut out, 0, 1_700_000_000_123_456_789, &[1], 1);
    enc.packet(&mut out, 1, (5 << 20) | (1 << 19), &[2], 1);
    enc.packet(&mut out, 2, 7_000_001, &[3], 1);
    enc.simple_packet(&mut out, &[4, 5, 6], 3);
    let got: Vec<(Timestamp, Vec<u8>)> = packets(&out)
        .unwrap()
        .into_iter()
        .map(|(t, p)| (t, p.data.to_vec()))
        .collect();
    let ts = |secs, nanos| Timestamp { secs, nanos };
    assert_eq!(
        got,
        vec![
            (ts(1_700_000_000, 123_456_789), vec![1]),
            (ts(5, 500_000_000), vec![2]),
            (ts(7, 1000), vec![3]),
            (ts(0, 0), vec![4, 5, 6]),
        ]
    );
}

#[test]
fn output_appears_only_when_committed() {
    let dir = support::temp_dir("atomic");
    let dest = dir.join("out.pcap");
    let mut f = AtomicFile::create(&dest).unwrap();
    f.write_all(b"partial").unwrap();
    assert!(f.temp_path().is_some_and(|t| t.exists()) && !dest.exists());
    drop(f); // as on an error or an unwinding interruption
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let mut f = AtomicFile::create(&dest).unwrap();
    f.write_all(b"complete").unwrap();
    f.commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"complete");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

/// The output's disk space is reserved ahead of the writes; what was
/// reserved past the end must be given back on commit, and the content
/// must be exactly what was written.
#[test]
fn space_reserved_ahead_is_released_on_commit() {
    use std::os::unix::fs::MetadataExt;
    let dir = support::temp_dir("reserve");
    let dest = dir.join("out.pcap");
    let mut f = AtomicFile::create(&dest).unwrap();
    let mut want = Vec::new();
    // About 3.4 MB in uneven pieces, inside the first 8 MiB reserved, so
    // most of the reserve is unused at the end.
    for i in 0..1000u32 {
        let piece = vec![(i % 251) as u8; 3000 + (i as usize % 700)];
        f.write_all(&piece).unwrap();
        want.extend_from_slice(&piece);
    }
    let tmp = f.temp_path().unwrap().to_path_buf();
    let reserved = std::fs::metadata(&tmp).unwrap().blocks() * 512;
    f.commit().unwrap();
    let meta = std::fs::metadata(&dest).unwrap();
    assert_eq!(meta.len(), want.len() as u64);
    assert!(std::fs::read(&dest).unwrap() == want, "content differs");
    let used = meta.blocks() * 512;
    assert!(
        used <= want.len() as u64 + (64 << 10),
        "{used} bytes of disk kept for {} bytes (reserved {reserved})",
        want.len()
    );
}

#[test]
fn bundled_sample_is_the_generator_output_and_has_https() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sample.pcap");
    let bundled = std::fs::read(path).unwrap();
    let options = SynthOptions {
        seed: 7,
        packets: 400,
        ..SynthOptions::default()
    };
    assert!(
        bundled == capture(&options),
        "examples/sample.pcap is not `cranebpf gen-capture --packets 400 --seed 7`"
    );
    let https = Filter::new(compile_expr("tcp port 443", LinkType::Ethernet).unwrap()).unwrap();
    let matched = packets(&bundled)
        .unwrap()
        .iter()
        .filter(|(_, p)| https.run_wire(p.data, p.wire_len) != 0)
        .count();
    assert!(matched > 50, "only {matched} tcp/443 packets");
}

#[test]
fn readme_first_command_and_run_dash_r_on_the_sample() {
    let exe = env!("CARGO_BIN_EXE_cranebpf");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sample.pcap");
    let out = std::process::Command::new(exe)
        .args(["filter", "-r", sample, "tcp port 443"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "202");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("400 packets read, 202 matched"),
        "{summary}"
    );
    let out = std::process::Command::new(exe)
        .args(["run", "tcp port 443", "-r", sample])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let verdicts: Vec<&str> = text.lines().collect();
    assert_eq!(verdicts.len(), 400);
    assert_eq!(verdicts.iter().filter(|v| **v == "262144").count(), 202);
    assert!(verdicts.iter().all(|v| *v == "0" || *v == "262144"));
}

#[test]
fn resync_finds_the_true_record_boundaries() {
    for pcapng in [false, true] {
        let bytes = capture(&SynthOptions {
            seed: 12,
            packets: 5000,
            pcapng,
            ..SynthOptions::default()
        });
        let mut reader = Reader::new(&bytes).unwrap();
        let base = reader.clone();
        let mut boundaries = vec![reader.offset()];
        while let Some(item) = reader.next_item() {
            item.unwrap();
            boundaries.push(reader.offset());
        }
        let mut base = base;
        if let Reader::Pcapng(r) = &mut base {
            r.skip_preamble();
        }
        for k in 1..50 {
            let split = bytes.len() * k / 50;
            let guess = base.resync(split).expect("a boundary").offset();
            let truth = *boundaries.iter().find(|&&b| b >= split).unwrap();
            assert_eq!(guess, truth, "pcapng {pcapng}, split {split}");
        }
    }
}

#[test]
fn special_files_are_written_in_place_and_links_stay_links() {
    use std::os::unix::fs::FileTypeExt;
    let dir = support::temp_dir("special");

    // A named pipe: written through, still a pipe afterwards (renaming over
    // it would have replaced it, as it would /dev/null).
    let fifo = dir.join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    let mut f = AtomicFile::create(&fifo).unwrap();
    assert!(f.temp_path().is_none());
    f.write_all(b"through the pipe").unwrap();
    f.commit().unwrap();
    assert_eq!(reader.join().unwrap(), b"through the pipe");
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());

    // A symbolic link to a regular file: the file is replaced, the link stays.
    let target = dir.join("target.pcap");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.join("link.pcap");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut f = AtomicFile::create(&link).unwrap();
    f.write_all(b"new").unwrap();
    f.commit().unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
}

/// 65,536 interface descriptions, then packets spread over them: the
/// threaded scan (which copies the reader per chunk) gives the serial
/// scan's output, and the interfaces are shared between those copies, not
/// copied (it took 19-24 s against 0.7 s serial when they were). Times
/// are printed, not asserted.
#[test]
fn many_interfaces_scan_threaded_as_serial() {
    let enc = PcapngEncoder { big_endian: false };
    let mut bytes = Vec::new();
    enc.section_header(&mut bytes);
    for _ in 0..65_536 {
        enc.interface(&mut bytes, 1, 0, None);
    }
    for (i, frame) in packet_mix(4, 200_000).iter().enumerate() {
        let iface = (i * 7919 % 65_536) as u32;
        enc.packet(
            &mut bytes,
            iface,
            1_700_000_000_000_000 + i as u64,
            frame,
            frame.len() as u32,
        );
    }
    let filters = expr_filters();
    let mut outputs = Vec::new();
    for threads in [1, 2, 4] {
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        let options = ScanOptions {
            threads,
            ..ScanOptions::default()
        };
        let summary = scan(&bytes, &filters, Some(&mut out), &options).expect("scans");
        println!(
            "{} bytes, 65,536 interfaces, {threads} thread(s): {:.3} s, {} of {} packets kept",
            bytes.len(),
            started.elapsed().as_secs_f64(),
            summary.matched,
            summary.packets
        );
        outputs.push((summary, out));
    }
    assert!(outputs[0].0.matched > 0);
    for (summary, out) in &outputs[1..] {
        assert_eq!(summary, &outputs[0].0);
        assert!(out == &outputs[0].1, "threaded output differs");
    }
}

/// Hands out its bytes a few at a time, as a pipe does.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
    reads: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reads += 1;
        // Sizes vary with the read number: 1 byte to `step`.
        let n = (1 + self.reads * 7919 % self.step)
            .min(buf.len())
            .min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// A capture read from a stream in pieces of any size gives what the
/// mapped scan gives: summary (error and offset included) and output, for
/// pcap, multi-section pcapng, records cut to the snapshot length and
/// files cut inside a record; and so does `-c`.
#[test]
fn streams_scan_as_mapped_files_do() {
    let (mixed, _) = mixed_pcapng();
    let pcap = capture(&SynthOptions {
        seed: 12,
        packets: 3000,
        ..SynthOptions::default()
    });
    let mut clipped_cut = pcap.clone();
    clipped_cut[16..20].copy_from_slice(&150u32.to_le_bytes());
    clipped_cut.truncate(clipped_cut.len() - 100);
    let mut ng_cut = mixed.clone();
    ng_cut.truncate(ng_cut.len() - 3);
    let filters = expr_filters();
    for (name, bytes) in [
        ("pcap", &pcap),
        ("pcapng", &mixed),
        ("clipped, cut", &clipped_cut),
        ("pcapng, cut", &ng_cut),
    ] {
        for max_matches in [None, Some(17)] {
            let options = ScanOptions {
                max_matches,
                ..ScanOptions::default()
            };
            let mut want = Vec::new();
            let want_summary = scan(bytes, &filters, Some(&mut want), &options).unwrap();
            for step in [5, 13, 4096, 1 << 20] {
                let trickle = Trickle {
                    bytes,
                    step,
                    reads: 0,
                };
                let mut got = Vec::new();
                let summary =
                    cranebpf::capture::scan_stream(trickle, &filters, Some(&mut got), &options)
                        .unwrap();
                assert_eq!(summary, want_summary, "{name} step {step}");
                assert!(
                    got == want,
                    "{name} step {step} {max_matches:?}: output differs"
                );
            }
        }
    }
}
