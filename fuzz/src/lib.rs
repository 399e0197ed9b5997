//! Fuzz target bodies: one function per cargo-fuzz target
//! (`fuzz/fuzz_targets/NAME.rs` calls `cranebpf_fuzz::NAME`).
//!
//! Each body feeds arbitrary bytes to one public entry point of the library
//! and asserts the properties that must hold for *any* input: no panic, and
//! where a second path computes the same thing, the same answer (printing
//! a parsed program and parsing it again gives the same instructions; every
//! engine gives the same verdict on a program the checker or verifier
//! accepted). A failed assertion is a finding, like a crash.
//!
//! The same file is compiled into the main test suite
//! (`tests/fuzz_regressions.rs`, stable Rust, no libFuzzer), which replays
//! every input under `fuzz/seeds/` and `fuzz/regressions/` through these
//! bodies, so a fixed finding stays fixed.

use cranebpf::capture::{pcap, pcapng, Item};
use cranebpf::cbpf::parse::{self, Form};
use cranebpf::cbpf::{self, print, Device, Metadata};
use cranebpf::ebpf::{self, ExecError, Helpers};
use cranebpf::expr::{compile_expr, LinkType, ALL_LINK_TYPES, OTHER_LINK_TYPES};
use cranebpf::{Dialect, EbpfOptions, EbpfProgram, Engine, Filter, FilterOptions};

/// A target body: takes the fuzzer's input, panics on a finding.
pub type Body = fn(&[u8]);

/// Every target by name, in the order `.ci/run` runs them.
pub const TARGETS: &[(&str, Body)] = &[
    ("classic_text", classic_text),
    ("classic_asm", classic_asm),
    ("classic_raw", classic_raw),
    ("classic_check", classic_check),
    ("ebpf_asm", ebpf_asm),
    ("ebpf_decode", ebpf_decode),
    ("ebpf_verify", ebpf_verify),
    ("expr_compile", expr_compile),
    ("pcap_read", pcap_read),
    ("pcapng_read", pcapng_read),
    ("classic_diff", classic_diff),
    ("ebpf_diff", ebpf_diff),
    ("elf_load", elf_load),
    ("xdp_verify", xdp_verify),
];

/// Instruction budget for eBPF runs: loops and recursion are accepted
/// with one, and it keeps every run short.
const EBPF_BUDGET: u64 = 4096;

/// Checks that `prog`, written in every form the parser reads, parses back
/// to the same instructions.
fn assert_round_trips(prog: &cbpf::Program) {
    let forms: [(Form, Vec<u8>); 4] = [
        (Form::Ddd, print::ddd(prog).into_bytes()),
        (Form::Comma, print::comma(prog).into_bytes()),
        (Form::Dd, print::dd(prog).into_bytes()),
        (Form::Raw, print::raw(prog)),
    ];
    for (form, text) in forms {
        if prog.is_empty() && form != Form::Ddd && form != Form::Comma {
            continue; // an empty -dd or raw program is empty input
        }
        match parse::parse_as(&text, form) {
            Ok(again) => assert_eq!(&again, prog, "{form:?} form does not round-trip"),
            Err(e) => panic!("{form:?} form of a parsed program does not parse: {e}"),
        }
    }
}

/// tcpdump `-ddd`, the comma form and `-dd`, each forced and auto-detected.
pub fn classic_text(data: &[u8]) {
    for form in [Form::Ddd, Form::Comma, Form::Dd] {
        if let Ok(prog) = parse::parse_as(data, form) {
            assert_round_trips(&prog);
        }
    }
    if let Ok(prog) = parse::parse(data) {
        assert_round_trips(&prog);
    }
}

/// bpf_asm source: what parses prints (`disasm --format asm`) back to the
/// same instructions.
pub fn classic_asm(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(prog) = parse::parse_asm(text) {
        let printed = print::asm(&prog);
        match parse::parse_asm(&printed) {
            Ok(again) => assert_eq!(again, prog, "asm does not round-trip:\n{printed}"),
            Err(e) => panic!("printed asm does not parse: {e}\n{printed}"),
        }
        assert_round_trips(&prog);
    }
}

