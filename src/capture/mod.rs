//! Capture files: zero-copy readers for pcap and pcapng over a memory map,
//! the filtering loop that copies matching records straight to the output,
//! an atomic output file, and a seeded generator of realistic captures.
//!
//! The readers never copy packet bytes: a [`Packet`] borrows its record from
//! the mapped file, so a filter runs on the file's own bytes and a match is
//! written by appending the whole record (header and data, already in the
//! file's byte order) to the output.

pub mod filter;
pub mod map;
pub mod pcap;
pub mod pcapng;
pub mod scan;
pub mod stream;
pub mod write;

use std::fmt;

pub use filter::{CaptureFilter, CaptureFilterError};
pub use map::Mapped;
pub use scan::{scan, ScanOptions, Summary};
pub use stream::{scan_stream, Stream};

/// A malformed capture file: what is wrong and the byte offset where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureError {
    /// Byte offset in the file of the header or block at fault.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
    /// The bytes end inside the record or block at `offset`: the file was
    /// cut short (or, for a stream, not all of it has arrived yet).
    pub truncated: bool,
}

impl CaptureError {
    pub(crate) fn at(offset: usize, message: impl Into<String>) -> CaptureError {
        CaptureError {
            offset: offset as u64,
            message: message.into(),
            truncated: false,
        }
    }

