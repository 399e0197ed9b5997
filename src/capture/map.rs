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
    /// Maps the file at `path`. With `populate`, the kernel fills the page
    /// tables at once (one system call instead of a fault per 64 KiB);
    /// without, callers may populate ranges with [`Mapped::populate`],
    /// e.g. each thread its own part.
    pub fn open(path: &Path, populate: bool) -> io::Result<Mapped> {
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
                libc::MAP_PRIVATE | if populate { libc::MAP_POPULATE } else { 0 },
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

    /// Fills the page tables for bytes `start..end` (a hint: errors, such
    /// as a kernel older than 5.14, are ignored and pages fault in).
    pub fn populate(&self, start: usize, end: usize) {
        let page = 4096;
        let start = start / page * page;
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        // SAFETY: the range lies inside our live read-only mapping;
        // MADV_POPULATE_READ only faults pages in.
        unsafe {
            libc::madvise(
                self.ptr.add(start) as *mut libc::c_void,
                end - start,
                libc::MADV_POPULATE_READ,
            );
        }
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
