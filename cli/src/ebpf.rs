//! `run --ebpf` and `disasm --ebpf`: the eBPF halves of those subcommands,
//! self-contained so they can be wired next to the classic ones.

use super::output::sayln;
use super::{Failure, EXIT_REJECTED};
use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::disasm::{disassemble, disassemble_object};
use cranebpf::ebpf::elf::{EbpfObject, ObjectProgram};
use cranebpf::ebpf::runtime::{context_kind, PacketOptions, PacketProgram, Redirect};
use cranebpf::ebpf::Program;
use cranebpf::jit::{JitCode, JitOptions};
use cranebpf::{EbpfOptions, EbpfProgram, Engine};
use std::path::Path;

/// `--program NAME` (alias `--section`): which program of an ELF object
/// a subcommand takes, shared by `run`, `disasm`, `filter` and `bench`.
#[derive(clap::Args, Debug)]
pub struct ProgramChoice {
    /// With --ebpf and an ELF object (clang -target bpf) holding several
    /// programs: the one to use (its function or section name).
    #[arg(
        long = "program",
        value_name = "NAME",
        requires = "ebpf",
        visible_alias = "section"
    )]
    program: Option<String>,
    /// With --ebpf and an ELF object with CO-RE relocations: the kernel
    /// BTF to resolve them against, as libbpf does when it loads the
    /// object (default: the running kernel's, /sys/kernel/btf/vmlinux;
    /// `none`: as compiled, against the object's own types).
    #[arg(long = "btf", value_name = "FILE", requires = "ebpf")]
    btf: Option<std::path::PathBuf>,
}

impl ProgramChoice {
    /// The name given, if any.
    pub fn name(&self) -> Option<&str> {
        self.program.as_deref()
    }

    /// Reads the ELF object in `bytes` (from `path`), its CO-RE
    /// relocations resolved against the kernel BTF chosen: `--btf FILE`,
    /// else the running kernel's; as compiled with `--btf none`, or with a
    /// note when the running kernel exposes no BTF.
    pub fn load_object(&self, path: &Path, bytes: &[u8]) -> Result<EbpfObject, String> {
        use cranebpf::ebpf::elf::{self, CoreTypes, KERNEL_BTF};
        let object = elf::load(bytes).map_err(|e| e.to_string())?;
        if object.core_relocations == 0 {
            return Ok(object);
        }
        let (target, name) = match self.btf.as_deref() {
            Some(p) if p == Path::new("none") => return Ok(object),
            Some(p) => (
                std::fs::read(p).map_err(|e| format!("--btf {}: {e}", p.display()))?,
                format!("--btf {}", p.display()),
            ),
            None => match std::fs::read(KERNEL_BTF) {
                Ok(b) => (b, KERNEL_BTF.to_string()),
                Err(e) => {
                    eprintln!(
                        "note: {}: {} CO-RE relocations taken as compiled, against the \
                         object's own types: no kernel BTF to resolve them against \
                         ({KERNEL_BTF}: {e}; give one with --btf FILE)",
                        path.display(),
                        object.core_relocations
                    );
                    return Ok(object);
                }
            },
        };
        let core = CoreTypes::Btf {
            btf: &target,
            name: &name,
        };
        elf::load_with(bytes, core).map_err(|e| e.to_string())
    }
}

