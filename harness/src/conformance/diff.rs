//! Live comparison with the running kernel: fresh generated cases (or the
//! caller's programs and packets) go to the kernel and to every engine at
//! once; each mismatch is minimised ([`super::minimize`]) before it is
//! reported.
//!
//! A case is one comparison: a program's acceptance (kernel vs checker), or
//! one program × packet delivery (kernel vs `cbpf`, `interp`, `jit`).

use super::format::hex;
use super::minimize::{minimize_packet, minimize_program};
use super::record::{ClassicRecorder, ClassicVerdict};
use crate::gen;
use crate::kernel::classic::MAX_PACKET;
use crate::Rng;
use cranebpf::cbpf::check::check;
use cranebpf::cbpf::insn::{op, skf};
use cranebpf::cbpf::{print, Metadata, Program};
use cranebpf::{Engine, Filter, FilterOptions};
use std::fmt;

/// One minimised disagreement.
#[derive(Clone, Debug)]
pub struct LiveMismatch {
    /// `checker`, `cbpf`, `interp` or `jit`.
    pub engine: &'static str,
    /// The shortest program found that still differs.
    pub program: Program,
    /// The shortest packet found that still differs (none for acceptance).
    pub packet: Option<Vec<u8>>,
    /// What the kernel did.
    pub kernel: String,
    /// What the engine did.
    pub ours: String,
    /// Length of the program before minimisation.
    pub original_len: usize,
    /// Length of the packet before minimisation.
    pub original_packet_len: usize,
}

impl fmt::Display for LiveMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "MISMATCH [{}] kernel: {}, ours: {} (minimised from {} instructions)",
            self.engine, self.kernel, self.ours, self.original_len
        )?;
        write!(f, "{}", print::disasm(&self.program))?;
        writeln!(
            f,
            "as comma form: {}",
            print::comma(&self.program).trim_end()
        )?;
        if let Some(p) = &self.packet {
            writeln!(
                f,
                "packet ({} bytes, minimised from {}): {}",
                p.len(),
                self.original_packet_len,
                hex(p)
            )?;
        }
        Ok(())
    }
}

/// Whether a program reads `#rand`, whose kernel values are unpredictable.
pub fn reads_random(prog: &Program) -> bool {
    prog.insns.iter().any(|i| {
        i.class() == op::LD && i.mode() == op::ABS && i.k == (skf::AD_OFF + skf::AD_RANDOM) as u32
    })
}

/// Counts of a live run.
#[derive(Clone, Debug, Default)]
pub struct DiffSummary {
    /// Comparisons made.
    pub cases: usize,
    /// Of those, how many disagreed (before minimisation).
    pub mismatches: usize,
    /// Programs the kernel refused with `ENOMEM` (`net.core.optmem_max`),
    /// not compared.
    pub skipped_enomem: usize,
}

