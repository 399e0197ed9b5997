//! The `bpf(2)` syscall: load an eBPF socket filter or XDP program
//! (`BPF_PROG_LOAD`) and run it on a packet with `BPF_PROG_TEST_RUN`, so
//! tests can compare our engines and translations with the running kernel.
//! Needs root (or `CAP_BPF` + `CAP_NET_ADMIN`).
//!
//! XDP and TC test runs take the whole frame: `data` is `data_in[0]`, and
//! `retval` is the XDP or TC action. Facts about socket-filter test runs (Linux 6.18, checked by
//! `tests/ebpf_kernel.rs`):
//! - `data_in` must hold at least the 14-byte Ethernet header; the kernel
//!   strips it (`eth_type_trans`), so the program's `skb->data`, and so
//!   `LD_ABS` offset 0, is `data_in[14]`, and `skb->len` is
//!   `data_in.len() - 14`;
//! - `retval` is the low 32 bits of r0.

#![cfg(target_os = "linux")]

use cranebpf::ebpf::Insn;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_FREEZE: libc::c_long = 22;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// Program types this module loads (`enum bpf_prog_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgType {
    /// `BPF_PROG_TYPE_SOCKET_FILTER`.
    SocketFilter = 1,
    /// `BPF_PROG_TYPE_SCHED_CLS` (TC classifiers).
    SchedCls = 3,
    /// `BPF_PROG_TYPE_XDP`.
    Xdp = 6,
}

/// Bytes of the Ethernet header a socket-filter test run strips from the
/// front of its input.
pub const ETH_HLEN: usize = 14;

/// The leading fields of `union bpf_attr` for `BPF_PROG_LOAD`; the kernel
/// treats the omitted tail as zero.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    pad: u32,
}

/// The leading fields of `union bpf_attr` for `BPF_BTF_LOAD`.
#[repr(C)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    pad: u32,
}

const BPF_BTF_LOAD: libc::c_long = 18;

/// For a program with callbacks (`lddw` of `BPF_PSEUDO_FUNC`, which the
/// kernel accepts only with BTF function info): a minimal BTF (an `int`,
/// a prototype returning it, one static function per subprogram) loaded
/// into the kernel, and the function info records (`{insn_off, type_id}`)
/// for every subprogram start, the program's own first. `None` without
/// callbacks.
fn function_info(insns: &[Insn]) -> io::Result<Option<(OwnedFd, Vec<[u32; 2]>)>> {
    let mut starts = vec![0usize];
    let mut pc = 0;
    let mut callbacks = false;
    while pc < insns.len() {
        let i = &insns[pc];
        let local_call = i.opc == 0x85 && i.src == 1;
        let func = i.is_lddw() && i.src == 4;
        callbacks |= func;
        if local_call || func {
            starts.push((pc as i64 + 1 + i64::from(i.imm)) as usize);
        }
        pc += i.width();
    }
    if !callbacks {
        return Ok(None);
    }
    starts.sort_unstable();
    starts.dedup();
    let strings = b"\0int\0f\0";
    let mut types: Vec<u32> = vec![
        // [1] int: 4 bytes, signed, 32 bits.
        1,
        1 << 24,
        4,
        0x0100_0020,
        // [2] int (void): a prototype without parameters.
        0,
        13 << 24,
        1,
    ];
    for _ in &starts {
        // [3..] static function "f" of prototype 2.
        types.extend([5, 12 << 24, 2]);
    }
    let type_bytes: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut blob = Vec::new();
    blob.extend(0xeb9fu16.to_le_bytes());
    blob.extend([1, 0]);
    for w in [
        24u32,
        0,
        type_bytes.len() as u32,
        type_bytes.len() as u32,
        strings.len() as u32,
    ] {
        blob.extend(w.to_le_bytes());
    }
    blob.extend(&type_bytes);
    blob.extend(strings);
    let mut attr = BtfLoadAttr {
        btf: blob.as_ptr() as u64,
        btf_log_buf: 0,
        btf_size: blob.len() as u32,
        btf_log_size: 0,
        btf_log_level: 0,
        pad: 0,
    };
    let fd = bpf(BPF_BTF_LOAD, &mut attr)?;
    // SAFETY: on success BPF_BTF_LOAD returns a new file descriptor that
    // nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let records = starts
        .iter()
        .enumerate()
        .map(|(n, &at)| [at as u32, 3 + n as u32])
        .collect();
    Ok(Some((fd, records)))
}

/// The leading fields of `union bpf_attr` for `BPF_PROG_TEST_RUN`.
#[repr(C)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
}