/// Raw `struct sock_filter` records: any instructions, valid or not, print
/// in tcpdump's `-d` layout and as bpf_asm that assembles back.
pub fn classic_raw(data: &[u8]) {
    let Ok(prog) = parse::parse_raw(data) else {
        return;
    };
    let _ = print::disasm(&prog);
    if !prog.is_empty() {
        let printed = print::asm(&prog);
        match parse::parse_asm(&printed) {
            Ok(again) => assert_eq!(again, prog, "asm does not round-trip:\n{printed}"),
            Err(e) => panic!("printed asm does not parse: {e}\n{printed}"),
        }
    }
    assert_round_trips(&prog);
}

/// The kernel's checker on raw records; an accepted program must
/// translate and build on every engine.
pub fn classic_check(data: &[u8]) {
    let Ok(prog) = parse::parse_raw(data) else {
        return;
    };
    let checked = cbpf::check::check(&prog);
    let translated = cranebpf::translate::translate(&prog);
    assert_eq!(
        checked.is_ok(),
        translated.is_ok(),
        "checker and translator disagree: {checked:?}"
    );
    if checked.is_ok() {
        for engine in Engine::ALL {
            let options = FilterOptions {
                engine: Some(engine),
                ..FilterOptions::default()
            };
            if let Err(e) = Filter::with_options(prog.clone(), options) {
                panic!("checked program does not build on {engine}: {e}");
            }
        }
    }
}

/// eBPF assembly: what assembles disassembles to text that assembles to
/// the same slots.
pub fn ebpf_asm(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(prog) = ebpf::asm::assemble(text) {
        assert_disassembly_round_trips(&prog);
    }
}

fn assert_disassembly_round_trips(prog: &ebpf::Program) {
    let printed = ebpf::disasm::disassemble(prog);
    match ebpf::asm::assemble(&printed) {
        Ok(again) => assert_eq!(
            again.to_bytes(),
            prog.to_bytes(),
            "disassembly does not round-trip:\n{printed}"
        ),
        Err(e) => panic!("disassembly does not assemble: {e}\n{printed}"),
    }
}

/// eBPF bytes: any slots decode and disassemble to text that assembles to
/// the same bytes.
pub fn ebpf_decode(data: &[u8]) {
    if let Ok(prog) = ebpf::Program::from_bytes(data) {
        assert_disassembly_round_trips(&prog);
    }
}

/// The verifier with and without a budget and helpers; what it accepts
/// must compile with the JIT.
pub fn ebpf_verify(data: &[u8]) {
    let Ok(prog) = ebpf::Program::from_bytes(data) else {
        return;
    };
    let plain = ebpf::verify::verify_with(&prog, &Helpers::new(), None);
    let relaxed = ebpf::verify::verify_with(&prog, &Helpers::conformance(), Some(EBPF_BUDGET));
    if plain.is_ok() {
        assert!(
            relaxed.is_ok(),
            "accepted without helpers or budget, refused with them: {relaxed:?}"
        );
    }
    if relaxed.is_ok() {
        let options = EbpfOptions {
            helpers: Helpers::conformance(),
            budget: Some(EBPF_BUDGET),
            engine: Some(Engine::Jit),
            ..EbpfOptions::default()
        };
        if let Err(e) = EbpfProgram::with_options(prog, options) {
            panic!("verified program does not compile: {e}");
        }
    }
}

/// pcap-filter expressions: the first byte picks the link type. Whatever
/// compiles passes the kernel's checker and builds a filter.
pub fn expr_compile(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // The decoded link types, then the others libpcap's compiler takes.
    let n = ALL_LINK_TYPES.len() + OTHER_LINK_TYPES.len();
    let i = pick as usize % n;
    let link = match ALL_LINK_TYPES.get(i) {
        Some(&l) => l,
        None => LinkType::Other(OTHER_LINK_TYPES[i - ALL_LINK_TYPES.len()].0),
    };
    if let Ok(prog) = compile_expr(text, link) {
        // What Linux refuses (protochain's backward jumps) must be a
        // program libpcap runs, and run in its dialect.
        let dialect = match cbpf::check::check(&prog) {
            Ok(()) => Dialect::Linux,
            Err(e) => {
                if let Err(why) = cbpf::libpcap::validate(&prog) {
                    panic!(
                        "compiled expression {text:?} ({link:?}) is refused by the checker \
                         ({e}) and by libpcap's ({why})"
                    );
                }
                Dialect::Libpcap
            }
        };
        let options = FilterOptions {
            dialect,
            ..FilterOptions::default()
        };
        match Filter::with_options(prog, options) {
            Ok(f) => {
                // A loop must end: libpcap's dialect stops runaway ones.
                let _ = f.run(&[0u8; 64]);
            }
            Err(e) => panic!("compiled expression {text:?} does not build: {e}"),
        }
    }
}

