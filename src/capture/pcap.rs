//! The classic pcap format: a 24-byte file header, then records of a
//! 16-byte header (seconds, fraction, captured length, wire length) and the
//! captured bytes. Either byte order; microsecond or nanosecond fractions.

use super::{CaptureError, Packet, Timestamp};

/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// Magic number of microsecond files, as written in native order.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic number of nanosecond files.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// The snapshot length libpcap assumes when a header says 0
/// (`MAXIMUM_SNAPLEN`).
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// How far past a split point [`Reader::resync`] looks for a record.
const RESYNC_WINDOW: usize = 4 << 20;
/// How many chained records make a resync point plausible.
const RESYNC_RECORDS: usize = 16;

/// A parsed pcap file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Fields are big-endian in the file.
    pub big_endian: bool,
    /// Timestamps have nanosecond (not microsecond) fractions.
    pub nanos: bool,
    /// Major and minor version.
    pub version: (u16, u16),
    /// Snapshot length: no record may capture more.
    pub snaplen: u32,
    /// Link-layer header type (`LINKTYPE_*`, FCS bits removed).
    pub link_type: u32,
}

impl Header {
    /// `Some((big_endian, nanos))` when the four bytes are a pcap magic.
    pub fn magic_kind(magic: [u8; 4]) -> Option<(bool, bool)> {
        match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (MAGIC_MICROS, _) => Some((false, false)),
            (MAGIC_NANOS, _) => Some((false, true)),
            (_, MAGIC_MICROS) => Some((true, false)),
            (_, MAGIC_NANOS) => Some((true, true)),
            _ => None,
        }
    }

    /// Parses the file header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Header, CaptureError> {
        if bytes.len() < FILE_HEADER_LEN {
            return Err(CaptureError::at(
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
        if version.0 != 2 {
            return Err(CaptureError::at(
                4,
                format!(
                    "unsupported pcap version {}.{} (only 2.x exists)",
                    version.0, version.1
                ),
            ));
        }
        Ok(Header {
            big_endian,
            nanos,
            version,
            snaplen: u32_at(16),
            // The top 6 bits may hold an FCS length (LT_FCS_LENGTH).
            link_type: u32_at(20) & 0x03ff_ffff,
        })
    }

    /// The largest captured length a record may have.
    pub fn record_limit(&self) -> u32 {
        if self.snaplen == 0 {
            DEFAULT_SNAPLEN
        } else {
            self.snaplen
        }
    }

    /// The file header bytes for this header (thiszone and sigfigs 0).
    pub fn to_bytes(&self) -> [u8; FILE_HEADER_LEN] {
        let mut out = [0u8; FILE_HEADER_LEN];
        let magic = if self.nanos {
            MAGIC_NANOS
        } else {
            MAGIC_MICROS
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

/// Walks the records of a pcap file.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    header: Header,
    limit: u32,
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
            pos: FILE_HEADER_LEN,
            end: bytes.len(),
        })
    }

    /// The file header.
    pub fn header(&self) -> &Header {
        &self.header
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

    /// The next record, `None` at the end, or what is wrong with it (after
    /// which the reader stays at the bad record).
    #[inline(always)]
    pub fn next_packet(&mut self) -> Option<Result<Packet<'a>, CaptureError>> {
        let at = self.pos;
        if at >= self.end {
            return None;
        }
        let rest = self.bytes.len() - at;
        if rest < RECORD_HEADER_LEN {
            return Some(Err(CaptureError::at(
                at,
                format!("truncated record header: {rest} of {RECORD_HEADER_LEN} bytes"),
            )));
        }
        let be = self.header.big_endian;
        let caplen = read_u32(self.bytes, at + 8, be);
        let wire_len = read_u32(self.bytes, at + 12, be);
        if caplen > self.limit {
            return Some(Err(CaptureError::at(
                at,
                format!(
                    "record captured length {caplen} is over the snapshot length {}",
                    self.limit
                ),
            )));
        }
        let data_len = caplen as usize;
        if data_len > rest - RECORD_HEADER_LEN {
            return Some(Err(CaptureError::at(
                at,
                format!(
                    "record captured length {caplen} runs past the end of the file \
                     ({} bytes left)",
                    rest - RECORD_HEADER_LEN
                ),
            )));
        }
        let next = at + RECORD_HEADER_LEN + data_len;
        self.pos = next;
        Some(Ok(Packet {
            record: &self.bytes[at..next],
            data: &self.bytes[at + RECORD_HEADER_LEN..next],
            wire_len,
            link_type: self.header.link_type,
            interface: 0,
            ts_raw: (
                read_u32(self.bytes, at, be),
                read_u32(self.bytes, at + 4, be),
            ),
        }))
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
            if self.bytes.len() - pos < RECORD_HEADER_LEN {
                return false;
            }
            let secs = read_u32(self.bytes, pos, be);
            let frac = read_u32(self.bytes, pos + 4, be);
            let caplen = read_u32(self.bytes, pos + 8, be);
            let wire_len = read_u32(self.bytes, pos + 12, be);
            let near = |s: u32| first_secs.is_none_or(|f: u32| s.abs_diff(f) < 86_400);
            if frac >= frac_limit || caplen > self.limit || wire_len < caplen || !near(secs) {
                return false;
            }
            first_secs.get_or_insert(secs);
            pos += RECORD_HEADER_LEN + caplen as usize;
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
