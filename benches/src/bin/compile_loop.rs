//! Compiles one expression N times with `cranebpf::expr::compile_expr` or
//! with libpcap's `pcap_compile` (optimised, EN10MB), and nothing else:
//! a process to count instructions in (`valgrind --tool=callgrind`), which
//! this VM's clock cannot disturb, where criterion's times of a few
//! microseconds vary by a third from run to run.
//!
//! Usage: `compile-loop cranebpf|pcap_compile EXPRESSION N`; prints the
//! instruction count of the program compiled. Instructions per compile:
//! (the count at N) − (the count at 0), divided by N.

use std::process::ExitCode;

use cranebpf::expr::{compile_expr, LinkType};
use cranebpf_bench::peers::PcapCompiler;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [compiler, text, n] = args.as_slice() else {
        eprintln!("usage: compile-loop cranebpf|pcap_compile EXPRESSION N");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<u64>() else {
        eprintln!("compile-loop: N must be a count, not '{n}'");
        return ExitCode::from(2);
    };
    let pcap = PcapCompiler::ethernet();
    // Both compile once before the loop, so N = 0 measures the same
    // set-up (libpcap's handle, our thread's kept memory) as N > 0.
    let ours = match compile_expr(text, LinkType::Ethernet) {
        Ok(program) => program.len(),
        Err(e) => {
            eprintln!("compile-loop: {e}");
            return ExitCode::from(2);
        }
    };
    let theirs = match pcap.try_compile(text) {
        Ok(len) => len,
        Err(e) => {
            eprintln!("compile-loop: pcap_compile: {e}");
            return ExitCode::from(2);
        }
    };
    let len = match compiler.as_str() {
        "cranebpf" => {
            for _ in 0..n {
                std::hint::black_box(compile_expr(std::hint::black_box(text), LinkType::Ethernet))
                    .ok();
            }
            ours
        }
        "pcap_compile" => {
            for _ in 0..n {
                std::hint::black_box(pcap.compile(std::hint::black_box(text)));
            }
            theirs
        }
        other => {
            eprintln!("compile-loop: no compiler '{other}' (cranebpf or pcap_compile)");
            return ExitCode::from(2);
        }
    };
    println!("{len}");
    ExitCode::SUCCESS
}
