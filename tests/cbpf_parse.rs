//! Parsers and printers: round trips of every form, tcpdump's exact -d
//! layout, and clear errors for malformed input.

use cranebpf::cbpf::insn::op;
use cranebpf::cbpf::parse::{
    self, detect, parse, parse_asm, parse_dd, parse_ddd, parse_raw, Form, Location,
};
use cranebpf::cbpf::{print, Insn, Program};
use cranebpf_harness::Rng;
use std::process::Command;

fn random_program(r: &mut Rng) -> Program {
    let len = 1 + r.below(30) as usize;
    let insns = (0..len)
        .map(|_| {
            let code = if r.chance(1, 4) {
                r.next_u32() as u16
            } else {
                r.below(0x100) as u16
            };
            let k = if r.chance(1, 2) {
                r.below(40) as u32
            } else {
                r.next_u32()
            };
            let (jt, jf) = if r.chance(1, 2) {
                (r.below(4) as u8, r.below(4) as u8)
            } else {
                (r.next_u32() as u8, r.next_u32() as u8)
            };
            Insn { code, jt, jf, k }
        })
        .collect();
    Program::new(insns)
}

#[test]
fn every_form_round_trips_on_arbitrary_instructions() {
    let mut r = Rng::new(42);
    for _ in 0..2000 {
        let prog = random_program(&mut r);
        assert_eq!(parse_ddd(&print::ddd(&prog)).as_ref(), Ok(&prog));
        assert_eq!(parse::parse_comma(&print::comma(&prog)).as_ref(), Ok(&prog));
        assert_eq!(parse_dd(&print::dd(&prog)).as_ref(), Ok(&prog));
        assert_eq!(parse_raw(&print::raw(&prog)).as_ref(), Ok(&prog));
        let asm = print::asm(&prog);
        assert_eq!(parse_asm(&asm).as_ref(), Ok(&prog), "{asm}");
        // Auto-detection picks the right parser.
        assert_eq!(parse(print::ddd(&prog).as_bytes()).as_ref(), Ok(&prog));
        assert_eq!(parse(print::comma(&prog).as_bytes()).as_ref(), Ok(&prog));
        assert_eq!(parse(print::dd(&prog).as_bytes()).as_ref(), Ok(&prog));
        assert_eq!(parse(asm.as_bytes()).as_ref(), Ok(&prog));
    }
}

#[test]
fn valid_programs_print_as_plain_bpf_asm() {
    let src = "ldh [12]\njne #0x800, drop\nldb [23]\njeq #17, keep, drop\nkeep: ret #262144\ndrop: ret #0\n";
    let prog = parse_asm(src).expect("parses");
    let printed = print::asm(&prog);
    assert!(!printed.contains(".insn"), "{printed}");
    assert_eq!(parse_asm(&printed), Ok(prog));
}

#[test]
fn comma_form_without_the_count() {
    let with = parse::parse("4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0".as_bytes());
    let without = parse::parse("40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0,".as_bytes());
    assert!(with.is_ok());
    assert_eq!(with, without);
    // One instruction alone needs its trailing comma to be the comma form.
    assert_eq!(
        parse::parse_comma("6 0 0 1"),
        parse::parse_comma("1,6 0 0 1")
    );
    let err = parse::parse_comma("6 0 0,6 0 0 0").unwrap_err().to_string();
    assert!(err.contains("instruction count or an instruction"), "{err}");
}

#[test]
fn detection() {
    assert_eq!(
        detect(b"4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0"),
        Form::Comma
    );
    assert_eq!(detect(b"1\n6 0 0 0\n"), Form::Ddd);
    assert_eq!(detect(b"{ 0x6, 0, 0, 0x00000000 },\n"), Form::Dd);
    assert_eq!(detect(b"ret #0"), Form::Asm);
    assert_eq!(detect(b"; comment\nret #0"), Form::Asm);
    assert_eq!(detect(&[6, 0, 0, 0, 0, 0, 0, 0]), Form::Raw);
}