/// Bounds the walk of a capture reader: every step consumes at least one
/// header, so this is never reached by a correct reader.
const MAX_ITEMS: usize = 1 << 20;

/// pcap files: walk every record, compute every timestamp, and resync from
/// an offset named by the input (as the threaded scan does).
pub fn pcap_read(data: &[u8]) {
    let Ok(reader) = pcap::Reader::new(data) else {
        return;
    };
    walk_pcap(reader.clone());
    if let Some(again) = reader.resync(resync_point(data)) {
        walk_pcap(again);
    }
}

fn walk_pcap(mut reader: pcap::Reader<'_>) {
    for _ in 0..MAX_ITEMS {
        match reader.next_packet() {
            None | Some(Err(_)) => return,
            Some(Ok(packet)) => {
                assert!(packet.data.len() <= packet.record.len());
                let ts = reader.timestamp(&packet);
                assert!(ts.nanos < 1_000_000_000);
            }
        }
    }
    panic!("pcap reader did not end after {MAX_ITEMS} records");
}

/// pcapng files: walk every block, compute every timestamp, and resync.
pub fn pcapng_read(data: &[u8]) {
    let Ok(reader) = pcapng::Reader::new(data) else {
        return;
    };
    walk_pcapng(reader.clone());
    if let Some(again) = reader.resync(resync_point(data)) {
        walk_pcapng(again);
    }
}

fn walk_pcapng(mut reader: pcapng::Reader<'_>) {
    for _ in 0..MAX_ITEMS {
        match reader.next_item() {
            None | Some(Err(_)) => return,
            Some(Ok(Item::Other(block))) => assert!(block.len() >= 12),
            Some(Ok(Item::Packet(packet))) => {
                assert!(packet.data.len() <= packet.record.len());
                assert!((packet.interface as usize) < reader.interfaces().len());
                let ts = reader.timestamp(&packet);
                assert!(ts.nanos < 1_000_000_000);
            }
        }
    }
    panic!("pcapng reader did not end after {MAX_ITEMS} blocks");
}

/// An offset inside the file chosen by its last two bytes.
fn resync_point(data: &[u8]) -> usize {
    match data {
        [.., a, b] => usize::from(u16::from_le_bytes([*a, *b])) % data.len(),
        _ => 0,
    }
}

/// Splits a differential input: byte 0 = instruction count n, then n
/// 8-byte records, then `meta_len` bytes of metadata, then the rest.
fn split_case(data: &[u8], meta_len: usize) -> Option<(&[u8], &[u8], &[u8])> {
    let (&n, rest) = data.split_first()?;
    let code_len = usize::from(n).max(1) * 8;
    if rest.len() < code_len + meta_len {
        return None;
    }
    let (code, rest) = rest.split_at(code_len);
    let (meta, tail) = rest.split_at(meta_len);
    Some((code, meta, tail))
}

/// A differential input from its parts (the inverse of [`split_case`]):
/// `None` when `code` is not 1 to 255 whole 8-byte records.
pub fn diff_input(code: &[u8], meta: &[u8], tail: &[u8]) -> Option<Vec<u8>> {
    let count = u8::try_from(code.len() / 8).ok().filter(|&n| n > 0)?;
    if !code.len().is_multiple_of(8) {
        return None;
    }
    let mut input = vec![count];
    input.extend_from_slice(code);
    input.extend_from_slice(meta);
    input.extend_from_slice(tail);
    Some(input)
}

