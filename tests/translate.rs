//! The classic → eBPF translation: layout as the kernel converts it, and
//! every translation of a checked program passes the eBPF verifier.

use cranebpf::cbpf::parse::parse_asm;
use cranebpf::ebpf::{self, Helpers};
use cranebpf::translate::{runtime_call, translate};
use cranebpf::{EbpfProgram, Filter};
use cranebpf_harness::gen;
use cranebpf_harness::Rng;

fn disasm(src: &str) -> String {
    let prog = parse_asm(src).expect("assembles");
    ebpf::disasm::disassemble(&translate(&prog).expect("translates"))
}

#[test]
fn registers_and_scratch_follow_the_kernel() {
    // A = r0, X = r7, ctx = r6, M[k] at r10 - (4k + 4); A and X start at 0.
    let out = disasm("ldi #5\nst M[3]\nldx M[3]\ntxa\nret a\n");
    assert_eq!(
        out,
        "mov32 %r0, 0\nmov32 %r7, 0\nmov %r6, %r1\nmov32 %r0, 5\n\
         stxw [%r10-16], %r0\nldxw %r7, [%r10-16]\nmov %r0, %r7\nexit\n"
    );
}

#[test]
fn jumps_map_as_the_kernel_maps_them() {
    // jf = 0: one conditional jump; jt = 0: the inverted jump; both set:
    // a jump and a `ja`; k with the top bit set is compared from a register.
    let out = disasm(
        "ldh [12]\njeq #0x800, a1, a2\na1: jgt #0x80000000, a3, a4\n\
         a2: ret #1\na3: ret #2\na4: ret #3\n",
    );
    assert_eq!(
        out,
        "mov32 %r0, 0\nmov32 %r7, 0\nmov %r6, %r1\nldabsh 12\njne %r0, 2048, +3\n\
         mov32 %r2, 0x80000000\njgt %r0, %r2, +3\nja +4\nmov32 %r0, 1\nexit\n\
         mov32 %r0, 2\nexit\nmov32 %r0, 3\nexit\n"
    );
}

#[test]
fn division_by_x_guards_zero() {
    let out = disasm("ldx #0\nldi #7\ndiv x\nret a\n");
    assert!(
        out.contains("mov32 %r7, %r7\njne %r7, 0, +2\nmov32 %r0, 0\nexit\ndiv32 %r0, %r7\n"),
        "{out}"
    );
}

#[test]
fn every_translation_verifies() {
    let mut helpers = Helpers::new();
    fn unused(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
        0
    }
    for id in [
        runtime_call::RANDOM,
        runtime_call::NLATTR,
        runtime_call::NLATTR_NEST,
    ] {
        helpers.register(id, unused, false);
    }
    let mut rng = Rng::new(7);
    for _ in 0..3000 {
        let prog = gen::classic::program(&mut rng, 60);
        let t = translate(&prog).expect("checked programs translate");
        if let Err(e) = ebpf::verify::verify_with(&t, &helpers, None) {
            panic!(
                "{e}\n{}\n{}",
                cranebpf::cbpf::print::asm(&prog),
                ebpf::disasm::disassemble(&t)
            );
        }
    }
}

#[test]
fn refused_programs_do_not_translate() {
    let prog = parse_asm("ldi #1\ndiv #0\nret a\n").expect("assembles");
    let err = translate(&prog).expect_err("division by constant zero");
    assert!(err.to_string().contains("instruction 1"), "{err}");
    assert!(Filter::new(prog).is_err());
}

#[test]
fn compiled_programs_are_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Filter>();
    shareable::<EbpfProgram>();
}
