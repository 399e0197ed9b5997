//! Read-execute mappings for single-function programs, and their reuse.
//!
//! On Linux, code of up to 2 KiB (every short filter) goes
//! into a slot of a shared arena instead, with no system call at all: the
//! arena is one memory file mapped twice, once read-write (where code is
//! copied in) and once read-execute (where it runs), as the kernel packs
//! its own BPF programs into shared executable pages. Changing a page's
//! protection costs two `mprotect` calls per program, about 2 µs: a third
//! of an accept-all filter's whole build. No address is ever writable and
//! executable at once; the writable view is known only to this module. A
//! slot is refilled only once the program that owned it is gone; where the
//! memory file cannot be made or mapped executable (`vm.memfd_noexec`, a
//! security policy) the page mappings below are used. A shared mapping
//! stays shared across `fork`, where parent and child may each still run a
//! program in it: after a fork neither writes to the chunks that existed
//! before it again (their free slots are forgotten; each carves new ones).
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

/// One read-execute mapping holding a program's code, or an arena slot;
/// unmapped or kept for reuse on drop.
pub(crate) struct CodePages {
    /// The code's first byte (read-execute).
    addr: *mut libc::c_void,
    /// Bytes of code pages (the guard page after them is not counted); 0
    /// for an arena slot.
    len: usize,
    /// The arena slot holding the code, when it is in one.
    slot: Option<arena::Slot>,
}

