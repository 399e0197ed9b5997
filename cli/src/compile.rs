//! `cranebpf compile --xdp PROG -o FILE`: a filter as a kernel-loadable
//! eBPF object (the library's [`cranebpf::translate::xdp::xdp_object`]).

use super::output;
use super::prog::ProgArgs;
use super::{Failure, EXIT_REJECTED};
use clap::Args;
use cranebpf::translate::xdp;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  cranebpf compile --xdp 'tcp port 443' -o filter.o
  ip link set dev eth0 xdp obj filter.o sec xdp
  bpftool prog load filter.o /sys/fs/bpf/filter
  cranebpf disasm --ebpf filter.o

The XDP program passes (XDP_PASS) the packets the filter keeps and drops
(XDP_DROP) the others; packet loads read the frame's linear data, `len` is
its length.";

/// Arguments of `compile`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct CompileArgs {
    #[command(flatten)]
    prog: ProgArgs,
    /// Write an XDP program (section `xdp`), the one target so far.
    #[arg(long, required = true)]
    xdp: bool,
    /// The object file to write.
    #[arg(short, long, value_name = "FILE", required = true)]
    output: PathBuf,
    /// The program's function name (`bpftool prog show` shows its first
    /// 15 bytes).
    #[arg(long, value_name = "NAME", default_value = "xdp_filter")]
    name: String,
}

/// Compiles the filter and writes the object.
pub fn main(args: CompileArgs) -> Result<i32, Failure> {
    debug_assert!(args.xdp, "clap requires --xdp");
    let prog = args.prog.load_for(|link| {
        if xdp::sees_link_type(link) {
            Ok(())
        } else {
            Err(format!(
                "XDP programs see Ethernet frames (EN10MB) or, on layer-3 devices, raw IP \
                 (RAW, IPV4, IPV6), not {}",
                link.name()
            ))
        }
    })?;
    let bytes = xdp::xdp_object(&prog, &args.name).map_err(|e| Failure {
        message: e.to_string(),
        code: EXIT_REJECTED,
    })?;
    output::write_file(&args.output, &bytes)?;
    Ok(0)
}
