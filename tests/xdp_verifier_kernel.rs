//! The verifier against the running kernel's on generated XDP and TC
//! programs (`cranebpf_harness::gen::xdp`: packet bounds checks of every
//! form, variable offsets, `data_meta`, map lookups and values, stack,
//! context fields, packet-moving helpers, pointer arithmetic, branches on
//! packet bytes). For every program both must give the same verdict; a
//! refusal must name the kernel's instruction and carry the kernel's
//! reason; an accepted program must give the kernel's action, bytes and
//! map contents on every frame, on both engines. `XDP_VERIFIER_CASES`
//! and `XDP_VERIFIER_SEED` run more cases or other ones;
//! `XDP_VERIFIER_DUMP=FILE` writes every disagreement there;
//! `XDP_VERIFIER_REASONS=1` prints how many programs both refused for each
//! of the kernel's reasons (numbers left out), to see what a run covered;
//! `XDP_VERIFIER_INDEXES=1` adds numbers computed from packet bytes used
//! as map value indexes (`gen::xdp::program_with`), where a few
//! disagreements remain (see the README).
//!
//! Needs root and bpf(): skipped with a reason otherwise, but under CI=true
//! a missing bpf() is a failure.

mod support;

use cranebpf::ebpf::elf::{EbpfObject, ObjectProgram};
use cranebpf::ebpf::insn::{op, Insn};
use cranebpf::ebpf::maps::{MapDef, MapKind};
use cranebpf::ebpf::runtime::{PacketOptions, PacketProgram};
use cranebpf::ebpf::Program;
use cranebpf::Engine;
use cranebpf_harness::gen::xdp::{self, Hook, XdpCase};
use cranebpf_harness::kernel::bpf::{pin_to_cpu, KernelMap, LoadedProgram, ProgType};
use cranebpf_harness::Rng;

/// The kernel's verdict: the loaded program and its maps, or the log's
/// failing instruction and reason.
enum Kernel {
    /// The program, its maps, and the tail call target its program array
    /// holds (kept loaded while the program runs).
    Accepted {
        program: LoadedProgram,
        maps: Vec<KernelMap>,
        _tail_target: LoadedProgram,
    },
    Refused {
        pc: Option<usize>,
        reason: String,
        log: String,
    },
}

fn kernel(case: &XdpCase) -> Kernel {
    let maps: Vec<KernelMap> = case
        .maps
        .iter()
        .map(|d| {
            KernelMap::create(d.kind.number(), d.key_size, d.value_size, d.max_entries, 0)
                .unwrap_or_else(|e| panic!("BPF_MAP_CREATE {}: {e}", d.name))
        })
        .collect();
    let mut insns = case.insns.clone();
    for insn in insns.iter_mut().filter(|i| i.is_lddw() && i.src == 1) {
        insn.imm = maps[insn.imm as usize].fd();
    }
    let prog_type = match case.hook {
        Hook::Xdp => ProgType::Xdp,
        Hook::Tc => ProgType::SchedCls,
        Hook::Socket => ProgType::SocketFilter,
    };
    // The tail call target, in its slot of the program array.
    let target = LoadedProgram::load_licensed(prog_type, &xdp::tail_target(case.hook), "GPL")
        .unwrap_or_else(|e| panic!("the tail call target: {}", e.log));
    maps[xdp::PROGRAM_ARRAY]
        .update(&xdp::TAIL_SLOT.to_le_bytes(), &target.fd().to_le_bytes(), 0)
        .expect("the tail call target into the program array");
    match LoadedProgram::load_licensed(prog_type, &insns, "GPL") {
        Ok(program) => Kernel::Accepted {
            program,
            maps,
            _tail_target: target,
        },
        Err(e) => {
            let lines: Vec<&str> = e.log.lines().collect();
            let end = lines
                .iter()
                .rposition(|l| l.starts_with("processed "))
                .unwrap_or(lines.len());
            // The failing instruction: the last one the log shows; the
            // reason: the first line after it.
            let insn_line = |l: &str| -> Option<usize> {
                let (n, rest) = l.split_once(": ")?;
                if rest.starts_with('(') {
                    n.parse().ok()
                } else {
                    None
                }
            };
            let at = lines[..end].iter().rposition(|l| insn_line(l).is_some());
            let pc = at.and_then(|i| insn_line(lines[i]));
            let reason = lines[at.map_or(0, |i| i + 1)..end]
                .first()
                .copied()
                .unwrap_or("");
            // (A reason the kernel prints without its newline runs into
            // the statistics line: `expected prog array map for tail
            // callprocessed 54 insns`.)
            let reason = match reason.find("processed ") {
                Some(at) if at > 0 => &reason[..at],
                _ => reason,
            }
            .to_string();
            Kernel::Refused {
                pc,
                reason,
                log: e.log.clone(),
            }
        }
    }
}

