//! Building the checked-in corpus from its seeds: each family generates
//! its programs and packets, asks the kernel through
//! [`super::record`], and returns a [`Corpus`].

use super::ebpf_cases;
use super::format::{assemble_ebpf, Case, Corpus, PacketSpec};
use super::guide::targeted_packets;
use super::record::{record_ebpf, ClassicRecorder, ClassicVerdict};
use crate::gen;
use crate::kernel::classic::MAX_PACKET;
use crate::Rng;
use cranebpf::cbpf::insn::{op, skf};
use cranebpf::cbpf::{parse, Program};
use std::collections::HashMap;
use std::process::Command;

/// A packet table that stores each distinct packet once.
#[derive(Default)]
struct Table {
    corpus: Corpus,
    index: HashMap<PacketSpec, usize>,
    bytes: Vec<Vec<u8>>,
}

impl Table {
    fn new(kernel: &str, family: &str, seed: u64) -> Table {
        let mut corpus = Corpus::new(kernel);
        corpus.header.push(("family".into(), family.into()));
        corpus.header.push(("seed".into(), format!("{seed:#x}")));
        Table {
            corpus,
            ..Table::default()
        }
    }

    fn add(&mut self, spec: PacketSpec) -> usize {
        if let Some(&i) = self.index.get(&spec) {
            return i;
        }
        let bytes = spec.bytes(&self.bytes);
        self.bytes.push(bytes);
        let i = self.corpus.add_packet(spec.clone());
        self.index.insert(spec, i);
        i
    }

    fn add_hex(&mut self, bytes: Vec<u8>) -> usize {
        self.add(PacketSpec::Hex(bytes))
    }

    /// Records `prog` over packets `ids` as a classic case; false when the
    /// kernel refused it.
    fn record(
        &mut self,
        rec: &mut ClassicRecorder,
        prog: Program,
        expr: Option<String>,
        ids: &[usize],
    ) -> Result<bool, String> {
        let packets: Vec<&[u8]> = ids.iter().map(|&i| self.bytes[i].as_slice()).collect();
        match rec
            .record(&prog, &packets)
            .map_err(|e| format!("recording:\n{}{e}", cranebpf::cbpf::print::disasm(&prog)))?
        {
            ClassicVerdict::Rejected => Ok(false),
            ClassicVerdict::Delivered(n) => {
                let line = self.corpus.cases.len();
                self.corpus.cases.push(Case::Classic {
                    line,
                    expr,
                    prog,
                    deliveries: ids.iter().copied().zip(n).collect(),
                });
                Ok(true)
            }
        }
    }
}

fn meta_lines(rec: &ClassicRecorder) -> Vec<String> {
    vec![format!("cpu={}", rec.metadata.cpu)]
}

