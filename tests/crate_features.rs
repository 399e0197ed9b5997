//! The crate's feature contract: a library user who turns the default
//! features off (`cranebpf = { default-features = false }`) gets no
//! command-line crates (clap, indicatif, console) and no disassembler
//! (iced-x86). Checked on the dependency graph cargo resolves from this
//! manifest and lockfile; `.ci/run` also builds the library that way.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates only the `cranebpf` command or `disasm --native` needs.
const CLI_ONLY: [&str; 5] = ["clap", "clap_builder", "indicatif", "console", "iced-x86"];

/// Names of the crates in the normal-dependency graph of `cranebpf`.
fn dependency_names(extra_args: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--manifest-path", manifest, "-p", "cranebpf"])
        .args(["-e", "normal", "--prefix", "none", "--format", "{p}"])
        .args(extra_args)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn default_features_off_pull_no_cli_crates() {
    let library = dependency_names(&["--no-default-features"]);
    assert!(library.contains("cranelift-jit"), "graph read: {library:?}");
    let pulled: Vec<_> = CLI_ONLY
        .iter()
        .filter(|name| library.contains(**name))
        .collect();
    assert!(
        pulled.is_empty(),
        "--no-default-features still pulls {pulled:?}"
    );
    // The same query sees them when the defaults are on, so the check
    // above can fail.
    let command = dependency_names(&[]);
    for name in ["clap", "indicatif", "iced-x86"] {
        assert!(command.contains(name), "default features lack {name}");
    }
}