fn ours(case: &XdpCase, engine: Engine) -> Result<PacketProgram, String> {
    let section = match case.hook {
        Hook::Xdp => "xdp",
        Hook::Tc => "tc",
        Hook::Socket => "socket",
    };
    let program = |name: &str, insns: Vec<Insn>| ObjectProgram {
        name: name.into(),
        section: section.into(),
        program: Program::new(insns),
        // (Loaded into the kernel without BTF, as here.)
        btf_functions: false,
        core: Vec::new(),
    };
    // The generated program and, second, the tail call target.
    let object = EbpfObject {
        programs: vec![
            program("generated", case.insns.clone()),
            program("target", xdp::tail_target(case.hook)),
        ],
        license: Some("GPL".into()),
        maps: case.maps.clone(),
        core_relocations: 0,
        core_resolved: false,
        core_applied: Vec::new(),
    };
    let options = PacketOptions {
        engine: Some(engine),
        trace: false,
        ..PacketOptions::default()
    };
    let ours = PacketProgram::from_object(&object, 0, options).map_err(|e| e.to_string())?;
    let jumps = &case.maps[xdp::PROGRAM_ARRAY].name;
    ours.preload(jumps, &xdp::TAIL_SLOT.to_le_bytes(), &1u32.to_le_bytes())
        .expect("the tail call target into the program array");
    Ok(ours)
}

/// Frames of 14 to 100 bytes, each byte drawn to make the programs'
/// branches go both ways.
fn frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..6)
        .map(|i| {
            let len = [14, 15, 34, 54, 64, 100][i];
            (0..len)
                .map(|_| match rng.below(4) {
                    0 => 0,
                    1 => rng.below(16) as u8,
                    _ => rng.next_u32() as u8,
                })
                .collect()
        })
        .collect()
}

/// Every entry of a kernel map, as (key, value), keys in order.
fn kernel_entries(def: &MapDef, map: &KernelMap) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut keys = match def.kind {
        MapKind::Array => (0..def.max_entries)
            .map(|k| k.to_le_bytes().to_vec())
            .collect(),
        _ => map.keys().expect("keys"),
    };
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let v = map.lookup(&k).expect("lookup").expect("listed key");
            (k, v)
        })
        .collect()
}

fn our_entries(program: &PacketProgram, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    program.visit_map_entries(name, &mut |k, v| out.push((k.to_vec(), v.to_vec())));
    out.sort();
    out
}

/// `text` with the register ids the kernel prints (`R7(id=3,off=...`)
/// blanked: the kernel numbers them in the order its search makes them,
/// which this verifier does not reproduce. With `ranges`, the proven
/// range too (`r=255`): after a loop, the kernel names its first path's,
/// the deepest iteration's, where this verifier has joined the loop's
/// exits past 32 paths.
fn without_ids(text: &str, ranges: bool) -> String {
    let mut out = text.to_string();
    // (A leaked reference's id too: `Unreleased reference id=2`.)
    let blanked: &[&str] = if ranges {
        &["(id=", ",r=", "reference id="]
    } else {
        &["(id=", "reference id="]
    };
    for key in blanked {
        let mut done = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(key) {
            done.push_str(&rest[..at + key.len()]);
            rest = rest[at + key.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
            done.push('_');
        }
        done.push_str(rest);
        out = done;
    }
    out
}

/// Whether the program jumps backwards (has a loop).
fn loops(insns: &[Insn]) -> bool {
    insns.iter().any(|i| {
        matches!(i.class(), op::JMP | op::JMP32)
            && !matches!(i.opc & 0xf0, op::CALL | op::EXIT)
            && i.off < 0
    })
}

/// The kernel's refusals for running out of its search budget (a loop
/// that never ends, followed until one of its limits): where its search
/// stands then, and so the instruction and the first error it names,
/// depends on every step of that search. Refused by both, these are
/// counted apart, their reasons not compared.
const BUDGET_REFUSALS: [&str; 3] = [
    "BPF program is too large",
    "jumps is too complex",
    "infinite loop detected",
];

/// What the kernel made of a case.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Refused,
    /// Refused for its search budget ([`BUDGET_REFUSALS`]).
    OutOfBudget,
}