/// Why the kernel refused a program.
#[derive(Debug)]
pub struct LoadError {
    /// The syscall's error.
    pub error: io::Error,
    /// The verifier's log (may be empty).
    pub log: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BPF_PROG_LOAD failed: {}", self.error)?;
        if !self.log.is_empty() {
            write!(f, "\nverifier log:\n{}", self.log)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// A program loaded into the kernel (closed on drop).
#[derive(Debug)]
pub struct LoadedProgram {
    fd: OwnedFd,
}

/// The name the socket-filter tests know [`LoadedProgram`] by.
pub type SocketFilter = LoadedProgram;

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` points to a live, initialised `#[repr(C)]` prefix of
    // `union bpf_attr` of exactly `size_of::<T>()` bytes; every pointer
    // inside it refers to memory that outlives the call, and the kernel
    // writes back at most `size_of::<T>()` bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl LoadedProgram {
    /// Loads `insns` as a `BPF_PROG_TYPE_SOCKET_FILTER` program (license
    /// "GPL"), returning the verifier's log on refusal.
    pub fn load(insns: &[Insn]) -> Result<LoadedProgram, LoadError> {
        LoadedProgram::load_as(ProgType::SocketFilter, insns)
    }

    /// Loads `insns` as a program of type `prog_type` (license "GPL"),
    /// returning the verifier's log on refusal.
    pub fn load_as(prog_type: ProgType, insns: &[Insn]) -> Result<LoadedProgram, LoadError> {
        LoadedProgram::load_licensed(prog_type, insns, "GPL")
    }

    /// Loads `insns` as a program of type `prog_type` under `license`.
    pub fn load_licensed(
        prog_type: ProgType,
        insns: &[Insn],
        license: &str,
    ) -> Result<LoadedProgram, LoadError> {
        LoadedProgram::load_flagged(prog_type, insns, license, 0)
    }

    /// As [`LoadedProgram::load_licensed`], with `BPF_PROG_LOAD`'s
    /// `prog_flags` (`BPF_F_XDP_HAS_FRAGS`, 32, for `xdp.frags` programs).
    pub fn load_flagged(
        prog_type: ProgType,
        insns: &[Insn],
        license: &str,
        prog_flags: u32,
    ) -> Result<LoadedProgram, LoadError> {
        let code: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
        let license = std::ffi::CString::new(license).map_err(|_| LoadError {
            error: io::Error::from(io::ErrorKind::InvalidInput),
            log: "the licence contains a NUL byte".into(),
        })?;
        let info = function_info(insns).map_err(|error| LoadError {
            error,
            log: "BPF_BTF_LOAD of the function info failed".into(),
        })?;
        // Without a log first: a long verification overflows any log
        // buffer (ENOSPC) even when the program is accepted. The log is
        // asked for only to explain a refusal.
        let mut log = Vec::new();
        for log_level in [0, 1] {
            if log_level == 1 {
                log = vec![0u8; 16 << 20];
            }
            let mut attr = ProgLoadAttr {
                prog_type: prog_type as u32,
                insn_cnt: insns.len() as u32,
                insns: code.as_ptr() as u64,
                license: license.as_ptr() as u64,
                log_level,
                log_size: log.len() as u32,
                log_buf: if log.is_empty() {
                    0
                } else {
                    log.as_mut_ptr() as u64
                },
                kern_version: 0,
                prog_flags,
                prog_name: [0; 16],
                prog_ifindex: 0,
                expected_attach_type: 0,
                prog_btf_fd: info.as_ref().map_or(0, |(fd, _)| fd.as_raw_fd() as u32),
                func_info_rec_size: if info.is_some() { 8 } else { 0 },
                func_info: info.as_ref().map_or(0, |(_, r)| r.as_ptr() as u64),
                func_info_cnt: info.as_ref().map_or(0, |(_, r)| r.len() as u32),
                pad: 0,
            };
            match bpf(BPF_PROG_LOAD, &mut attr) {
                Ok(fd) => {
                    // SAFETY: on success BPF_PROG_LOAD returns a new file
                    // descriptor that nothing else owns.
                    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
                    return Ok(LoadedProgram { fd });
                }
                Err(error) if log_level == 1 => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    return Err(LoadError {
                        error,
                        log: String::from_utf8_lossy(&log[..end]).into_owned(),
                    });
                }
                Err(_) => {}
            }
        }
        unreachable!("the second attempt returns")
    }

