//! The classic pcap format: a 24-byte file header, then records of a
//! 16-byte header (seconds, fraction, captured length, wire length) and the
//! captured bytes. Either byte order; microsecond or nanosecond fractions.
//!
//! What is accepted is what libpcap 1.10's `sf-pcap.c` accepts, so that
//! every file tcpdump reads is read with the same records: versions 2.0 to
//! 2.4 (before 2.3 the two length fields are swapped, in 2.3 they are when
//! the captured length exceeds the wire length) and the byte-swapped
//! "543.0"; Alexey Kuznetzov's patched format (magic `0xa1b2cd34`, 24-byte
//! record headers); a snapshot length of 0 or above `i32::MAX` standing for
//! the link type's maximum; and records longer than the snapshot length,
//! which libpcap cuts to it (up to the link type's maximum, past which a
//! record is an error).

use super::{CaptureError, Packet, Timestamp};

/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// Length of a record header in Kuznetzov's patched format (the standard
/// one, then interface index, protocol, packet type and a pad byte).
pub const PATCHED_RECORD_HEADER_LEN: usize = 24;
/// Magic number of microsecond files, as written in native order.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic number of nanosecond files.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Magic number of Kuznetzov's patched format (microseconds).
pub const MAGIC_PATCHED: u32 = 0xa1b2_cd34;
/// The snapshot length libpcap uses for most link types when a header says
/// 0 (`MAXIMUM_SNAPLEN`), and the largest record it reads for them.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// How far past a split point [`Reader::resync`] looks for a record.
const RESYNC_WINDOW: usize = 4 << 20;
/// How many chained records make a resync point plausible.
const RESYNC_RECORDS: usize = 16;

/// The largest captured length libpcap reads for a link type
/// (`max_snaplen_for_dlt`): D-Bus, EBHSCR and USBPcap allow more than
/// [`DEFAULT_SNAPLEN`].
pub fn max_snaplen(link_type: u32) -> u32 {
    match link_type {
        231 => 128 << 20, // DBUS
        279 => 8 << 20,   // EBHSCR
        249 => 1 << 20,   // USBPCAP
        _ => DEFAULT_SNAPLEN,
    }
}

/// The snapshot length libpcap reads a file with (`pcap_adjust_snapshot`):
/// the header's, unless it is 0 or above `i32::MAX`, then the link type's
/// maximum.
pub fn adjust_snaplen(link_type: u32, snaplen: u32) -> u32 {
    if snaplen == 0 || snaplen > i32::MAX as u32 {
        max_snaplen(link_type)
    } else {
        snaplen
    }
}

/// Where a file's records keep their two length fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthOrder {
    /// Captured length, then wire length (version 2.4 and later).
    Normal,
    /// Wire length first (versions before 2.3, and 543.0).
    Swapped,
    /// Version 2.3: swapped when the first is larger than the second.
    Maybe,
}

/// A parsed pcap file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Fields are big-endian in the file.
    pub big_endian: bool,
    /// Timestamps have nanosecond (not microsecond) fractions.
    pub nanos: bool,
    /// Kuznetzov's patched format: 24-byte record headers.
    pub patched: bool,
    /// Major and minor version.
    pub version: (u16, u16),
    /// Snapshot length as written in the header.
    pub snaplen: u32,
    /// Link-layer header type (`LINKTYPE_*`, FCS bits removed).
    pub link_type: u32,
}

impl Header {
    /// `Some((big_endian, nanos))` when the four bytes are a pcap magic.
    pub fn magic_kind(magic: [u8; 4]) -> Option<(bool, bool)> {
        let known = |m: u32| matches!(m, MAGIC_MICROS | MAGIC_NANOS | MAGIC_PATCHED);
        let (le, be) = (u32::from_le_bytes(magic), u32::from_be_bytes(magic));
        match (known(le), known(be)) {
            (true, _) => Some((false, le == MAGIC_NANOS)),
            (_, true) => Some((true, be == MAGIC_NANOS)),
            _ => None,
        }
    }

