//! Running aarch64 code on an x86-64 host: a small static C harness
//! (`aarch64/harness.c`) under `qemu-aarch64`, fed code and packets over a
//! pipe so that one emulator start serves many programs and packets.
//!
//! Needs `qemu-aarch64` (Debian `qemu-user`) and `aarch64-linux-gnu-gcc`
//! (Debian `gcc-aarch64-linux-gnu`, `libc6-dev-arm64-cross`) on `PATH`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

const HARNESS_SOURCE: &str = include_str!("aarch64/harness.c");

/// Status the harness reports when the code needed a helper or a negative
/// packet offset, which it does not serve.
pub const NO_CALLBACK: u32 = 100;

/// How one run under the emulator ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aarch64Outcome {
    /// r0 at exit.
    pub r0: u64,
    /// The run-time status (see `jit::runtime`), or [`NO_CALLBACK`].
    pub status: u32,
    /// Instruction index of an error.
    pub pc: u32,
}

/// Why the emulator could not be used.
#[derive(Debug)]
pub enum QemuError {
    /// A tool is missing from `PATH`.
    Missing(&'static str),
    /// Building or talking to the harness failed.
    Io(io::Error),
    /// The cross compiler refused the harness.
    Build(String),
}

impl std::fmt::Display for QemuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QemuError::Missing(tool) => write!(f, "{tool} is not installed"),
            QemuError::Io(e) => write!(f, "qemu harness: {e}"),
            QemuError::Build(e) => write!(f, "building the aarch64 harness failed: {e}"),
        }
    }
}

impl std::error::Error for QemuError {}

