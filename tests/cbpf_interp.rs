//! Semantics of every classic opcode in the reference interpreter.

use cranebpf::cbpf::ancillary::{Ancillary, ALL};
use cranebpf::cbpf::insn::{op, skf};
use cranebpf::cbpf::parse::parse_asm;
use cranebpf::cbpf::{interp, Device, Insn, Metadata, Program};

fn asm(src: &str) -> Program {
    parse_asm(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn run(src: &str, packet: &[u8]) -> u32 {
    interp::run(&asm(src), packet, &Metadata::default())
}

const PKT: [u8; 8] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];

#[test]
fn returns_and_immediates() {
    assert_eq!(run("ret #7", &[]), 7);
    assert_eq!(run("ret #0xffffffff", &[]), u32::MAX);
    assert_eq!(run("ld #9\nret a", &[]), 9);
    assert_eq!(run("ldi 10\nret a", &[]), 10);
    assert_eq!(run("ldx #11\ntxa\nret a", &[]), 11);
    assert_eq!(run("ldxi #12\ntxa\nret a", &[]), 12);
    assert_eq!(run("ld #13\ntax\nld #0\ntxa\nret a", &[]), 13);
    assert_eq!(run("ret a", &[]), 0, "A starts at 0");
    assert_eq!(run("txa\nret a", &[]), 0, "X starts at 0");
}

#[test]
fn packet_loads_are_big_endian_and_bounded() {
    assert_eq!(run("ld [0]\nret a", &PKT), 0x1234_5678);
    assert_eq!(run("ldh [1]\nret a", &PKT), 0x3456);
    assert_eq!(run("ldb [7]\nret a", &PKT), 0xf0);
    assert_eq!(run("ld [4]\nret a", &PKT), 0x9abc_def0);
    assert_eq!(
        run("ld #5\nld [5]\nret a", &PKT),
        0,
        "a load past the end returns 0"
    );
    assert_eq!(run("ldh [7]\nret #1", &PKT), 0);
    assert_eq!(run("ldb [8]\nret #1", &PKT), 0);
    assert_eq!(run("ldx #2\nldh [x + 3]\nret a", &PKT), 0xbcde);
    assert_eq!(run("ldx #2\nld [x + 3]\nret #1", &PKT), 0);
    assert_eq!(
        run("ldx #2\nldb [x + 0xffffffff]\nret a", &PKT),
        0x34,
        "X + k wraps at 32 bits"
    );
    assert_eq!(
        run("ldx #0xffffffff\nldb [x + 0]\nret #1", &PKT),
        0,
        "negative offsets fail"
    );
    assert_eq!(run("ldxb 4*([0]&0xf)\ntxa\nret a", &PKT), 8);
    assert_eq!(
        run("ld #3\nldxb 4*([1]&0xf)\nret a", &PKT),
        3,
        "msh keeps A"
    );
    assert_eq!(run("ldxb 4*([8]&0xf)\nret #1", &PKT), 0);
    assert_eq!(run("ld len\nret a", &PKT), 8);
    assert_eq!(run("ldx #len\ntxa\nret a", &PKT[..3]), 3);
}

#[test]
fn special_areas_follow_metadata() {
    let mut meta = Metadata::default();
    let net = |n: i32| format!("ldb [{}]\nret a", skf::NET_OFF + n);
    let ll = |n: i32| format!("ldb [{}]\nadd #1\nret a", skf::LL_OFF + n);
    assert_eq!(interp::run(&asm(&net(2)), &PKT, &meta), 0x56);
    assert_eq!(
        interp::run(&asm(&ll(0)), &PKT, &meta),
        0,
        "no link-layer header"
    );
    meta.network_offset = 4;
    meta.mac_offset = Some(1);
    assert_eq!(interp::run(&asm(&net(2)), &PKT, &meta), 0xde);
    assert_eq!(interp::run(&asm(&net(4)), &PKT, &meta), 0);
    assert_eq!(interp::run(&asm(&ll(0)), &PKT, &meta), 0x35);
    let below = format!("ldb [{}]\nret #1", skf::LL_OFF - 1);
    assert_eq!(interp::run(&asm(&below), &PKT, &meta), 0);
}

#[test]
fn scratch_memory() {
    assert_eq!(run("ld #5\nst M[3]\nld #0\nld M[3]\nret a", &[]), 5);
    assert_eq!(run("ldx #6\nstx M[15]\nldx M[15]\ntxa\nret a", &[]), 6);
}

#[test]
fn alu_with_constant_and_x() {
    let cases: [(&str, u32, u32, u32); 12] = [
        ("add", 0xffff_ffff, 2, 1),
        ("sub", 1, 2, 0xffff_ffff),
        ("mul", 0x1_0001, 0x1_0001, 0x2_0001),
        ("div", 7, 2, 3),
        ("mod", 7, 4, 3),
        ("and", 0xf0f0, 0xff00, 0xf000),
        ("or", 0xf0, 0x0f, 0xff),
        ("xor", 0xff, 0x0f, 0xf0),
        ("lsh", 1, 31, 0x8000_0000),
        ("rsh", 0x8000_0000, 31, 1),
        ("div", 0xffff_ffff, 0x10, 0x0fff_ffff),
        ("mod", 0xffff_ffff, 0x10, 0xf),
    ];
    for (name, a, b, want) in cases {
        assert_eq!(
            run(&format!("ld #{a}\n{name} #{b}\nret a"), &[]),
            want,
            "{name} #k"
        );
        assert_eq!(
            run(&format!("ld #{a}\nldx #{b}\n{name} x\nret a"), &[]),
            want,
            "{name} x"
        );
    }
    assert_eq!(run("ld #5\nneg\nret a", &[]), 5u32.wrapping_neg());
    assert_eq!(
        run("ld #9\nldx #0\ndiv x\nret #1", &[]),
        0,
        "div by X = 0 returns 0"
    );
    assert_eq!(
        run("ld #9\nldx #0\nmod x\nret #1", &[]),
        0,
        "mod by X = 0 returns 0"
    );
    assert_eq!(
        run("ld #3\nldx #33\nlsh x\nret a", &[]),
        6,
        "shift by X uses X mod 32"
    );
    assert_eq!(run("ld #8\nldx #32\nrsh x\nret a", &[]), 8);
}

#[test]
fn jumps() {
    let prog = "jeq #5, yes, no\nyes: ret #1\nno: ret #2";
    assert_eq!(run(&format!("ld #5\n{prog}"), &[]), 1);
    assert_eq!(run(&format!("ld #6\n{prog}"), &[]), 2);
    for (op, a, k, taken) in [
        ("jgt", 5u32, 4u32, true),
        ("jgt", 4, 4, false),
        ("jge", 4, 4, true),
        ("jge", 3, 4, false),
        ("jset", 6, 2, true),
        ("jset", 5, 2, false),
        ("jeq", 0xffff_ffff, 0xffff_ffff, true),
        ("jgt", 0x8000_0000, 1, true),
    ] {
        let k_form = format!("ld #{a}\n{op} #{k}, tt, ff\ntt: ret #1\nff: ret #2");
        let x_form = format!("ld #{a}\nldx #{k}\n{op} x, tt, ff\ntt: ret #1\nff: ret #2");
        let want = if taken { 1 } else { 2 };
        assert_eq!(run(&k_form, &[]), want, "{op} {a} {k}");
        assert_eq!(run(&x_form, &[]), want, "{op} x {a} {k}");
    }
    assert_eq!(run("ja over\nret #1\nover: ret #2", &[]), 2);
    assert_eq!(
        run("ld #3\njlt #4, ff\nret #1\nff: ret #2", &[]),
        2,
        "jlt is jge branching on false"
    );
    assert_eq!(run("ld #3\njne #3, ff\nret #1\nff: ret #2", &[]), 1);
}

#[test]
fn ancillary_loads_read_metadata() {
    let meta = Metadata {
        protocol: 0x0800,
        pkttype: 3,
        device: Some(Device {
            ifindex: 7,
            hatype: 1,
        }),
        mark: 0xdead_beef,
        queue: 4,
        rxhash: 0x1234,
        cpu: 2,
        vlan_tci: 0x0123,
        vlan_present: true,
        vlan_tpid: 0x8100,
        pay_offset: 42,
        ..Metadata::default()
    };
    let load = |a: Ancillary, size: &str| {
        let src = format!("ldx #0x0f\nld #0xf0\n{size} #{}\nret a", a.asm_name());
        interp::run(&asm(&src), &PKT, &meta)
    };
    for size in ["ld", "ldh", "ldb"] {
        // The kernel ignores the load size for ancillary values.
        assert_eq!(load(Ancillary::Protocol, size), 0x0800);
        assert_eq!(load(Ancillary::PktType, size), 3);
        assert_eq!(load(Ancillary::IfIndex, size), 7);
        assert_eq!(load(Ancillary::Mark, size), 0xdead_beef);
        assert_eq!(load(Ancillary::Queue, size), 4);
        assert_eq!(load(Ancillary::HaType, size), 1);
        assert_eq!(load(Ancillary::RxHash, size), 0x1234);
        assert_eq!(load(Ancillary::Cpu, size), 2);
        assert_eq!(load(Ancillary::AluXorX, size), 0xff);
        assert_eq!(load(Ancillary::VlanTag, size), 0x0123);
        assert_eq!(load(Ancillary::VlanTagPresent, size), 1);
        assert_eq!(load(Ancillary::PayOffset, size), 42);
        assert_eq!(load(Ancillary::VlanTpid, size), 0x8100);
    }
    // Without a device, ifindex and hatype end the program returning A.
    let src = "ld #77\nld #ifidx\nret #1000";
    assert_eq!(interp::run(&asm(src), &PKT, &Metadata::default()), 77);
    let src = "ld #78\nld #hatype\nret #1000";
    assert_eq!(interp::run(&asm(src), &PKT, &Metadata::default()), 78);
    // Every name round-trips through its k.
    for a in ALL {
        assert_eq!(Ancillary::from_k(a.k()), Some(a));
        assert_eq!(Ancillary::from_name(a.asm_name()), Some(a));
        assert_eq!(Ancillary::from_name(a.pcap_name()), Some(a));
    }
    assert_eq!(Ancillary::from_k(skf::AD_OFF as u32 + 1), None);
    assert_eq!(Ancillary::from_k((skf::AD_OFF + skf::AD_MAX) as u32), None);
}

#[test]
fn random_is_seeded_and_advances() {
    let src = asm("ld #rand\ntax\nld #rand\njeq x, same, differ\nsame: ret #1\ndiffer: txa\nret a");
    let meta = Metadata {
        random_seed: 99,
        ..Metadata::default()
    };
    let first = interp::run(&src, &[], &meta);
    assert_ne!(first, 1, "two loads give two values");
    assert_eq!(
        interp::run(&src, &[], &meta),
        first,
        "same seed, same values"
    );
    let other = Metadata {
        random_seed: 100,
        ..Metadata::default()
    };
    assert_ne!(interp::run(&src, &[], &other), first);
}

fn nla(buf: &mut Vec<u8>, len: u16, ty: u16) {
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
}

#[test]
fn netlink_attribute_search() {
    // [len 8 type 1 | 4 bytes] [len 12 type 2 (nested: [len 8 type 7 | 4 bytes])] [len 6 type 0x4003 | 2 bytes + pad]
    let mut p = Vec::new();
    nla(&mut p, 8, 1);
    p.extend_from_slice(&[0; 4]);
    nla(&mut p, 12, 2 | 0x8000);
    nla(&mut p, 8, 7);
    p.extend_from_slice(&[0; 4]);
    nla(&mut p, 6, 0x4003);
    p.extend_from_slice(&[0; 4]);
    let find = |a: u32, x: u32, nested: bool| {
        let ext = if nested { "nlan" } else { "nla" };
        let src = format!("ld #{a}\nldx #{x}\nld #{ext}\nret a");
        interp::run(&asm(&src), &p, &Metadata::default())
    };
    assert_eq!(find(0, 1, false), 0);
    assert_eq!(find(0, 2, false), 8, "flags are masked off the type");
    assert_eq!(find(0, 3, false), 20, "NLA_F_NET_BYTEORDER masked too");
    assert_eq!(find(0, 9, false), 0);
    assert_eq!(find(8, 7, true), 12);
    assert_eq!(find(8, 1, true), 0);
    assert_eq!(
        find(p.len() as u32 - 3, 1, false),
        0,
        "A past the last header"
    );
    let mut big = p.clone();
    big.resize(Metadata::default().linear_limit + 1, 0);
    let src = asm("ld #0\nldx #2\nld #nla\nret a");
    assert_eq!(
        interp::run(&src, &big, &Metadata::default()),
        0,
        "non-linear buffers find nothing"
    );
}

#[test]
fn unchecked_programs_never_panic() {
    let meta = Metadata::default();
    let weird = [
        Insn::stmt(0xffff, 0),
        Insn::stmt(op::ST, 99),
        Insn::stmt(op::LD | op::MEM, 16),
        Insn::stmt(op::ALU | op::DIV | op::K, 0),
        Insn::stmt(op::JMP | op::JA, u32::MAX),
        Insn::jump(op::JMP | op::JEQ | op::K, 0, 255, 255),
        Insn::stmt(op::ALU | op::LSH | op::K, 99),
        Insn::stmt(op::LD | op::W | op::ABS, 0xffff_ffff),
    ];
    for insn in weird {
        assert_eq!(
            interp::run(&Program::new(vec![insn]), &PKT, &meta),
            0,
            "{insn:?}"
        );
    }
    assert_eq!(interp::run(&Program::new(vec![]), &PKT, &meta), 0);
    let shift = Program::new(vec![
        Insn::stmt(op::LD | op::IMM, 1),
        Insn::stmt(op::ALU | op::LSH | op::K, 33),
        Insn::stmt(op::RET | op::A, 0),
    ]);
    assert_eq!(
        interp::run(&shift, &[], &meta),
        2,
        "constant shifts use k mod 32"
    );
    // Every 16-bit opcode, with awkward operands: no panic.
    for code in 0..=u16::MAX {
        for k in [0, 16, 0xffff_ffff] {
            let prog = Program::new(vec![
                Insn {
                    code,
                    jt: 1,
                    jf: 200,
                    k,
                },
                Insn::stmt(op::RET | op::A, 0),
            ]);
            let _ = interp::run(&prog, &PKT, &meta);
        }
    }
}

#[test]
fn metadata_settings() {
    let mut m = Metadata::default();
    m.set("protocol=0x86dd").expect("protocol");
    m.set("ifindex=3").expect("ifindex");
    m.set("mac_offset=0").expect("mac");
    assert_eq!(m.protocol, 0x86dd);
    assert_eq!(
        m.device,
        Some(Device {
            ifindex: 3,
            hatype: 0
        })
    );
    assert_eq!(m.mac_offset, Some(0));
    assert!(m
        .set("pkttype=8")
        .unwrap_err()
        .to_string()
        .contains("larger than 7"));
    assert!(m
        .set("colour=1")
        .unwrap_err()
        .to_string()
        .contains("unknown metadata key"));
    assert!(m.set("mark").unwrap_err().to_string().contains("key=value"));
    assert!(m
        .set("mark=x1")
        .unwrap_err()
        .to_string()
        .contains("not a number"));
}