/// Reads a program: raw bytes when forced or when the file is not text
/// (has a NUL byte or is not UTF-8), assembly otherwise.
pub fn load_program(
    path: &Path,
    force_raw: bool,
    choice: &ProgramChoice,
) -> Result<Program, Failure> {
    let name = choice.name();
    let at = |e: String| format!("{}: {e}", path.display());
    let bytes = std::fs::read(path).map_err(|e| Failure::bad_input(at(e.to_string())))?;
    if cranebpf::ebpf::elf::is_elf(&bytes) {
        return from_object(path, &bytes, choice).map_err(|e| Failure {
            message: at(e.message),
            code: e.code,
        });
    }
    if let Some(name) = name {
        return Err(Failure::bad_input(format!(
            "{}: --program {name}: not an ELF object (assembly and raw bytes hold one program)",
            path.display()
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .ok()
        .filter(|t| !t.contains('\0'));
    match text {
        Some(t) if !force_raw => assemble(t).map_err(|e| Failure::bad_input(at(e.to_string()))),
        _ => Program::from_bytes(&bytes).map_err(|e| Failure::bad_input(at(e.to_string()))),
    }
}

/// The program named `name` (function or section) of an ELF object, or
/// its only one.
fn from_object(path: &Path, bytes: &[u8], choice: &ProgramChoice) -> Result<Program, Failure> {
    let object = choice
        .load_object(path, bytes)
        .map_err(Failure::bad_input)?;
    let (_, chosen) = select(&object, choice.name()).map_err(Failure::bad_input)?;
    plain_program(chosen)
}

/// An object's program as one that runs on plain memory: refused when it
/// is a packet program or uses maps (bad input), or holds a poisoned CO-RE
/// relocation (refused).
fn plain_program(chosen: &ObjectProgram) -> Result<Program, Failure> {
    if let Some(kind) = context_kind(&chosen.section) {
        return Err(Failure::bad_input(format!(
            "'{}' is {} {kind} program (section {}): it runs on packets; give -r CAPTURE, \
             --hex or --hex-file",
            chosen.name,
            if kind == cranebpf::ebpf::context::ContextKind::Xdp {
                "an"
            } else {
                "a"
            },
            chosen.section
        )));
    }
    // The plain verifier refuses a poisoned call wherever it is; named
    // here as libbpf names it.
    if let Some((at, relocation)) = chosen.poisoned().next() {
        return Err(Failure {
            message: format!(
                "instruction {at}: {}",
                cranebpf::ebpf::elf::poisoned_call_refusal(Some(relocation))
            ),
            code: EXIT_REJECTED,
        });
    }
    if let Some(at) = chosen
        .program
        .insns
        .iter()
        .position(|i| i.is_lddw() && i.src != 0)
    {
        return Err(Failure::bad_input(format!(
            "'{}' (section {}) uses maps or global data (instruction {at}); only XDP, TC and \
             socket filter programs run with maps so far",
            chosen.name, chosen.section
        )));
    }
    Ok(chosen.program.clone())
}

/// The program `name` (function or section) of an object, or its only one,
/// with its index among the object's programs.
fn select<'o>(
    object: &'o EbpfObject,
    name: Option<&str>,
) -> Result<(usize, &'o ObjectProgram), String> {
    let names = || {
        object
            .programs
            .iter()
            .map(|p| format!("{} (section {})", p.name, p.section))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut matching = object
        .programs
        .iter()
        .enumerate()
        .filter(|(_, p)| name.is_none_or(|n| p.name == n || p.section == n));
    match (matching.next(), matching.next(), name) {
        (Some(p), None, _) => Ok(p),
        (None, _, Some(n)) => Err(format!("no program '{n}'; it holds: {}", names())),
        (Some(_), Some(_), Some(n)) => Err(format!(
            "'{n}' names several programs; give a function name: {}",
            names()
        )),
        _ => Err(format!(
            "it holds several programs; choose one with --program: {}",
            names()
        )),
    }
}

/// Parses hex bytes. Whitespace, commas and colons separate groups; a
/// group may start with `0x` and must have an even number of digits.
/// Errors give the 1-based column.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut offset = 0;
    for group in text.split([' ', '\t', '\n', '\r', ',', ':']) {
        let start = offset;
        offset += group.len() + 1;
        let (skip, digits) = match group.strip_prefix("0x") {
            Some(d) => (2, d),
            None => (0, group),
        };
        if digits.len() % 2 != 0 {
            return Err(format!(
                "--mem: odd number of hex digits in '{group}' at column {}",
                start + 1
            ));
        }
        let mut high = None;
        for (i, c) in digits.char_indices() {
            let Some(d) = c.to_digit(16) else {
                return Err(format!(
                    "--mem: invalid hex digit '{c}' at column {}",
                    start + skip + i + 1
                ));
            };
            match high.take() {
                None => high = Some(d as u8),
                Some(h) => bytes.push(h << 4 | d as u8),
            }
        }
    }
    Ok(bytes)
}

/// `cranebpf run --ebpf FILE`: prints r0 as `0xHEX (DECIMAL)`.
#[allow(clippy::too_many_arguments)]
pub fn run_ebpf(
    path: &Path,
    raw: bool,
    choice: &ProgramChoice,
    mut mem: Vec<u8>,
    engine: Option<Engine>,
    budget: Option<u64>,
    json: bool,
) -> Result<i32, Failure> {
    let prog = load_program(path, raw, choice)?;
    let options = EbpfOptions {
        budget,
        engine,
        ..EbpfOptions::default()
    };
    let program = EbpfProgram::with_options(prog, options).map_err(|e| Failure {
        message: e.to_string(),
        code: EXIT_REJECTED,
    })?;
    match program.run(&mut mem) {
        Ok(v) if json => {
            sayln!("{}", serde_json::json!({ "return": v }));
            Ok(0)
        }
        Ok(v) => {
            sayln!("{v:#x} ({v})");
            Ok(0)
        }
        Err(e) => Err(Failure {
            message: e.to_string(),
            code: EXIT_REJECTED,
        }),
    }
}

/// `cranebpf disasm --ebpf FILE`: the program in assembler syntax, or the
/// JIT's CLIF / machine code.
pub fn disasm_ebpf(
    path: &Path,
    raw: bool,
    choice: &ProgramChoice,
    listing: Listing,
) -> Result<i32, Failure> {
    let bytes =
        std::fs::read(path).map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    if !cranebpf::ebpf::elf::is_elf(&bytes) {
        let prog = load_program(path, raw, choice)?;
        return print_ebpf(&prog, listing);
    }
    // An object's program as it holds it (maps by name), or the native
    // code it runs as: packet programs through the packet runtime (context
    // accesses rewritten, helpers linked), others as plain programs.
    let named = |e: String| Failure::bad_input(format!("{}: {e}", path.display()));
    let object = choice.load_object(path, &bytes).map_err(named)?;
    let (entry, chosen) = select(&object, choice.name()).map_err(named)?;
    if listing == Listing::Ebpf {
        return write_out(&disassemble_object(chosen, &object.maps));
    }
    if context_kind(&chosen.section).is_none() {
        let prog = plain_program(chosen).map_err(|e| Failure {
            message: format!("{}: {}", path.display(), e.message),
            code: e.code,
        })?;
        return print_ebpf(&prog, listing);
    }
    let options = PacketOptions {
        engine: Some(Engine::Jit),
        jit: JitOptions {
            keep_listings: true,
            ..JitOptions::default()
        },
        ..PacketOptions::default()
    };
    let program = PacketProgram::from_object(&object, entry, options).map_err(|e| Failure {
        message: format!("{}: {e}", path.display()),
        code: EXIT_REJECTED,
    })?;
    let code = program
        .jit_code()
        .ok_or_else(|| named("the JIT did not compile it".into()))?;
    write_out(&listing.of(code).join("\n"))
}

/// What `disasm` shows of an eBPF program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// eBPF assembly.
    Ebpf,
    /// Cranelift IR.
    Clif,
    /// Machine code.
    Native,
}

impl Listing {
    /// The JIT's listing this asks for (`Ebpf` has none: the CLIF).
    pub fn of(self, code: &JitCode) -> &[String] {
        if self == Listing::Native {
            code.native_listing()
        } else {
            code.clif()
        }
    }
}

/// Prints `prog` as `listing` asks.
pub fn print_ebpf(prog: &Program, listing: Listing) -> Result<i32, Failure> {
    if listing == Listing::Ebpf {
        return write_out(&disassemble(prog));
    }
    let jit = JitOptions {
        keep_listings: true,
        ..JitOptions::default()
    };
    // The code `run --ebpf` runs when the program verifies as it would be
    // run (without a budget); else the code of the instructions as given.
    let options = EbpfOptions {
        engine: Some(Engine::Jit),
        jit: jit.clone(),
        ..EbpfOptions::default()
    };
    if let Ok(program) = EbpfProgram::with_options(prog.clone(), options) {
        if let Some(code) = program.jit_code() {
            return write_out(&listing.of(code).join("\n"));
        }
    }
    let code = JitCode::compile(prog, &jit).map_err(|e| Failure::bad_input(e.to_string()))?;
    write_out(&listing.of(&code).join("\n"))
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly with status
/// 141 (see `output::write_failure`).
pub fn write_out(text: &str) -> Result<i32, Failure> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => Ok(0),
        Err(e) => Err(super::output::write_failure(std::path::Path::new("-"), e)),
    }
}

/// The object at `path` and the index of its packet program `name` (or
/// of its only program).
pub fn load_packet_program(
    path: &Path,
    choice: &ProgramChoice,
) -> Result<(EbpfObject, usize), Failure> {
    let bytes =
        std::fs::read(path).map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    if !cranebpf::ebpf::elf::is_elf(&bytes) {
        // A malformed program is named as such first, with its place.
        load_program(path, false, choice)?;
        return Err(Failure::bad_input(format!(
            "{}: packets need an XDP program from an ELF object (clang -target bpf); \
             assembly and raw programs run on --mem",
            path.display()
        )));
    }
    let object = choice
        .load_object(path, &bytes)
        .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    let (index, chosen) = select(&object, choice.name())
        .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    if context_kind(&chosen.section).is_none() {
        return Err(Failure::bad_input(format!(
            "{}: '{}' is in section {}; only XDP (xdp…), TC (tc…, classifier…) and socket \
             filter (socket…) programs run on packets so far",
            path.display(),
            chosen.name,
            chosen.section
        )));
    }
    Ok((object, index))
}

/// A redirect in `--json` output: an ifindex as a number, other targets
/// as objects.
fn redirect_json(to: &Redirect) -> serde_json::Value {
    match to {
        Redirect::Interface(ifindex) => serde_json::json!(ifindex),
        Redirect::Broadcast {
            map,
            exclude_ingress,
        } => serde_json::json!({ "broadcast": map, "exclude_ingress": exclude_ingress }),
        Redirect::Cpu(cpu) => serde_json::json!({ "cpu": cpu }),
        Redirect::Socket { map, index } => serde_json::json!({ "xsk": map, "index": index }),
        other => serde_json::json!(format!("{other:?}")),
    }
}

/// Where `run --ebpf OBJECT` with packets writes what it keeps.
pub struct XdpOutputs<'a> {
    /// `--maps-in`.
    pub maps_in: Option<&'a Path>,
    /// `--maps-out`.
    pub maps_out: Option<&'a Path>,
    /// `--packets-out`.
    pub packets_out: Option<&'a Path>,
    /// `--records-out`.
    pub records_out: Option<&'a Path>,
    /// `--clock`.
    pub clock: Option<cranebpf::ebpf::runtime::Clock>,
    /// `--seed`.
    pub seed: u64,
}

