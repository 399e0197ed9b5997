//! The library tests' helpers (tests/support) plus running the command.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

#[path = "../../../tests/support/mod.rs"]
mod shared;

pub use shared::*;

use std::process::Command;

/// Runs the command from the repository's top directory (where the
/// examples are); returns (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cranebpf"))
        .current_dir(repo_root())
        .args(args)
        .output()
        .expect("run cranebpf");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Mounts the BPF filesystem at /sys/fs/bpf unless it is there, for
/// `bpftool` to pin what it loads.
pub fn mount_bpffs() {
    let fs = Command::new("sh")
        .args([
            "-c",
            "mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf",
        ])
        .status()
        .expect("sh");
    assert!(fs.success(), "cannot mount bpffs");
}
