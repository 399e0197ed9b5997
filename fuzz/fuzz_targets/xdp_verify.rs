//! cargo-fuzz entry for [`cranebpf_fuzz::xdp_verify`] (the body is shared
//! with the main test suite's replay of seeds and findings).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cranebpf_fuzz::xdp_verify(data));
