//! Classic filters in the running kernel: `SO_ATTACH_FILTER` on the
//! receiving end of an `AF_UNIX` datagram socket pair.
//!
//! The kernel runs the filter synchronously inside `send()`; the receiver
//! then holds `min(verdict, len)` bytes, or nothing if the verdict was 0.
//! `setsockopt` fails with `EINVAL` when the kernel's checker refuses the
//! program (and `ENOMEM` when its eBPF translation exceeds
//! `net.core.optmem_max`).

use cranebpf::cbpf::Program;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// What the receiving socket got for one sent packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// The filter returned 0: nothing arrived.
    Dropped,
    /// This many bytes arrived.
    Delivered(usize),
}

impl Delivery {
    /// What the kernel delivers for a filter verdict on a `len`-byte packet.
    pub fn expected(verdict: u32, len: usize) -> Delivery {
        if verdict == 0 {
            Delivery::Dropped
        } else {
            Delivery::Delivered((verdict as usize).min(len))
        }
    }
}

/// Why the kernel refused to attach a program.
#[derive(Debug)]
pub struct AttachError {
    /// The `errno` setsockopt returned (`EINVAL` for checker rejections).
    pub errno: i32,
}

impl std::fmt::Display for AttachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kernel refused the filter: {}",
            io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for AttachError {}

/// An `AF_UNIX` datagram socket pair whose receiving end carries a filter.
pub struct SocketPair {
    sender: OwnedFd,
    receiver: OwnedFd,
    buf: Vec<u8>,
}

/// The largest datagram [`SocketPair::deliver`] accepts.
pub const MAX_PACKET: usize = 65536;

fn last_error<T>() -> io::Result<T> {
    Err(io::Error::last_os_error())
}

impl SocketPair {
    /// A fresh socket pair with room for [`MAX_PACKET`]-byte datagrams.
    pub fn new() -> io::Result<SocketPair> {
        let mut fds = [0i32; 2];
        // SAFETY: socketpair writes two descriptors into the 2-element array.
        let rc = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return last_error();
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (sender, receiver) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let pair = SocketPair {
            sender,
            receiver,
            buf: vec![0; MAX_PACKET + 1],
        };
        // Room for one maximal datagram in flight; the default may be smaller.
        let size: libc::c_int = 4 * MAX_PACKET as libc::c_int;
        pair.setsockopt(pair.sender.as_raw_fd(), libc::SO_SNDBUF, &size)?;
        pair.setsockopt(pair.receiver.as_raw_fd(), libc::SO_RCVBUF, &size)?;
        Ok(pair)
    }

    fn setsockopt<T>(&self, fd: i32, name: i32, value: &T) -> io::Result<()> {
        // SAFETY: value points to a live T of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                value as *const T as *const libc::c_void,
                std::mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return last_error();
        }
        Ok(())
    }

    /// Attaches `prog` to the receiving socket, replacing any earlier filter.
    /// The kernel copies the program, so `prog` need not outlive the call.
    pub fn attach(&self, prog: &Program) -> Result<(), AttachError> {
        let mut filter: Vec<libc::sock_filter> = prog
            .insns
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            // A length that does not fit in 16 bits cannot be expressed; the
            // kernel would refuse it as too long anyway, so send the maximum.
            len: u16::try_from(filter.len()).unwrap_or(u16::MAX),
            filter: filter.as_mut_ptr(),
        };
        self.setsockopt(self.receiver.as_raw_fd(), libc::SO_ATTACH_FILTER, &fprog)
            .map_err(|e| AttachError {
                errno: e.raw_os_error().unwrap_or(0),
            })
    }

    /// Removes the receiving socket's filter.
    pub fn detach(&self) -> io::Result<()> {
        let zero: libc::c_int = 0;
        self.setsockopt(self.receiver.as_raw_fd(), libc::SO_DETACH_FILTER, &zero)
    }

    /// Sends `packet` and reports what the receiver got.
    pub fn deliver(&mut self, packet: &[u8]) -> io::Result<Delivery> {
        if packet.len() > MAX_PACKET {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packet larger than MAX_PACKET",
            ));
        }
        // SAFETY: packet is a live slice of the length passed.
        let sent = unsafe {
            libc::send(
                self.sender.as_raw_fd(),
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                0,
            )
        };
        if sent < 0 {
            return last_error();
        }
        // SAFETY: buf is a live buffer of the length passed.
        let got = unsafe {
            libc::recv(
                self.receiver.as_raw_fd(),
                self.buf.as_mut_ptr() as *mut libc::c_void,
                self.buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if got < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::WouldBlock {
                return Ok(Delivery::Dropped);
            }
            return Err(err);
        }
        Ok(Delivery::Delivered(got as usize))
    }
}

/// Pins the calling thread to one CPU, so that `#cpu` loads are predictable.
/// Returns the CPU used: `preferred` if allowed, else the first allowed one.
pub fn pin_to_cpu(preferred: usize) -> io::Result<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid cpu_set_t of the size passed; pid 0 = this thread.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0
    {
        return last_error();
    }
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET only reads the set, for indices below its capacity.
    let allowed = |c: usize| unsafe { libc::CPU_ISSET(c, &set) };
    let cpu = if preferred < max && allowed(preferred) {
        preferred
    } else {
        (0..max)
            .find(|&c| allowed(c))
            .ok_or_else(|| io::Error::other("no CPU allowed"))?
    };
    // SAFETY: as above; the new set holds exactly one CPU.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: cpu < capacity of the set.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // SAFETY: one is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) } != 0 {
        return last_error();
    }
    Ok(cpu)
}