/// `cranebpf run --ebpf PROG.o` on packets: an XDP, TC or socket-filter
/// program's return value per packet; maps and rewritten packets written
/// as asked.
#[allow(clippy::too_many_arguments)]
pub fn run_xdp(
    path: &Path,
    choice: &ProgramChoice,
    packets: &[(cranebpf::capture::Timestamp, Vec<u8>)],
    link_type: u32,
    engine: Option<Engine>,
    budget: Option<u64>,
    json: bool,
    outputs: &XdpOutputs<'_>,
) -> Result<i32, Failure> {
    let (mut object, entry) = load_packet_program(path, choice)?;
    // `.rodata` entries are set before loading (frozen after, as libbpf
    // leaves it); the rest are preloaded into the loaded program's maps.
    let preloads = match outputs.maps_in {
        Some(file) => read_maps_in(file)?,
        None => Vec::new(),
    };
    let (read_only, writable): (Vec<_>, Vec<_>) = preloads
        .into_iter()
        .partition(|p| object.maps.iter().any(|m| m.read_only && m.name == p.map));
    for p in &read_only {
        object
            .set_read_only(&p.map, &p.key, &p.value)
            .map_err(|e| p.failure(e))?;
    }
    let options = PacketOptions {
        engine,
        budget,
        clock: outputs
            .clock
            .unwrap_or(cranebpf::ebpf::runtime::Clock::Monotonic),
        seed: outputs.seed,
        ..PacketOptions::default()
    };
    let program = PacketProgram::from_object(&object, entry, options).map_err(|e| Failure {
        message: format!("{}: {e}", path.display()),
        code: EXIT_REJECTED,
    })?;
    if let Some(e) = program.jit_error() {
        // Never a silent fallback: say which engine runs, and why.
        eprintln!(
            "cranebpf: the JIT cannot compile this program ({e}); running it on the interpreter"
        );
    }
    for p in &writable {
        program
            .preload(&p.map, &p.key, &p.value)
            .map_err(|e| p.failure(e))?;
    }
    let mut kept = Vec::new();
    let mut records = String::new();
    let mut record_count = 0usize;
    for (i, (ts, packet)) in packets.iter().enumerate() {
        let outcome = program.run(packet).map_err(|e| Failure {
            message: format!("packet {}: {e}", i + 1),
            code: EXIT_REJECTED,
        })?;
        record_count += outcome.records.len();
        let listed: Vec<serde_json::Value> = outcome
            .records
            .iter()
            .map(|(map, data)| serde_json::json!({ "map": map, "data": hex(data) }))
            .collect();
        for record in &listed {
            let mut line = record.clone();
            line["packet"] = serde_json::json!(i + 1);
            records.push_str(&line.to_string());
            records.push('\n');
        }
        if json {
            let mut line = serde_json::json!({ "packet": i + 1, "return": outcome.action });
            if let Some(to) = &outcome.redirect {
                line["redirect"] = redirect_json(to);
            }
            if !listed.is_empty() {
                line["records"] = serde_json::Value::Array(listed);
            }
            sayln!("{line}");
        } else {
            sayln!("{}", outcome.action);
        }
        if outputs.packets_out.is_some() {
            kept.push((*ts, outcome.packet));
        }
    }
    if let Some(file) = outputs.packets_out {
        let (encoder, mut out) = packet_capture(link_type);
        for (ts, p) in &kept {
            encoder.record(&mut out, *ts, p, p.len() as u32);
        }
        super::output::write_file(file, &out)?;
    }
    if let Some(file) = outputs.records_out {
        super::output::write_file(file, records.as_bytes())?;
    } else if record_count > 0 && !json {
        eprintln!(
            "cranebpf: {record_count} ring buffer or perf event records (write them with \
             --records-out FILE, or see them with --json)"
        );
    }
    if let Some(file) = outputs.maps_out {
        write_maps(&program, file)?;
    }
    Ok(0)
}

