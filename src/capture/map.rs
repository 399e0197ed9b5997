//! A read-only memory map of a whole file.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A file mapped read-only into memory, viewed as a byte slice.
pub struct Mapped {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value; sharing the
// pointer between threads only allows concurrent reads.
unsafe impl Send for Mapped {}
// SAFETY: as above, nothing ever writes through the pointer.
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Maps the file at `path`.
    ///
    /// Pages are left to fault in as they are read: measured on Linux 6.18
    /// with a cached 1 GB capture, a fault maps some 40 pages at once (the
    /// page cache holds large folios), which costs less than `MAP_POPULATE`
    /// or `MADV_POPULATE_READ` walking all 262,144 pages up front
    /// (0.12 s against 0.135 s for one thread, 0.067 s against 0.095 s for
    /// two).
    pub fn open(path: &Path) -> io::Result<Mapped> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::other("file too large to map"))?;
        if len == 0 {
            return Ok(Mapped {
                ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(),
                len: 0,
            });
        }
        // SAFETY: a fresh private read-only mapping of an open descriptor;
        // the kernel checks the arguments and we check the result. The
        // mapping outlives the descriptor, which we may close after.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: advising on our own live mapping; failure is harmless.
        unsafe {
            libc::madvise(ptr, len, libc::MADV_SEQUENTIAL);
        }
        Ok(Mapped {
            ptr: ptr as *const u8,
            len,
        })
    }

    /// The mapped bytes.
    ///
    /// Like every reader of a mapped file, this assumes no other process
    /// truncates or rewrites the file while it is mapped.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes (or a
        // dangling, aligned pointer with `len` 0), unmapped only in drop.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping the mapping created in `open`; no slice
            // borrowed from `bytes` can outlive `self`.
            unsafe {
                libc::munmap(self.ptr as *mut libc::c_void, self.len);
            }
        }
    }
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapped({} bytes)", self.len)
    }
}
