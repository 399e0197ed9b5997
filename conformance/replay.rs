//! Replays the recorded kernel verdicts in `conformance/*.corpus` through
//! every engine: the reference interpreter, the eBPF interpreter on the
//! translation, the JIT (x86-64) and a sample of the JIT's aarch64 code
//! under qemu; the checker is held against every acceptance verdict. Prints
//! the table of cases per engine and every mismatch in full; any mismatch
//! fails. Also checks the corpus still has what the README promises.
//!
//! The aarch64 sample needs qemu-aarch64 and an aarch64 cross gcc: a
//! failure under CI=true when missing, else skipped with the reason.

#![cfg(target_os = "linux")]

use cranebpf::cbpf::check::{check, code_allowed, Rule};
use cranebpf::ebpf::insn::op as eop;
use cranebpf_harness::conformance::format::{self, Case, Corpus};
use cranebpf_harness::conformance::generate::FILES;
use cranebpf_harness::conformance::replay::{replay, Aarch64Sample, Report};
use cranebpf_harness::qemu::{self, Aarch64Runner};
use std::collections::HashSet;
use std::path::Path;

fn load(file: &str) -> Corpus {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conformance")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn aarch64() -> Option<Aarch64Runner> {
    match qemu::available().and_then(|()| Aarch64Runner::start()) {
        Ok(r) => Some(r),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the aarch64 replay needs qemu under CI: {e}"
            );
            eprintln!("skipping the aarch64 sample: {e}");
            None
        }
    }
}

