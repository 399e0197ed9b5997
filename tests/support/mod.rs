//! Helpers shared by the integration tests.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Writes `bytes` to a fresh temporary file named `name`.
pub fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cranebpf-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Runs the binary from the crate root; returns (exit code, stdout,
/// stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run cranebpf");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shared eBPF conformance suite (`shared/bpf-conformance/tests` above
/// the crate), or `None` with a printed reason; a failure under `CI=true`.
pub fn suite_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = cranebpf::harness::suite::find_suite_dir(&root) {
        return Some(dir);
    }
    let msg = format!(
        "conformance suite (shared/bpf-conformance/tests) not found above {}",
        root.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

/// `shared/REL` in the nearest ancestor of the crate that has it (the
/// read-only data beside the checkout), or `None` with a printed reason; a
/// failure under `CI=true`.
pub fn shared_dir(rel: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = root
        .ancestors()
        .map(|a| a.join("shared").join(rel))
        .find(|p| p.is_dir())
    {
        return Some(dir);
    }
    let msg = format!("shared/{rel} not found above {}", root.display());
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

pub mod libpcap;