/// Compares the kernel and every engine on one program over `packets`,
/// calling `report` with each minimised mismatch.
pub fn compare_program(
    rec: &mut ClassicRecorder,
    prog: &Program,
    packets: &[Vec<u8>],
    summary: &mut DiffSummary,
    report: &mut dyn FnMut(&LiveMismatch),
) -> Result<(), String> {
    let meta = rec.metadata.clone();
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    let verdict = match rec.record(prog, &refs) {
        // Too big for the socket's option memory: not a checker rule.
        Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => {
            summary.skipped_enomem += 1;
            return Ok(());
        }
        other => other.map_err(|e| format!("kernel: {e}"))?,
    };
    let kernel_accepts = verdict != ClassicVerdict::Rejected;
    summary.cases += 1;
    if check(prog).is_ok() != kernel_accepts {
        summary.mismatches += 1;
        let min = minimize_program(prog, false, |p| {
            rec.accepts(p).is_ok_and(|k| k != check(p).is_ok())
        });
        let ours = match check(&min) {
            Ok(()) => "accept".to_string(),
            Err(e) => format!("reject ({e})"),
        };
        let kernel = if check(&min).is_ok() {
            "reject"
        } else {
            "accept"
        };
        report(&LiveMismatch {
            engine: "checker",
            program: min,
            packet: None,
            kernel: kernel.to_string(),
            ours,
            original_len: prog.len(),
            original_packet_len: 0,
        });
        return Ok(());
    }
    let ClassicVerdict::Delivered(delivered) = verdict else {
        return Ok(());
    };
    let filters = build(prog, &meta)?;
    for (packet, &want) in packets.iter().zip(&delivered) {
        for (engine, filter) in &filters {
            summary.cases += 1;
            let got = (filter.run(packet) as usize).min(packet.len());
            if got == want {
                continue;
            }
            summary.mismatches += 1;
            let engine = *engine;
            // A candidate counts as still differing if any of a few tries
            // differs: with a nondeterministic load (`ld #rand`) the
            // kernel's value can equal ours by chance on one try, and the
            // minimiser would then keep an instruction it could drop.
            let mut differs = |p: &Program, pk: &[u8]| -> bool {
                let Ok(f) = build_one(p, &meta, engine) else {
                    return false;
                };
                (0..3).any(|_| {
                    let Ok(ClassicVerdict::Delivered(k)) = rec.record(p, &[pk]) else {
                        return false;
                    };
                    (f.run(pk) as usize).min(pk.len()) != k[0]
                })
            };
            let min_prog = minimize_program(prog, true, |p| differs(p, packet));
            let min_packet = minimize_packet(packet, |pk| differs(&min_prog, pk));
            let kernel = rec
                .record(&min_prog, &[&min_packet])
                .map_err(|e| format!("kernel: {e}"))?;
            let ours = build_one(&min_prog, &meta, engine)?.run(&min_packet);
            report(&LiveMismatch {
                engine: engine.name(),
                program: min_prog,
                packet: Some(min_packet.clone()),
                kernel: match kernel {
                    ClassicVerdict::Delivered(k) => format!("{} bytes delivered", k[0]),
                    ClassicVerdict::Rejected => "rejected".into(),
                },
                ours: format!(
                    "verdict {ours}, {} bytes",
                    (ours as usize).min(min_packet.len())
                ),
                original_len: prog.len(),
                original_packet_len: packet.len(),
            });
            // Restore the original filter for the remaining packets.
            rec.record(prog, &[]).map_err(|e| format!("kernel: {e}"))?;
        }
    }
    Ok(())
}

fn build_one(prog: &Program, meta: &Metadata, engine: Engine) -> Result<Filter, String> {
    let options = FilterOptions {
        engine: Some(engine),
        metadata: meta.clone(),
        ..FilterOptions::default()
    };
    Filter::with_options(prog.clone(), options).map_err(|e| format!("{engine}: {e}"))
}

fn build(prog: &Program, meta: &Metadata) -> Result<Vec<(Engine, Filter)>, String> {
    Engine::ALL
        .iter()
        .map(|&e| Ok((e, build_one(prog, meta, e)?)))
        .collect()
}

/// Packets for a generated program: random and realistic ones, plus
/// packets ending exactly at, before and after each absolute load.
pub fn packets_for(prog: &Program, rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..count).map(|_| gen::packet::packet(rng)).collect();
    for insn in &prog.insns {
        if insn.class() != op::LD || insn.mode() != op::ABS || insn.k >= 0x1_0000 {
            continue;
        }
        let end = insn.k as usize
            + match insn.size() {
                op::W => 4,
                op::H => 2,
                _ => 1,
            };
        let len = end - 1 + rng.below(3) as usize;
        if len > MAX_PACKET {
            continue;
        }
        let mut p = gen::packet::frame(rng);
        p.resize(len, rng.next_u32() as u8);
        out.push(p);
    }
    out
}

/// Runs at least `cases` generated comparisons from `seed`: one program in
/// four from the acceptance generator, the others from the classic
/// generator (without `#rand`) with 8 packets each.
pub fn generated(
    rec: &mut ClassicRecorder,
    seed: u64,
    cases: usize,
    report: &mut dyn FnMut(&LiveMismatch),
) -> Result<DiffSummary, String> {
    let mut rng = Rng::new(seed);
    let mut summary = DiffSummary::default();
    while summary.cases < cases {
        let prog = if rng.chance(1, 4) {
            gen::acceptance::program(&mut rng)
        } else {
            gen::classic::program(&mut rng, 30)
        };
        if reads_random(&prog) || prog.len() > 1000 {
            continue; // unpredictable, or an over-long acceptance case
        }
        let packets = packets_for(&prog, &mut rng, 8);
        compare_program(rec, &prog, &packets, &mut summary, report)?;
    }
    Ok(summary)
}

