//! cargo-fuzz entry for [`cranebpf_fuzz::elf_load`] (the body is shared with
//! the main test suite's replay of seeds and findings).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cranebpf_fuzz::elf_load(data));