/// One case against the kernel: the kernel's verdict (with its reason
/// for a refusal), and a description of each disagreement.
fn compare(case: &XdpCase, frames: &[Vec<u8>]) -> (Verdict, Option<String>, Vec<String>) {
    let listing = || cranebpf::ebpf::disasm::disassemble(&Program::new(case.insns.clone()));
    let mut problems = Vec::new();
    let mut verdict = Verdict::Refused;
    let mut refusal = None;
    for engine in Engine::EBPF {
        // (Fresh maps in the kernel for each engine's runs, as ours.)
        let kernel = kernel(case);
        verdict = match &kernel {
            Kernel::Accepted { .. } => Verdict::Accepted,
            Kernel::Refused { reason, .. }
                if BUDGET_REFUSALS.iter().any(|b| reason.contains(b)) =>
            {
                Verdict::OutOfBudget
            }
            Kernel::Refused { .. } => Verdict::Refused,
        };
        if let Kernel::Refused { reason, .. } = &kernel {
            refusal = Some(reason.clone());
        }
        let ours = ours(case, engine);
        match (&kernel, ours) {
            (Kernel::Refused { .. }, Err(_)) if verdict == Verdict::OutOfBudget => {}
            (Kernel::Refused { pc, reason, log }, Err(message)) => {
                let at = pc.map(|pc| format!("instruction {pc}: "));
                let same_place = at.as_ref().is_none_or(|at| message.contains(at.as_str()));
                let ranges = loops(&case.insns);
                if !without_ids(&message, ranges).contains(&without_ids(reason, ranges))
                    || !same_place
                {
                    problems.push(format!(
                        "refused by both, differently: ours {message:?}; kernel {reason:?} at {pc:?}\n{}\n{log}",
                        listing()
                    ));
                }
            }
            (Kernel::Refused { reason, pc, .. }, Ok(_)) => problems.push(format!(
                "accepted here, refused by the kernel at {pc:?}: {reason}\n{}",
                listing()
            )),
            (Kernel::Accepted { .. }, Err(message)) => problems.push(format!(
                "refused here, accepted by the kernel: {message}\n{}",
                listing()
            )),
            (Kernel::Accepted { .. }, Ok(_)) if !case.results_defined => {}
            (
                Kernel::Accepted {
                    program: theirs,
                    maps,
                    ..
                },
                Ok(program),
            ) => {
                for frame in frames {
                    let (action, packet) = match theirs.test_run_out(frame) {
                        Ok(run) => run,
                        // (The kernel's socket-buffer test run refuses a
                        // frame whose EtherType says IPv4 and whose IPv4
                        // header is cut short: nothing to compare.)
                        Err(e)
                            if case.hook != Hook::Xdp
                                && e.kind() == std::io::ErrorKind::InvalidInput =>
                        {
                            continue
                        }
                        Err(e) => {
                            problems.push(format!(
                                "the kernel's test run failed: {e} on {frame:02x?}\n{}",
                                listing()
                            ));
                            break;
                        }
                    };
                    // The ring buffer's records of this run, consumed.
                    let mut records = Vec::new();
                    for (def, map) in case.maps.iter().zip(maps) {
                        if def.kind == MapKind::RingBuf {
                            let read = map.ring_records(def.max_entries as usize);
                            for r in read.expect("reading the ring buffer") {
                                records.push((def.name.clone(), r));
                            }
                        }
                    }
                    match program.run(frame) {
                        // (The kernel returns the metadata and the packet;
                        // a socket filter's action is all it shows.)
                        Ok(o)
                            if o.action as u32 == action
                                && o.records == records
                                && (case.hook == Hook::Socket
                                    || [o.meta.as_slice(), &o.packet].concat() == packet) => {}
                        other => problems.push(format!(
                            "{engine} on {frame:02x?}: ours {other:?}, kernel {action} {packet:02x?} \
                             records {records:02x?}\n{}",
                            listing()
                        )),
                    }
                }
                for (def, map) in case.maps.iter().zip(maps) {
                    // (A program array holds programs: the kernel lists
                    // their ids, this runtime their indices.)
                    if def.kind.holds_records() || def.kind == MapKind::ProgArray {
                        continue;
                    }
                    let (k, o) = (kernel_entries(def, map), our_entries(&program, &def.name));
                    if k != o {
                        problems.push(format!(
                            "{engine}: map {} differs: ours {o:02x?}, kernel {k:02x?}\n{}",
                            def.name,
                            listing()
                        ));
                    }
                }
            }
        }
        // (A verdict is the verifier's, whatever the engine: a refused
        // program is loaded once.)
        if !problems.is_empty() || verdict != Verdict::Accepted {
            break;
        }
    }
    (verdict, refusal, problems)
}