/// `--maps-out`: every map as JSON, `{"name": [{"key": HEX, "value":
/// HEX}, …], …}` with the maps by name, pretty-printed; written entry by
/// entry (a map may hold up to the object's whole map memory: no copy of
/// it is made) into a file that appears only when complete.
fn write_maps(program: &PacketProgram, path: &Path) -> Result<(), Failure> {
    use std::io::Write;
    let file = super::output::create(path)?;
    let mut out = std::io::BufWriter::new(file);
    let mut names = program.map_names();
    names.sort();
    let mut result = out.write_all(if names.is_empty() { b"{}" } else { b"{" });
    for (n, name) in names.iter().enumerate() {
        let quoted = match serde_json::to_string(name) {
            Ok(q) => q,
            Err(e) => {
                result = Err(std::io::Error::other(e));
                break;
            }
        };
        let comma = if n == 0 { "" } else { "," };
        result = result.and_then(|()| write!(out, "{comma}\n  {quoted}: ["));
        let mut first = true;
        program.visit_map_entries(name, &mut |k, v| {
            if result.is_ok() {
                let comma = if first { "" } else { "," };
                first = false;
                result = write!(
                    out,
                    "{comma}\n    {{\n      \"key\": \"{}\",\n      \"value\": \"{}\"\n    }}",
                    hex(k),
                    hex(v)
                );
            }
        });
        let close = if first { "]" } else { "\n  ]" };
        result = result.and_then(|()| out.write_all(close.as_bytes()));
    }
    if !names.is_empty() {
        result = result.and_then(|()| out.write_all(b"\n}"));
    }
    result = result
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    let (file, _) = out.into_parts();
    match result {
        Ok(()) => super::output::commit(file, path),
        Err(e) => {
            super::output::abandon(file);
            Err(super::output::write_failure(path, e))
        }
    }
}