/// Metadata from 8 input bytes: device present or not, network and link
/// offsets, protocol, VLAN, CPU and `#rand` seed.
fn metadata(bytes: &[u8]) -> Metadata {
    let b = |i: usize| bytes[i];
    Metadata {
        protocol: u16::from_be_bytes([b(0), b(1)]),
        device: (b(2) & 1 == 1).then_some(Device {
            ifindex: u32::from(b(3)),
            hatype: u16::from(b(4)),
        }),
        vlan_present: b(2) & 2 != 0,
        vlan_tci: u16::from(b(5)),
        network_offset: u32::from(b(6) & 0x3f),
        mac_offset: (b(2) & 4 != 0).then_some(u32::from(b(7) & 0x1f)),
        cpu: u32::from(b(2) >> 4),
        mark: u32::from(b(7)),
        random_seed: u64::from(b(3)),
        ..Metadata::default()
    }
}

/// Classic differential: program × packet × metadata. When the checker
/// accepts, the reference interpreter, the eBPF interpreter on the
/// translation and the JIT (with and without bounds-check elimination)
/// give the same verdict.
pub fn classic_diff(data: &[u8]) {
    let Some((code, meta, packet)) = split_case(data, 8) else {
        return;
    };
    let Ok(prog) = parse::parse_raw(code) else {
        return;
    };
    if cbpf::check::check(&prog).is_err() {
        return;
    }
    let metadata = metadata(meta);
    let build = |engine, eliminate_bounds_checks, direct| {
        let mut options = FilterOptions {
            engine: Some(engine),
            metadata: metadata.clone(),
            ..FilterOptions::default()
        };
        options.jit.eliminate_bounds_checks = eliminate_bounds_checks;
        options.jit.direct = direct;
        options.jit.verify_ir = true;
        Filter::with_options(prog.clone(), options).expect("a checked program builds")
    };
    let reference = build(Engine::Cbpf, true, true);
    let others = [
        ("interp", build(Engine::Interp, true, true)),
        ("jit", build(Engine::Jit, true, true)),
        (
            "jit without bounds-check elimination",
            build(Engine::Jit, false, true),
        ),
        ("jit through Cranelift", build(Engine::Jit, true, false)),
    ];
    // The packet, and every prefix cut at a load's edge is too many runs;
    // the whole packet and a few cuts named by its own bytes suffice.
    let mut cuts = vec![packet.len()];
    cuts.extend(
        packet
            .iter()
            .take(3)
            .map(|&b| usize::from(b) % (packet.len() + 1)),
    );
    // The cuts as one batch too (native batch code where it applies).
    let batch: Vec<&[u8]> = cuts.iter().map(|&cut| &packet[..cut]).collect();
    let batch_want: Vec<u32> = batch.iter().map(|p| reference.run(p)).collect();
    for (name, filter) in &others {
        let mut got = vec![u32::MAX; batch.len()];
        filter.run_batch(&batch, &mut got);
        assert_eq!(
            got,
            batch_want,
            "{name}'s run_batch disagrees with cbpf on cuts {cuts:?}\n{}",
            print::ddd(&prog)
        );
    }
    for cut in cuts {
        let p = &packet[..cut];
        let want = reference.run(p);
        assert_eq!(
            want,
            cbpf::interp::run(&prog, p, &metadata),
            "the classic engine disagrees with the reference interpreter"
        );
        let wire = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let want_wire = reference.run_wire(p, wire);
        for (name, filter) in &others {
            assert_eq!(
                filter.run(p),
                want,
                "{name} disagrees with cbpf on a {cut}-byte packet\n{}",
                print::ddd(&prog)
            );
            assert_eq!(
                filter.run_wire(p, wire),
                want_wire,
                "{name} disagrees with cbpf on wire length {wire}\n{}",
                print::ddd(&prog)
            );
        }
    }
}

/// A helper for the eBPF differential target: a pure function of its
/// arguments, so both engines must see the same result.
fn mix_helper(a: u64, b: u64, c: u64, d: u64, e: u64) -> u64 {
    a.rotate_left(7) ^ b.wrapping_mul(31) ^ c ^ (d << 3) ^ (e >> 2)
}

/// The outcome of one eBPF run, made comparable across engines: r0 or the
/// error's kind and place (a fault's address is a host address).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Value(u64),
    Fault { pc: usize, size: usize, write: bool },
    Other(ExecError),
}

