//! cargo-fuzz entry for [`cranebpf_fuzz::expr_compile`] (the body is shared with
//! the main test suite's replay of seeds and findings).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cranebpf_fuzz::expr_compile(data));
