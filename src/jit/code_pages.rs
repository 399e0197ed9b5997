//! Read-execute mappings for single-function programs, and their reuse.
//!
//! A fresh mapping per program cost a short filter's compile a fifth of its
//! time: `mmap`, a page fault on the first write, `mprotect`, and `munmap`
//! when the filter is dropped. Freed one-page mappings are therefore kept
//! (a few dozen, process-wide) and handed to the next program: made
//! writable, filled, made read-execute again. A page is never writable and
//! executable at once, and is only rewritten once the program that owned it
//! is gone (nothing can be running it: running borrows the program).
//!
//! Each mapping is followed by one inaccessible guard page of its own, so
//! neighbouring code mappings never merge into one kernel VMA: changing a
//! lone VMA's protection is a flag change, where a page inside a merged
//! run is split out and merged back (3.8 µs per write-execute round trip
//! against 2.0 µs, measured on this VM, out of a short filter's ~40 µs).

use std::sync::Mutex;

use super::JitError;

/// How many freed one-page mappings are kept for reuse.
const KEPT_PAGES: usize = 64;

/// Freed one-page mappings (their addresses), owned by nobody; each is
/// made writable before it is filled again.
static FREE_PAGES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf only reads a system constant.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|&s| s > 0)
            .unwrap_or(4096)
    })
}

fn os_error(what: &str) -> JitError {
    JitError::Target(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// One read-execute mapping holding a program's code; unmapped or kept for
/// reuse on drop.
pub(crate) struct CodePages {
    addr: *mut libc::c_void,
    /// Bytes of code pages (the guard page after them is not counted).
    len: usize,
}

impl CodePages {
    /// Copies position-independent code into a mapping (a reused page when
    /// it fits in one) and makes it read-execute.
    pub(crate) fn new(bytes: &[u8]) -> Result<CodePages, JitError> {
        let page = page_size();
        let len = bytes.len().max(1).div_ceil(page) * page;
        let reused = if len == page {
            FREE_PAGES.lock().ok().and_then(|mut free| free.pop())
        } else {
            None
        };
        let pages = match reused {
            Some(addr) => {
                let pages = CodePages {
                    addr: addr as *mut libc::c_void,
                    len,
                };
                // SAFETY: a mapping of `len` bytes that nothing owns or runs
                // (it was given back by a dropped program); made writable
                // (no longer executable) to be refilled. On failure `pages`
                // is dropped, which unmaps or keeps it.
                if unsafe { libc::mprotect(pages.addr, len, libc::PROT_READ | libc::PROT_WRITE) }
                    != 0
                {
                    return Err(os_error("mprotect"));
                }
                pages
            }
            None => {
                // SAFETY: a new private anonymous mapping of the code pages
                // and the guard page; the result is checked.
                let addr = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len + page,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                if addr == libc::MAP_FAILED {
                    return Err(os_error("mmap"));
                }
                let pages = CodePages { addr, len };
                // SAFETY: the last page of the mapping just made, which
                // nothing refers to, made inaccessible (the guard). On
                // failure `pages` is dropped, which unmaps it all.
                let guard = unsafe { pages.addr.cast::<u8>().add(len) };
                if unsafe { libc::mprotect(guard.cast(), page, libc::PROT_NONE) } != 0 {
                    return Err(os_error("mprotect"));
                }
                pages
            }
        };
        // SAFETY: the mapping is `len >= bytes.len()` writable bytes that
        // nothing else refers to. x86-64 keeps instruction fetches coherent
        // with these stores, so no cache flush is needed before running it;
        // the rest of a reused page keeps an older program's bytes, which
        // nothing jumps to.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), pages.addr.cast::<u8>(), bytes.len())
        };
        // SAFETY: the same mapping, made read-execute (not writable again
        // until it is given back and reused).
        if unsafe { libc::mprotect(pages.addr, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(os_error("mprotect"));
        }
        Ok(pages)
    }

    /// The code's first byte.
    pub(crate) fn entry(&self) -> *const u8 {
        self.addr as *const u8
    }
}

impl Drop for CodePages {
    fn drop(&mut self) {
        if self.len == page_size() {
            if let Ok(mut free) = FREE_PAGES.lock() {
                if free.len() < KEPT_PAGES {
                    free.push(self.addr as usize);
                    return;
                }
            }
        }
        // SAFETY: the mapping (code pages and guard page) was made by
        // `CodePages::new` with this length and is owned by `self` alone;
        // nothing can be running it (running borrows the program that owns
        // `self`, which is being dropped).
        unsafe { libc::munmap(self.addr, self.len + page_size()) };
    }
}