fn outcome(result: Result<u64, ExecError>) -> Outcome {
    match result {
        Ok(v) => Outcome::Value(v),
        Err(ExecError::OutOfBounds {
            pc, size, write, ..
        }) => Outcome::Fault { pc, size, write },
        Err(e) => Outcome::Other(e),
    }
}

/// Runs each of `programs` on `mem` at several placements: the memory's
/// address (r1) with complementary low 12 bits (0x5a5, 0xa5a), the stack
/// (r10) at another depth, and a new thread (another stack and heap
/// arena). Within a placement every program runs on the same buffer (the
/// memory copied in afresh), so programs computing with r1 see the same
/// address on every engine; a program computing with r10 (each engine's
/// stack lies elsewhere) gets different outcomes across placements.
/// Returns, per placement, each program's outcome and memory afterwards.
fn run_placed(programs: &[&EbpfProgram], mem: &[u8]) -> Vec<Vec<(Outcome, Vec<u8>)>> {
    let run = |low: usize, levels: usize| {
        let mut buf = vec![0u8; mem.len() + 8192];
        let off = low.wrapping_sub(buf.as_ptr() as usize) & 4095;
        let m = &mut buf[off..off + mem.len()];
        programs
            .iter()
            .map(|program| {
                m.copy_from_slice(mem);
                let r = deeper(levels, &mut || outcome(program.run(m)));
                (r, m.to_vec())
            })
            .collect::<Vec<_>>()
    };
    let mut all = vec![run(0x5a5, 0), run(0xa5a, 3)];
    all.push(std::thread::scope(|s| {
        s.spawn(|| run(0xa5a, 1)).join().expect("run panicked")
    }));
    all
}

/// Calls `f` `levels` frames deeper, each holding some stack bytes.
fn deeper<R>(levels: usize, f: &mut dyn FnMut() -> R) -> R {
    if levels == 0 {
        return f();
    }
    let pad = std::hint::black_box([0u8; 200]);
    let r = deeper(levels - 1, f);
    std::hint::black_box(&pad);
    r
}