    /// The program's descriptor (what a program array holds).
    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Runs the program once on `data` (see the module docs for what each
    /// type sees of it) and returns `retval`, the low 32 bits of r0.
    pub fn test_run(&self, data: &[u8]) -> io::Result<u32> {
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            retval: 0,
            data_size_in: data.len() as u32,
            data_size_out: 0,
            data_in: data.as_ptr() as u64,
            data_out: 0,
            repeat: 1,
            duration: 0,
        };
        bpf(BPF_PROG_TEST_RUN, &mut attr)?;
        Ok(attr.retval)
    }

    /// Runs the program once on `data`; returns `retval` and the packet as
    /// the program left it (`data_out`).
    pub fn test_run_out(&self, data: &[u8]) -> io::Result<(u32, Vec<u8>)> {
        let mut out = vec![0u8; data.len() + 4096];
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            retval: 0,
            data_size_in: data.len() as u32,
            data_size_out: out.len() as u32,
            data_in: data.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            duration: 0,
        };
        bpf(BPF_PROG_TEST_RUN, &mut attr)?;
        out.truncate(attr.data_size_out as usize);
        Ok((attr.retval, out))
    }
}

/// The leading fields of `union bpf_attr` for `BPF_MAP_CREATE`.
#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
}

/// The fields of `union bpf_attr` for the `BPF_MAP_*_ELEM` commands.
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// A map in the kernel (closed on drop).
#[derive(Debug)]
pub struct KernelMap {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
    /// For per-CPU maps, how many CPUs' values the kernel reads and
    /// writes at once (its possible CPUs); 0 for other maps.
    cpus: usize,
}

/// Per-CPU map types (`BPF_MAP_TYPE_PERCPU_HASH`, `_PERCPU_ARRAY`,
/// `_LRU_PERCPU_HASH`, `_PERCPU_CGROUP_STORAGE`).
fn per_cpu(map_type: u32) -> bool {
    matches!(map_type, 5 | 6 | 10 | 21)
}

/// The CPUs the kernel may ever bring up (`/sys/devices/system/cpu/possible`,
/// as `0-1` or `0,2-3`): the number of values a per-CPU map element
/// carries to and from user space.
pub fn possible_cpus() -> io::Result<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("possible CPUs {text:?}"),
        )
    };
    let mut count = 0;
    for part in text.trim().split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let first: usize = first.parse().map_err(|_| bad())?;
        let last: usize = last.parse().map_err(|_| bad())?;
        count += last.checked_sub(first).ok_or_else(bad)? + 1;
    }
    Ok(count)
}

impl KernelMap {
    /// `BPF_MAP_CREATE` with the type number, sizes and flags given.
    pub fn create(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
    ) -> io::Result<KernelMap> {
        KernelMap::create_outer(map_type, key_size, value_size, max_entries, flags, None)
    }

