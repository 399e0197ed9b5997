//! clang-built eBPF objects (`clang -O2 -target bpf -c`): programs found by
//! section and function, BPF-to-BPF calls into `.text` linked, run on
//! every engine with the results the C says; objects this loader cannot
//! take (maps, global data, other architectures, truncated files) are
//! refused naming what and where. Needs clang with the BPF target: under
//! `CI=true` (where `.ci/run` installs it) a missing clang fails the test.

use std::path::Path;
use std::process::Command;

use cranebpf::ebpf::elf::{self, EbpfObject};
use cranebpf::{EbpfOptions, EbpfProgram, Engine};

mod support;

/// Compiles `source` with clang for BPF, or `None` (with a reason) when
/// clang is missing outside CI.
fn compile(name: &str, source: &str) -> Option<support::TempFile> {
    compile_with(name, source, &[])
}

/// [`compile`] with more clang arguments (`-g` for BTF).
fn compile_with(name: &str, source: &str, args: &[&str]) -> Option<support::TempFile> {
    let o = support::temp_path(&format!("{name}.o"));
    let c = o.with_extension("c");
    std::fs::write(&c, source).expect("write the source");
    match Command::new("clang")
        .args(["-O2", "-target", "bpf", "-c"])
        .args(args)
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .output()
    {
        Ok(out) if out.status.success() => Some(o),
        Ok(out) => panic!("clang failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "clang is required under CI=true (.ci/run installs it): {e}"
            );
            eprintln!("skipping: clang not found ({e})");
            None
        }
    }
}

fn load(path: &Path) -> EbpfObject {
    elf::load(&std::fs::read(path).expect("the object")).expect("loads")
}

const CALLS: &str = r#"
static __attribute__((noinline)) unsigned long long square(unsigned long long x) { return x * x; }
static __attribute__((noinline)) unsigned long long add3(unsigned long long x) { return square(x) + 3; }

__attribute__((section("mem"), used))
int sum_bytes(unsigned char *mem) {
    unsigned long long s = 0;
    for (int i = 0; i < 4; i++) s += mem[i];
    return (int)add3(s);
}

__attribute__((section("mem/second"), used))
int second(unsigned char *mem) { return mem[0] * 2 + (int)square(mem[1]); }

char _license[] __attribute__((section("license"), used)) = "Dual MIT/GPL";
"#;

#[test]
fn programs_and_calls_into_text_run_on_every_engine() {
    let Some(obj) = compile("calls", CALLS) else {
        return;
    };
    let object = load(&obj);
    assert_eq!(object.license.as_deref(), Some("Dual MIT/GPL"));
    let names: Vec<(&str, &str)> = object
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str()))
        .collect();
    assert_eq!(names, [("sum_bytes", "mem"), ("second", "mem/second")]);
    let cases: [(&str, [u8; 4], u64); 3] = [
        ("sum_bytes", [1, 2, 3, 4], 103), // (1+2+3+4)^2 + 3
        ("sum_bytes", [0, 0, 0, 7], 52),  // 7^2 + 3
        ("second", [5, 3, 0, 0], 19),     // 5*2 + 3^2
    ];
    for (name, mem, want) in cases {
        let p = object.programs.iter().find(|p| p.name == name).unwrap();
        for engine in [Engine::Interp, Engine::Jit] {
            let options = EbpfOptions {
                engine: Some(engine),
                ..EbpfOptions::default()
            };
            let program = EbpfProgram::with_options(p.program.clone(), options).expect("verifies");
            let mut m = mem;
            assert_eq!(
                program.run(&mut m).expect("runs"),
                want,
                "{name} on {engine}"
            );
        }
    }
    // The command line: one program needs --program, by function or
    // section name.
    let path = obj.to_string_lossy().into_owned();
    let (code, out, _) = support::cli(&[
        "run",
        "--ebpf",
        &path,
        "--program",
        "sum_bytes",
        "--mem",
        "01 02 03 04",
    ]);
    assert_eq!((code, out.trim()), (0, "0x67 (103)"));
    let (code, out, _) = support::cli(&[
        "run",
        "--ebpf",
        &path,
        "--program",
        "mem/second",
        "--mem",
        "05 03",
    ]);
    assert_eq!((code, out.trim()), (0, "0x13 (19)"));
    let (code, _, err) = support::cli(&["run", "--ebpf", &path, "--mem", "00"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("several programs; choose one with --program"),
        "{err}"
    );
}

