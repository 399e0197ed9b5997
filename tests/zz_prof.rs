use cranebpf::ebpf::elf::ObjectProgram;
use cranebpf::ebpf::runtime::{PacketOptions, PacketProgram};
use cranebpf::expr::{compile_expr, LinkType};
use cranebpf::translate::xdp::translate_xdp;
use cranebpf::Engine;
#[test]
fn prof() {
    let bytes = std::fs::read("examples/sample.pcap").unwrap();
    let packets: Vec<Vec<u8>> = cranebpf::capture::packets(&bytes)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p.data.to_vec())
        .collect();
    let f = compile_expr("tcp port 443", LinkType::Ethernet).unwrap();
    let program = ObjectProgram {
        name: "x".into(),
        section: "xdp".into(),
        program: translate_xdp(&f).unwrap(),
        btf_functions: false,
        core: Vec::new(),
    };
    let p = PacketProgram::new(
        &program,
        &[],
        PacketOptions {
            engine: Some(Engine::Jit),
            trace: false,
            ..PacketOptions::default()
        },
    )
    .unwrap();
    let n: usize = std::env::var("PROF_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    for _ in 0..n {
        for pk in &packets {
            std::hint::black_box(p.action(std::hint::black_box(pk)).ok());
        }
    }
}
