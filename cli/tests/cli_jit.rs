//! The CLI over the JIT: every engine prints the same verdicts, and
//! `disasm` shows the translation, the Cranelift IR and the machine code.

mod support;

use support::cli;

#[test]
fn every_engine_prints_the_same_verdicts() {
    let base = [
        "run",
        "examples/ip-udp.ddd",
        "--hex-file",
        "examples/packets.hex",
    ];
    let (code, reference, err) = cli(&[&base[..], &["--engine", "cbpf"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(reference.starts_with("262144\n"), "{reference}");
    for engine in ["interp", "jit", "auto"] {
        let (code, out, err) = cli(&[&base[..], &["--engine", engine]].concat());
        assert_eq!(
            (code, out.as_str()),
            (0, reference.as_str()),
            "{engine}: {err}"
        );
    }
}

#[test]
fn disasm_shows_translation_ir_and_machine_code() {
    let (code, out, _) = cli(&["disasm", "examples/ip-udp.ddd", "--ebpf"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("mov32 %r0, 0\nmov32 %r7, 0\nmov %r6, %r1\nldabsh 12\n"),
        "{out}"
    );

    let (code, out, _) = cli(&["disasm", "examples/ip-udp.ddd", "--clif"]);
    assert_eq!(code, 0);
    assert!(out.contains("function") && out.contains("bswap"), "{out}");

    let (code, out, _) = cli(&["disasm", "examples/ip-udp.ddd", "--native"]);
    assert_eq!(code, 0);
    assert!(out.lines().count() > 5, "{out}");
}

#[test]
fn jit_engine_refuses_what_the_kernel_refuses() {
    let (code, _, err) = cli(&[
        "run",
        "--ddd",
        "2,32 0 0 0,148 0 0 0",
        "--hex",
        "00",
        "--engine",
        "jit",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("instruction"), "{err}");
}

#[test]
fn diff_takes_packets_from_a_capture() {
    let (code, out, err) = cli(&[
        "diff",
        "--kernel",
        "examples/ip-udp.ddd",
        "-r",
        "examples/sample.pcap",
    ]);
    assert_eq!(code, 0, "{err}");
    let last = out.lines().last().unwrap_or_default();
    let cases: usize = last
        .strip_suffix(" cases, 0 mismatches")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected summary: {last}"));
    // 400 packets, each through three engines against the kernel.
    assert!(cases >= 1200, "{last}");

    let (code, _, err) = cli(&[
        "diff",
        "--kernel",
        "examples/ip-udp.ddd",
        "-r",
        "Cargo.toml",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Cargo.toml") && err.contains("byte offset 0"),
        "{err}"
    );
}
