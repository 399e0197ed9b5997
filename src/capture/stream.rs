//! Captures that arrive through a pipe, a FIFO or a socket (`tcpdump -w -
//! | cranebpf filter -r -`): read as they come, so the first verdict is out
//! before the input ends. A regular file is better mapped ([`super::Mapped`]).
//!
//! The bytes are read into a buffer and walked by the same readers as a
//! mapped file; a record or block cut off by the end of what has arrived so
//! far is read again once more bytes are in (the readers mark such errors
//! `truncated` in [`CaptureError`]); the end of the input makes it a real
//! truncation. What has been handled is dropped from the buffer, so memory
//! stays at about one read plus the largest record.

use super::filter::CaptureFilter;
use super::scan::{run_chunk, Block, FilterCache, ScanError, ScanOptions, Sink, Summary};
use super::{CaptureError, Item, Packet, Reader, Timestamp};
use std::io::{self, Read, Write};

/// How much to ask the input for at a time. A pipe returns what it holds
/// (at most 64 KiB on Linux) without waiting for more.
const READ_SIZE: usize = 256 << 10;

/// A capture being read from `R`: its format state, the bytes read and not
/// yet handled, and their offset in the whole input.
pub struct Stream<R> {
    input: R,
    /// Zeroed once when it grows; `buf[..filled]` holds input.
    buf: Vec<u8>,
    filled: usize,
    /// Offset in `buf` of the next item.
    pos: usize,
    /// Offset in the input of `buf[0]`.
    base: u64,
    eof: bool,
    /// The reader's state (format, byte order, interfaces), over no bytes.
    state: Reader<'static>,
    /// The bytes an output file starts with (the pcap file header).
    preamble: Vec<u8>,
}

impl<R: Read> Stream<R> {
    /// Reads from `input` until the file header is in and recognised.
    pub fn new(mut input: R) -> Result<Stream<R>, ScanError> {
        let (mut buf, mut filled) = (Vec::new(), 0);
        let mut eof = false;
        loop {
            match Reader::new(&buf[..filled]) {
                Ok(reader) => {
                    let preamble = reader.preamble().to_vec();
                    let pos = reader.offset();
                    let state = reader.rebase(&[], 0);
                    return Ok(Stream {
                        input,
                        buf,
                        filled,
                        pos,
                        base: 0,
                        eof,
                        state,
                        preamble,
                    });
                }
                Err(e) if e.truncated && !eof => {
                    eof = !read_more(&mut input, &mut buf, &mut filled)?;
                }
                Err(e) => return Err(ScanError::Capture(e)),
            }
        }
    }

    /// The bytes an output file must start with (see
    /// [`Reader::preamble`]).
    pub fn preamble(&self) -> &[u8] {
        &self.preamble
    }

    /// Offset in the input of the next item.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Drops what was handled and reads more; false at the end of the
    /// input.
    fn refill(&mut self) -> Result<bool, ScanError> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.base += self.pos as u64;
        self.pos = 0;
        self.eof = !read_more(&mut self.input, &mut self.buf, &mut self.filled)?;
        Ok(!self.eof)
    }

    /// An error at `offset` in the buffer, made an offset in the input.
    fn in_input(&self, mut e: CaptureError) -> CaptureError {
        e.offset += self.base;
        e
    }

    /// The next item, `None` at the end of the input, or what is wrong
    /// (reading stops there; [`CaptureError::offset`] is in the whole
    /// input).
    pub fn next_item(&mut self) -> Option<Result<Item<'_>, ScanError>> {
        loop {
            let mut reader = self.state.rebase(&self.buf[..self.filled], self.pos);
            match reader.next_item() {
                Some(Ok(_)) => {
                    let at = self.pos;
                    self.pos = reader.offset();
                    self.state = reader.rebase(&[], 0);
                    // Read again, now that the state is kept: the item
                    // borrows the buffer.
                    let mut again = self.state.rebase(&self.buf[..self.filled], at);
                    return again.next_item().map(|r| r.map_err(ScanError::Capture));
                }
                None if self.eof => return None,
                Some(Err(e)) if !e.truncated || self.eof => {
                    return Some(Err(ScanError::Capture(self.in_input(e))));
                }
                _ => {}
            }
            if let Err(e) = self.refill() {
                return Some(Err(e));
            }
        }
    }

    /// [`Reader::declared_link_type`], the offset in the whole input:
    /// asked before the first item or right after the item that declared
    /// it (an interface's block is found where the buffer was when it was
    /// read).
    pub fn declared_link_type(&self) -> Option<(u32, bool, u64)> {
        let (link_type, big_endian, at) = self.state.declared_link_type()?;
        let base = match self.state {
            Reader::Pcap(_) => 0,
            Reader::Pcapng(_) => self.base,
        };
        Some((link_type, big_endian, base + at as u64))
    }

    /// The timestamp of a packet this stream returned.
    pub fn timestamp(&self, packet: &Packet<'_>) -> Timestamp {
        self.state.timestamp(packet)
    }
}