#[test]
fn maps_the_kernel_would_refuse_are_refused_by_name() {
    // (legacy bpf_map_def: type, key size, value size, max entries, flags)
    let cases = [
        (
            "{ 12, 4, 4, 2, 0 }",
            "map 'm': a map of maps needs its inner map's definition, which a legacy \
             bpf_map_def cannot give",
        ),
        (
            "{ 14, 4, 16, 2, 0 }",
            "map 'm': a devmap (type 14) map's keys are 4 bytes and its values 4 or 8, \
             not 4 and 16 (EINVAL)",
        ),
        (
            "{ 4, 4, 8, 2, 0 }",
            "map 'm': a perf_event_array (type 4) map's keys are 4 bytes and its values 4, \
             not 4 and 8 (EINVAL)",
        ),
        (
            "{ 13, 4, 8, 2, 0 }",
            "map 'm': a hash of maps' values are 4 bytes (descriptors), not 8 (EINVAL)",
        ),
    ];
    for (def, want) in cases {
        let source = format!(
            "struct bpf_map_def {{ unsigned int type, key_size, value_size, max_entries, \
             map_flags; }};\n\
             __attribute__((section(\"maps\"), used)) struct bpf_map_def m = {def};\n\
             __attribute__((section(\"xdp\"), used)) int f(void *ctx) {{ return 2; }}\n"
        );
        let Some(obj) = compile("maps", &source) else {
            return;
        };
        let e = elf::load(&std::fs::read(&obj).unwrap()).unwrap_err();
        assert!(e.0.contains(want), "{def}: {e}");
    }
}

#[test]
fn what_the_loader_cannot_take_is_refused_by_name() {
    let Some(obj) = compile(
        "global",
        r#"
struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
__attribute__((section("maps"), used))
struct bpf_map_def events = { 7, 4, 64, 64, 0 };
long counter = 0;
__attribute__((section("xdp"), used))
int uses_global(void *ctx) { counter++; return 2; }
"#,
    ) else {
        return;
    };
    let e = elf::load(&std::fs::read(&obj).unwrap()).unwrap_err();
    assert!(
        e.0.contains("map 'events': maps of type stack_trace (type 7) are not supported"),
        "{e}"
    );
    let bytes = std::fs::read(&obj).unwrap();
    // Every truncation is an error, never a panic.
    for cut in 0..bytes.len() {
        let _ = elf::load(&bytes[..cut]);
    }
    assert!(elf::load(&bytes[..100])
        .unwrap_err()
        .0
        .starts_with("not a valid ELF object"));
    // Not eBPF.
    let host = support::temp_file("host.c", b"int f(void) { return 1; }\n");
    let host_o = host.with_extension("o");
    let ok = Command::new("clang")
        .args(["-O2", "-c"])
        .arg(&host)
        .arg("-o")
        .arg(&host_o)
        .status()
        .expect("clang")
        .success();
    assert!(ok);
    let e = elf::load(&std::fs::read(&host_o).unwrap()).unwrap_err();
    assert!(e.0.contains("not eBPF"), "{e}");
}