impl CodePages {
    /// Copies position-independent code into an arena slot, or a mapping
    /// (a reused page when it fits in one) made read-execute.
    pub(crate) fn new(bytes: &[u8]) -> Result<CodePages, JitError> {
        if let Some(slot) = arena::place(bytes) {
            return Ok(CodePages {
                addr: slot.entry() as *mut libc::c_void,
                len: 0,
                slot: Some(slot),
            });
        }
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
                    slot: None,
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
                let pages = CodePages {
                    addr,
                    len,
                    slot: None,
                };
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
        if let Some(slot) = self.slot.take() {
            arena::give_back(slot);
            return;
        }
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

/// The doubly mapped arena (Linux): slots of 64 to `LARGEST_SLOT` bytes,
/// carved from 256 KiB chunks that are never unmapped, and kept per size
/// for reuse.
#[cfg(target_os = "linux")]
mod arena {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};

    /// Slot sizes: powers of two from 64 bytes (a cache line, so that no
    /// two programs' code shares one).
    const SMALLEST_SLOT: usize = 64;
    const LARGEST_SLOT: usize = 2048;
    const CLASSES: usize = (LARGEST_SLOT / SMALLEST_SLOT).trailing_zeros() as usize + 1;
    /// Bytes of one chunk of the memory file (both views).
    pub(super) const CHUNK: usize = 256 * 1024;

    /// A slot: the same bytes through both views.
    pub(crate) struct Slot {
        writable: usize,
        executable: usize,
        class: usize,
        /// [`FORKS`] when the slot was handed out.
        forks: u64,
    }

    /// Forks of this process (and of its ancestors, as far as their
    /// arenas go), counted before each: slots and chunks of an earlier
    /// count may be shared with another process.
    static FORKS: AtomicU64 = AtomicU64::new(0);

    /// Where the next chunk's executable view is asked for: below the
    /// previous one, starting 1 GiB below this crate's code, so that calls
    /// from the program into filters span less than 2 GiB. Far calls cost
    /// more on some processors: on this VM's AMD EPYC host a call into code
    /// at the kernel's default place (tens of terabytes above the program)
    /// cost 1.5–2 ns per packet above a loop inside native code, against
    /// 0.1–0.7 ns on an Intel host, and mapping the code here cut a packet
    /// through `Filter::run` from 3.4 to 2.5 ns on `ip and udp`. Asked for
    /// 1, 2, 4 or 8 GiB below, accept-all's runner was as fast as a call
    /// to a Rust function; 1 TiB below, 1.5× slower (2026-12-07). 0: no
    /// preference (the program's code lies too low to go below it);
    /// `usize::MAX`: no chunk yet. (Chunks are made under the arena's
    /// lock.)
    static NEXT_NEAR: AtomicUsize = AtomicUsize::new(usize::MAX);

    /// [`NEXT_NEAR`]'s first value: 1 GiB below this function's code,
    /// rounded down to a chunk, or 0.
    fn first_near() -> usize {
        let text = first_near as *const () as usize;
        text.checked_sub(1 << 30).map_or(0, |at| at & !(CHUNK - 1))
    }

    /// Asks for one chunk in all, the first at the spot wanted and each
    /// later one lower (see [`place_near`]).
    pub(super) const NEAR_TRIES: u32 = 12;

    /// Maps a chunk at `near` or, where that spot is taken (the kernel then
    /// puts it elsewhere: a hint, not `MAP_FIXED`), gives the mapping back
    /// and asks lower, stepping 1, 2, 4, … chunks down past whatever holds
    /// the spot (a shared library, say), [`NEAR_TRIES`] asks in all: about
    /// 1 GiB. After that it keeps where the kernel put the last ask.
    /// Returns the chunk and where to ask for the next one: below the
    /// chunk when it landed where asked, else below the last spot asked
    /// for, so one taken spot does not send every later chunk far away.
    /// `near` 0: no preference, one ask.
    pub(super) fn place_near(
        near: usize,
        mut map: impl FnMut(usize) -> Option<usize>,
        mut unmap: impl FnMut(usize),
    ) -> Option<(usize, usize)> {
        if near == 0 {
            return map(0).map(|x| (x, 0));
        }
        let mut ask = near;
        let mut step = CHUNK;
        let mut asks = 1;
        loop {
            let x = map(ask)?;
            if x == ask {
                return Some((x, x.saturating_sub(CHUNK)));
            }
            match ask.checked_sub(step).filter(|&lower| lower >= CHUNK) {
                Some(lower) if asks < NEAR_TRIES => {
                    unmap(x);
                    ask = lower;
                    step *= 2;
                    asks += 1;
                }
                _ => return Some((x, ask.saturating_sub(CHUNK))),
            }
        }
    }

    extern "C" fn count_fork() {
        FORKS.fetch_add(1, Ordering::SeqCst);
    }

    impl Slot {
        pub(super) fn entry(&self) -> *const u8 {
            self.executable as *const u8
        }
    }

    struct Arena {
        /// Given-back slots per size class.
        free: [Vec<Slot>; CLASSES],
        /// The chunk being carved: its views and the bytes used.
        carving: Option<(usize, usize, usize)>,
        /// The memory file could not be made or mapped executable: every
        /// program gets pages of its own.
        unavailable: bool,
        /// [`FORKS`] when `free` and `carving` were last valid.
        forks: u64,
    }

    static ARENA: Mutex<Arena> = Mutex::new(Arena {
        free: [const { Vec::new() }; CLASSES],
        carving: None,
        unavailable: false,
        forks: 0,
    });

    /// The size class holding `len` bytes, if a slot can.
    fn class_of(len: usize) -> Option<usize> {
        (len <= LARGEST_SLOT).then(|| {
            (len.max(SMALLEST_SLOT).next_power_of_two() / SMALLEST_SLOT).trailing_zeros() as usize
        })
    }

    /// Copies `bytes` into a slot; `None` when they are too long for one or
    /// the arena is unavailable.
    pub(super) fn place(bytes: &[u8]) -> Option<Slot> {
        let class = class_of(bytes.len())?;
        let mut arena = ARENA.lock().ok()?;
        let forks = FORKS.load(Ordering::SeqCst);
        if arena.forks != forks {
            // Another process may run code anywhere in the chunks so far.
            arena.free = [const { Vec::new() }; CLASSES];
            arena.carving = None;
            arena.forks = forks;
        }
        let slot = match arena.free[class].pop() {
            Some(slot) => slot,
            None => arena.carve(class)?,
        };
        drop(arena);
        // SAFETY: the slot's writable view is `SMALLEST_SLOT << class >=
        // bytes.len()` bytes that no program owns (fresh, or given back by
        // a dropped one, which nothing can still be running: running
        // borrows the program). x86-64 keeps instruction fetches coherent
        // with stores to the same physical memory, through any mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), slot.writable as *mut u8, bytes.len())
        };
        // The copy is complete before the code's address is handed out.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        Some(slot)
    }

    /// Keeps a dropped program's slot for the next program of its size.
    pub(super) fn give_back(slot: Slot) {
        if let Ok(mut arena) = ARENA.lock() {
            if slot.forks == arena.forks && slot.forks == FORKS.load(Ordering::SeqCst) {
                let class = slot.class;
                arena.free[class].push(slot);
            }
        }
    }