    /// Parses the file header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Header, CaptureError> {
        if bytes.len() < FILE_HEADER_LEN {
            return Err(CaptureError::truncated(
                0,
                format!(
                    "truncated pcap file header: {} of {FILE_HEADER_LEN} bytes",
                    bytes.len()
                ),
            ));
        }
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        let Some((big_endian, nanos)) = Header::magic_kind(magic) else {
            return Err(CaptureError::at(0, "bad pcap magic number"));
        };
        let u16_at = |at: usize| {
            let b = [bytes[at], bytes[at + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let u32_at = |at: usize| read_u32(bytes, at, big_endian);
        let version = (u16_at(4), u16_at(6));
        // libpcap reads 2.0 to 2.4 and 543.0 (a byte-swapped 2.x written
        // by some old tools).
        if !matches!(version, (2, 0..=4) | (543, 0)) {
            let why = if version.0 < 2 {
                "an archaic format libpcap does not read"
            } else {
                "libpcap reads 2.0 to 2.4"
            };
            return Err(CaptureError::at(
                4,
                format!(
                    "unsupported pcap version {}.{} ({why})",
                    version.0, version.1
                ),
            ));
        }
        Ok(Header {
            big_endian,
            nanos,
            patched: u32_at(0) == MAGIC_PATCHED,
            version,
            snaplen: u32_at(16),
            // The top 6 bits may hold an FCS length (LT_FCS_LENGTH).
            link_type: u32_at(20) & 0x03ff_ffff,
        })
    }

    /// The snapshot length records are read with: longer records are cut
    /// to it (libpcap's `p->snapshot`).
    pub fn snapshot(&self) -> u32 {
        let snap = adjust_snaplen(self.link_type, self.snaplen);
        // Patched Ethernet files counted the snapshot without the
        // Ethernet header; libpcap adds it back.
        if self.patched && self.link_type == 1 {
            snap.saturating_add(14).min(i32::MAX as u32)
        } else {
            snap
        }
    }

    /// The largest captured length a record may have (longer is an error).
    pub fn record_limit(&self) -> u32 {
        max_snaplen(self.link_type)
    }

    /// Length of each record header.
    pub fn record_header_len(&self) -> usize {
        if self.patched {
            PATCHED_RECORD_HEADER_LEN
        } else {
            RECORD_HEADER_LEN
        }
    }

    /// Where records keep their length fields.
    pub fn length_order(&self) -> LengthOrder {
        match self.version {
            (2, 0..=2) | (543, _) => LengthOrder::Swapped,
            (2, 3) => LengthOrder::Maybe,
            _ => LengthOrder::Normal,
        }
    }

    /// The file header bytes for this header (thiszone and sigfigs 0).
    pub fn to_bytes(&self) -> [u8; FILE_HEADER_LEN] {
        let mut out = [0u8; FILE_HEADER_LEN];
        let magic = match (self.patched, self.nanos) {
            (true, _) => MAGIC_PATCHED,
            (false, true) => MAGIC_NANOS,
            (false, false) => MAGIC_MICROS,
        };
        let fields: [(usize, u32, usize); 5] = [
            (0, magic, 4),
            (4, u32::from(self.version.0), 2),
            (6, u32::from(self.version.1), 2),
            (16, self.snaplen, 4),
            (20, self.link_type, 4),
        ];
        for (at, v, n) in fields {
            let bytes = if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            let bytes = if self.big_endian {
                &bytes[4 - n..]
            } else {
                &bytes[..n]
            };
            out[at..at + n].copy_from_slice(bytes);
        }
        out
    }
}

#[inline(always)]
fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// The captured and wire lengths of the record header at `at`, and the
/// offset in the header of the captured length's field.
#[inline(always)]
fn record_lengths(
    bytes: &[u8],
    at: usize,
    big_endian: bool,
    order: LengthOrder,
) -> (u32, u32, usize) {
    let first = read_u32(bytes, at + 8, big_endian);
    let second = read_u32(bytes, at + 12, big_endian);
    match order {
        LengthOrder::Normal => (first, second, 8),
        LengthOrder::Maybe if first <= second => (first, second, 8),
        LengthOrder::Maybe | LengthOrder::Swapped => (second, first, 12),
    }
}

/// Walks the records of a pcap file.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    header: Header,
    /// Records longer than this are an error.
    limit: u32,
    /// Records longer than this are cut to it.
    snapshot: u32,
    header_len: usize,
    order: LengthOrder,
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// Reads the file header of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Result<Reader<'a>, CaptureError> {
        let header = Header::parse(bytes)?;
        Ok(Reader {
            bytes,
            header,
            limit: header.record_limit(),
            snapshot: header.snapshot(),
            header_len: header.record_header_len(),
            order: header.length_order(),
            pos: FILE_HEADER_LEN,
            end: bytes.len(),
        })
    }

    /// The file header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The link type the header declares, the file's byte order and the
    /// byte offset of the field (the header's last, at 20).
    pub fn declared_link_type(&self) -> (u32, bool, usize) {
        (self.header.link_type, self.header.big_endian, 20)
    }

    /// The file header's bytes, as found.
    pub fn preamble(&self) -> &'a [u8] {
        &self.bytes[..FILE_HEADER_LEN]
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Length of the file.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the file is empty (never, after a header).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Stops before byte `end`, reading only items that start before it
    /// (for splitting a file at item boundaries).
    pub fn limit(&mut self, end: usize) {
        self.end = end.min(self.bytes.len());
    }

