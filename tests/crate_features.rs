//! The crate's dependency contract: the library pulls no command-line crate
//! (clap, indicatif, console: those belong to the `cranebpf` command in
//! cli/) and not the test harness (`cranebpf-harness`, a dev-dependency
//! only), with its default features or without them; without them it also
//! has no disassembler (iced-x86). Checked on the dependency graph cargo
//! resolves from the manifests and lockfile; `.ci/run` also builds the
//! library without default features.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates only the `cranebpf` command needs.
const COMMAND_ONLY: [&str; 5] = [
    "clap",
    "clap_builder",
    "indicatif",
    "console",
    "cranebpf-harness",
];

/// Names of the crates in the normal-dependency graph of `package`.
fn dependency_names(package: &str, extra_args: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--manifest-path", manifest, "-p", package])
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

fn pulled<'a>(graph: &BTreeSet<String>, names: &[&'a str]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|name| graph.contains(*name))
        .collect()
}

#[test]
fn the_library_pulls_no_command_crates() {
    let defaults = dependency_names("cranebpf", &[]);
    assert!(
        defaults.contains("cranelift-jit"),
        "graph read: {defaults:?}"
    );
    assert_eq!(pulled(&defaults, &COMMAND_ONLY), Vec::<&str>::new());
    assert!(defaults.contains("iced-x86"), "native-disasm is a default");
    let bare = dependency_names("cranebpf", &["--no-default-features"]);
    assert_eq!(
        pulled(&bare, &[&COMMAND_ONLY[..], &["iced-x86"]].concat()),
        Vec::<&str>::new(),
        "--no-default-features"
    );
    // The same query sees them in the command's graph, so the checks
    // above can fail.
    let command = dependency_names("cranebpf-cli", &[]);
    assert_eq!(
        pulled(&command, &["clap", "indicatif", "cranebpf-harness"]),
        ["clap", "indicatif", "cranebpf-harness"]
    );
}
