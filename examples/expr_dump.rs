//! Prints our compiled program for an expression next to libpcap's:
//! `cargo run --release --example expr_dump -- [-y LINKTYPE] 'EXPR'`.

use cranebpf::cbpf::print::disasm;
use cranebpf::expr::{compile_expr, LinkType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (link, expr) = match args.as_slice() {
        [flag, name, expr] if flag == "-y" => (LinkType::from_name(name), expr.clone()),
        [expr] => (Some(LinkType::Ethernet), expr.clone()),
        _ => {
            eprintln!("usage: expr_dump [-y LINKTYPE] EXPR");
            std::process::exit(2);
        }
    };
    let Some(link) = link else {
        eprintln!("unknown link type");
        std::process::exit(2);
    };
    match compile_expr(&expr, link) {
        Ok(p) => print!("{}", disasm(&p)),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
