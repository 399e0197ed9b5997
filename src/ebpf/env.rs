//! What a run reaches outside the program: helper calls and the legacy
//! packet loads at negative offsets. Both engines (interpreter and JIT) go
//! through this one trait, so an embedding (plain eBPF, translated classic
//! filters) defines these services once for both.

use super::helpers::Helpers;
use super::semantics;

/// The result of a helper call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelperOutcome {
    /// The helper returned this value.
    Return(u64),
    /// The helper asked to stop the program with r0 = 0.
    Unwind,
    /// No helper has this id.
    Unknown,
    /// A pointer argument named bytes outside the run's memory: the run
    /// ends with [`crate::ebpf::ExecError::OutOfBounds`] at the call.
    OutOfBounds {
        /// First byte the helper would have touched.
        addr: u64,
        /// How many.
        size: usize,
        /// True when it would have written them.
        write: bool,
    },
}

/// The memory a helper may read and write during a call: the run's input
/// memory and its stack, found by address as the program holds them.
pub struct HelperMemory<'a> {
    mem: &'a mut [u8],
    stack: &'a mut [u8],
    packet: Option<&'a [u8]>,
}

impl<'a> HelperMemory<'a> {
    /// The input memory `mem`, the stack, and the packet the legacy loads
    /// read when that is not `mem`.
    pub fn new(mem: &'a mut [u8], stack: &'a mut [u8], packet: Option<&'a [u8]>) -> Self {
        HelperMemory { mem, stack, packet }
    }

    /// The `len` bytes at address `addr`, if they lie wholly in the input
    /// memory or the stack.
    pub fn bytes(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let end = addr.checked_add(len as u64)?;
        for region in [&mut *self.mem, &mut *self.stack] {
            let lo = region.as_ptr() as u64;
            if addr >= lo && end <= lo + region.len() as u64 {
                let at = (addr - lo) as usize;
                return region.get_mut(at..at + len);
            }
        }
        None
    }

    /// The input memory, and its address.
    pub fn mem(&mut self) -> (&mut [u8], u64) {
        let at = self.mem.as_ptr() as u64;
        (self.mem, at)
    }

    /// What the legacy packet loads of this run read.
    pub fn packet(&self) -> &[u8] {
        self.packet.unwrap_or(self.mem)
    }
}

/// Services a running program calls back into.
pub trait Environment {
    /// Runs helper `id` with r1–r5; `packet` is what the legacy packet
    /// loads of this run read.
    fn call_helper(&self, id: u64, args: [u64; 5], packet: &[u8]) -> HelperOutcome;
    /// Runs helper `id` with access to the run's memory (helpers taking
    /// pointers: map operations, packet adjustments). By default, the
    /// plain [`Environment::call_helper`].
    fn call_helper_in(
        &self,
        id: u64,
        args: [u64; 5],
        memory: &mut HelperMemory<'_>,
    ) -> HelperOutcome {
        self.call_helper(id, args, memory.packet())
    }
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
