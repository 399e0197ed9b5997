//! Helper functions callable by number from eBPF (`call N`, `callx`).

use std::collections::{BTreeMap, BTreeSet};

/// A helper: five arguments (r1–r5) in, r0 out. A plain function pointer so
/// JIT code can reach it through an `extern "C"` trampoline.
pub type HelperFn = fn(u64, u64, u64, u64, u64) -> u64;

/// One registered helper.
#[derive(Clone, Copy, Debug)]
pub struct Helper {
    /// The function.
    pub func: HelperFn,
    /// When true, a return value of 0 stops the whole program with r0 = 0
    /// (uBPF's "unwind" extension, used by the conformance suite).
    pub unwind_on_zero: bool,
}

/// Registry of helpers by number.
#[derive(Clone, Debug, Default)]
pub struct Helpers {
    by_id: BTreeMap<u32, Helper>,
    /// Ids the run's environment serves itself
    /// ([`crate::ebpf::Environment::call_helper_in`]).
    served: BTreeSet<u32>,
}

impl Helpers {
    /// An empty registry.
    pub fn new() -> Helpers {
        Helpers::default()
    }

    /// Registers (or replaces) helper `id`.
    pub fn register(&mut self, id: u32, func: HelperFn, unwind_on_zero: bool) -> &mut Helpers {
        self.by_id.insert(
            id,
            Helper {
                func,
                unwind_on_zero,
            },
        );
        self
    }

    /// The helper registered as `id`, if any.
    pub fn get(&self, id: u32) -> Option<&Helper> {
        self.by_id.get(&id)
    }

    /// The helper a `callx` register value names, if registered (values
    /// above `u32::MAX` name nothing).
    pub fn get_by_value(&self, value: u64) -> Option<&Helper> {
        u32::try_from(value).ok().and_then(|id| self.get(id))
    }

    /// Declares that the run's environment serves helper `id` (the
    /// kernel helpers of [`crate::ebpf::runtime`]): the verifier accepts
    /// calls to it, and no function is registered here.
    pub fn declare(&mut self, id: u32) -> &mut Helpers {
        self.served.insert(id);
        self
    }

    /// True when `id` is registered or declared.
    pub fn contains(&self, id: u32) -> bool {
        self.by_id.contains_key(&id) || self.served.contains(&id)
    }

    /// Registered ids in increasing order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_id.keys().copied()
    }

    /// The registry the conformance suite needs: helper 5, "unwind", which
    /// returns its first argument and stops the program when that is 0.
    pub fn conformance() -> Helpers {
        let mut h = Helpers::new();
        h.register(5, unwind, true);
        h
    }
}

/// The suite's helper 5: returns its first argument.
fn unwind(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    a
}
