//! What a run reaches outside the program: helper calls and the legacy
//! packet loads at negative offsets. Both engines (interpreter and JIT) go
//! through this one trait, so an embedding (plain eBPF, translated classic
//! filters) defines these services once for both.

use super::helpers::Helpers;
use super::semantics;

/// The result of a helper call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperOutcome {
    /// The helper returned this value.
    Return(u64),
    /// The helper asked to stop the program with r0 = 0.
    Unwind,
    /// No helper has this id.
    Unknown,
}

/// Services a running program calls back into.
pub trait Environment {
    /// Runs helper `id` with r1–r5; `packet` is what the legacy packet
    /// loads of this run read.
    fn call_helper(&self, id: u64, args: [u64; 5], packet: &[u8]) -> HelperOutcome;
    /// Reads `size` (1, 2 or 4) bytes big-endian at a negative packet
    /// offset; `None` ends the program with 0.
    fn negative_load(&self, packet: &[u8], offset: i64, size: usize) -> Option<u32>;
}

/// The environment of a plain eBPF run: registered helpers, and Linux's
/// `SKF_NET_OFF` area at the start of the input memory.
pub struct HelpersEnv<'a>(pub &'a Helpers);

impl Environment for HelpersEnv<'_> {
    fn call_helper(&self, id: u64, args: [u64; 5], _packet: &[u8]) -> HelperOutcome {
        match self.0.get_by_value(id) {
            None => HelperOutcome::Unknown,
            Some(h) => {
                let v = (h.func)(args[0], args[1], args[2], args[3], args[4]);
                if h.unwind_on_zero && v == 0 {
                    HelperOutcome::Unwind
                } else {
                    HelperOutcome::Return(v)
                }
            }
        }
    }

    fn negative_load(&self, packet: &[u8], offset: i64, size: usize) -> Option<u32> {
        let offset = i32::try_from(offset).ok()?;
        semantics::ld_packet(packet, offset, size).map(|v| v as u32)
    }
}