/// eBPF differential: program × memory. When the verifier accepts (with a
/// budget, a pure helper and the conformance helper), the interpreter and
/// the JIT give the same r0 or error and leave the same memory, run on
/// one buffer (so r1 is the same address for both). Programs can compute
/// with r10, whose address differs between engines: a program whose
/// outcome changes when the same engine runs it with its stack elsewhere
/// is not compared.
pub fn ebpf_diff(data: &[u8]) {
    let Some((code, _, mem)) = split_case(data, 0) else {
        return;
    };
    let Ok(prog) = ebpf::Program::from_bytes(code) else {
        return;
    };
    let mut helpers = Helpers::conformance();
    helpers.register(1, mix_helper, false);
    let build_written = |engine, budget, direct| {
        let mut options = EbpfOptions {
            helpers: helpers.clone(),
            budget,
            engine,
            ..EbpfOptions::default()
        };
        options.jit.verify_ir = true;
        options.jit.direct = direct;
        EbpfProgram::with_options(prog.clone(), options)
    };
    let build = |engine, budget| build_written(engine, budget, true);
    // With a budget (every verified program), then without: the JIT then
    // lowers compare trees as jump tables or constant lookups and byte
    // loops as block copies, which budget charging rules out. Without one
    // only when the runs are known to be short: the program is loop-free,
    // or every budgeted run finished (the same runs, unbudgeted, finish
    // the same way) and the verifier proves its loops without a budget.
    let loop_free = prog
        .insns
        .iter()
        .enumerate()
        .all(|(pc, i)| i.successors(pc).into_iter().flatten().all(|next| next > pc));
    let mut budgets = vec![Some(EBPF_BUDGET)];
    let mut at = 0;
    while let Some(&budget) = budgets.get(at) {
        at += 1;
        let Ok(interp) = build(Some(Engine::Interp), budget) else {
            if budget.is_some() {
                return;
            }
            continue;
        };
        let jit = build(Some(Engine::Jit), budget).expect("a verified program compiles");
        // Without a budget, the interpreter counting again beside them, on
        // the same buffers: counted runs walk every compare of a tree,
        // unbudgeted ones dispatch on it at once, so this holds switch
        // recovery to the compares themselves (the JIT shares it).
        let counted = match budget {
            None => Some(build(Some(Engine::Interp), Some(EBPF_BUDGET)).expect("verified before")),
            Some(_) => None,
        };
        // Without a budget, also the JIT through Cranelift only: code the
        // x86-64 writer covers (with a lean entry, or leaf) is otherwise
        // never Cranelift's.
        let cranelift = match budget {
            None => Some(
                build_written(Some(Engine::Jit), None, false).expect("a verified program compiles"),
            ),
            Some(_) => None,
        };
        let mut engines = vec![&interp, &jit];
        engines.extend(counted.as_ref());
        engines.extend(cranelift.as_ref());
        let runs = run_placed(&engines, mem);
        let finished = runs.iter().all(|placed| {
            !matches!(
                placed[0].0,
                Outcome::Other(ExecError::BudgetExhausted { .. })
            )
        });
        if budget.is_some() && (loop_free || finished) {
            budgets.push(None);
        }
        // A program whose outcome moves with where its stack lies may
        // legitimately differ between engines in any way: it is not
        // compared. (Its memory lies at one address for both.)
        let stable = |e: usize| runs.windows(2).all(|w| w[0][e] == w[1][e]);
        if counted.is_some() && stable(0) && stable(2) {
            for placed in &runs {
                if !matches!(
                    placed[2].0,
                    Outcome::Other(ExecError::BudgetExhausted { .. })
                ) {
                    assert_eq!(
                        placed[0],
                        placed[2],
                        "interp without a budget disagrees with its counted run on memory \
                         {mem:02x?}\n{}",
                        ebpf::disasm::disassemble(&prog)
                    );
                }
            }
        }
        // The JIT, and (index 3, without a budget) the JIT through
        // Cranelift, against the interpreter.
        let jits = [(1, "jit")]
            .into_iter()
            .chain(cranelift.is_some().then_some((3, "jit through Cranelift")));
        for (e, name) in jits {
            if stable(0) && stable(e) {
                for placed in &runs {
                    assert_eq!(
                        placed[0],
                        placed[e],
                        "{name} disagrees with interp on memory {mem:02x?} (budget {budget:?})\n{}",
                        ebpf::disasm::disassemble(&prog)
                    );
                }
            }
        }
    }
}

/// eBPF ELF objects: loading never panics; every program found verifies
/// or is refused, and one that verifies runs to the same result on the
/// interpreter and the JIT.
pub fn elf_load(data: &[u8]) {
    let Ok(object) = ebpf::elf::load(data) else {
        return;
    };
    if object.core_relocations > 0 {
        // CO-RE relocations resolved against the object's own types as a
        // kernel's (hostile on both sides): an error or an object, never
        // a panic; the relocated programs are what runs below.
        if let Some(btf) = own_btf(data) {
            let core = ebpf::elf::CoreTypes::Btf {
                btf: &btf,
                name: ".BTF",
            };
            if let Ok(relocated) = ebpf::elf::load_with(data, core) {
                return elf_programs(relocated);
            }
        }
    }
    elf_programs(object);
}

/// The `.BTF` section of an ELF object, if it has one.
fn own_btf(data: &[u8]) -> Option<Vec<u8>> {
    use object::{Object, ObjectSection};
    // (`object` reads ELF64 headers only 8-byte aligned.)
    let mut copy = vec![0u8; data.len() + 7];
    let pad = (8 - copy.as_ptr() as usize % 8) % 8;
    copy[pad..pad + data.len()].copy_from_slice(data);
    let file = object::File::parse(&copy[pad..pad + data.len()]).ok()?;
    Some(file.section_by_name(".BTF")?.data().ok()?.to_vec())
}