/// A pcap encoder for the packets a program leaves (nanosecond
/// timestamps, a snapshot length no frame exceeds) and its file header.
pub fn packet_capture(link_type: u32) -> (cranebpf::capture::write::PcapEncoder, Vec<u8>) {
    let encoder = cranebpf::capture::write::PcapEncoder::new(link_type, 262_144, false, true);
    let mut out = Vec::new();
    encoder.file_header(&mut out);
    (encoder, out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One `--maps-in` entry, and where it came from.
struct Preload {
    map: String,
    key: Vec<u8>,
    value: Vec<u8>,
    /// "--maps-in FILE: map 'M', entry N".
    at: String,
}

impl Preload {
    fn failure(&self, e: cranebpf::ebpf::maps::MapUpdateError) -> Failure {
        Failure::bad_input(format!("{}: {e}", self.at))
    }
}

/// `--maps-in FILE`: `{"map": [{"key": HEX, "value": HEX}, …], …}`.
fn read_maps_in(file: &Path) -> Result<Vec<Preload>, Failure> {
    let mut out = Vec::new();
    let where_ = file.display();
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::bad_input(format!("--maps-in {where_}: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Failure::bad_input(format!(
            "--maps-in {where_}: line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let maps = value
        .as_object()
        .ok_or_else(|| Failure::bad_input(format!("--maps-in {where_}: not a JSON object")))?;
    for (map, entries) in maps {
        let list = entries.as_array().ok_or_else(|| {
            Failure::bad_input(format!("--maps-in {where_}: map '{map}': not a list"))
        })?;
        for (n, entry) in list.iter().enumerate() {
            let field = |f: &str| -> Result<Vec<u8>, Failure> {
                let text = entry.get(f).and_then(|v| v.as_str()).ok_or_else(|| {
                    Failure::bad_input(format!(
                        "--maps-in {where_}: map '{map}', entry {}: no \"{f}\" hex string",
                        n + 1
                    ))
                })?;
                parse_hex(text).map_err(|e| {
                    Failure::bad_input(format!(
                        "--maps-in {where_}: map '{map}', entry {}, {f}: {}",
                        n + 1,
                        e.trim_start_matches("--mem: ")
                    ))
                })
            };
            let (key, value) = (field("key")?, field("value")?);
            out.push(Preload {
                map: map.clone(),
                key,
                value,
                at: format!("--maps-in {where_}: map '{map}', entry {}", n + 1),
            });
        }
    }
    Ok(out)
}
