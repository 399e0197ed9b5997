//! Confinement for programs that parse untrusted input: once a capture
//! tool has opened its inputs and outputs, [`confine`] takes away what a
//! parser bug could use to do harm — the file system outside the output
//! directory (Landlock), and sockets, `exec`, `bpf()`, ptrace and the like
//! (a seccomp filter). Both apply to the calling thread and the threads it
//! starts afterwards, so call it on the thread that goes on to do the work,
//! before starting workers.
//!
//! The seccomp filter is a classic BPF program built with this crate's own
//! instruction types ([`syscall_filter`]) and checked with its own checker
//! before the kernel sees it.

use crate::cbpf::insn::op;
use crate::cbpf::{Insn, Program};
use std::fmt;
use std::path::Path;

/// What [`confine`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Confinement {
    /// The file system is restricted to the writable directories given
    /// (fully, or as far as the running kernel's Landlock version allows).
    pub file_system: Enforcement,
    /// The syscall filter is installed.
    pub syscalls: Enforcement,
}

/// How far one kind of confinement is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enforcement {
    /// In force.
    Full,
    /// In force for what the running kernel supports (an older Landlock).
    Partial,
    /// Not available on this system (kernel without Landlock or seccomp,
    /// or not Linux).
    Unavailable,
}

/// Why confinement failed where the system supports it.
#[derive(Debug)]
#[non_exhaustive]
pub enum SandboxError {
    /// A writable directory could not be opened for the rule naming it.
    Directory {
        /// The directory.
        path: std::path::PathBuf,
        /// What opening it said.
        source: std::io::Error,
    },
    /// The kernel refused the Landlock ruleset.
    Landlock(String),
    /// The kernel refused the seccomp filter.
    Seccomp(String),
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SandboxError::Directory { path, source } => {
                write!(f, "sandbox: {}: {source}", path.display())
            }
            SandboxError::Landlock(e) => write!(f, "sandbox: Landlock: {e}"),
            SandboxError::Seccomp(e) => write!(f, "sandbox: seccomp: {e}"),
        }
    }
}

impl std::error::Error for SandboxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SandboxError::Directory { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Confines the calling thread (and threads it starts later): no file
/// may be opened, created, executed or removed except regular files
/// created, written or removed directly inside `writable_dirs` (where an
/// output goes through a temporary file renamed into place); files and
/// pipes already open stay usable. Syscalls outside a capture tool's needs
/// fail with `EPERM` (see [`syscall_filter`]).
///
/// Where the system lacks Landlock or seccomp the result says
/// [`Enforcement::Unavailable`] rather than failing.
pub fn confine(writable_dirs: &[&Path]) -> Result<Confinement, SandboxError> {
    let file_system = landlock_files(writable_dirs)?;
    let syscalls = install_syscall_filter()?;
    Ok(Confinement {
        file_system,
        syscalls,
    })
}

#[cfg(target_os = "linux")]
fn landlock_files(writable_dirs: &[&Path]) -> Result<Enforcement, SandboxError> {
    use landlock::{
        Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
        RulesetStatus, ABI,
    };
    // V3 adds truncation; later versions add rights on device ioctls and
    // sockets that an already open stdout (a terminal) may still need.
    let abi = ABI::V3;
    let landlock = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(landlock)?
        .create()
        .map_err(landlock)?;
    let output =
        AccessFs::MakeReg | AccessFs::RemoveFile | AccessFs::WriteFile | AccessFs::Truncate;
    for dir in writable_dirs {
        let fd = PathFd::new(dir).map_err(|e| SandboxError::Directory {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, output))
            .map_err(landlock)?;
    }
    let status = ruleset.restrict_self().map_err(landlock)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::Unavailable,
    })
}

