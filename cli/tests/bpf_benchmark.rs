//! The bpf-benchmark (2024) programs in `shared/peer-bench/` run as a user
//! runs them — `run --ebpf F.bpf.bin --raw --mem-file F.mem`, no budget —
//! and return their published results on every engine. Their loops are
//! accepted because the verifier proves they finish (`ebpf::verify::loops`).

mod support;

use cranebpf::ebpf::Program;
use cranebpf::{EbpfOptions, EbpfProgram, Engine};
use cranebpf_harness::peer_bench::{self, Memory, HALF};
use std::path::{Path, PathBuf};
use support::{cli, shared_dir, temp_file};

fn bench_dir() -> Option<PathBuf> {
    shared_dir("peer-bench/bpf-benchmark-2024")
}

/// Runs `prog` through the CLI with nothing but the memory file, then with
/// each engine; every run must print `expected`.
fn check_cli(dir: &Path, prog: &str, mem: Option<&Path>, expected: u64) {
    let p = dir.join(format!("{prog}.bpf.bin"));
    let p = p.to_str().expect("utf8 path");
    let mut base = vec!["run", "--ebpf", p, "--raw"];
    let mem = mem.map(|m| m.to_str().expect("utf8 path").to_owned());
    if let Some(m) = &mem {
        base.extend(["--mem-file", m.as_str()]);
    }
    let want = format!("{expected:#x} ({expected})\n");
    for engine in [None, Some("interp"), Some("jit")] {
        let mut args = base.clone();
        if let Some(e) = engine {
            args.extend(["--engine", e]);
        }
        let (code, out, err) = cli(&args);
        assert_eq!(
            (code, out.as_str()),
            (0, want.as_str()),
            "{prog} {engine:?}: {err}"
        );
    }
}

#[test]
fn every_program_returns_its_published_result() {
    let Some(dir) = bench_dir() else { return };
    for case in &peer_bench::CASES {
        let (_, mem) = peer_bench::load(&dir, case).expect("benchmark files");
        let expected = peer_bench::expected(case, &mem);
        let written;
        let file = match case.memory {
            Memory::Empty => None,
            Memory::File => Some(dir.join(format!("{}.mem", case.name))),
            Memory::Halves { .. } => {
                written = temp_file(&format!("{}.mem", case.name), &mem);
                Some(written.to_path_buf())
            }
        };
        check_cli(&dir, case.name, file.as_deref(), expected);
    }
}

#[test]
fn strcmp_fail_returns_a_signed_difference() {
    let mem = peer_bench::halves(true);
    let case = peer_bench::CASES.iter().find(|c| c.name == "strcmp_fail");
    let diff = peer_bench::expected(case.expect("strcmp_fail"), &mem);
    assert_ne!(diff, 0);
}

#[test]
fn memcpy_copies_the_first_half_over_the_second() {
    let Some(dir) = bench_dir() else { return };
    let full = peer_bench::halves(false);
    let code = std::fs::read(dir.join("memcpy.bpf.bin")).expect("memcpy.bpf.bin");
    let prog = Program::from_bytes(&code).expect("decode");
    for engine in Engine::EBPF {
        let mut mem = vec![0u8; 2 * HALF];
        mem[..HALF].copy_from_slice(&full[..HALF]);
        let options = EbpfOptions {
            engine: Some(engine),
            ..EbpfOptions::default()
        };
        let p = EbpfProgram::with_options(prog.clone(), options).expect("verified");
        assert_eq!(p.run(&mut mem), Ok(0));
        assert!(mem[HALF..] == full[..HALF], "{engine:?}");
    }
}

#[test]
fn memory_walk_ends_out_of_bounds_on_short_memory() {
    // strcmp's loop is proven by its stride through memory: on memory too
    // short for it, the run ends with an out-of-bounds error, not a hang.
    let Some(dir) = bench_dir() else { return };
    let mem = temp_file("short.mem", &[7u8; 64]);
    let p = dir.join("strcmp_full.bpf.bin");
    let (code, out, err) = cli(&[
        "run",
        "--ebpf",
        p.to_str().expect("utf8"),
        "--raw",
        "--mem-file",
        mem.to_str().expect("utf8"),
    ]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("out-of-bounds read"), "{err}");
}

#[test]
fn mem_file_errors_name_the_file() {
    let prog = temp_file("p.s", b"mov %r0, %r2\nexit\n");
    let p = prog.to_str().expect("utf8");
    let (code, _, err) = cli(&["run", "--ebpf", p, "--mem-file", "/nonexistent/x.mem"]);
    assert_eq!(code, 2);
    assert!(err.contains("--mem-file /nonexistent/x.mem"), "{err}");
    let mem = temp_file("m.mem", &[1, 2, 3]);
    let (code, out, _) = cli(&[
        "run",
        "--ebpf",
        p,
        "--mem-file",
        mem.to_str().expect("utf8"),
    ]);
    assert_eq!((code, out.as_str()), (0, "0x3 (3)\n"));
    let (code, _, err) = cli(&[
        "run",
        "--ebpf",
        p,
        "--mem",
        "00",
        "--mem-file",
        mem.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn unprovable_loop_is_refused_with_reason() {
    // Counts up by 2 towards an unknown bound: an even step can jump over
    // every value that would exit, so no proof; the message says how to run
    // it anyway.
    let prog = temp_file(
        "even.s",
        b"ldxdw %r2, [%r1]\nmov %r0, 0\nadd %r0, 2\njne %r0, %r2, -2\nexit\n",
    );
    let mem = temp_file("m.mem", &[1, 0, 0, 0, 0, 0, 0, 0]);
    let (code, _, err) = cli(&[
        "run",
        "--ebpf",
        prog.to_str().expect("utf8"),
        "--mem-file",
        mem.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("instruction 3: jump to 2 closes a loop that cannot be proven to finish")
            && err.contains("--budget N"),
        "{err}"
    );
}
