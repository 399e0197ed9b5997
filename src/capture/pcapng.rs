//! pcapng: a sequence of blocks (type, total length, body, total length
//! again). Each section header sets the byte order of its section and
//! starts a new list of interfaces; each interface has its own link type,
//! snapshot length and timestamp resolution.
//!
//! The rules are libpcap 1.10's (`sf-pcapng.c`) where it reads a file at
//! all: a snapshot length of 0 stands for the link type's maximum, a
//! packet longer than its interface's snapshot length is an error, a
//! simple packet holds the smaller of its wire length and the snapshot
//! length. Beyond libpcap, which stops at an interface whose link type or
//! snapshot length differs from the first one's or at a section in the
//! other byte order, each interface keeps its own and each section its
//! byte order.

use super::pcap::adjust_snaplen;
use super::{CaptureError, Item, Packet, Timestamp};
use std::sync::Arc;

/// Section Header Block type (the same in both byte orders).
pub const SHB_TYPE: u32 = 0x0a0d_0d0a;
/// Interface Description Block type.
pub const IDB_TYPE: u32 = 1;
/// Obsolete Packet Block type.
pub const OPB_TYPE: u32 = 2;
/// Simple Packet Block type.
pub const SPB_TYPE: u32 = 3;
/// Enhanced Packet Block type.
pub const EPB_TYPE: u32 = 6;
/// The byte-order magic of a section header.
pub const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

/// How far past a split point [`Reader::resync`] looks for a block.
const RESYNC_WINDOW: usize = 4 << 20;
/// How many chained blocks make a resync point plausible.
const RESYNC_BLOCKS: usize = 16;

/// What the reader knows about one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Link-layer header type (`LINKTYPE_*`).
    pub link_type: u32,
    /// Snapshot length as libpcap reads it (the block's, or the link
    /// type's maximum when the block says 0).
    pub snaplen: u32,
    /// Timestamp units per second (`if_tsresol`; default 10^6).
    pub units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    pub ts_offset: i64,
    /// Byte offset of its description block in the bytes read.
    pub block_offset: usize,
}

/// Walks the blocks of a pcapng file.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
    big_endian: bool,
    /// Shared between copies of the reader (the threaded scan makes one
    /// per chunk), copied only when a copy adds an interface: a file may
    /// describe tens of thousands.
    interfaces: Arc<Vec<Interface>>,
}