#[test]
fn bpf_asm_syntax_variants() {
    let p = |s: &str| parse_asm(s).unwrap_or_else(|e| panic!("{e}: {s}")).insns;
    assert_eq!(
        p("LDH [12]\nRET #0"),
        p("ldh [12]\nret #0"),
        "case-insensitive"
    );
    assert_eq!(p("ld [x+4]\nret a"), p("ld [%x + 4]\nret %a"));
    assert_eq!(
        p("ld #0x10\nld #16\nld #020\nld #0b10000\nret a"),
        vec![Insn::stmt(op::LD | op::IMM, 16); 4]
            .into_iter()
            .chain([Insn::stmt(op::RET | op::A, 0)])
            .collect::<Vec<_>>()
    );
    assert_eq!(p("ld #-1\nret a")[0].k, u32::MAX);
    assert_eq!(p("ld len\nret a"), p("ld #len\nret a"));
    assert_eq!(p("ldx 4*([14]&0xf)\nret a"), p("ldxb 4*([14]&0xf)\nret a"));
    assert_eq!(p("ld proto\nret a"), p("ld #proto\nret a"));
    assert_eq!(p("ld #vlan_pr\nret a"), p("ld #vlan_avail\nret a"));
    // Comments of all three kinds.
    assert_eq!(
        p("# header\nret #1 ; trailing\n/* block\n comment */"),
        p("ret #1")
    );
    // Jump forms.
    let j = p("jeq #1, aa, bb\naa: ret #1\nbb: ret #2");
    assert_eq!((j[0].jt, j[0].jf), (0, 1));
    let j = p("jeq #1, bb\naa: ret #1\nbb: ret #2");
    assert_eq!((j[0].jt, j[0].jf), (1, 0));
    let j = p("jneq #1, bb\naa: ret #1\nbb: ret #2");
    assert_eq!(
        (j[0].code, j[0].jt, j[0].jf),
        (op::JMP | op::JEQ | op::K, 0, 1)
    );
    let j = p("jlt x, bb\naa: ret #1\nbb: ret #2");
    assert_eq!((j[0].code, j[0].jf), (op::JMP | op::JGE | op::X, 1));
    let j = p("jle #3, bb\naa: ret #1\nbb: ret #2");
    assert_eq!((j[0].code, j[0].jf), (op::JMP | op::JGT | op::K, 1));
    assert_eq!(p("jmp end\nret #1\nend: ret #2")[0].k, 1);
    assert_eq!(p("ret x")[0].code, op::RET | op::X);
    assert_eq!(
        p(".insn 0x1234, 1, 2, 0xffffffff")[0],
        Insn {
            code: 0x1234,
            jt: 1,
            jf: 2,
            k: u32::MAX
        }
    );
}

fn error_at(result: Result<Program, parse::ParseError>) -> (Location, String) {
    let e = result.expect_err("should fail");
    let text = e.to_string();
    (e.location, text)
}

#[test]
fn malformed_input_gives_located_errors() {
    let line = |l, c| Location::Line { line: l, column: c };
    let cases: Vec<(Result<Program, parse::ParseError>, Location, &str)> = vec![
        (
            parse_ddd("2\n6 0 0 0\n"),
            line(1, 1),
            "count says 2 instructions but 1 follow",
        ),
        (
            parse_ddd("1\n6 0 0 0\n6 0 0 0\n"),
            line(1, 1),
            "count says 1 instructions but 2 follow",
        ),
        (parse_ddd("1\n6 0 0\n"), line(2, 1), "expected 4 fields"),
        (
            parse_ddd("1\n6 0 x 0\n"),
            line(2, 5),
            "jf: `x` is not a decimal number",
        ),
        (
            parse_ddd("1\n6 256 0 0\n"),
            line(2, 3),
            "jt: 256 is larger than 255",
        ),
        (
            parse_ddd("1\n65536 0 0 0\n"),
            line(2, 1),
            "code: 65536 is larger than 65535",
        ),
        (
            parse_ddd("1\n6 0 0 4294967296\n"),
            line(2, 7),
            "k: 4294967296 is larger than 4294967295",
        ),
        (
            parse_ddd("1 2\n"),
            line(1, 3),
            "first line must hold only the instruction count",
        ),
        (parse::parse_comma("2,6 0 0 0"), line(1, 1), "count says 2"),
        (
            parse::parse_comma("1,6 0 0"),
            line(1, 3),
            "expected 4 fields",
        ),
        (
            parse::parse_comma("2,6 0 0 0,,6 0 0 0"),
            line(1, 11),
            "empty instruction",
        ),
        (
            parse_dd("{ 0x6, 0, 0, 0x0 },\n{ 0x6, 0, 0 },"),
            line(2, 1),
            "expected 4 comma-separated fields",
        ),
        (parse_dd("{ 0x6, 0, 0, 0x0 "), line(1, 17), "missing `}`"),
        (
            parse_dd("{ 0xg, 0, 0, 0 },"),
            line(1, 3),
            "code: `0xg` is not a number",
        ),
        (
            parse_dd("ret"),
            line(1, 1),
            "expected `{ code, jt, jf, k },`",
        ),
        (
            parse_asm("ld #1\nfoo #2"),
            line(2, 1),
            "unknown mnemonic `foo`",
        ),
        (
            parse_asm("ja nowhere\nret #0"),
            line(1, 4),
            "undefined label `nowhere`",
        ),
        (
            parse_asm("ld [12\nret a"),
            line(2, 1),
            "expected `]`, found `ret`",
        ),
        (
            parse_asm("ld #0x1ffffffff\nret a"),
            line(1, 5),
            "does not fit in 32 bits",
        ),
        (
            parse_asm("ld #12ab\nret a"),
            line(1, 5),
            "bad number `12ab`",
        ),
        (parse_asm("ret @"), line(1, 5), "unknown character `@`"),
        (
            parse_asm("ret #1 /* open"),
            line(1, 8),
            "unterminated /* comment",
        ),
        (
            parse_asm("aa: ret #1\naa: ret #2"),
            line(2, 1),
            "label `aa` is defined twice",
        ),
        (parse_asm("ret: ret #1"), line(1, 1), "reserved word"),
        (parse_asm("b: ret #1"), line(1, 1), "too short"),
        (
            parse_asm("ldx 3*([14]&0xf)\nret a"),
            line(1, 5),
            "only 4*([k]&0xf)",
        ),
        (
            parse_asm("ja end\nret #0\nend:"),
            line(1, 4),
            "not followed by an instruction",
        ),
        (
            parse_asm("jeq #1, far\nret #0\n".to_string().as_str()),
            line(1, 9),
            "undefined label",
        ),
        (
            parse_asm("ld"),
            line(1, 3),
            "expected `[`, found end of input",
        ),
        (
            parse_raw(&[6, 0, 0, 0, 0, 0, 0, 0, 6, 0]),
            Location::Byte(8),
            "truncated record: 2 bytes left over",
        ),
        (parse(b"   \n"), line(1, 1), "empty input"),
        (
            parse(&[0xff, 0xfe, 0, 0, 0, 0, 0]),
            Location::Byte(0),
            "truncated record",
        ),
    ];
    for (result, want_at, want_msg) in cases {
        let (at, text) = error_at(result);
        assert!(text.contains(want_msg), "`{text}` lacks `{want_msg}`");
        assert_eq!(at, want_at, "{text}");
    }
    // The label reference check is made at its use site; offset out of range.
    let mut far = String::from("jeq #1, end\n");
    far.push_str(&"ld #0\n".repeat(300));
    far.push_str("end: ret #0\n");
    let (at, text) = error_at(parse_asm(&far));
    assert!(text.contains("out of range (0 to 255 forward)"), "{text}");
    assert_eq!(at, line(1, 9));
}

