//! Replaying a recorded corpus through every engine and holding each one
//! to the kernel's verdict.
//!
//! Classic cases run through the reference interpreter (`cbpf`), the eBPF
//! interpreter on the translation (`interp`), the JIT (`jit`) and, for a
//! sample of programs, the JIT's aarch64 code under qemu (`jit-aarch64`);
//! `min(verdict, len)` (0 = dropped) must equal the recorded byte count.
//! Acceptance cases and every classic program go to the checker
//! (`checker`). eBPF cases run through the interpreter and the JIT (and the
//! aarch64 sample); the low 32 bits of r0 must equal `retval`.

use super::format::{hex, Case, Corpus};
use crate::qemu::{Aarch64Runner, NO_CALLBACK};
use cranebpf::cbpf::{self, check::check, Metadata};
use cranebpf::ebpf;
use cranebpf::filter::CLASSIC_FRAME;
use cranebpf::jit::{compile_bytes, JitOptions};
use cranebpf::translate::{ctx_block, translate};
use cranebpf::{EbpfOptions, EbpfProgram, Engine, Filter, FilterOptions};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One engine disagreeing with the kernel.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// Corpus file and line.
    pub place: String,
    /// Which engine.
    pub engine: &'static str,
    /// The program (tcpdump `-d` layout, or eBPF assembly).
    pub program: String,
    /// The packet, if the case has one.
    pub packet: Option<Vec<u8>>,
    /// The kernel's verdict.
    pub expected: String,
    /// The engine's.
    pub got: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "MISMATCH {} [{}]", self.place, self.engine)?;
        write!(f, "{}", self.program)?;
        if let Some(p) = &self.packet {
            writeln!(f, "packet ({} bytes): {}", p.len(), hex(p))?;
        }
        writeln!(f, "expected (kernel): {}\ngot: {}", self.expected, self.got)
    }
}

/// Counts per engine: cases compared, mismatches, cases skipped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Cases compared.
    pub cases: usize,
    /// Of those, how many disagreed.
    pub mismatches: usize,
    /// Cases the engine could not run (aarch64: calls into Rust helpers).
    pub skipped: usize,
}

/// The result of a replay.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per engine.
    pub engines: BTreeMap<&'static str, Tally>,
    /// Every mismatch, in full.
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    fn count(&mut self, engine: &'static str, ok: bool) {
        let t = self.engines.entry(engine).or_default();
        t.cases += 1;
        t.mismatches += usize::from(!ok);
    }

    fn skip(&mut self, engine: &'static str) {
        self.engines.entry(engine).or_default().skipped += 1;
    }

    fn check(&mut self, engine: &'static str, ok: bool, mismatch: impl FnOnce() -> Mismatch) {
        self.count(engine, ok);
        if !ok {
            self.mismatches.push(mismatch());
        }
    }

    /// Total mismatches.
    pub fn total_mismatches(&self) -> usize {
        self.engines.values().map(|t| t.mismatches).sum()
    }

    /// The table: engine, cases, mismatches, skipped.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<14} {:>9} {:>11} {:>8}\n",
            "engine", "cases", "mismatches", "skipped"
        );
        for (e, t) in &self.engines {
            let _ = writeln!(
                s,
                "{e:<14} {:>9} {:>11} {:>8}",
                t.cases, t.mismatches, t.skipped
            );
        }
        s
    }
}

/// The aarch64 sample: a runner and how often (1 program in `every`).
pub struct Aarch64Sample<'a> {
    /// The qemu harness.
    pub runner: &'a mut Aarch64Runner,
    /// Run every `every`-th program there.
    pub every: usize,
}

fn arm_triple() -> Result<target_lexicon::Triple, String> {
    "aarch64-unknown-linux-gnu"
        .parse()
        .map_err(|e| format!("aarch64 target: {e:?}"))
}

/// Replays every case of `corpus` (file `name`) into `report`.
pub fn replay(
    name: &str,
    corpus: &Corpus,
    report: &mut Report,
    mut arm: Option<Aarch64Sample<'_>>,
) -> Result<(), String> {
    let meta = corpus
        .metadata()
        .map_err(|e| format!("{name}: metadata: {e}"))?;
    let packets = corpus.materialize();
    for (n, case) in corpus.cases.iter().enumerate() {
        let sample = arm.as_mut().filter(|a| n % a.every.max(1) == 0);
        match case {
            Case::Acceptance {
                line,
                prog,
                accepted,
            } => {
                let ours = check(prog);
                report.check("checker", ours.is_ok() == *accepted, || Mismatch {
                    place: format!("{name}:{line}"),
                    engine: "checker",
                    program: cbpf::print::disasm(prog),
                    packet: None,
                    expected: if *accepted { "accept" } else { "reject" }.into(),
                    got: match ours {
                        Ok(()) => "accept".into(),
                        Err(e) => format!("reject ({e})"),
                    },
                });
            }
            Case::Classic {
                line,
                prog,
                deliveries,
                ..
            } => {
                let place = format!("{name}:{line}");
                replay_classic(&place, prog, deliveries, &packets, &meta, report, sample)?;
            }
            Case::Ebpf {
                line,
                source,
                prog,
                retvals,
            } => {
                let place = format!("{name}:{line}");
                replay_ebpf(&place, source, prog, retvals, &packets, report, sample)?;
            }
        }
    }
    Ok(())
}

