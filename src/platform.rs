//! Operating-system specifics in one place, each with a portable fallback,
//! so that the library builds and runs off Linux (the JIT on x86-64 and
//! aarch64, the interpreters everywhere); only speed differs.

use std::fs::File;

/// Reserves `len` bytes of disk from `offset` without changing the file's
/// size; false if the file system cannot (or has no room), and always
/// false where there is no `fallocate` (the writes then allocate as they
/// go).
pub(crate) fn preallocate(file: &File, offset: u64, len: u64) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{fallocate, FallocateFlags};
        fallocate(file, FallocateFlags::KEEP_SIZE, offset, len).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
        false
    }
}

/// Tells the kernel a mapping will be read front to back (read-ahead);
/// nothing where there is no `madvise`.
pub(crate) fn advise_sequential(map: &memmap2::Mmap) {
    #[cfg(unix)]
    {
        // Advice only: a refusal changes speed, not results.
        let _ = map.advise(memmap2::Advice::Sequential);
    }
    #[cfg(not(unix))]
    {
        let _ = map;
    }
}