#[test]
fn garbage_never_panics() {
    let mut r = Rng::new(9);
    let alphabet = b"0123456789abcdefx#[]()+*&%,:;{}-. \n\tMldjretaxqz";
    for _ in 0..20000 {
        let len = r.below(60) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| *r.pick(alphabet)).collect();
        let _ = parse(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_asm(&text);
        let _ = parse_ddd(&text);
        let _ = parse_dd(&text);
        let _ = parse::parse_comma(&text);
        let raw: Vec<u8> = (0..len).map(|_| r.next_u32() as u8).collect();
        let _ = parse(&raw);
    }
}

#[test]
fn disasm_matches_libpcap_layout() {
    let prog = parse_asm(
        "ldh [12]\njeq #0x800, aa, bb\naa: ldb #proto\nld [x + -4]\nldxb 4*([14]&0xf)\nld #len\nldx #len\n\
         ld M[1]\nst M[2]\nadd #-1\nand #0xff\nneg\nja bb\nbb: ret #-1\nret a\n.insn 0x65, 0, 0, 0\n.insn 0xff, 0, 0, 0",
    )
    .expect("parses");
    let want = "(000) ldh      [12]\n\
(001) jeq      #0x800           jt 2\tjf 13\n\
(002) ldb      [proto]\n\
(003) ld       [x + -4]\n\
(004) ldxb     4*([14]&0xf)\n\
(005) ld       #pktlen\n\
(006) ldx      #pktlen\n\
(007) ld       M[1]\n\
(008) st       M[2]\n\
(009) add      #-1\n\
(010) and      #0xff\n\
(011) neg      \n\
(012) ja       13\n\
(013) ret      #-1\n\
(014) ret      \n\
(015) unimp    0x65             jt 16\tjf 16\n\
(016) unimp    0xff\n";
    assert_eq!(print::disasm(&prog), want);
}

/// Compares our `-d` with tcpdump's own for programs tcpdump compiles.
#[test]
fn disasm_matches_tcpdump() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let exprs = [
        "ip and udp",
        "tcp port 80",
        "ip6 and tcp",
        "tcp[13] & 2 != 0",
        "ip6 and ip6[53] & 2 != 0",
        "arp or (ip and src net 10.0.0.0/8)",
        "udp and ip[6:2] & 0x1fff = 0",
        "vlan and ip",
        "ether[0] & 1 = 1 and len > 100",
        "icmp[icmptype] == icmp-echo",
        "ip[2:2] * 4 / 2 - 1 > 20 or ip[0] % 3 = 1",
        "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    ];
    for expr in exprs {
        let run = |flag: &str| {
            Command::new("tcpdump")
                .args(["-y", "EN10MB", flag, expr])
                .output()
        };
        let (ddd, d) = match (run("-ddd"), run("-d")) {
            (Ok(a), Ok(b)) if a.status.success() && b.status.success() => (a.stdout, b.stdout),
            other => {
                if ci {
                    panic!("tcpdump unavailable under CI=true: {other:?}");
                }
                eprintln!(
                    "skipping tcpdump comparison: tcpdump not usable ({:?})",
                    other.0.err()
                );
                return;
            }
        };
        let prog = parse(&ddd).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(print::disasm(&prog), String::from_utf8_lossy(&d), "{expr}");
        assert_eq!(print::ddd(&prog), String::from_utf8_lossy(&ddd), "{expr}");
        let dd = run("-dd").expect("tcpdump -dd");
        assert_eq!(
            print::dd(&prog),
            String::from_utf8_lossy(&dd.stdout),
            "{expr}"
        );
    }
}