    impl Arena {
        /// A fresh slot of `class` from the chunk being carved, or from a
        /// new chunk.
        fn carve(&mut self, class: usize) -> Option<Slot> {
            if self.unavailable {
                return None;
            }
            let size = SMALLEST_SLOT << class;
            let (writable, executable, used) = match self.carving {
                Some((w, x, used)) if used + size <= CHUNK => (w, x, used),
                _ => match map_chunk() {
                    Some((w, x)) => (w, x, 0),
                    None => {
                        self.unavailable = true;
                        return None;
                    }
                },
            };
            // Each slot is aligned to its size.
            let at = used.next_multiple_of(size);
            if at + size > CHUNK {
                self.carving = None;
                return self.carve(class);
            }
            self.carving = Some((writable, executable, at + size));
            Some(Slot {
                writable: writable + at,
                executable: executable + at,
                class,
                forks: self.forks,
            })
        }
    }

    /// A new chunk of memory file, mapped read-write and read-execute:
    /// (writable view, executable view).
    fn map_chunk() -> Option<(usize, usize)> {
        static FORKS_WATCHED: OnceLock<bool> = OnceLock::new();
        // SAFETY: registers a handler that only increments an atomic, run
        // by `fork` in the forking thread before the process is copied.
        // Without it forks would go unseen: no arena.
        let watched = FORKS_WATCHED
            .get_or_init(|| unsafe { libc::pthread_atfork(Some(count_fork), None, None) } == 0);
        if !watched {
            return None;
        }
        let name = c"cranebpf-jit";
        // SAFETY: memfd_create with a NUL-terminated name; the result is
        // checked. `MFD_EXEC` asks for an executable file where
        // `vm.memfd_noexec` would otherwise seal it; kernels before 6.3 do
        // not know the flag (EINVAL) and make every memory file executable.
        let mut fd =
            unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_EXEC) };
        if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // SAFETY: as above, without the flag.
            fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        }
        if fd < 0 {
            return None;
        }
        let map = |prot, hint: usize| {
            // SAFETY: a new shared mapping of the memory file's `CHUNK`
            // bytes at an address the kernel picks (`hint` only where it is
            // free: no `MAP_FIXED`, so nothing already mapped is replaced);
            // the result is checked.
            let addr = unsafe {
                libc::mmap(
                    hint as *mut libc::c_void,
                    CHUNK,
                    prot,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            (addr != libc::MAP_FAILED).then_some(addr as usize)
        };
        // SAFETY: `fd` is the memory file just made; sizing it is checked.
        let sized = unsafe { libc::ftruncate(fd, CHUNK as libc::off_t) } == 0;
        let writable = sized
            .then(|| map(libc::PROT_READ | libc::PROT_WRITE, 0))
            .flatten();
        let executable = writable.and_then(|_| {
            let near = match NEXT_NEAR.load(Ordering::Relaxed) {
                usize::MAX => first_near(),
                at => at,
            };
            let (x, next) = place_near(
                near,
                |hint| map(libc::PROT_READ | libc::PROT_EXEC, hint),
                |elsewhere| {
                    // SAFETY: a mapping of the memory file made just now
                    // by `place_near`'s last ask, referred to by nothing.
                    unsafe { libc::munmap(elsewhere as *mut libc::c_void, CHUNK) };
                },
            )?;
            NEXT_NEAR.store(next, Ordering::Relaxed);
            Some(x)
        });
        // SAFETY: the mappings keep the file; the descriptor is no longer
        // needed.
        unsafe { libc::close(fd) };
        match (writable, executable) {
            (Some(w), Some(x)) => Some((w, x)),
            (Some(w), None) => {
                // SAFETY: the writable view just made, referred to by
                // nothing.
                unsafe { libc::munmap(w as *mut libc::c_void, CHUNK) };
                None
            }
            _ => None,
        }
    }
}

/// Elsewhere every program gets pages of its own.
#[cfg(not(target_os = "linux"))]
mod arena {
    /// Never made.
    pub(crate) enum Slot {}

    impl Slot {
        pub(super) fn entry(&self) -> *const u8 {
            match *self {}
        }
    }

    pub(super) fn place(_: &[u8]) -> Option<Slot> {
        None
    }

