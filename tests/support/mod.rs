//! Helpers shared by the integration tests of the library and of the
//! command (cli/tests/support adds running the command).

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use cranebpf::capture::{Format, Item, Reader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A path in a fresh temporary directory of its own (or the directory
/// itself); the directory, and all written in it, go when this is
/// dropped, so test runs leave nothing behind in the system's temporary
/// directory.
pub struct Temp {
    root: PathBuf,
    path: PathBuf,
}

/// A file alone in its temporary directory.
pub type TempFile = Temp;
/// A fresh empty temporary directory.
pub type TempDir = Temp;

impl Temp {
    /// The directory removed on drop (for siblings that go with it).
    pub fn dir(&self) -> &Path {
        &self.root
    }
}

impl std::ops::Deref for Temp {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Temp {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for Temp {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A fresh empty directory named after `tag`, this process and a counter.
pub fn temp_dir(tag: &str) -> TempDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "cranebpf-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    // A directory of the same name left by an earlier test process that
    // had this process id would make listings of it see strangers' files.
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).expect("temp dir");
    Temp {
        root: path.clone(),
        path,
    }
}

/// A path named `name` in a fresh temporary directory, the file not made.
pub fn temp_path(name: &str) -> TempFile {
    let mut temp = temp_dir("test");
    temp.path = temp.root.join(name);
    temp
}

/// Writes `bytes` to a fresh temporary file named `name`.
pub fn temp_file(name: &str, bytes: &[u8]) -> TempFile {
    let file = temp_path(name);
    std::fs::write(&file, bytes).expect("write");
    file
}

/// The repository's top directory (the library's package; the command's
/// tests live one level down, in cli/).
pub fn repo_root() -> PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| dir.join("conformance").is_dir())
        .unwrap_or(here)
        .to_path_buf()
}

/// The shared eBPF conformance suite (`shared/bpf-conformance/tests` above
/// the crate), or `None` with a printed reason; a failure under `CI=true`.
pub fn suite_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = cranebpf_harness::suite::find_suite_dir(&root) {
        return Some(dir);
    }
    let msg = format!(
        "conformance suite (shared/bpf-conformance/tests) not found above {}",
        root.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

/// `shared/REL` in the nearest ancestor of the crate that has it (the
/// read-only data beside the checkout), or `None` with a printed reason; a
/// failure under `CI=true`.
pub fn shared_dir(rel: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = root
        .ancestors()
        .map(|a| a.join("shared").join(rel))
        .find(|p| p.is_dir())
    {
        return Some(dir);
    }
    let msg = format!("shared/{rel} not found above {}", root.display());
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

pub mod libpcap;

/// Whether this process can load and test-run eBPF programs in the running
/// kernel; a failure under `CI=true` when it cannot, else a printed reason
/// to skip.
#[cfg(target_os = "linux")]
pub fn bpf_available() -> bool {
    match cranebpf_harness::kernel::bpf::available() {
        Ok(()) => true,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "bpf() unavailable under CI=true: {why}"
            );
            eprintln!("skipping the kernel comparison: bpf() unavailable: {why}");
            false
        }
    }
}

/// The captured bytes of every packet of link type `link_type` in the
/// real-world captures (`shared/realworld/captures`, walked in name order;
/// a malformed file gives what it holds before the fault). Empty, with a
/// printed reason, when the data is missing (a failure under `CI=true`).
pub fn realworld_frames(link_type: u32) -> Vec<Vec<u8>> {
    let Some(root) = shared_dir("realworld/captures") else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("capture directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let Ok(mut reader) = Reader::new(&bytes) else {
            continue;
        };
        while let Some(Ok(item)) = reader.next_item() {
            if let Item::Packet(p) = item {
                if p.link_type == link_type {
                    out.push(p.data.to_vec());
                }
            }
        }
    }
    out
}

/// Whether tcpdump runs here; a failure under `CI=true` when it does not,
/// else a printed reason to skip.
pub fn tcpdump_available() -> bool {
    let found = Command::new("tcpdump").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tcpdump is required under CI=true (.ci/run installs it)"
        );
        eprintln!("skipping: tcpdump not found");
    }
    found
}

/// One record as tcpdump writes it: the two 32-bit timestamp words
/// (seconds, microseconds), the wire length and the captured bytes.
pub type Record = (u32, u32, u32, Vec<u8>);

/// The records of a capture as `tcpdump -w` writes them: libpcap reads a
/// pcap fraction as a signed 32-bit number and divides a nanosecond one
/// by 1000 (so an out-of-range fraction stays out of range, differently);
/// pcapng timestamps are scaled to microseconds; seconds keep 32 bits.
pub fn records(bytes: &[u8]) -> Vec<Record> {
    let mut reader = Reader::new(bytes).expect("a capture written by tcpdump or cranebpf reads");
    let nanos = matches!(&reader, Reader::Pcap(r) if r.header().nanos);
    let mut out = Vec::new();
    while let Some(item) = reader.next_item() {
        let Item::Packet(p) = item.expect("a capture written by tcpdump or cranebpf reads") else {
            continue;
        };
        let (secs, frac) = match reader.format() {
            Format::Pcap if nanos => (p.ts_raw.0, ((p.ts_raw.1 as i32) / 1000) as u32),
            Format::Pcap => p.ts_raw,
            Format::Pcapng => {
                let ts = reader.timestamp(&p);
                (ts.secs as u32, ts.nanos / 1000)
            }
        };
        out.push((secs, frac, p.wire_len, p.data.to_vec()));
    }
    out
}

pub mod packets;