/// One eBPF socket filter whose return value differs from the kernel's.
#[derive(Clone, Debug)]
pub struct EbpfMismatch {
    /// `ebpf-interp` or `ebpf-jit`.
    pub engine: &'static str,
    /// The program, `|`-separated assembly.
    pub source: String,
    /// The shortest payload found that still differs.
    pub packet: Vec<u8>,
    /// The kernel's `retval`.
    pub kernel: u32,
    /// The engine's result.
    pub ours: String,
}

impl fmt::Display for EbpfMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "MISMATCH [{}] kernel retval {:#x}, ours {}",
            self.engine, self.kernel, self.ours
        )?;
        writeln!(f, "{}", self.source.replace(" | ", "\n"))?;
        writeln!(
            f,
            "payload ({} bytes): {}",
            self.packet.len(),
            hex(&self.packet)
        )
    }
}

/// Fresh eBPF cases from `seed` ([`super::ebpf_cases`] with new operands):
/// kernel `retval` against the interpreter and the JIT (low 32 bits of
/// r0), payloads of mismatches shortened. Needs root.
pub fn generated_ebpf(
    seed: u64,
    report: &mut dyn FnMut(&EbpfMismatch),
) -> Result<DiffSummary, String> {
    use super::ebpf_cases::{alu_and_jump_programs, packet_load_programs, PAYLOAD_LENS};
    use super::format::assemble_ebpf;
    use super::record::record_ebpf;
    use cranebpf::{EbpfOptions, EbpfProgram};
    super::record::ebpf_available()?;
    let mut rng = Rng::new(seed);
    let payloads: Vec<Vec<u8>> = PAYLOAD_LENS
        .iter()
        .map(|&n| gen::packet::random_bytes(&mut rng, n))
        .collect();
    let mut cases: Vec<(String, Vec<Vec<u8>>)> = alu_and_jump_programs(&mut rng)
        .into_iter()
        .map(|s| (s, vec![Vec::new()]))
        .collect();
    cases.extend(
        packet_load_programs(&mut rng)
            .into_iter()
            .map(|s| (s, payloads.clone())),
    );
    let mut summary = DiffSummary::default();
    for (source, packets) in cases {
        let prog = assemble_ebpf(&source).map_err(|(c, m)| format!("{source}: {c}: {m}"))?;
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        let kernel = record_ebpf(&prog, &refs).map_err(|e| format!("{source}: {e}"))?;
        for (engine, choice) in [("ebpf-interp", Engine::Interp), ("ebpf-jit", Engine::Jit)] {
            let options = EbpfOptions {
                engine: Some(choice),
                ..EbpfOptions::default()
            };
            let built = EbpfProgram::with_options(prog.clone(), options)
                .map_err(|e| format!("{engine}: {e}\n{source}"))?;
            let run = |p: &[u8]| built.run(&mut p.to_vec());
            for (packet, &want) in packets.iter().zip(&kernel) {
                summary.cases += 1;
                if matches!(run(packet), Ok(v) if v as u32 == want) {
                    continue;
                }
                summary.mismatches += 1;
                let differs = |p: &[u8]| match record_ebpf(&prog, &[p]) {
                    Ok(k) => !matches!(run(p), Ok(v) if v as u32 == k[0]),
                    Err(_) => false,
                };
                let short = minimize_packet(packet, differs);
                let kernel = record_ebpf(&prog, &[&short]).map_err(|e| format!("{source}: {e}"))?;
                report(&EbpfMismatch {
                    engine,
                    source: source.clone(),
                    kernel: kernel[0],
                    ours: format!("{:x?}", run(&short)),
                    packet: short,
                });
            }
        }
    }
    Ok(summary)
}
