//! `--json` on `check`, `run`, `filter`, `bench`, `diff` and `conformance`: each
//! prints what the README's schema says, parsed back here, with the same
//! exit code as the text form.

use std::process::Command;

mod support;

fn cranebpf(args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .expect("run cranebpf");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let values = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {l}: {e}")))
        .collect();
    (out.status.code().unwrap_or(-1), values)
}

#[test]
fn check_says_accepted_or_why_not() {
    let (code, v) = cranebpf(&["check", "--json", "tcp port 80"]);
    assert_eq!(code, 0);
    assert_eq!(v[0]["accepted"], true);
    assert_eq!(v[0]["rules"], "linux");
    assert_eq!(v[0]["instructions"], 20);
    let (code, v) = cranebpf(&["check", "--json", "--ddd", "1,7 0 0 0"]);
    assert_eq!(code, 1);
    assert_eq!(v[0]["accepted"], false);
    assert!(v[0]["reason"].as_str().unwrap().contains("not a return"));
}

#[test]
fn run_prints_one_object_per_packet() {
    let (code, v) = cranebpf(&[
        "run",
        "--json",
        "examples/ip-udp.ddd",
        "--hex-file",
        "examples/packets.hex",
    ]);
    assert_eq!(code, 0);
    assert!(v.len() > 1);
    assert_eq!(v[0]["packet"], 1);
    assert!(v[0]["verdict"].is_u64());
    let (code, v) = cranebpf(&[
        "run",
        "--json",
        "tcp port 443",
        "-r",
        "examples/sample.pcap",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v.len(), 400);
    assert_eq!(v[399]["packet"], 400);
    assert_eq!(v[0]["link_type"], 1);
    let matched = v.iter().filter(|o| o["verdict"] != 0).count();
    assert_eq!(matched, 202);
}

#[test]
fn bench_reports_every_engine_and_the_jits_native_batches() {
    // `tcp port 443` reads no context block: the JIT also runs in native
    // batches; `greater 100` reads the length, so it has none.
    for (expr, batches) in [("tcp port 443", true), ("greater 100", false)] {
        let (code, v) = cranebpf(&[
            "bench",
            "--json",
            "--runs",
            "2",
            "-r",
            "examples/sample.pcap",
            expr,
        ]);
        assert_eq!(code, 0);
        let engines = v[0]["engines"].as_array().expect("engines");
        let names: Vec<&str> = engines
            .iter()
            .filter_map(|e| e["engine"].as_str())
            .collect();
        assert_eq!(names, ["cbpf", "interp", "jit"]);
        let matched: Vec<u64> = engines
            .iter()
            .filter_map(|e| e["matched"].as_u64())
            .collect();
        assert!(matched.windows(2).all(|w| w[0] == w[1]), "{matched:?}");
        for e in engines {
            let batch = &e["batch_ns_per_packet"];
            if e["engine"] == "jit" && batches {
                assert!(batch.as_f64().is_some_and(|ns| ns > 0.0), "{expr}: {e}");
            } else {
                assert!(batch.is_null(), "{expr}: {e}");
            }
            // Who made the native code: written directly on x86-64.
            let codegen = &e["codegen"];
            if e["engine"] != "jit" {
                assert!(codegen.is_null(), "{expr}: {e}");
            } else if cfg!(all(unix, target_arch = "x86_64")) {
                assert_eq!(codegen, "direct", "{expr}: {e}");
            } else {
                assert_eq!(codegen, "cranelift", "{expr}: {e}");
            }
        }
    }
}

#[test]
fn filter_prints_its_summary() {
    let (code, v) = cranebpf(&[
        "filter",
        "--json",
        "-q",
        "-r",
        "examples/sample.pcap",
        "tcp port 443",
    ]);
    assert_eq!(code, 0);
    let s = &v[0];
    assert_eq!(
        (s["packets"].as_u64(), s["matched"].as_u64()),
        (Some(400), Some(202))
    );
    assert_eq!(s["written"], 0);
    assert!(s["bytes_read"].as_u64().unwrap() > 0);
    assert!(s["seconds"].is_f64());
    assert!(s["cut_short"].is_null());
}

#[test]
fn conformance_and_diff_report_counts() {
    if let Some(dir) = support::suite_dir() {
        let dir = dir.to_string_lossy().into_owned();
        let (code, v) = cranebpf(&["conformance", "--json", &dir]);
        assert_eq!(code, 0);
        assert!(v[0]["passed"].as_u64().unwrap() > 100);
        assert_eq!(v[0]["failed"], 0);
        assert_eq!(v[0]["engine"], "interp");
    }
    // The kernel side is an AF_UNIX socket pair: no privilege needed.
    let (code, v) = cranebpf(&["diff", "--kernel", "--json", "tcp port 80"]);
    assert_eq!(code, 0);
    assert!(v[0]["cases"].as_u64().unwrap() > 0);
    assert_eq!(v[0]["mismatches"], 0);
    assert_eq!(v[0]["reports"].as_array().map(Vec::len), Some(0));
}
