//! Turns the results of `cargo bench -p cranebpf-bench --bench peers` into
//! the README's tables (Markdown on stdout): ns per packet on the hot path,
//! µs per build, and the ratios issue 13 sets targets for.
//!
//! Usage: `bench-table [CRITERION_DIR]` (default
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cranebpf_bench::workload::{big_workload, workloads, MIX_PACKETS};

/// (group, function) → median nanoseconds per iteration.
type Medians = BTreeMap<(String, String), f64>;

fn read_medians(dir: &Path) -> Result<Medians, String> {
    let mut out = Medians::new();
    let groups = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for group in groups.flatten() {
        let Ok(benches) = std::fs::read_dir(group.path()) else {
            continue;
        };
        for bench in benches.flatten() {
            let new = bench.path().join("new");
            let (Ok(meta), Ok(est)) = (
                std::fs::read_to_string(new.join("benchmark.json")),
                std::fs::read_to_string(new.join("estimates.json")),
            ) else {
                continue;
            };
            let meta: serde_json::Value = serde_json::from_str(&meta)
                .map_err(|e| format!("{}: {e}", new.join("benchmark.json").display()))?;
            let est: serde_json::Value = serde_json::from_str(&est)
                .map_err(|e| format!("{}: {e}", new.join("estimates.json").display()))?;
            let (Some(g), Some(f), Some(median)) = (
                meta["group_id"].as_str(),
                meta["function_id"].as_str(),
                est["median"]["point_estimate"].as_f64(),
            ) else {
                return Err(format!("{}: unexpected layout", new.display()));
            };
            out.insert((g.to_string(), f.to_string()), median);
        }
    }
    Ok(out)
}

/// Hot-path columns: (benchmark function, column title).
const HOT: [(&str, &str); 13] = [
    ("hand-written-rust", "hand-written Rust"),
    (
        "hand-written-rust-inlined",
        "hand-written Rust, inlined (no call)",
    ),
    ("cranebpf-jit-runner", "jit (runner)"),
    (
        "cranebpf-jit-cranelift-runner",
        "jit via Cranelift (runner)",
    ),
    ("cranebpf-jit-filter-run", "jit (`Filter::run`)"),
    ("cranebpf-jit-batch", "jit (batch)"),
    ("bpfjit", "bpfjit"),
    ("rbpf-jit", "rbpf x86 JIT"),
    ("rbpf-cranelift", "rbpf Cranelift"),
    ("libpcap-bpf_filter", "libpcap `bpf_filter`"),
    ("cranebpf-cbpf-interp", "classic interp"),
    ("cranebpf-ebpf-interp", "eBPF interp"),
    ("rbpf-interp", "rbpf interp"),
];

/// Compile columns.
const COMPILE: [(&str, &str); 11] = [
    ("cranebpf-jit", "cranebpf `Filter::new` (jit)"),
    ("cranebpf-jit-cranelift", "the same via Cranelift"),
    ("cranebpf-first-verdict", "cranebpf first verdict (tiered)"),
    ("cranebpf-jit-cached", "the same, cached"),
    ("cranebpf-interp", "cranebpf (interp only)"),
    ("bpfjit", "bpfjit"),
    ("kernel-so_attach_filter", "kernel `SO_ATTACH_FILTER`"),
    ("rbpf-jit", "rbpf x86 JIT"),
    ("rbpf-cranelift", "rbpf Cranelift"),
    ("expr-cranebpf", "expression: cranebpf"),
    ("expr-pcap_compile", "expression: `pcap_compile`"),
];

fn cell(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
            PathBuf::from(target).join("criterion")
        });
    let medians = match read_medians(&dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("bench-table: {e}");
            return ExitCode::from(2);
        }
    };
    let get = |group: String, f: &str| medians.get(&(group, f.to_string())).copied();
    let per_packet =
        |id: &str, f: &str| get(format!("hot/{id}"), f).map(|ns| ns / MIX_PACKETS as f64);
    let micros = |id: &str, f: &str| get(format!("compile/{id}"), f).map(|ns| ns / 1000.0);

    println!("Hot path, ns per packet (criterion median over {MIX_PACKETS} packets):\n");
    print!("| filter (instructions) |");
    for (_, title) in HOT {
        print!(" {title} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(HOT.len()));
    let hot = workloads();
    for w in &hot {
        print!("| {} ({}) |", w.title, w.program.insns.len());
        for (f, _) in HOT {
            print!(" {} |", cell(per_packet(w.id, f)));
        }
        println!();
    }

    println!("\nRatios (targets of issue 13 in brackets):\n");
    println!(
        "| filter | jit / hand-written [≤ 1.3] (runner / batch) | jit / bpfjit [< 1] \
         (runner / batch) | libpcap / jit [≥ 7] (runner / batch) \
         | `Filter::run` − batch, ns [≤ 0.5] | classic interp / libpcap [≤ 1] \
         | rbpf interp / eBPF interp [≥ 3] | a call to the hand-written function, \
         ns (called − inlined) | libpcap / inlined hand-written |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for w in &hot {
        let p = |f: &str| per_packet(w.id, f);
        let jit = p("cranebpf-jit-runner");
        let batch = p("cranebpf-jit-batch");
        // Our runner's ratio, then the batch path's.
        let both = |over: Option<f64>, under: Option<f64>, batch_over: Option<f64>, batch_under| {
            format!(
                "{} / {}",
                ratio(over, under),
                ratio(batch_over, batch_under)
            )
        };
        let difference = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a - b),
            _ => "—".into(),
        };
        let inlined = p("hand-written-rust-inlined");
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            w.id,
            both(jit, p("hand-written-rust"), batch, p("hand-written-rust")),
            both(jit, p("bpfjit"), batch, p("bpfjit")),
            both(p("libpcap-bpf_filter"), jit, p("libpcap-bpf_filter"), batch),
            difference(p("cranebpf-jit-filter-run"), batch),
            ratio(p("cranebpf-cbpf-interp"), p("libpcap-bpf_filter")),
            ratio(p("rbpf-interp"), p("cranebpf-ebpf-interp")),
            difference(p("hand-written-rust"), inlined),
            ratio(p("libpcap-bpf_filter"), inlined),
        );
    }

    println!("\nBuild latency, µs (criterion median):\n");
    print!("| filter (instructions) |");
    for (_, title) in COMPILE {
        print!(" {title} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(COMPILE.len()));
    let mut all = hot;
    all.push(big_workload());
    for w in &all {
        print!("| {} ({}) |", w.title, w.program.insns.len());
        for (f, _) in COMPILE {
            print!(" {} |", cell(micros(w.id, f)));
        }
        println!();
    }
    ExitCode::SUCCESS
}