/// Runs an object's programs on both engines.
fn elf_programs(object: ebpf::elf::EbpfObject) {
    // Packet programs (XDP, TC, socket) with their maps.
    for p in object
        .programs
        .iter()
        .filter(|p| ebpf::runtime::context_kind(&p.section).is_some())
    {
        prepare_and_run_packet_program(p, &object.maps);
    }
    for p in object.programs {
        if p.program.insns.iter().any(|i| i.is_lddw() && i.src != 0) {
            // Map references run only through the XDP runtime above.
            continue;
        }
        let build = |engine| {
            let options = EbpfOptions {
                engine: Some(engine),
                budget: Some(1 << 16),
                ..EbpfOptions::default()
            };
            EbpfProgram::with_options(p.program.clone(), options)
        };
        let (Ok(interp), Ok(jit)) = (build(Engine::Interp), build(Engine::Jit)) else {
            continue;
        };
        // Both engines run each placement on one buffer (r1 is its real
        // address, which a program may compute with); a program whose
        // outcome moves with where its stack lies (it computes with r10)
        // is not compared, as in ebpf_diff.
        let runs = run_placed(&[&interp, &jit], &[7u8; 64]);
        let stable = |e: usize| runs.windows(2).all(|w| w[0][e] == w[1][e]);
        if stable(0) && stable(1) {
            for placed in &runs {
                assert_eq!(placed[0], placed[1], "{}: interp and jit differ", p.name);
            }
        }
    }
}

/// A packet program (XDP, TC, socket) with its maps: linked,
/// context-checked, verified and run on both engines without a panic.
/// (Results are not compared: each engine's run memory lies at its own
/// address, which a program may compute with; cli/tests/xdp_objects.rs
/// and tests/xdp_verifier_kernel.rs compare them with the kernel.)
fn prepare_and_run_packet_program(p: &ebpf::elf::ObjectProgram, maps: &[ebpf::maps::MapDef]) {
    // Without a budget, as the kernel would load it (its instruction
    // limit included): prepared, not run (a loop proven to finish may
    // still take 2^64 iterations).
    let kernel_rules = ebpf::runtime::PacketOptions {
        engine: Some(Engine::Interp),
        trace: false,
        ..Default::default()
    };
    let _ = ebpf::runtime::PacketProgram::new(p, maps, kernel_rules);
    for engine in [Engine::Interp, Engine::Jit] {
        let options = ebpf::runtime::PacketOptions {
            engine: Some(engine),
            budget: Some(1 << 16),
            trace: false,
            ..Default::default()
        };
        if let Ok(program) = ebpf::runtime::PacketProgram::new(p, maps, options) {
            let _ = program.run(&[0x45; 60]);
            let _ = program.run(&[]);
            // (Visited, not copied: a mutated object's maps may take
            // up to the 1 GiB an object's maps may have, whose copy
            // entry by entry once ran out of memory.)
            let mut entries = 0usize;
            for name in program.map_names() {
                program.visit_map_entries(&name, &mut |_, _| entries += 1);
            }
            std::hint::black_box(entries);
        }
    }
}

/// Raw instructions as an XDP program, a TC classifier or a socket filter
/// (the first byte, modulo 3), with the maps the generated verifier test uses
/// (`lddw` with src 1 names one by index): the verifier for the kernel's
/// program types (local calls followed from their calls, loops iteration
/// by iteration) and both engines, without a panic.
pub fn xdp_verify(data: &[u8]) {
    use ebpf::maps::{MapDef, MapKind};
    let Some((&hook, code)) = data.split_first() else {
        return;
    };
    let Ok(program) = ebpf::Program::from_bytes(&code[..code.len() / 8 * 8]) else {
        return;
    };
    let object = ebpf::elf::ObjectProgram {
        name: "fuzzed".into(),
        section: ["xdp", "tc", "socket"][usize::from(hook % 3)].into(),
        program,
        btf_functions: false,
        core: Vec::new(),
    };
    // (The verifier test's generator's maps, `gen::xdp::maps`, in its
    // order: its seeds name them by index; this crate does not build the
    // harness.)
    let maps = [
        MapDef::new("small", MapKind::Array, 4, 8, 4),
        MapDef::new("wide", MapKind::Array, 4, 32, 2),
        MapDef::new("table", MapKind::Hash, 4, 16, 8),
        MapDef::new("events", MapKind::RingBuf, 0, 0, 4096),
        MapDef::new("jumps", MapKind::ProgArray, 4, 4, 2),
    ];
    prepare_and_run_packet_program(&object, &maps);
}