    /// `BPF_MAP_CREATE` of a map of maps, whose entries must match the
    /// map `inner` (the kernel's `inner_map_fd`); `None` for other types.
    pub fn create_outer(
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
        inner: Option<&KernelMap>,
    ) -> io::Result<KernelMap> {
        let mut attr = MapCreateAttr {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: flags,
            inner_map_fd: inner.map_or(0, |m| m.fd() as u32),
        };
        let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
        // SAFETY: on success BPF_MAP_CREATE returns a new file descriptor
        // that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(KernelMap {
            fd,
            key_size: key_size as usize,
            value_size: value_size as usize,
            cpus: if per_cpu(map_type) {
                possible_cpus()?
            } else {
                0
            },
        })
    }

    /// The descriptor, for `lddw` map references.
    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    fn elem(
        &self,
        cmd: libc::c_long,
        key: u64,
        value: u64,
        flags: u64,
    ) -> io::Result<libc::c_long> {
        let mut attr = MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            pad: 0,
            key,
            value,
            flags,
        };
        bpf(cmd, &mut attr)
    }

    /// Bytes one CPU's value takes in a per-CPU element's buffer.
    fn cpu_stride(&self) -> usize {
        self.value_size.next_multiple_of(8)
    }

    /// `BPF_MAP_UPDATE_ELEM`; a per-CPU map's element gets `value` on
    /// every CPU.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
        if key.len() != self.key_size || value.len() != self.value_size {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut all = Vec::new();
        let value = if self.cpus > 0 {
            for _ in 0..self.cpus {
                let at = all.len();
                all.extend_from_slice(value);
                all.resize(at + self.cpu_stride(), 0);
            }
            &all[..]
        } else {
            value
        };
        self.elem(
            BPF_MAP_UPDATE_ELEM,
            key.as_ptr() as u64,
            value.as_ptr() as u64,
            flags,
        )
        .map(|_| ())
    }

    /// `BPF_MAP_FREEZE`: no more writes from user space, so that the
    /// verifier may take a read-only map's contents as known (what libbpf
    /// does to `.rodata` once it has set it, before loading programs).
    pub fn freeze(&self) -> io::Result<()> {
        self.elem(BPF_MAP_FREEZE, 0, 0, 0).map(|_| ())
    }

    /// `BPF_MAP_LOOKUP_ELEM`: the value, or `None` when absent; for a
    /// per-CPU map, CPU 0's value (where the tests pin themselves).
    pub fn lookup(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        if key.len() != self.key_size {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut value = vec![0u8; self.cpu_stride() * self.cpus.max(1)];
        match self.elem(
            BPF_MAP_LOOKUP_ELEM,
            key.as_ptr() as u64,
            value.as_mut_ptr() as u64,
            0,
        ) {
            Ok(_) => {
                value.truncate(self.value_size);
                Ok(Some(value))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A ring buffer's records since the last read, in order (discarded
    /// ones left out), and the consumer moved past them. `size` is the
    /// ring's size in bytes.
    pub fn ring_records(&self, size: usize) -> io::Result<Vec<Vec<u8>>> {
        const BUSY: u32 = 1 << 31;
        const DISCARD: u32 = 1 << 30;
        let page = 4096usize;
        let fd = self.fd.as_raw_fd();
        // SAFETY: mapping a ring buffer map's descriptor as the kernel
        // documents (consumer page read-write at offset 0; producer page
        // and the data pages, mapped twice, read-only after it); both
        // mappings are checked and unmapped below, and nothing else uses
        // them.
        let (cons, prod) = unsafe {
            let cons = libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            let prod = libc::mmap(
                std::ptr::null_mut(),
                page + 2 * size,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                page as libc::off_t,
            );
            (cons, prod)
        };
        if cons == libc::MAP_FAILED || prod == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            // SAFETY: unmapping only what was mapped above.
            unsafe {
                if cons != libc::MAP_FAILED {
                    libc::munmap(cons, page);
                }
                if prod != libc::MAP_FAILED {
                    libc::munmap(prod, page + 2 * size);
                }
            }
            return Err(e);
        }
        // SAFETY: both mappings are live for this block and as long as
        // the lengths given; the kernel wrote no more than `size` bytes of
        // records after the producer page, which the double mapping makes
        // contiguous for any record that wraps.
        let records = unsafe {
            let cons_pos = cons as *mut u64;
            let prod_pos = std::ptr::read_volatile(prod as *const u64);
            let data = (prod as *const u8).add(page);
            let mut at = std::ptr::read_volatile(cons_pos);
            let mut out = Vec::new();
            while at < prod_pos {
                let offset = (at as usize) & (size - 1);
                let header = std::ptr::read_volatile(data.add(offset) as *const u32);
                if header & BUSY != 0 {
                    break;
                }
                let len = (header & !(BUSY | DISCARD)) as usize;
                if header & DISCARD == 0 {
                    let body = std::slice::from_raw_parts(data.add(offset + 8), len);
                    out.push(body.to_vec());
                }
                at += (len + 8).div_ceil(8) as u64 * 8;
            }
            std::ptr::write_volatile(cons_pos, at);
            libc::munmap(cons, page);
            libc::munmap(prod, page + 2 * size);
            out
        };
        Ok(records)
    }

    /// Every key, by `BPF_MAP_GET_NEXT_KEY` from the start.
    pub fn keys(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut next = vec![0u8; self.key_size];
            let key = keys.last().map_or(0, |k| k.as_ptr() as u64);
            match self.elem(BPF_MAP_GET_NEXT_KEY, key, next.as_mut_ptr() as u64, 0) {
                Ok(_) => keys.push(next),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(keys),
                Err(e) => return Err(e),
            }
        }
    }
}

/// A perf event for `bpf_perf_event_output` records on one CPU
/// (`PERF_COUNT_SW_BPF_OUTPUT`, raw samples), with its ring mapped: what
/// libbpf's `perf_buffer` opens per CPU. Closed and unmapped on drop.
#[derive(Debug)]
pub struct PerfEvent {
    fd: OwnedFd,
    ring: *mut libc::c_void,
    data_pages: usize,
}

impl PerfEvent {
    const PAGE: usize = 4096;

    /// Opens the event on `cpu` with `data_pages` (a power of two) pages of
    /// ring.
    pub fn open(cpu: i32, data_pages: usize) -> io::Result<PerfEvent> {
        // struct perf_event_attr, PERF_ATTR_SIZE_VER5 (112 bytes): type
        // PERF_TYPE_SOFTWARE, config PERF_COUNT_SW_BPF_OUTPUT, sample_period
        // 1, sample_type PERF_SAMPLE_RAW, enabled, wakeup_events 1.
        let mut attr = [0u8; 112];
        attr[0..4].copy_from_slice(&1u32.to_le_bytes());
        attr[4..8].copy_from_slice(&112u32.to_le_bytes());
        attr[8..16].copy_from_slice(&10u64.to_le_bytes());
        attr[16..24].copy_from_slice(&1u64.to_le_bytes());
        attr[24..32].copy_from_slice(&(1u64 << 10).to_le_bytes());
        attr[48..52].copy_from_slice(&1u32.to_le_bytes());
        // SAFETY: perf_event_open reads `attr` (112 bytes, the size it
        // says) and returns a new descriptor or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                attr.as_ptr(),
                -1 as libc::pid_t,
                cpu,
                -1 as libc::c_int,
                8 as libc::c_ulong, // PERF_FLAG_FD_CLOEXEC
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let len = (1 + data_pages) * Self::PAGE;
        // SAFETY: mapping the event's metadata page and ring as perf
        // documents (read-write, shared); unmapped on drop.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(PerfEvent {
            fd,
            ring,
            data_pages,
        })
    }

    /// The descriptor, for a perf event array's slot.
    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// The raw samples written since the last read, in order (each as the
    /// kernel gives it: padded so that its 4-byte size and it fill whole
    /// 8-byte words), and how many were lost; the reader moved past them.
    pub fn samples(&self) -> (Vec<Vec<u8>>, u64) {
        const RECORD_LOST: u32 = 2;
        const RECORD_SAMPLE: u32 = 9;
        let size = self.data_pages * Self::PAGE;
        // SAFETY: the mapping is live while `self` is; data_head (offset
        // 1024) and data_tail (1032) are the metadata page's u64 words, the
        // data area is the `size` bytes after the page, and every read
        // below is taken modulo `size` within it.
        unsafe {
            let meta = self.ring as *mut u8;
            let head = std::ptr::read_volatile(meta.add(1024) as *const u64);
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            let tail_at = meta.add(1032) as *mut u64;
            let mut tail = std::ptr::read_volatile(tail_at);
            let data = meta.add(Self::PAGE);
            let byte = |at: u64| *data.add(at as usize % size);
            let bytes =
                |at: u64, n: usize| (0..n as u64).map(|i| byte(at + i)).collect::<Vec<u8>>();
            let (mut out, mut lost) = (Vec::new(), 0);
            while tail < head {
                let header = bytes(tail, 8);
                let kind = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
                let len = u16::from_le_bytes([header[6], header[7]]) as u64;
                if len < 8 {
                    break;
                }
                let body = bytes(tail + 8, len as usize - 8);
                match kind {
                    RECORD_SAMPLE if body.len() >= 4 => {
                        let n = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as usize;
                        out.push(body[4..(4 + n).min(body.len())].to_vec());
                    }
                    RECORD_LOST if body.len() >= 16 => {
                        lost += u64::from_le_bytes(body[8..16].try_into().unwrap_or([0; 8]));
                    }
                    _ => {}
                }
                tail += len;
            }
            std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
            std::ptr::write_volatile(tail_at, tail);
            (out, lost)
        }
    }
}

impl Drop for PerfEvent {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping `open` made, once.
        unsafe {
            libc::munmap(self.ring, (1 + self.data_pages) * Self::PAGE);
        }
    }
}

/// Pins the calling thread to `cpu` (so that test runs, which run on the
/// caller's CPU, find the perf event opened there).
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and
    // sched_setaffinity(0, …) act on it and the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether this process can load and test-run socket filters (tries a
/// two-instruction program); the error says why not.
pub fn available() -> Result<(), String> {
    let prog = [
        Insn::new(
            cranebpf::ebpf::insn::op::ALU64 | cranebpf::ebpf::insn::op::MOV,
            0,
            0,
            0,
            7,
        ),
        Insn::new(cranebpf::ebpf::insn::op::EXIT_OP, 0, 0, 0, 0),
    ];
    let f = SocketFilter::load(&prog).map_err(|e| e.to_string())?;
    match f.test_run(&[0u8; ETH_HLEN + 8]) {
        Ok(7) => Ok(()),
        Ok(v) => Err(format!("test run of 'mov r0, 7; exit' returned {v}")),
        Err(e) => Err(format!("BPF_PROG_TEST_RUN failed: {e}")),
    }
}