fn replay_classic(
    place: &str,
    prog: &cbpf::Program,
    deliveries: &[(usize, usize)],
    packets: &[Vec<u8>],
    meta: &Metadata,
    report: &mut Report,
    arm: Option<&mut Aarch64Sample<'_>>,
) -> Result<(), String> {
    let listing = || cbpf::print::disasm(prog);
    let ours = check(prog);
    report.check("checker", ours.is_ok(), || Mismatch {
        place: place.into(),
        engine: "checker",
        program: listing(),
        packet: None,
        expected: "accept".into(),
        got: format!("{ours:?}"),
    });
    if ours.is_err() {
        return Ok(());
    }
    let mut filters = Vec::new();
    for engine in Engine::ALL {
        let options = FilterOptions {
            engine: Some(engine),
            metadata: meta.clone(),
            ..FilterOptions::default()
        };
        match Filter::with_options(prog.clone(), options) {
            Ok(f) => filters.push((engine.name(), f)),
            Err(e) => report.check(engine.name(), false, || Mismatch {
                place: place.into(),
                engine: engine.name(),
                program: listing(),
                packet: None,
                expected: "a filter".into(),
                got: e.to_string(),
            }),
        }
    }
    let delivered = |verdict: u32, len: usize| (verdict as usize).min(len);
    for &(p, want) in deliveries {
        let packet = &packets[p];
        for (engine, filter) in &filters {
            let got = delivered(filter.run(packet), packet.len());
            report.check(engine, got == want, || Mismatch {
                place: format!("{place} packet {p}"),
                engine,
                program: listing(),
                packet: Some(packet.clone()),
                expected: format!("{want} bytes"),
                got: format!("{got} bytes"),
            });
        }
    }
    if let Some(arm) = arm {
        let ebpf = translate(prog).map_err(|e| format!("{place}: translate: {}", e.0))?;
        let options = JitOptions {
            frame_size: CLASSIC_FRAME as u32,
            optimize: false,
            ..JitOptions::default()
        };
        let code = compile_bytes(&ebpf.insns, arm_triple()?, &options)
            .map_err(|e| format!("{place}: aarch64 compile: {e}"))?;
        arm.runner.load(&code).map_err(|e| format!("qemu: {e}"))?;
        for &(p, want) in deliveries {
            let packet = &packets[p];
            let ctx = ctx_block(meta, packet.len());
            let out = arm
                .runner
                .run(&ctx, Some(packet), 0)
                .map_err(|e| format!("qemu: {e}"))?;
            if out.status == NO_CALLBACK {
                report.skip("jit-aarch64");
                continue;
            }
            let got = delivered(out.r0 as u32, packet.len());
            let ok = out.status == 0 && got == want;
            report.check("jit-aarch64", ok, || Mismatch {
                place: format!("{place} packet {p}"),
                engine: "jit-aarch64",
                program: listing(),
                packet: Some(packet.clone()),
                expected: format!("{want} bytes"),
                got: format!("{got} bytes (status {})", out.status),
            });
        }
    }
    Ok(())
}

fn replay_ebpf(
    place: &str,
    source: &str,
    prog: &ebpf::Program,
    retvals: &[(usize, u32)],
    packets: &[Vec<u8>],
    report: &mut Report,
    arm: Option<&mut Aarch64Sample<'_>>,
) -> Result<(), String> {
    let listing = || format!("{}\n", source.replace(" | ", "\n"));
    for (engine, choice) in [("ebpf-interp", Engine::Interp), ("ebpf-jit", Engine::Jit)] {
        let options = EbpfOptions {
            engine: Some(choice),
            ..EbpfOptions::default()
        };
        let built = match EbpfProgram::with_options(prog.clone(), options) {
            Ok(b) => b,
            Err(e) => {
                report.check(engine, false, || Mismatch {
                    place: place.into(),
                    engine,
                    program: listing(),
                    packet: None,
                    expected: "a verified program".into(),
                    got: e.to_string(),
                });
                continue;
            }
        };
        for &(p, want) in retvals {
            let mut mem = packets[p].clone();
            let got = built.run(&mut mem);
            let ok = matches!(got, Ok(v) if v as u32 == want);
            report.check(engine, ok, || Mismatch {
                place: format!("{place} packet {p}"),
                engine,
                program: listing(),
                packet: Some(packets[p].clone()),
                expected: format!("retval {want:#x}"),
                got: format!("{got:x?}"),
            });
        }
    }
    if let Some(arm) = arm {
        let code = compile_bytes(&prog.insns, arm_triple()?, &JitOptions::default())
            .map_err(|e| format!("{place}: aarch64 compile: {e}"))?;
        arm.runner.load(&code).map_err(|e| format!("qemu: {e}"))?;
        for &(p, want) in retvals {
            let out = arm
                .runner
                .run(&packets[p], None, 0)
                .map_err(|e| format!("qemu: {e}"))?;
            if out.status == NO_CALLBACK {
                report.skip("ebpf-aarch64");
                continue;
            }
            let ok = out.status == 0 && out.r0 as u32 == want;
            report.check("ebpf-aarch64", ok, || Mismatch {
                place: format!("{place} packet {p}"),
                engine: "ebpf-aarch64",
                program: listing(),
                packet: Some(packets[p].clone()),
                expected: format!("retval {want:#x}"),
                got: format!("r0 {:#x} (status {})", out.r0, out.status),
            });
        }
    }
    Ok(())
}
