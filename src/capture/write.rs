//! Writing captures: an output file that appears only when complete, and
//! encoders for pcap records and pcapng blocks (used by the generator and
//! the tests; the filter copies records instead of encoding them).

use super::pcap::Header;
use super::pcapng::{BYTE_ORDER_MAGIC, EPB_TYPE, IDB_TYPE, SHB_TYPE, SPB_TYPE};
use super::Timestamp;
use crate::platform::preallocate;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file written under a temporary name next to its destination and
/// renamed into place by [`AtomicFile::commit`]; dropped uncommitted (an
/// error, an interrupted run unwinding), the temporary file is removed, so
/// a half-written output never looks complete.
///
/// Only regular files are replaced that way. An existing device, FIFO or
/// socket (`-w /dev/null`, a named pipe) is written in place: renaming over
/// it would replace the device with a plain file. A symbolic link to a
/// regular file stays a link: the file it names is replaced.
///
/// The temporary file's disk space is reserved ahead of the writes
/// (`fallocate` keeping the size; ext4's delayed allocation otherwise
/// reserves every block at write time, a quarter of the time spent writing
/// a large output), and what was reserved past the end is released on
/// commit.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    /// The temporary file, or `None` when writing in place.
    tmp: Option<PathBuf>,
    dest: PathBuf,
    /// Bytes written so far.
    written: u64,
    /// Bytes reserved from the start of the file.
    reserved: u64,
    /// Whether to reserve more: only for the temporary file, and not once
    /// reserving failed.
    reserve_ahead: bool,
}

impl AtomicFile {
    /// Creates the temporary file for `dest` (or opens `dest` itself when
    /// it is not a regular file).
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dest = match std::fs::metadata(dest) {
            Ok(m) if !m.file_type().is_file() => {
                let file = std::fs::OpenOptions::new().write(true).open(dest)?;
                return Ok(AtomicFile {
                    file: Some(file),
                    tmp: None,
                    dest: dest.to_path_buf(),
                    written: 0,
                    reserved: 0,
                    reserve_ahead: false,
                });
            }
            Ok(_) => std::fs::canonicalize(dest)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => dest.to_path_buf(),
            Err(e) => return Err(e),
        };
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::other("output path has no file name"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.part", std::process::id()));
        let tmp = dest.with_file_name(tmp_name);
        let file = File::create(&tmp)?;
        Ok(AtomicFile {
            file: Some(file),
            tmp: Some(tmp),
            dest,
            written: 0,
            reserved: 0,
            reserve_ahead: true,
        })
    }

    /// Reserves space for `more` bytes past what is written, in steps
    /// that double (8 MiB to 256 MiB) so the reserve is at most about
    /// what was written and a small output costs one call.
    fn reserve(&mut self, more: usize) {
        let (Some(file), true) = (&self.file, self.reserve_ahead) else {
            return;
        };
        let needed = self.written + more as u64;
        if needed <= self.reserved {
            return;
        }
        let step = self
            .reserved
            .clamp(8 << 20, 256 << 20)
            .max(needed - self.reserved);
        if preallocate(file, self.reserved, step) {
            self.reserved += step;
        } else {
            // Not supported here, or no space: plain writes report it.
            // What was reserved before is still released on commit.
            self.reserve_ahead = false;
        }
    }

