//! cranebpf measured against its peers: the shared workload (packet mix,
//! filters, hand-written twins) and the peers' interfaces, used by the
//! criterion benches in `benches/` and checked by this crate's tests.
//! A separate workspace member, so that criterion and the peers stay out
//! of cranebpf's own build (`cargo bench -p cranebpf-bench`).

pub mod libbpf;
pub mod native;
pub mod peers;
pub mod workload;
