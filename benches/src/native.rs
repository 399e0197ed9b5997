//! Native Rust twins of the bpf-benchmark (2024) programs: the same
//! computation on the same memory, compiled by rustc, as the floor the
//! JIT is measured against (`benches/benches/bpf_benchmark.rs`). Each
//! returns what the eBPF program returns (checked before timing).

/// The twin of the program named `name`, if there is one.
pub fn twin(name: &str) -> Option<fn(&mut [u8]) -> u64> {
    Some(match name {
        "simple" => simple,
        "memory_a_plus_b" => memory_a_plus_b,
        "log2_int" => log2_int,
        "prime" => prime,
        "switch" => switch,
        "memcpy" => memcpy,
        "strcmp_full" | "strcmp_fail" => strcmp,
        _ => return None,
    })
}

fn u64_at(mem: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&mem[i * 8..i * 8 + 8]);
    u64::from_le_bytes(b)
}

fn i32_at(mem: &[u8], i: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&mem[i * 4..i * 4 + 4]);
    i32::from_le_bytes(b)
}

fn simple(_: &mut [u8]) -> u64 {
    12_345_678
}

fn memory_a_plus_b(mem: &mut [u8]) -> u64 {
    u64_at(mem, 0).wrapping_add(u64_at(mem, 1))
}

/// floor(log2(v)) by the program's branch-free halving steps (0 for 0).
fn log2_u32(mut v: u32) -> u64 {
    let mut r = u32::from(v > 0xFFFF) << 4;
    v >>= r;
    let mut shift = u32::from(v > 0xFF) << 3;
    v >>= shift;
    r |= shift;
    shift = u32::from(v > 0xF) << 2;
    v >>= shift;
    r |= shift;
    shift = u32::from(v > 0x3) << 1;
    v >>= shift;
    r |= shift;
    u64::from(r | (v >> 1))
}

fn log2_int(mem: &mut [u8]) -> u64 {
    let n = u64_at(mem, 0);
    let mut hash = 0;
    for i in 1..=n as usize {
        let v = u64_at(mem, i);
        let hi = (v >> 32) as u32;
        hash ^= if hi != 0 {
            log2_u32(hi) + 32
        } else {
            log2_u32(v as u32)
        };
    }
    hash
}

fn prime(_: &mut [u8]) -> u64 {
    let mut count = 0u64;
    for i in 1..10_000i32 {
        let mut ok = 1;
        let mut j = 2;
        while j * j <= i && ok == 1 {
            if i % j == 0 {
                ok = 0;
            }
            j += 1;
        }
        count += ok;
    }
    count
}

/// The program's randomly generated case → value mapping.
const SWITCH_VALUES: [i32; 64] = [
    56, 43, 57, 28, 14, 61, 10, 58, 2, 63, 49, 36, 19, 42, 37, 46, 34, 62, 47, 6, 29, 21, 15, 40,
    38, 26, 17, 41, 33, 31, 23, 52, 25, 39, 11, 27, 53, 4, 24, 48, 32, 50, 7, 35, 8, 44, 51, 59,
    45, 0, 9, 3, 13, 20, 30, 18, 1, 54, 22, 16, 60, 5, 12, 55,
];

fn switch(mem: &mut [u8]) -> u64 {
    let n = i32_at(mem, 0);
    let mut hash = 0i32;
    for i in 1..=n.max(0) as usize {
        let v = i32_at(mem, i);
        hash ^= usize::try_from(v)
            .ok()
            .and_then(|v| SWITCH_VALUES.get(v).copied())
            .unwrap_or(114_514);
    }
    hash as i64 as u64
}

fn memcpy(mem: &mut [u8]) -> u64 {
    let (p1, p2) = mem.split_at_mut(1 << 20);
    p2[..1 << 20].copy_from_slice(p1);
    0
}

fn strcmp(mem: &mut [u8]) -> u64 {
    let (p1, p2) = mem.split_at(1 << 20);
    let mut i = 0;
    while p1[i] != 0 && p1[i] == p2[i] {
        i += 1;
    }
    (p1[i] as i8 as i64).wrapping_sub(p2[i] as i8 as i64) as u64
}