impl<'a> Reader<'a> {
    /// Checks that `bytes` starts with a section header block.
    pub fn new(bytes: &'a [u8]) -> Result<Reader<'a>, CaptureError> {
        let mut r = Reader {
            bytes,
            pos: 0,
            end: bytes.len(),
            big_endian: false,
            interfaces: Arc::new(Vec::new()),
        };
        if bytes.len() >= 4 && bytes[..4] != SHB_TYPE.to_le_bytes() {
            return Err(CaptureError::at(
                0,
                "pcapng file does not start with a section header",
            ));
        }
        // Validate the first block now so a bad header fails early; the
        // section header itself is still returned by the first next_item.
        let mut probe = r.clone();
        if let Some(Err(e)) = probe.next_item() {
            return Err(e);
        }
        r.big_endian = probe.big_endian;
        Ok(r)
    }

    /// Byte offset of the next block.
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

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Stops before byte `end`, reading only items that start before it
    /// (for splitting a file at item boundaries).
    pub fn limit(&mut self, end: usize) {
        self.end = end.min(self.bytes.len());
    }

    /// The interfaces of the current section.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// The current section's first interface: its link type, the
    /// section's byte order and the offset of its block (what libpcap
    /// reports as the file's link type).
    pub fn first_interface(&self) -> Option<(u32, bool, usize)> {
        let iface = self.interfaces.first()?;
        Some((iface.link_type, self.big_endian, iface.block_offset))
    }

    /// The same reader over `bytes`, a longer copy of the same stream
    /// (more of it read since), positioned at `pos` in them; see
    /// [`super::Reader::rebase`].
    pub fn rebase<'b>(&self, bytes: &'b [u8], pos: usize) -> Reader<'b> {
        Reader {
            bytes,
            pos,
            end: bytes.len(),
            big_endian: self.big_endian,
            interfaces: Arc::clone(&self.interfaces),
        }
    }

    #[inline(always)]
    fn u32_at(&self, at: usize) -> u32 {
        let b = &self.bytes;
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    fn u16_at(&self, at: usize) -> u16 {
        let v = [self.bytes[at], self.bytes[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    /// The next block, `None` at the end, or what is wrong with it (after
    /// which the reader stays at the bad block).
    #[inline]
    pub fn next_item(&mut self) -> Option<Result<Item<'a>, CaptureError>> {
        let at = self.pos;
        if at >= self.end {
            return None;
        }
        Some(self.block(at))
    }

    fn block(&mut self, at: usize) -> Result<Item<'a>, CaptureError> {
        let rest = self.bytes.len() - at;
        if rest < 12 {
            return Err(CaptureError::truncated(
                at,
                format!("truncated block header: {rest} of 12 bytes"),
            ));
        }
        let raw_type = u32::from_le_bytes([
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ]);
        if raw_type == SHB_TYPE {
            let magic = [
                self.bytes[at + 8],
                self.bytes[at + 9],
                self.bytes[at + 10],
                self.bytes[at + 11],
            ];
            self.big_endian = if u32::from_le_bytes(magic) == BYTE_ORDER_MAGIC {
                false
            } else if u32::from_be_bytes(magic) == BYTE_ORDER_MAGIC {
                true
            } else {
                return Err(CaptureError::at(
                    at + 8,
                    "section header has a bad byte-order magic",
                ));
            };
        }
        let block_type = self.u32_at(at);
        let total = self.u32_at(at + 4) as usize;
        if total < 12 || !total.is_multiple_of(4) {
            return Err(CaptureError::at(
                at,
                format!(
                    "block type {block_type:#x}: total length {total} is {}",
                    if total < 12 {
                        "below the minimum of 12"
                    } else {
                        "not a multiple of 4"
                    }
                ),
            ));
        }
        if total > rest {
            return Err(CaptureError::truncated(
                at,
                format!(
                    "block type {block_type:#x}: total length {total} runs past the end of \
                     the file ({rest} bytes left)"
                ),
            ));
        }
        let trailer = self.u32_at(at + total - 4) as usize;
        if trailer != total {
            return Err(CaptureError::at(
                at,
                format!(
                    "block type {block_type:#x}: trailing total length {trailer} differs \
                     from the leading {total}"
                ),
            ));
        }
        let block = &self.bytes[at..at + total];
        let item = match block_type {
            SHB_TYPE => {
                if total < 28 {
                    return Err(too_short(at, "section header", total, 28));
                }
                let major = self.u16_at(at + 12);
                if major != 1 {
                    return Err(CaptureError::at(
                        at + 12,
                        format!("unsupported pcapng major version {major}"),
                    ));
                }
                self.interfaces = Arc::new(Vec::new());
                Item::Other(block)
            }
            IDB_TYPE => {
                if total < 20 {
                    return Err(too_short(at, "interface description", total, 20));
                }
                let iface = self.interface(at, total)?;
                Arc::make_mut(&mut self.interfaces).push(iface);
                Item::Other(block)
            }
            EPB_TYPE | OPB_TYPE => Item::Packet(self.packet(at, total, block_type)?),
            SPB_TYPE => Item::Packet(self.simple_packet(at, total)?),
            _ => Item::Other(block),
        };
        self.pos = at + total;
        Ok(item)
    }

    fn interface(&self, at: usize, total: usize) -> Result<Interface, CaptureError> {
        let link_type = u32::from(self.u16_at(at + 8));
        let mut iface = Interface {
            link_type,
            snaplen: adjust_snaplen(link_type, self.u32_at(at + 12)),
            units_per_sec: 1_000_000,
            ts_offset: 0,
            block_offset: at,
        };
        let mut opt = at + 16;
        let end = at + total - 4;
        while opt + 4 <= end {
            let code = self.u16_at(opt);
            let len = usize::from(self.u16_at(opt + 2));
            if code == 0 {
                break;
            }
            let value = opt + 4;
            if value + len > end {
                return Err(CaptureError::at(
                    opt,
                    format!("interface option {code}: length {len} runs past the end of its block"),
                ));
            }
            match (code, len) {
                (9, 1) => {
                    let r = self.bytes[value];
                    let exp = u32::from(r & 0x7f);
                    let units = if r & 0x80 != 0 {
                        1u64.checked_shl(exp)
                    } else {
                        10u64.checked_pow(exp)
                    };
                    iface.units_per_sec = units.ok_or_else(|| {
                        CaptureError::at(opt, format!("if_tsresol {r:#x} is too fine"))
                    })?;
                }
                (14, 8) => {
                    let lo = u64::from(self.u32_at(value));
                    let hi = u64::from(self.u32_at(value + 4));
                    let v = if self.big_endian {
                        lo << 32 | hi
                    } else {
                        hi << 32 | lo
                    };
                    iface.ts_offset = v as i64;
                }
                _ => {}
            }
            opt = value + len.div_ceil(4) * 4;
        }
        Ok(iface)
    }

    fn lookup(&self, at: usize, id: u32) -> Result<&Interface, CaptureError> {
        self.interfaces.get(id as usize).ok_or_else(|| {
            CaptureError::at(
                at,
                format!(
                    "packet refers to interface {id}, but its section describes {}",
                    self.interfaces.len()
                ),
            )
        })
    }

    #[inline]
    fn packet(&self, at: usize, total: usize, kind: u32) -> Result<Packet<'a>, CaptureError> {
        if total < 32 {
            return Err(too_short(at, "packet", total, 32));
        }
        let id = if kind == OPB_TYPE {
            u32::from(self.u16_at(at + 8))
        } else {
            self.u32_at(at + 8)
        };
        let iface = *self.lookup(at, id)?;
        let caplen = self.u32_at(at + 20);
        let wire_len = self.u32_at(at + 24);
        check_snaplen(at, caplen, &iface)?;
        let room = total - 32;
        if caplen as usize > room {
            return Err(CaptureError::at(
                at,
                format!("packet captured length {caplen} is over its block's {room} bytes of data"),
            ));
        }
        Ok(Packet {
            record: &self.bytes[at..at + total],
            data: &self.bytes[at + 28..at + 28 + caplen as usize],
            wire_len,
            link_type: iface.link_type,
            big_endian: self.big_endian,
            interface: id,
            ts_raw: (self.u32_at(at + 12), self.u32_at(at + 16)),
            clipped: false,
        })
    }

    fn simple_packet(&self, at: usize, total: usize) -> Result<Packet<'a>, CaptureError> {
        if total < 16 {
            return Err(too_short(at, "simple packet", total, 16));
        }
        let iface = *self.lookup(at, 0)?;
        let wire_len = self.u32_at(at + 8);
        let caplen = wire_len.min(iface.snaplen) as usize;
        if caplen > total - 16 {
            return Err(CaptureError::at(
                at,
                format!(
                    "simple packet block: {caplen} bytes of packet (its length, at most the \
                     snapshot length) do not fit in its {} bytes of data",
                    total - 16
                ),
            ));
        }
        Ok(Packet {
            record: &self.bytes[at..at + total],
            data: &self.bytes[at + 12..at + 12 + caplen],
            wire_len,
            link_type: iface.link_type,
            big_endian: self.big_endian,
            interface: 0,
            ts_raw: (0, 0),
            clipped: false,
        })
    }

    /// A copy of this reader (its byte order and interfaces) at the first
    /// 4-aligned offset at or after `from` where a plausible chain of
    /// blocks starts (see [`super::Reader::resync`]).
    pub fn resync(&self, from: usize) -> Option<Reader<'a>> {
        let start = from.div_ceil(4) * 4;
        let last = self.bytes.len().min(start.saturating_add(RESYNC_WINDOW));
        (start..last)
            .step_by(4)
            .find(|&p| self.plausible_chain(p))
            .map(|p| Reader {
                pos: p,
                end: self.bytes.len(),
                ..self.clone()
            })
    }

    fn plausible_chain(&self, mut pos: usize) -> bool {
        for _ in 0..RESYNC_BLOCKS {
            if pos == self.bytes.len() {
                return true;
            }
            if self.bytes.len() - pos < 12 {
                return false;
            }
            let block_type = self.u32_at(pos);
            if block_type == SHB_TYPE {
                return true;
            }
            let known = matches!(block_type, 1..=7 | 9 | 10 | 0xbad | 0x4000_0bad);
            let total = self.u32_at(pos + 4) as usize;
            if !known || total < 12 || !total.is_multiple_of(4) || total > self.bytes.len() - pos {
                return false;
            }
            if self.u32_at(pos + total - 4) as usize != total {
                return false;
            }
            if block_type == EPB_TYPE
                && (total < 32 || self.u32_at(pos + 8) as usize >= self.interfaces.len())
            {
                return false;
            }
            pos += total;
        }
        true
    }

    /// Whether `other` has the same byte order and interfaces.
    pub fn same_state(&self, other: &Reader<'_>) -> bool {
        self.big_endian == other.big_endian && self.interfaces == other.interfaces
    }

    /// Reads the blocks before the first packet (section header,
    /// interface descriptions, ...) so this reader holds the state packets
    /// need; stops at the first packet, an error or the end.
    pub fn skip_preamble(&mut self) {
        while self.pos < self.end {
            let at = self.pos;
            if self.bytes.len() - at >= 4
                && matches!(self.u32_at(at), EPB_TYPE | OPB_TYPE | SPB_TYPE)
            {
                return;
            }
            if !matches!(self.next_item(), Some(Ok(_))) {
                // Left at the bad block for the scan to report.
                self.pos = at;
                return;
            }
        }
    }

    /// A packet's timestamp (simple packet blocks have none: 0).
    pub fn timestamp(&self, packet: &Packet<'_>) -> Timestamp {
        let units = u64::from(packet.ts_raw.0) << 32 | u64::from(packet.ts_raw.1);
        let iface = self.interfaces.get(packet.interface as usize);
        let (per_sec, offset) = iface.map_or((1_000_000, 0), |i| (i.units_per_sec, i.ts_offset));
        let frac = u128::from(units % per_sec) * 1_000_000_000 / u128::from(per_sec);
        Timestamp {
            secs: ((units / per_sec) as i64).wrapping_add(offset),
            nanos: frac as u32,
        }
    }
}

fn too_short(at: usize, what: &str, total: usize, min: usize) -> CaptureError {
    CaptureError::at(
        at,
        format!("{what} block: total length {total} is below the minimum of {min}"),
    )
}

#[inline]
fn check_snaplen(at: usize, caplen: u32, iface: &Interface) -> Result<(), CaptureError> {
    if caplen > iface.snaplen {
        return Err(CaptureError::at(
            at,
            format!(
                "packet captured length {caplen} is over its interface's snapshot length {}",
                iface.snaplen
            ),
        ));
    }
    Ok(())
}