    /// An error for bytes that end inside the record or block at `offset`.
    pub(crate) fn truncated(offset: usize, message: impl Into<String>) -> CaptureError {
        CaptureError {
            truncated: true,
            ..CaptureError::at(offset, message)
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for CaptureError {}

/// The two capture formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// One captured packet, borrowed from the file.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// The whole record (pcap: 16-byte header and data; pcapng: the whole
    /// block), to copy to the output unchanged.
    pub record: &'a [u8],
    /// The captured bytes.
    pub data: &'a [u8],
    /// The packet's length on the wire.
    pub wire_len: u32,
    /// The link-layer header type (`LINKTYPE_*`) of its interface.
    pub link_type: u32,
    /// The byte order of the file (pcap) or section (pcapng) holding it:
    /// its writer's, which DLT_NULL's link-layer header follows.
    pub big_endian: bool,
    /// Index of its interface in the current section (0 for pcap).
    pub interface: u32,
    /// Raw timestamp words as stored (pcap: seconds and fraction; pcapng:
    /// high and low 32 bits); see [`Reader::timestamp`].
    pub ts_raw: (u32, u32),
    /// The record holds more than the snapshot length and `data` is cut to
    /// it, as libpcap cuts it; written out, the record needs its captured
    /// length rewritten ([`Reader::write_record`]).
    pub clipped: bool,
}

/// One item of a capture after its file header.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    /// A packet record.
    Packet(Packet<'a>),
    /// A pcapng block that is not a packet (section header, interface
    /// description, statistics, name resolution, ...): copied to the
    /// output as it is so the output stays a valid pcapng file.
    Other(&'a [u8]),
}

/// A timestamp: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds.
    pub secs: i64,
    /// Nanoseconds, below 1e9.
    pub nanos: u32,
}

/// A reader of either format, positioned after the file header.
#[derive(Clone, Debug)]
pub enum Reader<'a> {
    /// A pcap file.
    Pcap(pcap::Reader<'a>),
    /// A pcapng file.
    Pcapng(pcapng::Reader<'a>),
}

impl<'a> Reader<'a> {
    /// Recognises the format by its first four bytes and reads the file
    /// header.
    pub fn new(bytes: &'a [u8]) -> Result<Reader<'a>, CaptureError> {
        if bytes.len() < 4 {
            return Err(CaptureError::truncated(
                0,
                format!(
                    "file too short for a capture ({} bytes; pcap needs a 24-byte header)",
                    bytes.len()
                ),
            ));
        }
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic == pcapng::SHB_TYPE.to_le_bytes() {
            return Ok(Reader::Pcapng(pcapng::Reader::new(bytes)?));
        }
        if pcap::Header::magic_kind(magic).is_some() {
            return Ok(Reader::Pcap(pcap::Reader::new(bytes)?));
        }
        Err(CaptureError::at(
            0,
            format!(
                "bad magic number {:02x} {:02x} {:02x} {:02x}: neither pcap nor pcapng",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ))
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        match self {
            Reader::Pcap(_) => Format::Pcap,
            Reader::Pcapng(_) => Format::Pcapng,
        }
    }

    /// The bytes before the first item that an output file must start
    /// with (the pcap file header; nothing for pcapng, whose section
    /// header is an item).
    pub fn preamble(&self) -> &'a [u8] {
        match self {
            Reader::Pcap(r) => r.preamble(),
            Reader::Pcapng(_) => &[],
        }
    }

    /// The link type the file declares before any packet, as libpcap
    /// reports it and tcpdump compiles its filter for: the pcap header's,
    /// or the first interface's of the pcapng section once its block was
    /// read (`None` before); with the byte order and the byte offset of
    /// the declaration.
    pub fn declared_link_type(&self) -> Option<(u32, bool, usize)> {
        match self {
            Reader::Pcap(r) => Some(r.declared_link_type()),
            Reader::Pcapng(r) => r.first_interface(),
        }
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            Reader::Pcap(r) => r.bytes(),
            Reader::Pcapng(r) => r.bytes(),
        }
    }

    /// Byte offset of the next item.
    pub fn offset(&self) -> usize {
        match self {
            Reader::Pcap(r) => r.offset(),
            Reader::Pcapng(r) => r.offset(),
        }
    }

    /// Total length of the file.
    pub fn len(&self) -> usize {
        match self {
            Reader::Pcap(r) => r.len(),
            Reader::Pcapng(r) => r.len(),
        }
    }

    /// Whether the file is empty (it never is once a header was read).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the reader at byte `end`: only items starting before it are
    /// read (for splitting a file between threads at item boundaries).
    pub fn limit(&mut self, end: usize) {
        match self {
            Reader::Pcap(r) => r.limit(end),
            Reader::Pcapng(r) => r.limit(end),
        }
    }

    /// The next item, `None` at the end, or what is wrong with it.
    #[inline]
    pub fn next_item(&mut self) -> Option<Result<Item<'a>, CaptureError>> {
        match self {
            Reader::Pcap(r) => r.next_packet().map(|p| p.map(Item::Packet)),
            Reader::Pcapng(r) => r.next_item(),
        }
    }

    /// A copy of this reader, with its state (byte order, interfaces),
    /// positioned at the first offset at or after `from` where a plausible
    /// chain of records starts, for splitting a file between threads
    /// without walking it first. Only a guess: random packet bytes can
    /// look like records, so whoever uses it must check that the records
    /// before `from`, walked for real, end exactly there.
    pub fn resync(&self, from: usize) -> Option<Reader<'a>> {
        match self {
            Reader::Pcap(r) => r.resync(from).map(Reader::Pcap),
            Reader::Pcapng(r) => r.resync(from).map(Reader::Pcapng),
        }
    }

    /// Whether two readers of the same file have the same state (always,
    /// for pcap; the same byte order and interfaces, for pcapng).
    pub fn same_state(&self, other: &Reader<'_>) -> bool {
        match (self, other) {
            (Reader::Pcap(_), Reader::Pcap(_)) => true,
            (Reader::Pcapng(a), Reader::Pcapng(b)) => a.same_state(b),
            _ => false,
        }
    }

    /// The same reader (format, byte order, interfaces) over `bytes`, a
    /// longer copy of the same stream with more of it read since,
    /// positioned at `pos` in them: how a capture read from a pipe goes on
    /// where the bytes read so far ended.
    pub fn rebase<'b>(&self, bytes: &'b [u8], pos: usize) -> Reader<'b> {
        match self {
            Reader::Pcap(r) => Reader::Pcap(r.rebase(bytes, pos)),
            Reader::Pcapng(r) => Reader::Pcapng(r.rebase(bytes, pos)),
        }
    }

    /// Appends `packet`'s record to `out` as it must be written: whole, or
    /// with its captured length rewritten when the reader cut it
    /// ([`Packet::clipped`]).
    pub fn write_record(&self, packet: &Packet<'_>, out: &mut Vec<u8>) {
        match self {
            Reader::Pcap(r) if packet.clipped => r.write_clipped(packet, out),
            _ => out.extend_from_slice(packet.record),
        }
    }

    /// The timestamp of a packet this reader returned.
    pub fn timestamp(&self, packet: &Packet<'_>) -> Timestamp {
        match self {
            Reader::Pcap(r) => r.timestamp(packet),
            Reader::Pcapng(r) => r.timestamp(packet),
        }
    }
}

/// Every packet of a capture with its timestamp, for tests and tools that
/// compare captures (allocates; the filtering loop does not use it).
pub fn packets(bytes: &[u8]) -> Result<Vec<(Timestamp, Packet<'_>)>, CaptureError> {
    let mut reader = Reader::new(bytes)?;
    let mut out = Vec::new();
    while let Some(item) = reader.next_item() {
        if let Item::Packet(p) = item? {
            out.push((reader.timestamp(&p), p));
        }
    }
    Ok(out)
}