#[test]
fn every_engine_matches_the_recorded_kernel_verdicts() {
    let mut report = Report::default();
    let mut runner = aarch64();
    let mut summary = String::new();
    for (file, family, _) in FILES {
        let corpus = load(file);
        let (deliveries, accept, retvals) = corpus.counts();
        summary.push_str(&format!(
            "{file:<18} kernel {:<16} {family:<10} {:>5} cases {:>6} packets {:>6} deliveries {:>5} acceptance {:>6} eBPF retvals\n",
            corpus.kernel,
            corpus.cases.len(),
            corpus.packets.len(),
            deliveries,
            accept,
            retvals
        ));
        let arm = runner
            .as_mut()
            .map(|runner| Aarch64Sample { runner, every: 8 });
        replay(file, &corpus, &mut report, arm).unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("{summary}\n{}", report.table());
    for m in &report.mismatches {
        eprintln!("{m}");
    }
    assert_eq!(
        report.total_mismatches(),
        0,
        "engines disagree with the kernel (details above)"
    );
    for engine in [
        "checker",
        "cbpf",
        "interp",
        "jit",
        "ebpf-interp",
        "ebpf-jit",
    ] {
        assert!(
            report.engines.get(engine).is_some_and(|t| t.cases > 0),
            "{engine} ran no case"
        );
    }
    if runner.is_some() {
        for engine in ["jit-aarch64", "ebpf-aarch64"] {
            assert!(report.engines.get(engine).is_some_and(|t| t.cases > 0));
        }
    }
}

/// Each tcpdump filter is seen both keeping and dropping packets.
#[test]
fn tcpdump_filters_both_match_and_miss() {
    let corpus = load("tcpdump.corpus");
    let mut filters = 0;
    let mut one_sided = Vec::new();
    for case in &corpus.cases {
        let Case::Classic {
            expr, deliveries, ..
        } = case
        else {
            panic!("tcpdump.corpus holds only classic cases");
        };
        filters += 1;
        let kept = deliveries.iter().any(|&(_, n)| n > 0);
        let dropped = deliveries.iter().any(|&(_, n)| n == 0);
        if !(kept && dropped) {
            one_sided.push(expr.clone().unwrap_or_default());
        }
    }
    assert!(filters >= 150, "only {filters} tcpdump filters");
    assert!(
        one_sided.is_empty(),
        "filters without both verdicts: {one_sided:?}"
    );
}

/// The generated classic programs use every opcode the kernel accepts, and
/// the acceptance cases break every checker rule (and are not all alike).
#[test]
fn corpus_covers_every_classic_opcode_and_checker_rule() {
    let classic = load("classic.corpus");
    let mut codes = HashSet::new();
    let mut programs = 0;
    let mut largest = 0;
    for case in &classic.cases {
        if let Case::Classic { prog, .. } = case {
            programs += 1;
            codes.extend(prog.insns.iter().map(|i| i.code));
        }
    }
    for p in classic.materialize() {
        largest = largest.max(p.len());
    }
    let missing: Vec<String> = (0..=0xffffu16)
        .filter(|&c| code_allowed(c) && !codes.contains(&c))
        .map(|c| format!("{c:#04x}"))
        .collect();
    assert!(programs >= 5000, "only {programs} generated programs");
    assert!(largest >= 65535, "largest packet only {largest} bytes");
    assert!(missing.is_empty(), "opcodes never generated: {missing:?}");

    let acceptance = load("acceptance.corpus");
    let (mut accepted, mut rules) = (0, HashSet::new());
    for case in &acceptance.cases {
        if let Case::Acceptance {
            prog, accepted: a, ..
        } = case
        {
            accepted += usize::from(*a);
            if let Err(e) = check(prog) {
                rules.insert(e.rule);
            }
        }
    }
    let total = acceptance.cases.len();
    assert!(total >= 2000, "only {total} acceptance cases");
    assert!(accepted > total / 5 && accepted < total * 4 / 5);
    let all = [
        Rule::Empty,
        Rule::TooLong,
        Rule::UnknownOpcode,
        Rule::DivisionByZero,
        Rule::ShiftTooLarge,
        Rule::ScratchIndexOutOfRange,
        Rule::JumpOutOfRange,
        Rule::UnknownAncillary,
        Rule::NoFinalReturn,
        Rule::ScratchReadBeforeWrite,
    ];
    let missing: Vec<_> = all.iter().filter(|r| !rules.contains(r)).collect();
    assert!(missing.is_empty(), "rules never broken: {missing:?}");
}

/// The eBPF programs use every ALU, ALU64, JMP and JMP32 operation and the
/// legacy packet loads of every size.
#[test]
fn corpus_covers_every_ebpf_alu_and_jump() {
    let corpus = load("ebpf.corpus");
    let mut seen = HashSet::new();
    for case in &corpus.cases {
        if let Case::Ebpf { prog, .. } = case {
            seen.extend(prog.insns.iter().map(|i| (i.opc, i.off)));
        }
    }
    let has = |opc: u8| seen.iter().any(|&(o, _)| o == opc);
    let mut missing = Vec::new();
    for class in [eop::ALU, eop::ALU64] {
        for o in [
            eop::ADD,
            eop::SUB,
            eop::MUL,
            eop::DIV,
            eop::OR,
            eop::AND,
            eop::LSH,
            eop::RSH,
            eop::MOD,
            eop::XOR,
            eop::MOV,
            eop::ARSH,
        ] {
            for src in [eop::K, eop::X] {
                if !has(class | o | src) {
                    missing.push(format!("{:#04x}", class | o | src));
                }
            }
        }
        if !has(class | eop::NEG) {
            missing.push(format!("{:#04x}", class | eop::NEG));
        }
    }
    for class in [eop::JMP, eop::JMP32] {
        for o in [
            eop::JEQ,
            eop::JGT,
            eop::JGE,
            eop::JSET,
            eop::JNE,
            eop::JSGT,
            eop::JSGE,
            eop::JLT,
            eop::JLE,
            eop::JSLT,
            eop::JSLE,
        ] {
            for src in [eop::K, eop::X] {
                if !has(class | o | src) {
                    missing.push(format!("{:#04x}", class | o | src));
                }
            }
        }
    }
    for size in [eop::B, eop::H, eop::W] {
        for mode in [0x20u8, 0x40] {
            if !has(eop::LD | mode | size) {
                missing.push(format!("{:#04x}", eop::LD | mode | size));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "eBPF opcodes not in the corpus: {missing:?}"
    );
}