    pub(super) fn give_back(slot: Slot) {
        match slot {}
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// Short programs' code lies within 2 GiB of this crate's code (the
    /// range below it is free in a test process), so calls into it are
    /// near calls (see the arena's `NEXT_NEAR`).
    #[test]
    fn arena_code_lies_near_the_program() {
        let slot = super::arena::place(&[0xc3]).expect("the arena maps");
        let text = super::arena::place as *const () as usize;
        let distance = text.abs_diff(slot.entry() as usize);
        assert!(distance < 1 << 31, "{distance:#x} bytes away");
        super::arena::give_back(slot);
    }

    /// A mapper over a made-up address space: asks for a free spot land
    /// there, asks for a taken one land at `far`; it records what was
    /// asked for and given back.
    struct FakeKernel {
        taken: Vec<std::ops::Range<usize>>,
        asked: Vec<usize>,
        unmapped: Vec<usize>,
    }

    const FAR: usize = 0x7f00_0000_0000;

    impl FakeKernel {
        /// `taken`: the (start, end) of each taken region.
        fn new(taken: &[(usize, usize)]) -> Self {
            FakeKernel {
                taken: taken.iter().map(|&(start, end)| start..end).collect(),
                asked: Vec::new(),
                unmapped: Vec::new(),
            }
        }

        fn place(&mut self, near: usize) -> Option<(usize, usize)> {
            let taken = self.taken.clone();
            let asked = &mut self.asked;
            let unmapped = &mut self.unmapped;
            super::arena::place_near(
                near,
                |hint| {
                    asked.push(hint);
                    let free = hint != 0 && !taken.iter().any(|t| t.contains(&hint));
                    Some(if free { hint } else { FAR })
                },
                |x| unmapped.push(x),
            )
        }
    }

    const CHUNK: usize = super::arena::CHUNK;

    /// A free spot is used as asked, and the next ask is the chunk below.
    #[test]
    fn a_chunk_lands_where_asked_when_the_spot_is_free() {
        let mut kernel = FakeKernel::new(&[]);
        let near = 0x5500_0000_0000;
        assert_eq!(kernel.place(near), Some((near, near - CHUNK)));
        assert_eq!(kernel.asked, [near]);
        assert!(kernel.unmapped.is_empty());
    }

    /// A taken spot (a library, 6 chunks long) is stepped past, 1, 2, 4
    /// chunks down, the far mappings given back; the next ask goes below
    /// the chunk, not below the far place.
    #[test]
    fn a_taken_spot_is_stepped_past_not_followed_far() {
        let near = 0x5500_0000_0000;
        let mut kernel = FakeKernel::new(&[(near - 5 * CHUNK, near + CHUNK)]);
        let lands = near - 7 * CHUNK;
        assert_eq!(kernel.place(near), Some((lands, lands - CHUNK)));
        assert_eq!(kernel.asked, [near, near - CHUNK, near - 3 * CHUNK, lands]);
        assert_eq!(kernel.unmapped, [FAR, FAR, FAR]);
    }

    /// When every ask is taken the last far mapping is kept, and the next
    /// chunk is asked for below the last spot asked, not below the far
    /// place: one crowded region does not send every later chunk away.
    #[test]
    fn a_crowded_region_keeps_the_kernels_place_for_this_chunk_only() {
        let near = 0x5500_0000_0000;
        let mut kernel = FakeKernel::new(&[(0, near + 1)]);
        let (x, next) = kernel.place(near).expect("maps");
        assert_eq!(x, FAR);
        let last = *kernel.asked.last().expect("asked");
        assert_eq!(kernel.asked.len(), super::arena::NEAR_TRIES as usize);
        assert_eq!(
            last,
            near - ((1 << (super::arena::NEAR_TRIES - 1)) - 1) * CHUNK
        );
        assert_eq!(next, last - CHUNK);
        assert_eq!(kernel.unmapped.len(), kernel.asked.len() - 1);
    }

    /// Near the bottom of the address space it stops asking lower rather
    /// than wrap; with no preference (0) it asks once.
    #[test]
    fn asks_stop_at_the_bottom_and_no_preference_asks_once() {
        let mut kernel = FakeKernel::new(&[(0, 4 * CHUNK)]);
        assert_eq!(kernel.place(3 * CHUNK), Some((FAR, CHUNK)));
        assert_eq!(kernel.asked, [3 * CHUNK, 2 * CHUNK]);
        let mut kernel = FakeKernel::new(&[]);
        assert_eq!(kernel.place(0), Some((FAR, 0)));
        assert_eq!(kernel.asked, [0]);
    }

    /// A failed mapping fails the chunk.
    #[test]
    fn a_failed_mapping_fails_the_chunk() {
        let got = super::arena::place_near(0x5500_0000_0000, |_| None, |_| {});
        assert_eq!(got, None);
    }
}