/// Whether the running kernel lets XDP programs call `xdp_adjust_meta`:
/// upstream kernels do, some builds refuse it as a helper this program
/// type cannot use (seen on a 6.18 build), while this crate follows
/// upstream.
fn kernel_serves_adjust_meta() -> bool {
    let insns = [
        Insn::new(op::ALU64 | op::MOV | op::K, 2, 0, 0, -4),
        Insn::new(op::CALL_IMM, 0, 0, 0, 54),
        Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, 2),
        Insn::new(op::EXIT_OP, 0, 0, 0, 0),
    ];
    match LoadedProgram::load_licensed(ProgType::Xdp, &insns, "GPL") {
        Ok(_) => true,
        Err(e) if e.log.contains("cannot use helper bpf_xdp_adjust_meta") => false,
        Err(e) => panic!("probing bpf_xdp_adjust_meta: {}", e.log),
    }
}

#[test]
fn generated_xdp_programs_get_the_kernels_verdict_reason_and_results() {
    if !support::bpf_available() {
        return;
    }
    pin_to_cpu(0).expect("sched_setaffinity");
    let cases: usize = std::env::var("XDP_VERIFIER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    // (XDP_VERIFIER_CASES and XDP_VERIFIER_SEED run more, or others.)
    let seed = std::env::var("XDP_VERIFIER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x05ee_d0d9);
    let adjust_meta = kernel_serves_adjust_meta();
    // (Numbers used as map value indexes, in both widths: on unless
    // XDP_VERIFIER_INDEXES=0, which gives the programs of the rounds
    // before them.)
    let scalar_indexes = std::env::var("XDP_VERIFIER_INDEXES").as_deref() != Ok("0");
    if !adjust_meta {
        eprintln!(
            "this kernel does not serve bpf_xdp_adjust_meta to XDP programs (upstream does): \
             the generated programs do not call it"
        );
    }
    let mut rng = Rng::new(seed);
    let mut failures = Vec::new();
    let (mut accepted, mut refused, mut out_of_budget) = (0, 0, 0);
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for n in 0..cases {
        let snippets = 1 + rng.below(6) as usize;
        // (A quarter are TC classifiers: `__sk_buff`, its fields and
        // pointers; a quarter socket filters.)
        let hook = match n % 4 {
            2 => Hook::Tc,
            3 => Hook::Socket,
            _ => Hook::Xdp,
        };
        let case = xdp::program_with(&mut rng, snippets, hook, adjust_meta, scalar_indexes);
        let frames = frames(&mut rng);
        let (verdict, refusal, problems) = compare(&case, &frames);
        if problems.is_empty() {
            match verdict {
                Verdict::Accepted => accepted += 1,
                Verdict::Refused => {
                    refused += 1;
                    let reason: String = refusal
                        .unwrap_or_default()
                        .chars()
                        .map(|c| if c.is_ascii_digit() { '#' } else { c })
                        .collect();
                    *reasons.entry(reason).or_default() += 1;
                }
                Verdict::OutOfBudget => out_of_budget += 1,
            }
        }
        for p in problems {
            failures.push(format!("case {n}: {p}"));
        }
    }
    if std::env::var_os("XDP_VERIFIER_REASONS").is_some() {
        let mut by_count: Vec<_> = reasons.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1));
        for (reason, n) in by_count {
            eprintln!("{n:6} refused alike: {reason}");
        }
    }
    if let Ok(path) = std::env::var("XDP_VERIFIER_DUMP") {
        std::fs::write(path, failures.join("\n\n=====\n")).expect("dump");
    }
    eprintln!(
        "{cases} generated XDP, TC and socket filter programs: {accepted} accepted and {refused} refused alike, \
         {out_of_budget} refused by both where the kernel ran out of its search budget, \
         {} disagreements",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} disagree; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