/// Compiles `expr` with `tcpdump -ddd -y EN10MB`.
pub fn tcpdump(expr: &str) -> Result<Program, String> {
    let out = Command::new("tcpdump")
        .args(["-ddd", "-y", "EN10MB", expr])
        .output()
        .map_err(|e| format!("running tcpdump: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tcpdump refused `{expr}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse::parse_ddd(&text).map_err(|e| format!("tcpdump output for `{expr}`: {e}"))
}

/// The tcpdump family: every expression compiled by tcpdump, over packets
/// targeted at it (some it keeps, some it drops) and a shared set.
pub fn tcpdump_corpus(
    rec: &mut ClassicRecorder,
    kernel: &str,
    exprs: &[String],
    seed: u64,
) -> Result<Corpus, String> {
    let mut rng = Rng::new(seed);
    let mut t = Table::new(kernel, "tcpdump", seed);
    t.corpus.header.push((
        "recipe".into(),
        "tcpdump -ddd -y EN10MB EXPR; packets: guide::targeted_packets (4 kept, 4 dropped) + 8 shared frames".into(),
    ));
    t.corpus.meta = meta_lines(rec);
    let shared: Vec<usize> = (0..24)
        .map(|_| {
            let p = gen::packet::frame(&mut rng);
            t.add_hex(p)
        })
        .collect();
    for expr in exprs {
        let prog = tcpdump(expr)?;
        let mut ids: Vec<usize> = targeted_packets(&prog, &rec.metadata, &mut rng, 4, 4000)
            .into_iter()
            .map(|p| t.add_hex(p))
            .collect();
        for _ in 0..8 {
            ids.push(*rng.pick(&shared));
        }
        ids.sort();
        ids.dedup();
        if !t.record(rec, prog, Some(expr.clone()), &ids)? {
            return Err(format!("the kernel refused tcpdump's program for `{expr}`"));
        }
    }
    Ok(t.corpus)
}

/// Whether `prog` reads `#rand` (whose kernel values cannot be replayed).
fn reads_random(prog: &Program) -> bool {
    prog.insns.iter().any(|i| {
        i.class() == op::LD && i.mode() == op::ABS && i.k == (skf::AD_OFF + skf::AD_RANDOM) as u32
    })
}

/// The generated classic family: `programs` checked programs covering every
/// opcode over a shared packet set (realistic, truncated and random frames,
/// large random packets up to 64 KiB stored as recipes) and packets ending
/// exactly at, one before and one after each absolute load's edge.
pub fn classic_corpus(
    rec: &mut ClassicRecorder,
    kernel: &str,
    programs: usize,
    seed: u64,
) -> Result<Corpus, String> {
    let mut rng = Rng::new(seed);
    let mut t = Table::new(kernel, "classic", seed);
    t.corpus.header.push((
        "recipe".into(),
        "gen::classic::program(rng, 24) without #rand; 12 shared packets + load-edge packets each"
            .into(),
    ));
    t.corpus.meta = meta_lines(rec);
    let mut shared = vec![t.add_hex(Vec::new())];
    let mut frames = Vec::new();
    for _ in 0..160 {
        let p = gen::packet::frame(&mut rng);
        frames.push(t.add_hex(p));
    }
    shared.extend(&frames);
    for _ in 0..40 {
        let mut p = gen::packet::frame(&mut rng);
        p.truncate(rng.below(p.len() as u64 + 1) as usize);
        shared.push(t.add_hex(p));
    }
    for _ in 0..20 {
        let n = rng.below(64) as usize;
        let p = gen::packet::random_bytes(&mut rng, n);
        shared.push(t.add_hex(p));
    }
    let mut large = Vec::new();
    for len in [1500, 9000, 16063, 16064, 16065, 32768, 65535, 65536] {
        large.push(t.add(PacketSpec::Random {
            seed: rng.next_u64(),
            len,
        }));
    }
    for _ in 0..8 {
        let len = rng.below(65537) as usize;
        large.push(t.add(PacketSpec::Random {
            seed: rng.next_u64(),
            len,
        }));
    }
    let mut made = 0;
    while made < programs {
        let prog = gen::classic::program(&mut rng, 24);
        if reads_random(&prog) {
            continue;
        }
        let mut ids = Vec::new();
        for insn in &prog.insns {
            if insn.class() != op::LD || insn.mode() != op::ABS || insn.k >= 0x1_0000 {
                continue;
            }
            let size = match insn.size() {
                op::W => 4,
                op::H => 2,
                _ => 1,
            };
            let end = insn.k as usize + size;
            let base = *rng.pick(&frames);
            for len in [end.saturating_sub(1), end, end + 1] {
                if len > MAX_PACKET {
                    continue;
                }
                ids.push(t.add(PacketSpec::Resize { base, len }));
            }
        }
        for _ in 0..12 {
            ids.push(*rng.pick(&shared));
        }
        if rng.chance(1, 4) {
            ids.push(*rng.pick(&large));
        }
        ids.sort();
        ids.dedup();
        if !t.record(rec, prog, None, &ids)? {
            return Err("the kernel refused a program our checker accepts".into());
        }
        made += 1;
    }
    Ok(t.corpus)
}

/// The acceptance family: `cases` programs from [`gen::acceptance`] with
/// the kernel's accept/reject. Programs the kernel refuses for lack of
/// socket option memory (`ENOMEM`) are left out: that is not a checker rule.
pub fn acceptance_corpus(
    rec: &mut ClassicRecorder,
    kernel: &str,
    cases: usize,
    seed: u64,
) -> Result<Corpus, String> {
    let mut rng = Rng::new(seed);
    let mut corpus = Corpus::new(kernel);
    corpus.header.push(("family".into(), "acceptance".into()));
    corpus.header.push(("seed".into(), format!("{seed:#x}")));
    corpus.header.push((
        "recipe".into(),
        "gen::acceptance::program(rng); SO_ATTACH_FILTER ok = accept, EINVAL = reject".into(),
    ));
    let mut seen = std::collections::HashSet::new();
    while corpus.cases.len() < cases {
        let prog = gen::acceptance::program(&mut rng);
        if !seen.insert(prog.insns.clone()) {
            continue;
        }
        let accepted = match rec.accepts(&prog) {
            Ok(a) => a,
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => continue,
            Err(e) => return Err(format!("SO_ATTACH_FILTER: {e}")),
        };
        let line = corpus.cases.len();
        corpus.cases.push(Case::Acceptance {
            line,
            prog,
            accepted,
        });
    }
    Ok(corpus)
}

/// The eBPF family: [`ebpf_cases`] programs with the kernel's test-run
/// return values (root only).
pub fn ebpf_corpus(kernel: &str, seed: u64) -> Result<Corpus, String> {
    super::record::ebpf_available()?;
    let mut rng = Rng::new(seed);
    let mut corpus = Corpus::new(kernel);
    corpus.header.push(("family".into(), "ebpf".into()));
    corpus.header.push(("seed".into(), format!("{seed:#x}")));
    corpus.header.push((
        "recipe".into(),
        "conformance::ebpf_cases; BPF_PROG_LOAD socket filter + BPF_PROG_TEST_RUN; packets are what LD_ABS sees (14 zero bytes go in front)".into(),
    ));
    let empty = corpus.add_packet(PacketSpec::Hex(Vec::new()));
    let payloads: Vec<usize> = ebpf_cases::PAYLOAD_LENS
        .iter()
        .map(|&n| corpus.add_packet(PacketSpec::Hex(gen::packet::random_bytes(&mut rng, n))))
        .collect();
    let bytes = corpus.materialize();
    let add = |corpus: &mut Corpus, source: String, ids: &[usize]| -> Result<(), String> {
        let prog = assemble_ebpf(&source).map_err(|(c, m)| format!("{source}: column {c}: {m}"))?;
        let packets: Vec<&[u8]> = ids.iter().map(|&i| bytes[i].as_slice()).collect();
        let retvals = record_ebpf(&prog, &packets).map_err(|e| format!("{source}: {e}"))?;
        let line = corpus.cases.len();
        corpus.cases.push(Case::Ebpf {
            line,
            source,
            prog,
            retvals: ids.iter().copied().zip(retvals).collect(),
        });
        Ok(())
    };
    for source in ebpf_cases::alu_and_jump_programs(&mut rng) {
        add(&mut corpus, source, &[empty])?;
    }
    for source in ebpf_cases::packet_load_programs(&mut rng) {
        add(&mut corpus, source, &payloads)?;
    }
    Ok(corpus)
}

/// The checked-in corpus: file name, family and seed of each part.
pub const FILES: [(&str, &str, u64); 4] = [
    ("tcpdump.corpus", "tcpdump", 0x7cd0_0001),
    ("classic.corpus", "classic", 0xc1a5_0002),
    ("acceptance.corpus", "acceptance", 0xacce_0003),
    ("ebpf.corpus", "ebpf", 0xeb9f_0004),
];

/// Programs in the generated classic family.
pub const CLASSIC_PROGRAMS: usize = 5000;
/// Cases in the acceptance family.
pub const ACCEPTANCE_CASES: usize = 2400;

/// The tcpdump expressions listed in `dir/tcpdump-filters.txt` (one per
/// line, `#` comments).
pub fn tcpdump_expressions(dir: &std::path::Path) -> Result<Vec<String>, String> {
    let path = dir.join("tcpdump-filters.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// Re-records family `family` (one of [`FILES`]) into its file in `dir`;
/// returns the corpus written.
pub fn record_family(dir: &std::path::Path, family: &str) -> Result<Corpus, String> {
    let Some(&(file, _, seed)) = FILES.iter().find(|f| f.1 == family) else {
        return Err(format!(
            "unknown family `{family}` (known: tcpdump, classic, acceptance, ebpf)"
        ));
    };
    let kernel = super::record::kernel_release();
    let rec = || ClassicRecorder::new().map_err(|e| format!("socket pair: {e}"));
    let corpus = match family {
        "tcpdump" => tcpdump_corpus(&mut rec()?, &kernel, &tcpdump_expressions(dir)?, seed)?,
        "classic" => classic_corpus(&mut rec()?, &kernel, CLASSIC_PROGRAMS, seed)?,
        "acceptance" => acceptance_corpus(&mut rec()?, &kernel, ACCEPTANCE_CASES, seed)?,
        _ => ebpf_corpus(&kernel, seed)?,
    };
    let path = dir.join(file);
    let mut text = format!(
        "# Kernel verdicts recorded by `cranebpf record --corpus {}` (family {family}).\n\
         # Format: src/conformance/format.rs; README section \"Conformance with the kernel\".\n",
        dir.display()
    );
    text.push_str(&corpus.write());
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(corpus)
}