/// Appends what one read of `input` gives to `buf[..filled]`, growing
/// `buf` when less than a read's worth is free; false at the input's end.
fn read_more(
    input: &mut impl Read,
    buf: &mut Vec<u8>,
    filled: &mut usize,
) -> Result<bool, ScanError> {
    if buf.len() - *filled < READ_SIZE / 4 {
        buf.resize(*filled + READ_SIZE, 0);
    }
    let got = loop {
        match input.read(&mut buf[*filled..]) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ScanError::Input(e)),
        }
    };
    *filled += got;
    Ok(got > 0)
}

/// Filters a capture read from `input` as it arrives (see [`Stream`]),
/// writing the file header and every matching record to `out` (flushed
/// after every read, so a reader at the other end sees them at once), or
/// only counting when `out` is `None`. Results and errors are those of
/// [`super::scan::scan`] over the same bytes; `options.threads` is not
/// used.
pub fn scan_stream(
    input: impl Read,
    filters: &CaptureFilter,
    mut out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
) -> Result<Summary, ScanError> {
    let mut stream = Stream::new(input)?;
    let mut summary = Summary::default();
    if let Some(w) = out.as_deref_mut() {
        w.write_all(stream.preamble()).map_err(ScanError::Output)?;
        summary.written += stream.preamble().len() as u64;
    }
    let mut block = Block::new(READ_SIZE);
    let mut cache = FilterCache::default();
    loop {
        let limit = options.max_matches.unwrap_or(u64::MAX);
        let left = limit.saturating_sub(summary.matched);
        let mut reader = stream
            .state
            .rebase(&stream.buf[..stream.filled], stream.pos);
        let sink = out.is_some().then_some(Sink::Copy(&mut block));
        let step = run_chunk(&mut reader, filters, &mut cache, sink, left, &mut summary);
        stream.pos = reader.offset();
        stream.state = reader.rebase(&[], 0);
        if let Some(w) = out.as_deref_mut() {
            block.write_out(w, &mut summary)?;
            w.flush().map_err(ScanError::Output)?;
        }
        if let Some(progress) = options.progress {
            progress(stream.offset());
        }
        match step {
            Ok(_) if summary.matched >= limit => return Ok(summary),
            Ok(_) => {}
            Err(ScanError::Capture(e)) if e.truncated && !stream.eof => {}
            Err(ScanError::Capture(e)) => {
                summary.error = Some(stream.in_input(e));
                return Ok(summary);
            }
            Err(ScanError::Filter {
                offset,
                link_type,
                error,
            }) => {
                return Err(ScanError::Filter {
                    offset: offset + stream.base,
                    link_type,
                    error,
                })
            }
            Err(e) => return Err(e),
        }
        if !stream.refill()? {
            // The input ended: what is left is a cut-off record, which
            // the next pass reports, or nothing.
            if stream.pos == stream.filled {
                return Ok(summary);
            }
        }
    }
}