#[cfg(not(target_os = "linux"))]
fn landlock_files(_: &[&Path]) -> Result<Enforcement, SandboxError> {
    Ok(Enforcement::Unavailable)
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn install_syscall_filter() -> Result<Enforcement, SandboxError> {
    let filter = syscall_filter();
    if let Err(e) = crate::cbpf::check::check(&filter) {
        // Built from constants above: refusal would be a bug here.
        return Err(SandboxError::Seccomp(format!(
            "the filter is malformed: {e}"
        )));
    }
    let insns: Vec<seccompiler::sock_filter> = filter
        .insns
        .iter()
        .map(|i| seccompiler::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    match seccompiler::apply_filter(&insns) {
        Ok(()) => Ok(Enforcement::Full),
        Err(seccompiler::Error::Seccomp(e)) if e.raw_os_error() == Some(libc::EINVAL) => {
            Ok(Enforcement::Unavailable)
        }
        Err(e) => Err(SandboxError::Seccomp(e.to_string())),
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn install_syscall_filter() -> Result<Enforcement, SandboxError> {
    Ok(Enforcement::Unavailable)
}

/// `struct seccomp_data` offsets: the syscall number and the audit arch.
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
/// seccomp return values (`<linux/seccomp.h>`).
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// x32 syscalls carry this bit on x86-64 under the same audit arch.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The audit arch of the host (`AUDIT_ARCH_*`).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Syscalls a capture tool never needs and a parser bug could use to
/// escape: network sockets, running programs, loading BPF or kernel
/// modules, tracing other processes, namespaces and mounts, io_uring
/// (which would bypass this filter), userfaultfd.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub const DENIED_SYSCALLS: &[(&str, i64)] = &[
    ("socket", libc::SYS_socket),
    ("socketpair", libc::SYS_socketpair),
    ("execve", libc::SYS_execve),
    ("execveat", libc::SYS_execveat),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("setns", libc::SYS_setns),
    ("unshare", libc::SYS_unshare),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("reboot", libc::SYS_reboot),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("userfaultfd", libc::SYS_userfaultfd),
];

/// The seccomp program [`confine`] installs: another architecture's
/// syscalls kill the process, x32 syscalls and [`DENIED_SYSCALLS`] fail
/// with `EPERM`, everything else is allowed. Loads read `struct
/// seccomp_data` in host byte order (seccomp's rule, unlike socket
/// filters').
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub fn syscall_filter() -> Program {
    let denied = DENIED_SYSCALLS.len();
    // Layout: [arch check: 3] [ld nr] [x32 check] [one jeq per syscall]
    // [ret allow] [ret errno]. Each jeq jumps to `ret errno`, counted
    // from the instruction after it.
    let mut insns = vec![
        Insn::stmt(op::LD | op::W | op::ABS, SECCOMP_DATA_ARCH),
        Insn::jump(op::JMP | op::JEQ | op::K, AUDIT_ARCH, 1, 0),
        Insn::stmt(op::RET | op::K, SECCOMP_RET_KILL_PROCESS),
        Insn::stmt(op::LD | op::W | op::ABS, SECCOMP_DATA_NR),
    ];
    let to_deny = |remaining_after: usize| (remaining_after + 1) as u8; // skip the rest and `ret allow`
    let x32 = if cfg!(target_arch = "x86_64") {
        X32_SYSCALL_BIT
    } else {
        u32::MAX // no syscall number reaches it
    };
    insns.push(Insn::jump(
        op::JMP | op::JGE | op::K,
        x32,
        to_deny(denied),
        0,
    ));
    for (i, &(_, nr)) in DENIED_SYSCALLS.iter().enumerate() {
        insns.push(Insn::jump(
            op::JMP | op::JEQ | op::K,
            nr as u32,
            to_deny(denied - 1 - i),
            0,
        ));
    }
    insns.push(Insn::stmt(op::RET | op::K, SECCOMP_RET_ALLOW));
    insns.push(Insn::stmt(
        op::RET | op::K,
        SECCOMP_RET_ERRNO | libc::EPERM as u32,
    ));
    Program::new(insns)
}

#[cfg(all(
    test,
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod tests {
    use super::*;
    use crate::cbpf::{interp, Metadata};

    /// `struct seccomp_data` as our socket-filter interpreter reads it:
    /// its loads are big-endian, seccomp's are host order, so the words
    /// are stored big-endian here to mean the same numbers.
    fn seccomp_data(nr: u32, arch: u32) -> Vec<u8> {
        let mut d = vec![0u8; 64];
        d[0..4].copy_from_slice(&nr.to_be_bytes());
        d[4..8].copy_from_slice(&arch.to_be_bytes());
        d
    }

    #[test]
    fn the_filter_denies_exactly_its_list() {
        let prog = syscall_filter();
        crate::cbpf::check::check(&prog).expect("the kernel's checker accepts it");
        let verdict =
            |nr: u32, arch: u32| interp::run(&prog, &seccomp_data(nr, arch), &Metadata::default());
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        for &(name, nr) in DENIED_SYSCALLS {
            assert_eq!(verdict(nr as u32, AUDIT_ARCH), eperm, "{name}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_mmap,
            libc::SYS_munmap,
            libc::SYS_mprotect,
            libc::SYS_openat,
            libc::SYS_renameat2,
            libc::SYS_unlinkat,
            libc::SYS_clone,
            libc::SYS_futex,
            libc::SYS_exit_group,
        ] {
            assert_eq!(verdict(nr as u32, AUDIT_ARCH), SECCOMP_RET_ALLOW, "{nr}");
        }
        assert_eq!(
            verdict(libc::SYS_read as u32, 0x4000_0003), // i386
            SECCOMP_RET_KILL_PROCESS
        );
        if cfg!(target_arch = "x86_64") {
            assert_eq!(verdict(X32_SYSCALL_BIT | 1, AUDIT_ARCH), eperm);
        }
    }

    #[test]
    fn a_confined_thread_keeps_its_output_directory_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("cranebpf-sandbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let outside = dir
            .join("..")
            .join(format!("cranebpf-outside-{}", std::process::id()));
        std::fs::write(&outside, b"x").unwrap();
        let already_open = std::fs::File::open(&outside).unwrap();
        let (dir2, outside2) = (dir.clone(), outside.clone());
        // Confinement is per thread: the test's other threads stay free.
        let confined = std::thread::spawn(move || {
            let c = confine(&[&dir2]).expect("confine");
            let tmp = dir2.join("out.tmp");
            std::fs::write(&tmp, b"packets").expect("write inside");
            std::fs::rename(&tmp, dir2.join("out.pcap")).expect("rename inside");
            let read_outside = std::fs::read(&outside2);
            let write_outside = std::fs::write(dir2.join("..").join("escape"), b"x");
            let socket = std::net::UdpSocket::bind("127.0.0.1:0");
            let exec = std::process::Command::new("/bin/true").status();
            let mut buf = Vec::new();
            let reread = std::io::Read::read_to_end(&mut &already_open, &mut buf);
            (c, read_outside, write_outside, socket, exec, reread)
        })
        .join()
        .unwrap();
        let (c, read_outside, write_outside, socket, exec, reread) = confined;
        if std::env::var("CI").as_deref() == Ok("true") {
            // CI's kernel has Landlock (ABI 3 or later) and seccomp.
            assert_eq!(c.file_system, Enforcement::Full);
            assert_eq!(c.syscalls, Enforcement::Full);
        } else if c
            != (Confinement {
                file_system: Enforcement::Full,
                syscalls: Enforcement::Full,
            })
        {
            eprintln!("sandbox: partly unavailable here ({c:?}); only what is in force is checked");
        }
        assert_eq!(std::fs::read(dir.join("out.pcap")).unwrap(), b"packets");
        reread.expect("a file opened before confinement stays readable");
        if c.file_system != Enforcement::Unavailable {
            assert!(read_outside.is_err(), "read outside the output directory");
            assert!(write_outside.is_err(), "write outside the output directory");
        }
        if c.syscalls == Enforcement::Full {
            let e = socket.expect_err("socket() denied");
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
            assert!(exec.is_err(), "exec denied");
        }
        // `outside` is named through `dir/..`: removed while `dir` exists.
        let _ = std::fs::remove_file(&outside);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
