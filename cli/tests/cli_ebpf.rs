//! The eBPF side of the command line: `run --ebpf`, `disasm --ebpf`,
//! `conformance`.

mod support;

use support::{cli, temp_file};

#[test]
fn run_prints_hex_and_decimal() {
    let f = temp_file("p.s", b"ldxh %r0, [%r1+1]\nbe16 %r0\nexit\n");
    let p = f.to_str().expect("utf8 path");
    assert_eq!(
        cli(&["run", "--ebpf", p, "--mem", "00 12 34"]),
        (0, "0x1234 (4660)\n".into(), String::new())
    );
    assert_eq!(
        cli(&["run", "--ebpf", p, "--mem", "0x001234"]).1,
        "0x1234 (4660)\n"
    );
}

#[test]
fn run_and_disasm_raw_bytes() {
    // mov r0, 42; exit — contains NUL bytes, so it is detected as raw.
    let raw = [0xb7u8, 0, 0, 0, 42, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let f = temp_file("p.bin", &raw);
    let p = f.to_str().expect("utf8 path");
    assert_eq!(cli(&["run", "--ebpf", p]).1, "0x2a (42)\n");
    assert_eq!(
        cli(&["disasm", "--ebpf", p]),
        (0, "mov %r0, 42\nexit\n".into(), String::new())
    );
    let bad = temp_file("odd.bin", &raw[..13]);
    let (code, _, err) = cli(&["disasm", "--ebpf", bad.to_str().expect("utf8"), "--raw"]);
    // Malformed input exits 2 (a refused program exits 1).
    assert_eq!(code, 2);
    assert!(err.contains("byte offset 8"), "{err}");
}

#[test]
fn errors_exit_non_zero_with_position() {
    let asm_err = temp_file("bad.s", b"mov %r0, 1\nmov %r12, 2\nexit\n");
    let (code, out, err) = cli(&["run", "--ebpf", asm_err.to_str().expect("utf8")]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("line 2, column 5") && err.contains("invalid register"),
        "{err}"
    );

    let verify_err = temp_file("v.s", b"mov %r0, %r5\nexit\n");
    let (code, _, err) = cli(&["run", "--ebpf", verify_err.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    assert!(err.contains("instruction 0") && err.contains("r5"), "{err}");

    let oob = temp_file("o.s", b"ldxw %r0, [%r1+2]\nexit\n");
    let (code, _, err) = cli(&[
        "run",
        "--ebpf",
        oob.to_str().expect("utf8"),
        "--mem",
        "01 02 03",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("out-of-bounds read of 4 bytes"), "{err}");

    let (code, _, err) = cli(&[
        "run",
        "--ebpf",
        oob.to_str().expect("utf8"),
        "--mem",
        "01 0z",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid hex digit 'z' at column 5"), "{err}");

    let looping = temp_file("l.s", b"mov %r0, 0\nja -1\n");
    let p = looping.to_str().expect("utf8");
    let (code, _, err) = cli(&["run", "--ebpf", p]);
    assert!(code == 1 && err.contains("loop"), "{err}");
    let (code, _, err) = cli(&["run", "--ebpf", p, "--budget", "100"]);
    assert!(code == 1 && err.contains("budget exhausted"), "{err}");

    let (code, _, err) = cli(&["run", "--ebpf", "/nonexistent/prog.s"]);
    assert!(code == 2 && err.contains("/nonexistent/prog.s"), "{err}");

    let (code, _, err) = cli(&["run", "--ebpf", p, "--engine", "warp"]);
    assert!(code == 2 && err.contains("invalid value 'warp'"), "{err}");
}

#[test]
fn conformance_reports_failures_and_totals() {
    let pass = temp_file("pass.data", b"-- asm\nmov %r0, 3\nexit\n-- result\n0x3\n");
    let dir = pass.parent().expect("dir");
    std::fs::write(
        dir.join("fail.data"),
        b"-- asm\nmov %r0, 3\nexit\n-- result\n4\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("broken.data"),
        b"-- asm\nmov %r0, %r99\nexit\n-- result\n4\n",
    )
    .expect("write");
    let (code, out, _) = cli(&[
        "conformance",
        dir.to_str().expect("utf8"),
        "--engine",
        "interp",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("FAIL fail.data: returned 0x3, expected 0x4"),
        "{out}"
    );
    assert!(
        out.contains("FAIL broken.data: parse error: line 2, column 10"),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 2 failed\n"), "{out}");
}

#[test]
fn conformance_on_the_shared_suite() {
    let Some(dir) = support::suite_dir() else {
        return;
    };
    assert_eq!(
        cli(&["conformance", dir.to_str().expect("utf8")]),
        (0, "313 passed, 0 failed\n".into(), String::new())
    );
    // The default directory is found from the source tree.
    assert_eq!(cli(&["conformance"]).1, "313 passed, 0 failed\n");
}