    /// The same reader over `bytes`, a longer copy of the same stream
    /// (more of it read since), positioned at `pos` in them; see
    /// [`super::Reader::rebase`].
    pub fn rebase<'b>(&self, bytes: &'b [u8], pos: usize) -> Reader<'b> {
        Reader {
            bytes,
            header: self.header,
            limit: self.limit,
            snapshot: self.snapshot,
            header_len: self.header_len,
            order: self.order,
            pos,
            end: bytes.len(),
        }
    }

    #[inline(always)]
    fn lengths(&self, at: usize) -> (u32, u32, usize) {
        record_lengths(self.bytes, at, self.header.big_endian, self.order)
    }

    /// The next record, `None` at the end, or what is wrong with it (after
    /// which the reader stays at the bad record).
    #[inline(always)]
    pub fn next_packet(&mut self) -> Option<Result<Packet<'a>, CaptureError>> {
        let at = self.pos;
        if at >= self.end {
            return None;
        }
        let rest = self.bytes.len() - at;
        let header_len = self.header_len;
        if rest < header_len {
            return Some(Err(CaptureError::truncated(
                at,
                format!("truncated record header: {rest} of {header_len} bytes"),
            )));
        }
        let (caplen, wire_len, _) = self.lengths(at);
        if caplen > self.limit {
            return Some(Err(CaptureError::at(
                at,
                format!(
                    "record captured length {caplen} is over the maximum of {} \
                     for link type {}",
                    self.limit, self.header.link_type
                ),
            )));
        }
        let stored = caplen as usize;
        if stored > rest - header_len {
            return Some(Err(CaptureError::truncated(
                at,
                format!(
                    "record captured length {caplen} runs past the end of the file \
                     ({} bytes left)",
                    rest - header_len
                ),
            )));
        }
        // libpcap cuts a record longer than the snapshot length to it.
        let clipped = caplen > self.snapshot;
        let data_len = if clipped {
            self.snapshot as usize
        } else {
            stored
        };
        let data = at + header_len;
        let next = data + stored;
        self.pos = next;
        let be = self.header.big_endian;
        Some(Ok(Packet {
            record: &self.bytes[at..next],
            data: &self.bytes[data..data + data_len],
            wire_len,
            link_type: self.header.link_type,
            big_endian: be,
            interface: 0,
            ts_raw: (
                read_u32(self.bytes, at, be),
                read_u32(self.bytes, at + 4, be),
            ),
            clipped,
        }))
    }

    /// Appends to `out` the record of a [`Packet::clipped`] packet as
    /// libpcap hands it on: its header with the captured length cut to the
    /// snapshot length, then the data kept. (Other records are copied
    /// whole.)
    pub fn write_clipped(&self, packet: &Packet<'_>, out: &mut Vec<u8>) {
        let (_, _, field) = record_lengths(packet.record, 0, self.header.big_endian, self.order);
        let new = packet.data.len() as u32;
        let new = if self.header.big_endian {
            new.to_be_bytes()
        } else {
            new.to_le_bytes()
        };
        let start = out.len();
        out.extend_from_slice(&packet.record[..self.header_len]);
        out[start + field..start + field + 4].copy_from_slice(&new);
        out.extend_from_slice(packet.data);
    }

    /// A copy of this reader at the first offset at or after `from` where a
    /// plausible chain of record headers starts (see
    /// [`super::Reader::resync`]).
    pub fn resync(&self, from: usize) -> Option<Reader<'a>> {
        let last = self.bytes.len().min(from.saturating_add(RESYNC_WINDOW));
        (from.max(FILE_HEADER_LEN)..last)
            .find(|&p| self.plausible_chain(p))
            .map(|p| Reader {
                pos: p,
                ..self.clone()
            })
    }

    /// Whether up to [`RESYNC_RECORDS`] records starting at `pos` look
    /// like real ones and end exactly at the file's end or another record.
    fn plausible_chain(&self, mut pos: usize) -> bool {
        let be = self.header.big_endian;
        let frac_limit = if self.header.nanos {
            1_000_000_000
        } else {
            1_000_000
        };
        let mut first_secs = None;
        for _ in 0..RESYNC_RECORDS {
            if pos == self.bytes.len() {
                return true;
            }
            if self.bytes.len() - pos < self.header_len {
                return false;
            }
            let secs = read_u32(self.bytes, pos, be);
            let frac = read_u32(self.bytes, pos + 4, be);
            let (caplen, wire_len, _) = self.lengths(pos);
            let near = |s: u32| first_secs.is_none_or(|f: u32| s.abs_diff(f) < 86_400);
            if frac >= frac_limit || caplen > self.limit || wire_len < caplen || !near(secs) {
                return false;
            }
            first_secs.get_or_insert(secs);
            pos += self.header_len + caplen as usize;
            if pos > self.bytes.len() {
                return false;
            }
        }
        true
    }

    /// A packet's timestamp.
    pub fn timestamp(&self, packet: &Packet<'_>) -> Timestamp {
        let (secs, frac) = packet.ts_raw;
        let (extra, nanos) = if self.header.nanos {
            (frac / 1_000_000_000, frac % 1_000_000_000)
        } else {
            (frac / 1_000_000, (frac % 1_000_000) * 1000)
        };
        Timestamp {
            secs: i64::from(secs) + i64::from(extra),
            nanos,
        }
    }
}