impl From<io::Error> for QemuError {
    fn from(e: io::Error) -> Self {
        QemuError::Io(e)
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// Checks that the emulator and cross compiler are installed.
pub fn available() -> Result<(), QemuError> {
    for tool in ["qemu-aarch64", "aarch64-linux-gnu-gcc"] {
        if !on_path(tool) {
            return Err(QemuError::Missing(tool));
        }
    }
    Ok(())
}

/// Builds the harness once per source version, in the temp directory.
fn harness_binary() -> Result<PathBuf, QemuError> {
    // One build at a time within a process; across processes the unique
    // temporary name and the atomic rename keep the binary whole.
    static BUILD: Mutex<()> = Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let mut h = DefaultHasher::new();
    HARNESS_SOURCE.hash(&mut h);
    let dir = std::env::temp_dir().join(format!("cranebpf-aarch64-{:016x}", h.finish()));
    let bin = dir.join("harness");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir)?;
    let src = dir.join("harness.c");
    std::fs::write(&src, HARNESS_SOURCE)?;
    let tmp = dir.join(format!("harness.{}.tmp", std::process::id()));
    let out = Command::new("aarch64-linux-gnu-gcc")
        .args(["-O2", "-static", "-o"])
        .arg(&tmp)
        .arg(&src)
        .output()?;
    if !out.status.success() {
        return Err(QemuError::Build(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    std::fs::rename(&tmp, &bin)?;
    Ok(bin)
}

/// A running harness under `qemu-aarch64`.
pub struct Aarch64Runner {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Aarch64Runner {
    /// Builds the harness if needed and starts the emulator.
    pub fn start() -> Result<Aarch64Runner, QemuError> {
        available()?;
        let bin = harness_binary()?;
        let mut child = Command::new("qemu-aarch64")
            .arg(&bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let input = BufWriter::new(child.stdin.take().ok_or_else(broken)?);
        let output = BufReader::new(child.stdout.take().ok_or_else(broken)?);
        Ok(Aarch64Runner {
            child,
            input,
            output,
        })
    }

    /// Replaces the loaded code (bytes from [`cranebpf::jit::compile_bytes`]).
    pub fn load(&mut self, code: &[u8]) -> Result<(), QemuError> {
        self.load_as(b'C', code)
    }

    /// Replaces the loaded code with leaf code (compiled with
    /// `JitOptions::leaf`); its memory is the `mem` of [`Self::run`], and
    /// a hand-over is reported as status `HAND_OVER`.
    pub fn load_leaf(&mut self, code: &[u8]) -> Result<(), QemuError> {
        self.load_as(b'L', code)
    }

    /// Replaces the loaded code with code compiled with a lean entry
    /// (`JitOptions::lean_entry`), run by [`Self::run`] on its `mem`
    /// (the packet is not read).
    pub fn load_lean(&mut self, code: &[u8]) -> Result<(), QemuError> {
        self.load_as(b'E', code)
    }

    /// Replaces the loaded code with batch code (compiled with
    /// `JitOptions::batch`), run by [`Self::run_batch`].
    pub fn load_batch(&mut self, code: &[u8]) -> Result<(), QemuError> {
        self.load_as(b'B', code)
    }

    /// Runs the loaded batch code once over `packets` with `mem` at r1:
    /// how many packets it finished (fewer than all: the next one was
    /// handed over) and the verdict slot of every packet (0 where none was
    /// stored).
    pub fn run_batch(
        &mut self,
        mem: &[u8],
        packets: &[&[u8]],
    ) -> Result<(u64, Vec<u32>), QemuError> {
        self.input.write_all(b"S")?;
        self.input.write_all(&len32(mem.len())?.to_le_bytes())?;
        self.input.write_all(mem)?;
        self.input.write_all(&len32(packets.len())?.to_le_bytes())?;
        for p in packets {
            self.input.write_all(&len32(p.len())?.to_le_bytes())?;
            self.input.write_all(p)?;
        }
        self.input.flush()?;
        let mut head = [0u8; 9];
        self.output.read_exact(&mut head)?;
        if head[0] != b'b' {
            return Err(broken().into());
        }
        let done = u64::from_le_bytes(head[1..9].try_into().unwrap_or([0; 8]));
        let mut raw = vec![0u8; 4 * packets.len()];
        self.output.read_exact(&mut raw)?;
        let verdicts = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((done, verdicts))
    }

    fn load_as(&mut self, command: u8, code: &[u8]) -> Result<(), QemuError> {
        self.input.write_all(&[command])?;
        self.input.write_all(&len32(code.len())?.to_le_bytes())?;
        self.input.write_all(code)?;
        self.input.flush()?;
        let mut ack = [0u8; 1];
        self.output.read_exact(&mut ack)?;
        if ack != *b"k" {
            return Err(broken().into());
        }
        Ok(())
    }

    /// Runs the loaded code once. `packet = None` makes the packet the
    /// memory itself.
    pub fn run(
        &mut self,
        mem: &[u8],
        packet: Option<&[u8]>,
        budget: u64,
    ) -> Result<Aarch64Outcome, QemuError> {
        self.input.write_all(b"R")?;
        self.input.write_all(&len32(mem.len())?.to_le_bytes())?;
        self.input.write_all(mem)?;
        match packet {
            Some(p) => {
                self.input.write_all(&len32(p.len())?.to_le_bytes())?;
                self.input.write_all(p)?;
            }
            None => self.input.write_all(&u32::MAX.to_le_bytes())?,
        }
        self.input.write_all(&budget.to_le_bytes())?;
        self.input.flush()?;
        let mut reply = [0u8; 17];
        self.output.read_exact(&mut reply)?;
        if reply[0] != b'r' {
            return Err(broken().into());
        }
        let u64_at = |i: usize| u64::from_le_bytes(reply[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_le_bytes(reply[i..i + 4].try_into().unwrap_or([0; 4]));
        Ok(Aarch64Outcome {
            r0: u64_at(1),
            status: u32_at(9),
            pc: u32_at(13),
        })
    }
}

impl Drop for Aarch64Runner {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"Q");
        let _ = self.input.flush();
        let _ = self.child.wait();
    }
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the harness stopped answering")
}

fn len32(n: usize) -> io::Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|&n| n != u32::MAX)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "buffer over 4 GiB"))
}
