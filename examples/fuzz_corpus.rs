//! Builds the fuzzers' starting corpus from the project's and the shared
//! test material (too big to commit):
//! `cargo run --release --example fuzz_corpus [-- OUT_DIR [SHARED_DIR]]`
//! (defaults `fuzz/corpus` and `../shared`), one sub-directory per target
//! of `fuzz/`. Sources: the expressions of `conformance/` and libpcap's
//! TESTrun table, the programs they compile to in every classic form,
//! tcpdump's and libpcap's capture files and their packets, the eBPF
//! conformance suite and corpus, and the verifier test's generated XDP
//! and TC programs.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use cranebpf::cbpf::print;
use cranebpf::ebpf;
use cranebpf::expr::{compile_expr, LinkType, ALL_LINK_TYPES};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest capture seed: longer files are cut (a cut capture is a good
/// input too) so the fuzzer's inputs stay small and fast.
const MAX_CAPTURE_SEED: usize = 64 << 10;
/// Seeds per target at most.
const MAX_SEEDS: usize = 3000;

struct Corpus {
    out: PathBuf,
    seeds: BTreeMap<&'static str, Vec<Vec<u8>>>,
}

impl Corpus {
    fn add(&mut self, target: &'static str, input: Vec<u8>) {
        let list = self.seeds.entry(target).or_default();
        if list.len() < MAX_SEEDS {
            list.push(input);
        }
    }

    fn write(&self) -> std::io::Result<()> {
        for (target, inputs) in &self.seeds {
            let dir = self.out.join(target);
            std::fs::create_dir_all(&dir)?;
            for (n, input) in inputs.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{n:05}")), input)?;
            }
            println!("{target}: {} seeds", inputs.len());
        }
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(args.first().map_or("fuzz/corpus", String::as_str));
    let shared = PathBuf::from(args.get(1).map_or("../shared", String::as_str));
    let mut corpus = Corpus {
        out,
        seeds: BTreeMap::new(),
    };
    let expressions = expressions(&shared);
    let packets = captures(&shared, &mut corpus);
    for (n, (link, expr)) in expressions.iter().enumerate() {
        let pick = ALL_LINK_TYPES.iter().position(|l| l == link).unwrap_or(0) as u8;
        let mut input = vec![pick];
        input.extend_from_slice(expr.as_bytes());
        corpus.add("expr_compile", input);
        let Ok(prog) = compile_expr(expr, *link) else {
            continue;
        };
        corpus.add("classic_text", print::ddd(&prog).into_bytes());
        corpus.add("classic_text", print::comma(&prog).into_bytes());
        corpus.add("classic_text", print::dd(&prog).into_bytes());
        corpus.add("classic_asm", print::asm(&prog).into_bytes());
        corpus.add("classic_raw", print::raw(&prog));
        corpus.add("classic_check", print::raw(&prog));
        if let Some(packet) = packets.get(n % packets.len().max(1)) {
            if let Some(input) = targets::diff_input(&print::raw(&prog), &[0; 8], packet) {
                corpus.add("classic_diff", input);
            }
        }
    }
    for (prog, mem) in ebpf_programs(&shared) {
        corpus.add("ebpf_asm", ebpf::disasm::disassemble(&prog).into_bytes());
        corpus.add("ebpf_decode", prog.to_bytes());
        corpus.add("ebpf_verify", prog.to_bytes());
        if let Some(input) = targets::diff_input(&prog.to_bytes(), &[], &mem) {
            corpus.add("ebpf_diff", input);
        }
    }
    // The verifier test's generated XDP, TC and socket filter programs
    // (loops, local calls, maps, legacy loads), the hook byte first.
    let mut rng = cranebpf_harness::Rng::new(0x05ee_d0d9);
    for n in 0..600u32 {
        use cranebpf_harness::gen::xdp::{self, Hook};
        let hook = match n % 4 {
            2 => Hook::Tc,
            3 => Hook::Socket,
            _ => Hook::Xdp,
        };
        let snippets = 1 + rng.below(6) as usize;
        let case = xdp::program_for(&mut rng, snippets, hook, true);
        let mut input = vec![match hook {
            Hook::Xdp => 0u8,
            Hook::Tc => 1,
            Hook::Socket => 2,
        }];
        input.extend(ebpf::Program::new(case.insns).to_bytes());
        corpus.add("xdp_verify", input);
    }
    if let Err(e) = corpus.write() {
        eprintln!("fuzz_corpus: writing {}: {e}", corpus.out.display());
        std::process::exit(1);
    }
}

/// Expressions and their link types: the project's lists (Ethernet) and
/// libpcap's TESTrun table (its own link types, where we know them).
fn expressions(shared: &Path) -> Vec<(LinkType, String)> {
    let mut out = Vec::new();
    for file in [
        "conformance/tcpdump-filters.txt",
        "conformance/expressions.txt",
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                out.push((LinkType::Ethernet, line.to_string()));
            }
        }
    }
    let table = shared.join("realworld/exprs.tsv");
    let text = std::fs::read_to_string(&table).unwrap_or_default();
    for row in text.lines().skip(1) {
        let mut cols = row.split('\t');
        let (Some(expr), Some(dlt)) = (cols.next(), cols.next()) else {
            continue;
        };
        if let Some(link) = LinkType::from_name(dlt) {
            out.push((link, expr.to_string()));
        }
    }
    out
}

/// Adds every capture file (cut to [`MAX_CAPTURE_SEED`]) to the reader
/// targets and returns the first packets of each.
fn captures(shared: &Path, corpus: &mut Corpus) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    for dir in [
        "realworld/captures/tcpdump",
        "realworld/captures/libpcap-filter",
    ] {
        let Ok(entries) = std::fs::read_dir(shared.join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let cut = bytes[..bytes.len().min(MAX_CAPTURE_SEED)].to_vec();
            match cranebpf::capture::Reader::new(&bytes) {
                Ok(cranebpf::capture::Reader::Pcap(_)) => corpus.add("pcap_read", cut),
                Ok(cranebpf::capture::Reader::Pcapng(_)) => corpus.add("pcapng_read", cut),
                Err(_) => continue,
            }
            if let Ok(list) = cranebpf::capture::packets(&bytes) {
                packets.extend(list.iter().take(2).map(|(_, p)| p.data.to_vec()));
            }
        }
    }
    packets
}

/// eBPF programs and input memories: the conformance suite's tests and the
/// socket filters of `conformance/ebpf.corpus`.
fn ebpf_programs(shared: &Path) -> Vec<(ebpf::Program, Vec<u8>)> {
    let mut out = Vec::new();
    let suite = shared.join("bpf-conformance/tests");
    if let Ok(entries) = std::fs::read_dir(&suite) {
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            if let Ok(case) =
                cranebpf_harness::suite::parse(&name, &String::from_utf8_lossy(&bytes))
            {
                out.push((case.program, case.mem));
            }
        }
    }
    let text = std::fs::read_to_string("conformance/ebpf.corpus").unwrap_or_default();
    for line in text.lines() {
        if let Some(source) = line.strip_prefix("ebpf ") {
            if let Ok(prog) = ebpf::asm::assemble(&source.replace(" | ", "\n")) {
                out.push((prog, vec![0x45; 64]));
            }
        }
    }
    out
}