    /// Runs one write of `len` bytes on the file, reserving space first
    /// and counting what was written.
    fn counted_write(
        &mut self,
        len: usize,
        write: impl FnOnce(&mut File) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.reserve(len);
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("output already committed"))?;
        let n = write(file)?;
        self.written += n as u64;
        Ok(n)
    }

    /// The temporary path being written (`None` when writing in place).
    pub fn temp_path(&self) -> Option<&Path> {
        self.tmp.as_deref()
    }

    /// Flushes and renames the file to its destination.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
            if self.reserved > self.written {
                // Truncating to the same size frees the blocks reserved
                // past the end.
                file.set_len(self.written)?;
            }
        }
        match &self.tmp {
            Some(tmp) => std::fs::rename(tmp, &self.dest),
            None => Ok(()),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.counted_write(buf.len(), |f| f.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.counted_write(len, |f| f.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (Some(_), Some(tmp)) = (self.file.take(), &self.tmp) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Encodes pcap files in either byte order and timestamp precision.
#[derive(Clone, Copy, Debug)]
pub struct PcapEncoder {
    /// The file header to write.
    pub header: Header,
}

impl PcapEncoder {
    /// An encoder for a version 2.4 file.
    pub fn new(link_type: u32, snaplen: u32, big_endian: bool, nanos: bool) -> PcapEncoder {
        PcapEncoder {
            header: Header {
                big_endian,
                nanos,
                patched: false,
                version: (2, 4),
                snaplen,
                link_type,
            },
        }
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        if self.header.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Appends the file header.
    pub fn file_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.header.to_bytes());
    }

    /// Appends one record: `data` is the captured part of a packet of
    /// `wire_len` bytes.
    pub fn record(&self, out: &mut Vec<u8>, ts: Timestamp, data: &[u8], wire_len: u32) {
        let frac = if self.header.nanos {
            ts.nanos
        } else {
            ts.nanos / 1000
        };
        out.extend_from_slice(&self.u32(ts.secs as u32));
        out.extend_from_slice(&self.u32(frac));
        out.extend_from_slice(&self.u32(data.len() as u32));
        out.extend_from_slice(&self.u32(wire_len));
        out.extend_from_slice(data);
    }
}

/// Encodes pcapng blocks in one byte order.
#[derive(Clone, Copy, Debug)]
pub struct PcapngEncoder {
    /// Fields are big-endian.
    pub big_endian: bool,
}

impl PcapngEncoder {
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u16(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Appends a block of `block_type` around `body` (padded to 4 bytes).
    pub fn block(&self, out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
        let total = 12 + body.len().div_ceil(4) * 4;
        out.extend_from_slice(&self.u32(block_type));
        out.extend_from_slice(&self.u32(total as u32));
        out.extend_from_slice(body);
        out.resize(out.len() + (4 - body.len() % 4) % 4, 0);
        out.extend_from_slice(&self.u32(total as u32));
    }

    /// Appends a section header (version 1.0, unknown section length).
    pub fn section_header(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(BYTE_ORDER_MAGIC));
        body.extend_from_slice(&self.u16(1));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&[0xff; 8]);
        self.block(out, SHB_TYPE, &body);
    }

    /// Appends an interface description; `tsresol` is the raw
    /// `if_tsresol` byte (None: the default, microseconds).
    pub fn interface(&self, out: &mut Vec<u8>, link_type: u16, snaplen: u32, tsresol: Option<u8>) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(link_type));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32(snaplen));
        if let Some(r) = tsresol {
            body.extend_from_slice(&self.u16(9));
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0; 4]); // opt_endofopt
        }
        self.block(out, IDB_TYPE, &body);
    }

    /// Appends an enhanced packet block; `units` is the timestamp in the
    /// interface's resolution.
    pub fn packet(
        &self,
        out: &mut Vec<u8>,
        interface: u32,
        units: u64,
        data: &[u8],
        wire_len: u32,
    ) {
        let mut body = Vec::with_capacity(20 + data.len());
        body.extend_from_slice(&self.u32(interface));
        body.extend_from_slice(&self.u32((units >> 32) as u32));
        body.extend_from_slice(&self.u32(units as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(wire_len));
        body.extend_from_slice(data);
        self.block(out, EPB_TYPE, &body);
    }

    /// Appends a simple packet block (interface 0, no timestamp).
    pub fn simple_packet(&self, out: &mut Vec<u8>, data: &[u8], wire_len: u32) {
        let mut body = Vec::with_capacity(4 + data.len());
        body.extend_from_slice(&self.u32(wire_len));
        body.extend_from_slice(data);
        self.block(out, SPB_TYPE, &body);
    }
}