#[test]
fn kernel_functions_and_variables_are_refused_by_name() {
    // (As libbpf, which resolves them against the running kernel when it
    // loads the object, this loader refuses the object.)
    let Some(kfunc) = compile(
        "kfunc",
        r#"
extern int bpf_xdp_metadata_rx_hash(void *ctx, unsigned *hash, unsigned *type)
    __attribute__((section(".ksyms")));
__attribute__((section("xdp"), used))
int hashed(void *ctx) {
    unsigned hash = 0, type;
    if (bpf_xdp_metadata_rx_hash(ctx, &hash, &type))
        return 2;
    return hash & 1 ? 1 : 2;
}
"#,
    ) else {
        return;
    };
    let e = elf::load(&std::fs::read(&kfunc).unwrap()).unwrap_err();
    assert!(
        e.0.contains("instruction ")
            && e.0
                .contains("a call to the kernel function 'bpf_xdp_metadata_rx_hash' (an extern"),
        "{e}"
    );
    let Some(kconfig) = compile(
        "kconfig",
        r#"
extern int LINUX_KERNEL_VERSION __attribute__((section(".kconfig")));
__attribute__((section("xdp"), used))
int versioned(void *ctx) { return LINUX_KERNEL_VERSION > 0x60000 ? 2 : 1; }
"#,
    ) else {
        return;
    };
    let (code, out, err) = support::cli(&["run", "--ebpf", kconfig.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("a reference to the kernel symbol 'LINUX_KERNEL_VERSION'"),
        "{err}"
    );
}

/// CO-RE relocations (clang's `preserve_access_index`, here a field
/// access and a field-exists test) are counted and resolved against the
/// running kernel's BTF by default, as libbpf resolves them: the kernel
/// has no `struct eth`, so the field does not exist there and the load of
/// it is poisoned (unreachable: the program returns 0 first). With `--btf
/// none` they stay as clang wrote them, against the object's own types;
/// a `--btf` file that is not BTF is refused naming it.
#[test]
fn core_relocations_are_counted_and_resolved_against_the_kernel() {
    let source = r#"
struct xdp_md { unsigned data, data_end; };
struct eth { unsigned char dst[6], src[6]; unsigned short proto; }
    __attribute__((preserve_access_index));
__attribute__((section("xdp"), used))
int ipv4(struct xdp_md *ctx) {
    struct eth *e = (void *)(long)ctx->data;
    if ((void *)(e + 1) > (void *)(long)ctx->data_end) return 1;
    if (!__builtin_preserve_field_info(e->proto, 2)) return 0;
    return e->proto == __builtin_bswap16(0x0800) ? 2 : 1;
}
char _license[] __attribute__((section("license"), used)) = "GPL";
"#;
    let Some(core) = compile_with("core", source, &["-g"]) else {
        return;
    };
    assert_eq!(load(&core).core_relocations, 2);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sample.pcap");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--ebpf",
            core.to_str().unwrap(),
            "-r",
            sample.to_str().unwrap(),
        ];
        args.extend(extra);
        support::cli(&args)
    };
    let bytes = std::fs::read(&sample).unwrap();
    let by_proto: Vec<String> = cranebpf::capture::packets(&bytes)
        .unwrap()
        .iter()
        .map(|(_, p)| match p.data.get(12..14) {
            Some([0x08, 0x00]) => "2",
            _ => "1",
        })
        .map(String::from)
        .collect();
    let (code, out, err) = run(&["--btf", "none"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("CO-RE"), "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), by_proto);

    let (code, out, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    if Path::new(elf::KERNEL_BTF).exists() {
        let object = elf::load_with(
            &std::fs::read(&core).unwrap(),
            elf::CoreTypes::Btf {
                btf: &std::fs::read(elf::KERNEL_BTF).unwrap(),
                name: elf::KERNEL_BTF,
            },
        )
        .unwrap();
        assert_eq!((object.core_resolved, object.core_poisoned()), (true, 1));
        assert!(!err.contains("CO-RE"), "{err}");
        assert!(out.lines().all(|l| l == "0"), "{out}");
        assert_eq!(out.lines().count(), by_proto.len());
        // The same, named.
        let (code, named, err) = run(&["--btf", elf::KERNEL_BTF]);
        assert_eq!((code, named), (0, out), "{err}");
        // The listing says what each relocation did to its instruction.
        let listing = |extra: &[&str]| {
            let mut args = vec!["disasm", "--ebpf", core.to_str().unwrap()];
            args.extend(extra);
            let (code, out, err) = support::cli(&args);
            assert_eq!(code, 0, "{err}");
            out
        };
        let shown = listing(&[]);
        let core_lines: Vec<&str> = shown.lines().filter(|l| l.contains("# CO-RE")).collect();
        assert_eq!(
            core_lines,
            [
                "mov %r2, 0  # CO-RE <field_exists> [7] struct eth.proto (0:2 @ offset 12): 1 -> 0",
                "call 195896080  # CO-RE <byte_off> [7] struct eth.proto (0:2 @ offset 12): \
                 nothing in the kernel's types: poisoned",
            ],
            "{shown}"
        );
        assert!(!listing(&["--btf", "none"]).contains("CO-RE"));
    } else {
        assert!(
            err.contains("2 CO-RE relocations taken as compiled, against the object's own types"),
            "{err}"
        );
        assert_eq!(out.lines().collect::<Vec<_>>(), by_proto);
    }
    let (code, out, err) = run(&["--btf", sample.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("--btf ") && err.contains("sample.pcap: byte 0: no BTF header"),
        "{err}"
    );
    let (code, _, err) = run(&["--btf", "/nonexistent/vmlinux"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--btf /nonexistent/vmlinux: "), "{err}");

    // A load that nothing guards: the poisoned call is reached, and
    // refused as the kernel refuses it (when libbpf loads the object).
    if !Path::new(elf::KERNEL_BTF).exists() {
        return;
    }
    let unguarded_source = source.replace(
        "    if (!__builtin_preserve_field_info(e->proto, 2)) return 0;\n",
        "",
    );
    assert_ne!(unguarded_source, source);
    let Some(unguarded) = compile_with("core_unguarded", &unguarded_source, &["-g"]) else {
        return;
    };
    // Named as libbpf names it when it rewrites the kernel's log.
    let relocation = "<byte_off> [7] struct eth.proto (0:2 @ offset 12)";
    for engine in ["interp", "jit"] {
        let (code, out, err) = support::cli(&[
            "run",
            "--ebpf",
            unguarded.to_str().unwrap(),
            "-r",
            sample.to_str().unwrap(),
            "--engine",
            engine,
        ]);
        assert_eq!((code, out.as_str()), (1, ""), "{err}");
        assert!(
            err.contains(&format!(
                "instruction 6: invalid func unknown#195896080: failed to resolve CO-RE \
                 relocation {relocation} (libbpf's poisoned call)"
            )),
            "{err}"
        );
    }
    // The same function as a program of no packet type, on plain memory:
    // refused wherever the call is (the plain verifier follows no path),
    // named the same way.
    let plain_source = unguarded_source.replace("section(\"xdp\")", "section(\"raw\")");
    assert_ne!(plain_source, unguarded_source);
    let Some(plain) = compile_with("core_plain", &plain_source, &["-g"]) else {
        return;
    };
    let mem = support::temp_file("core_plain.mem", &[0; 20]);
    let (code, out, err) = support::cli(&[
        "run",
        "--ebpf",
        plain.to_str().unwrap(),
        "--mem-file",
        mem.to_str().unwrap(),
    ]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains(&format!(
            "core_plain.o: instruction 6: invalid func unknown#195896080: failed to resolve \
             CO-RE relocation {relocation}"
        )),
        "{err}"
    );
    // libbpf's own words for it, loading the object into the kernel.
    if support::bpf_available() {
        support::mount_bpffs();
        let pin = format!("/sys/fs/bpf/cranebpf-unguarded-{}", std::process::id());
        let load = Command::new("bpftool")
            .args(["prog", "load", unguarded.to_str().unwrap(), &pin])
            .output();
        let _ = std::fs::remove_file(&pin);
        match load {
            Ok(load) => {
                let log = String::from_utf8_lossy(&load.stderr);
                assert!(!load.status.success(), "the kernel took it: {log}");
                assert!(
                    log.contains(&format!(
                        "6: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation \
                         {relocation}\n"
                    )),
                    "{log}"
                );
            }
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "bpftool is required under CI=true (.ci/run installs it): {e}"
                );
                eprintln!("skipping libbpf's side: bpftool not found ({e})");
            }
        }
    }
    let (code, out, err) = run(&["--btf", "none"]);
    assert_eq!((code, out.lines().count()), (0, by_proto.len()), "{err}");
}

/// An object whose maps would take more than the runtime gives (here a
/// `.bss` of 4 GiB, found by the `elf_load` fuzzer running out of memory)
/// is refused before anything is allocated; so is one map definition too
/// big with its hash index counted.
#[test]
fn maps_over_the_memory_bound_are_refused_before_allocating() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("fuzz/regressions/elf_load/maps-over-a-gigabyte-with-their-index");
    let e = elf::load(&std::fs::read(path).expect("regression input")).expect_err("refused");
    assert!(
        e.to_string()
            .contains("need 4080 MiB together, over the 1024 MiB"),
        "{e}"
    );
    use cranebpf::ebpf::maps::{MapDef, MapKind, MAX_MAP_MEMORY};
    let hash = MapDef::new("big", MapKind::Hash, 16, 8, 16 << 20);
    // 16 Mi entries: 128 MiB of values, but 1 GiB more for the key index.
    assert!(hash.memory_bytes() > MAX_MAP_MEMORY);
    let xdp = elf::ObjectProgram {
        name: "p".into(),
        section: "xdp".into(),
        program: cranebpf::ebpf::asm::assemble("mov %r0, 2\nexit").expect("assembles"),
        btf_functions: false,
        core: Vec::new(),
    };
    let refused = cranebpf::ebpf::runtime::PacketProgram::new(&xdp, &[hash], Default::default());
    assert!(
        refused
            .err()
            .is_some_and(|e| e.to_string().contains("over the 1024 MiB")),
        "a 1.1 GiB map set is refused"
    );
}
