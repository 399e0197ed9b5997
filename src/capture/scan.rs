//! The filtering loop: walk the records of a mapped capture, run the filter
//! on each packet's bytes where they lie, and append every matching record
//! whole to an output block, written in one call when full.
//!
//! A match is a verdict other than 0, as libpcap's `pcap_offline_filter`
//! decides (tcpdump writes matching records whole; the verdict's snap
//! length is not applied). The filter sees the wire length as `len`.
//!
//! With several threads, the file is cut into one chunk per thread at
//! guessed record boundaries, checked afterwards (see [`scan`]'s threaded
//! path): walking every header first would cost as much as the scan.

use super::filter::{CaptureFilter, CaptureFilterError};
use super::{CaptureError, Item, Packet, Reader};
use crate::Filter;
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

/// Sizes of the output pipeline (see [`Outbox`]); the tests shrink them
/// to reach every path on small inputs.
#[derive(Clone, Copy, Debug)]
struct Tuning {
    /// Output is written in blocks of about this many bytes, and the input
    /// is filtered in steps of this many. Matching records are copied into
    /// the block by the thread that filtered them, so the one thread that
    /// writes (in file order) hands the kernel long contiguous buffers: a
    /// record-by-record `writev` straight from the mapping cost the writer
    /// twice as long, and that thread is the bottleneck of large outputs.
    block: usize,
    /// Blocks a worker may have sent and not had back before it either
    /// waits for the writer or, ahead of its turn, notes ranges instead.
    /// Few, so the blocks in flight stay in cache: holding 128 blocks
    /// made a large output a third slower on 2 cores.
    held_blocks: usize,
    /// Bytes of noted ranges a worker ahead of its turn may hold before it
    /// waits for the writer.
    noted_bytes: usize,
}

const TUNING: Tuning = Tuning {
    block: 1 << 20,
    held_blocks: 4,
    noted_bytes: 64 << 20,
};

/// Why a scan stopped.
#[derive(Debug)]
pub enum ScanError {
    /// The capture is malformed.
    Capture(CaptureError),
    /// No filter could be built for a link type met at `offset`.
    Filter {
        /// Byte offset where the link type is declared (the pcap file
        /// header's field, the first pcapng interface's block) or of the
        /// first packet of a later link type.
        offset: u64,
        /// The link type.
        link_type: u32,
        /// Why.
        error: CaptureFilterError,
    },
    /// Writing the output failed.
    Output(io::Error),
    /// Reading the input (a stream) failed.
    Input(io::Error),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Capture(e) => e.fmt(f),
            ScanError::Filter {
                offset,
                link_type,
                error,
            } => write!(f, "byte offset {offset}: link type {link_type}: {error}"),
            ScanError::Output(e) => write!(f, "writing the output: {e}"),
            ScanError::Input(e) => write!(f, "reading the input: {e}"),
        }
    }
}

impl std::error::Error for ScanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScanError::Capture(e) => Some(e),
            ScanError::Filter { error, .. } => Some(error),
            ScanError::Output(e) | ScanError::Input(e) => Some(e),
        }
    }
}

impl From<CaptureError> for ScanError {
    fn from(e: CaptureError) -> ScanError {
        ScanError::Capture(e)
    }
}

/// How to scan.
#[derive(Default)]
pub struct ScanOptions<'p> {
    /// Filtering threads (0 or 1: filter on the calling thread).
    pub threads: usize,
    /// Stop after this many matches (tcpdump's `-c`); the scan is then
    /// serial.
    pub max_matches: Option<u64>,
    /// Called now and then with the number of input bytes done.
    pub progress: Option<&'p dyn Fn(u64)>,
}

/// What a scan did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Packets read.
    pub packets: u64,
    /// Packets matched.
    pub matched: u64,
    /// Bytes of captured packet data read.
    pub packet_bytes: u64,
    /// Bytes written to the output (file header included).
    pub written: u64,
    /// The record or block where reading stopped with an error, after
    /// every item before it was filtered and written (libpcap, and so
    /// tcpdump, do the same: a file cut short inside a record keeps the
    /// records before it). `None` when the whole capture was read.
    pub error: Option<CaptureError>,
}

/// Filters the capture in `bytes` with `filter`, writing the file header
/// and every matching record to `out` (or only counting when `out` is
/// `None`). An error in the file header is an `Err`; one in a later
/// record or block ends the scan there and is [`Summary::error`].
pub fn scan(
    bytes: &[u8],
    filters: &CaptureFilter,
    out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
) -> Result<Summary, ScanError> {
    scan_tuned(bytes, filters, out, options, TUNING)
}

fn scan_tuned(
    bytes: &[u8],
    filters: &CaptureFilter,
    mut out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
    tuning: Tuning,
) -> Result<Summary, ScanError> {
    let reader = Reader::new(bytes)?;
    let mut summary = Summary::default();
    if let Some(w) = out.as_deref_mut() {
        w.write_all(reader.preamble()).map_err(ScanError::Output)?;
        summary.written += reader.preamble().len() as u64;
    }
    if options.threads > 1 && options.max_matches.is_none() {
        scan_threaded(reader, filters, out, options, tuning, &mut summary)?;
    } else {
        scan_serial(reader, filters, out, options, tuning, &mut summary)?;
    }
    Ok(summary)
}

fn scan_serial(
    mut reader: Reader<'_>,
    filters: &CaptureFilter,
    mut out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
    tuning: Tuning,
    summary: &mut Summary,
) -> Result<(), ScanError> {
    let mut block = Block::new(tuning.block);
    let mut cache = FilterCache::default();
    let len = reader.len();
    loop {
        // Filter up to the next block boundary, then flush and report.
        let stop = reader.offset().saturating_add(tuning.block).min(len);
        reader.limit(stop);
        let keep = out.is_some();
        let left = options
            .max_matches
            .map_or(u64::MAX, |m| m.saturating_sub(summary.matched));
        let step = run_chunk(
            &mut reader,
            filters,
            &mut cache,
            keep.then_some(Sink::Copy(&mut block)),
            left,
            summary,
        );
        // What was kept before an error in the capture is written, as
        // libpcap hands on every record before it.
        if let Some(w) = out.as_deref_mut() {
            block.write_out(w, summary)?;
        }
        if let Some(progress) = options.progress {
            progress(reader.offset() as u64);
        }
        match step {
            Err(ScanError::Capture(e)) => {
                summary.error = Some(e);
                return Ok(());
            }
            Err(e) => return Err(e),
            Ok(true) => return Ok(()),
            Ok(false) => reader.limit(len),
        }
    }
}

/// The filter of the last link type seen, so a lookup is one comparison.
#[derive(Default)]
pub(super) struct FilterCache {
    /// Link type and byte order (see `CaptureFilter::for_packet`).
    link_type: Option<(u32, bool)>,
    filter: Option<Arc<Filter>>,
}

/// Where the records the filter keeps go.
pub(super) enum Sink<'s> {
    /// Copied at once, while they are in cache.
    Copy(&'s mut Block),
    /// Noted as ranges of the input, copied later.
    Note(&'s mut Ranges),
}

impl Sink<'_> {
    /// Keeps a block that is not a packet, or a packet's whole record.
    #[inline(always)]
    fn keep(&mut self, input: &[u8], part: &[u8]) {
        match self {
            Sink::Copy(block) => block.0.extend_from_slice(part),
            Sink::Note(ranges) => ranges.push(input, part),
        }
    }

    /// Keeps a packet: its whole record, or the record the reader makes
    /// of it when it cut it ([`Packet::clipped`]).
    #[inline(always)]
    fn keep_packet<'a, R: Items<'a>>(&mut self, reader: &R, input: &[u8], p: &Packet<'_>) {
        if !p.clipped {
            return self.keep(input, p.record);
        }
        match self {
            Sink::Copy(block) => reader.write_record(p, &mut block.0),
            Sink::Note(ranges) => ranges.push_made(|out| reader.write_record(p, out)),
        }
    }
}

/// Filters items until the reader's limit or until `left` more matches;
/// returns whether the scan is over (the file ended, or enough matched)
/// rather than the limit cutting a record off (the reader then stays at
/// that record).
pub(super) fn run_chunk(
    reader: &mut Reader<'_>,
    filters: &CaptureFilter,
    cache: &mut FilterCache,
    out: Option<Sink<'_>>,
    left: u64,
    summary: &mut Summary,
) -> Result<bool, ScanError> {
    // One loop per format, so each reader's step is inlined into it.
    match reader {
        Reader::Pcap(r) => run_items(r, filters, cache, out, left, summary),
        Reader::Pcapng(r) => run_items(r, filters, cache, out, left, summary),
    }
}

/// A format's reader, as the filtering loop needs it.
trait Items<'a> {
    fn next(&mut self) -> Option<Result<Item<'a>, CaptureError>>;
    fn offset(&self) -> usize;
    fn bytes(&self) -> &'a [u8];
    /// Appends the record a clipped packet is written as.
    fn write_record(&self, packet: &Packet<'_>, out: &mut Vec<u8>);
    /// See [`Reader::declared_link_type`].
    fn declared_link_type(&self) -> Option<(u32, bool, usize)>;
}

impl<'a> Items<'a> for super::pcap::Reader<'a> {
    #[inline(always)]
    fn next(&mut self) -> Option<Result<Item<'a>, CaptureError>> {
        self.next_packet().map(|p| p.map(Item::Packet))
    }
    #[inline(always)]
    fn offset(&self) -> usize {
        super::pcap::Reader::offset(self)
    }
    fn bytes(&self) -> &'a [u8] {
        super::pcap::Reader::bytes(self)
    }
    fn write_record(&self, packet: &Packet<'_>, out: &mut Vec<u8>) {
        self.write_clipped(packet, out);
    }
    fn declared_link_type(&self) -> Option<(u32, bool, usize)> {
        Some(super::pcap::Reader::declared_link_type(self))
    }
}

impl<'a> Items<'a> for super::pcapng::Reader<'a> {
    #[inline(always)]
    fn next(&mut self) -> Option<Result<Item<'a>, CaptureError>> {
        self.next_item()
    }
    #[inline(always)]
    fn offset(&self) -> usize {
        super::pcapng::Reader::offset(self)
    }
    fn bytes(&self) -> &'a [u8] {
        super::pcapng::Reader::bytes(self)
    }
    fn write_record(&self, packet: &Packet<'_>, out: &mut Vec<u8>) {
        // pcapng packets are never cut: a longer one is an error.
        out.extend_from_slice(packet.record);
    }
    fn declared_link_type(&self) -> Option<(u32, bool, usize)> {
        self.first_interface()
    }
}

fn run_items<'a, R: Items<'a>>(
    reader: &mut R,
    filters: &CaptureFilter,
    cache: &mut FilterCache,
    mut out: Option<Sink<'_>>,
    left: u64,
    summary: &mut Summary,
) -> Result<bool, ScanError> {
    let bytes = reader.bytes();
    let mut ahead = Prefetch::new(bytes, reader.offset());
    let (mut packets, mut matched, mut packet_bytes) = (0u64, 0u64, 0u64);
    // tcpdump compiles its filter for the link type the file declares
    // before it reads a packet, so a filter that cannot be built for that
    // link type fails even when no packet of it follows (a capture with
    // no packets, or only packets of other interfaces).
    let declared = |cache: &mut FilterCache, reader: &R| match reader.declared_link_type() {
        Some((link_type, big_endian, offset)) if cache.link_type.is_none() => {
            match filters.for_savefile(link_type, big_endian) {
                Ok(f) => {
                    cache.filter = Some(f);
                    cache.link_type = Some((link_type, big_endian));
                    Ok(())
                }
                Err(error) => Err(ScanError::Filter {
                    offset: offset as u64,
                    link_type,
                    error,
                }),
            }
        }
        _ => Ok(()),
    };
    // One runner per stretch of packets with the same link type: it keeps
    // the native context across packets. A new link type ends the stretch.
    let result = 'stretch: loop {
        if let Err(e) = declared(cache, reader) {
            break 'stretch Err(e);
        }
        let filter = cache.filter.clone();
        let mut runner = filter.as_deref().map(Filter::runner);
        loop {
            if matched == left {
                break 'stretch Ok(true);
            }
            let Some(item) = reader.next() else {
                break 'stretch Ok(reader.offset() >= bytes.len());
            };
            ahead.advance(reader.offset());
            let item = match item {
                Ok(item) => item,
                Err(e) => break 'stretch Err(ScanError::Capture(e)),
            };
            match item {
                Item::Packet(p) => {
                    let new_link = cache.link_type != Some((p.link_type, p.big_endian));
                    if new_link {
                        let offset = (reader.offset() - p.record.len()) as u64;
                        match filters.for_packet(&p) {
                            Ok(f) => cache.filter = Some(f),
                            Err(error) => {
                                break 'stretch Err(ScanError::Filter {
                                    offset,
                                    link_type: p.link_type,
                                    error,
                                })
                            }
                        }
                        cache.link_type = Some((p.link_type, p.big_endian));
                    }
                    packets += 1;
                    packet_bytes += p.data.len() as u64;
                    let hit = if new_link {
                        let f = cache.filter.as_ref();
                        f.is_some_and(|f| f.run_wire(p.data, p.wire_len) != 0)
                    } else {
                        let r = runner.as_mut();
                        r.is_some_and(|r| r.run_wire(p.data, p.wire_len) != 0)
                    };
                    if hit {
                        matched += 1;
                        if let Some(sink) = out.as_mut() {
                            sink.keep_packet(reader, bytes, &p);
                        }
                    }
                    if new_link {
                        continue 'stretch;
                    }
                }
                Item::Other(block) => {
                    if let Some(sink) = out.as_mut() {
                        sink.keep(bytes, block);
                    }
                    if cache.link_type.is_none() && reader.declared_link_type().is_some() {
                        // The first interface: its filter, before packets.
                        continue 'stretch;
                    }
                }
            }
        }
    };
    summary.packets += packets;
    summary.matched += matched;
    summary.packet_bytes += packet_bytes;
    result
}

/// How far ahead of the reader to have the file in cache. Record headers
/// form a chain (each one's position comes from the previous one's length),
/// so without help every header is a cache miss paid in full.
const PREFETCH_DISTANCE: usize = 2048;

/// Keeps the bytes up to [`PREFETCH_DISTANCE`] past the reader requested
/// from memory, one cache line at a time.
struct Prefetch<'a> {
    bytes: &'a [u8],
    next: usize,
}

impl<'a> Prefetch<'a> {
    fn new(bytes: &'a [u8], from: usize) -> Prefetch<'a> {
        Prefetch { bytes, next: from }
    }

    #[inline(always)]
    fn advance(&mut self, pos: usize) {
        let want = pos.saturating_add(PREFETCH_DISTANCE).min(self.bytes.len());
        // Eight lines per round: fewer rounds and mispredicted loop exits
        // than one line per round (5 % less time for a 1 GB scan; a record
        // is five lines on average). The last round may ask for up to
        // seven lines past `want`.
        while self.next < want {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a prefetch is only a hint and never faults, whatever
            // the address; `wrapping_add` computes addresses past the end
            // of the mapping without claiming they are in it.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                let at = self.bytes.as_ptr().wrapping_add(self.next) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(at);
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(64));
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(128));
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(192));
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(256));
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(320));
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(384));
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(448));
            }
            self.next += 512;
        }
    }
}

/// What a worker sends: blocks of output, then where its chunk ended.
enum Msg<'a> {
    /// Output of the chunk, in order.
    Block(Block),
    /// The chunk is finished: its counts, and the reader where it stopped
    /// (at the first item at or after the chunk's end) or the error that
    /// stopped it (after the blocks holding what it kept before).
    Done(Summary, Result<Reader<'a>, ScanError>),
}

/// Filters the chunk `reader` starts at, up to `end`, sending its output
/// in blocks.
fn filter_part<'a>(
    mut reader: Reader<'a>,
    end: usize,
    filters: &CaptureFilter,
    keep: bool,
    mut outbox: Outbox<'a, '_>,
) {
    let mut cache = FilterCache::default();
    let mut counts = Summary::default();
    // At least one round, even over no records: it builds the filter for
    // the link type the file declares (see `run_items`).
    loop {
        reader.limit(reader.offset().saturating_add(outbox.tuning.block).min(end));
        let sink = match keep {
            false => None,
            true if outbox.can_copy() => Some(Sink::Copy(&mut outbox.block)),
            true => Some(Sink::Note(&mut outbox.found)),
        };
        let r = run_chunk(
            &mut reader,
            filters,
            &mut cache,
            sink,
            u64::MAX,
            &mut counts,
        );
        match r {
            Err(e @ ScanError::Capture(_)) => {
                // What was kept before a bad record is still written.
                if outbox.pump(true).is_ok() && outbox.flush().is_ok() {
                    let _ = outbox.tx.send(Msg::Done(counts, Err(e)));
                }
                return;
            }
            Err(e) => {
                let _ = outbox.tx.send(Msg::Done(counts, Err(e)));
                return;
            }
            Ok(_) => {}
        }
        if outbox.pump(false).is_err() {
            return;
        }
        if reader.offset() >= end {
            break;
        }
    }
    if outbox.pump(true).is_err() || outbox.flush().is_err() {
        return;
    }
    reader.limit(reader.len());
    let _ = outbox.tx.send(Msg::Done(counts, Ok(reader)));
}

/// The writer hung up (it stopped on an error).
struct Closed;

/// A worker's output on its way to the writer: the block being filled and
/// the records found but not copied yet (which follow the block).
///
/// The worker whose chunk is being written copies every record it keeps
/// into the block at once, while the record is in cache, and waits for the
/// writer when it is ahead by a few blocks: large outputs are bound by
/// the one writer, and a record copied late, from memory, costs far more.
/// A worker ahead of its turn does the same until it holds that many
/// blocks; then it goes on filtering and notes what it keeps as ranges,
/// up to [`Tuning::noted_bytes`] of them, so that a core is not left idle while the
/// chunks before are written.
struct Outbox<'a, 'b> {
    input: &'a [u8],
    block: Block,
    found: Ranges,
    cursor: Cursor,
    tx: mpsc::SyncSender<Msg<'a>>,
    /// Blocks the writer is done with, for reuse (fresh memory costs page
    /// faults).
    spare: mpsc::Receiver<Block>,
    /// Blocks given back, ready for reuse.
    pool: Vec<Block>,
    /// Blocks sent and not yet given back.
    held: usize,
    /// The chunk being written, and this worker's chunk.
    turn: (&'b AtomicUsize, usize),
    tuning: Tuning,
}

impl Outbox<'_, '_> {
    fn current(&self) -> bool {
        self.turn.0.load(Ordering::Acquire) == self.turn.1
    }

    /// Whether the next step may copy what it keeps: nothing is waiting as
    /// ranges, and the block could be sent without waiting (or this chunk
    /// is being written, so waiting is right).
    fn can_copy(&mut self) -> bool {
        self.collect_spares();
        self.found.spans.is_empty() && (self.held < self.tuning.held_blocks || self.current())
    }

    fn collect_spares(&mut self) {
        while let Ok(block) = self.spare.try_recv() {
            self.held -= 1;
            self.pool.push(block);
        }
    }

    /// Sends the block if it is full, then copies noted ranges into blocks
    /// and sends those. Without `wait`, stops (keeping the rest) when
    /// sending would wait, unless this chunk is being written or too much
    /// is noted.
    fn pump(&mut self, wait: bool) -> Result<(), Closed> {
        loop {
            if self.block.0.len() >= self.tuning.block {
                self.collect_spares();
                let noted = self.found.bytes - self.cursor.copied;
                let must = wait || self.current() || noted > self.tuning.noted_bytes;
                if self.held >= self.tuning.held_blocks && !must {
                    return Ok(());
                }
                let full = std::mem::replace(&mut self.block, Block(Vec::new()));
                self.tx.send(Msg::Block(full)).map_err(|_| Closed)?;
                self.held += 1;
                self.collect_spares();
                self.block = self
                    .pool
                    .pop()
                    .unwrap_or_else(|| Block::new(self.tuning.block));
            }
            if self.found.spans.is_empty() {
                return Ok(());
            }
            self.block
                .fill(self.input, &self.found, &mut self.cursor, self.tuning.block);
            if self.cursor.span == self.found.spans.len() {
                // All copied. Cleared now, as a record noted next may join
                // the last span, which the cursor has passed.
                self.found.clear();
                self.cursor = Cursor::default();
            }
        }
    }

    /// Sends the last, partly filled block.
    fn flush(&mut self) -> Result<(), Closed> {
        if self.block.0.is_empty() {
            return Ok(());
        }
        let last = std::mem::replace(&mut self.block, Block(Vec::new()));
        self.tx.send(Msg::Block(last)).map_err(|_| Closed)
    }
}

/// Splits the file into one chunk per thread at guessed record boundaries
/// ([`Reader::resync`]) and filters the chunks in parallel. The guesses
/// are then checked in order: chunk i is used only if chunk i-1, read for
/// real, stopped exactly where chunk i started, with the same reader state
/// (pcapng interfaces). Otherwise everything from the first wrong guess on
/// is filtered again on this thread, so the result is always that of a
/// sequential read. Output is written in file order as it comes; a thread
/// ahead of its turn holds a few blocks and some noted ranges, then waits
/// ([`Outbox`]).
fn scan_threaded(
    reader: Reader<'_>,
    filters: &CaptureFilter,
    mut out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
    tuning: Tuning,
    summary: &mut Summary,
) -> Result<(), ScanError> {
    let keep = out.is_some();
    let len = reader.len();
    let begin = reader.offset();
    let mut base = reader.clone();
    if let Reader::Pcapng(r) = &mut base {
        r.skip_preamble();
    }
    // At most 64 threads, and chunks of at least 4 KiB.
    let n = options
        .threads
        .clamp(1, 64)
        .min(((len - begin) >> 12).max(1));
    let splits: Vec<usize> = (0..=n).map(|i| begin + (len - begin) * i / n).collect();
    let mut starts: Vec<Option<Reader<'_>>> = vec![Some(reader.clone())];
    for &split in &splits[1..n] {
        starts.push(base.resync(split));
    }
    let start_offsets: Vec<Option<usize>> = starts
        .iter()
        .map(|r| r.as_ref().map(Reader::offset))
        .collect();
    let turn = AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<(), ScanError> {
        let mut receivers = Vec::new();
        for (i, start) in starts.into_iter().enumerate() {
            let Some(start) = start else {
                receivers.push(None);
                continue;
            };
            let (tx, rx) = mpsc::sync_channel::<Msg<'_>>(tuning.held_blocks);
            let (spare_tx, spare_rx) = mpsc::channel::<Block>();
            let to = splits[i + 1];
            let outbox = Outbox {
                input: base.bytes(),
                block: Block::new(tuning.block),
                found: Ranges::default(),
                cursor: Cursor::default(),
                tx,
                spare: spare_rx,
                pool: Vec::new(),
                held: 0,
                turn: (&turn, i),
                tuning,
            };
            scope.spawn(move || filter_part(start, to, filters, keep, outbox));
            receivers.push(Some((rx, spare_tx)));
        }
        // Returning drops the receivers, which stops threads waiting to
        // send before the scope joins them.
        for i in 0..n {
            turn.store(i, Ordering::Release);
            let Some((rx, spare)) = receivers[i].take() else {
                break;
            };
            let mut done = None;
            for msg in rx.iter() {
                match msg {
                    Msg::Block(mut buf) => {
                        // Blocks are only sent when there is an output.
                        if let Some(w) = out.as_deref_mut() {
                            buf.write_out(w, summary)?;
                        }
                        let _ = spare.send(buf);
                    }
                    Msg::Done(counts, r) => {
                        done = Some((counts, r));
                        break;
                    }
                }
            }
            let Some((counts, result)) = done else { break };
            add(summary, &counts);
            let stop = match result {
                Ok(stop) => stop,
                Err(ScanError::Capture(e)) => {
                    summary.error = Some(e);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            if let Some(progress) = options.progress {
                progress(stop.offset() as u64);
            }
            if i + 1 == n {
                return Ok(());
            }
            let guessed = start_offsets[i + 1] == Some(stop.offset()) && stop.same_state(&base);
            if !guessed {
                // A wrong guess: read the rest sequentially from the real
                // boundary.
                return scan_serial(stop, filters, out, options, tuning, summary);
            }
        }
        // Unreachable unless a worker panicked before reporting.
        Err(ScanError::Capture(CaptureError::at(
            0,
            "a filtering thread stopped early",
        )))
    })
}

/// What the filter accepted, as ranges of the input: every record or
/// block it keeps is written whole and unchanged, so it is enough to note
/// where it lies (neighbours join into one range). The rare record the
/// reader rewrites (a pcap record cut to the snapshot length) is made in
/// `made` and noted as a range of that.
#[derive(Debug, Default)]
pub(super) struct Ranges {
    /// (offset, length), in output order; the offset is in the input, or
    /// in `made` when it has the [`MADE`] bit.
    spans: Vec<(usize, usize)>,
    /// Total length of the spans.
    bytes: usize,
    /// Records made rather than found in the input.
    made: Vec<u8>,
}

/// Marks a span of [`Ranges::made`].
const MADE: usize = 1 << (usize::BITS - 1);

impl Ranges {
    /// Adds the bytes `make` appends.
    fn push_made(&mut self, make: impl FnOnce(&mut Vec<u8>)) {
        let at = self.made.len();
        make(&mut self.made);
        let len = self.made.len() - at;
        self.bytes += len;
        self.spans.push((MADE | at, len));
    }

    /// Adds `part`, a slice of `input`.
    #[inline]
    fn push(&mut self, input: &[u8], part: &[u8]) {
        let at = part.as_ptr() as usize - input.as_ptr() as usize;
        self.bytes += part.len();
        match self.spans.last_mut() {
            Some((start, len)) if *start + *len == at => *len += part.len(),
            _ => self.spans.push((at, part.len())),
        }
    }

    fn clear(&mut self) {
        self.spans.clear();
        self.bytes = 0;
        self.made.clear();
    }

    /// The bytes of the span at `at`.
    fn source<'s>(&'s self, input: &'s [u8], at: usize) -> &'s [u8] {
        if at & MADE != 0 {
            &self.made[at & !MADE..]
        } else {
            &input[at..]
        }
    }
}

/// How much of a [`Ranges`] has been copied: whole spans, then bytes of
/// the next one.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    span: usize,
    offset: usize,
    /// Bytes copied in all.
    copied: usize,
}

/// A block of output bytes, sent when it holds [`Tuning::block`] bytes or
/// more.
#[derive(Debug)]
pub(super) struct Block(Vec<u8>);

impl Block {
    pub(super) fn new(size: usize) -> Block {
        // A step of `size` input bytes may add that much to a block that
        // is not quite full.
        Block(Vec::with_capacity(2 * size + (64 << 10)))
    }

    /// Writes the block, counts it and empties it for reuse.
    pub(super) fn write_out(
        &mut self,
        w: &mut dyn Write,
        summary: &mut Summary,
    ) -> Result<(), ScanError> {
        w.write_all(&self.0).map_err(ScanError::Output)?;
        summary.written += self.0.len() as u64;
        self.0.clear();
        Ok(())
    }

    /// Copies the bytes of `found` from `cursor` on until the block holds
    /// `size` bytes or `found` is exhausted.
    fn fill(&mut self, input: &[u8], found: &Ranges, cursor: &mut Cursor, size: usize) {
        while let Some(&(at, len)) = found.spans.get(cursor.span) {
            let room = size.saturating_sub(self.0.len());
            if room == 0 {
                break;
            }
            let take = (len - cursor.offset).min(room);
            let from = &found.source(input, at)[cursor.offset..];
            self.0.extend_from_slice(&from[..take]);
            cursor.offset += take;
            cursor.copied += take;
            if cursor.offset == len {
                cursor.span += 1;
                cursor.offset = 0;
            }
        }
    }
}

fn add(total: &mut Summary, part: &Summary) {
    total.packets += part.packets;
    total.matched += part.matched;
    total.packet_bytes += part.packet_bytes;
}

#[cfg(test)]
mod tests {
    use super::{scan_tuned, ScanOptions, Summary, Tuning, TUNING};
    use crate::capture::CaptureFilter;
    use cranebpf_harness::synth::{capture, SynthOptions};

    fn filters(expr: &'static str) -> CaptureFilter {
        CaptureFilter::expression(expr).expect("compiles")
    }

    fn run(
        bytes: &[u8],
        filters: &CaptureFilter,
        threads: usize,
        tuning: Tuning,
    ) -> (Summary, Vec<u8>) {
        let mut out = Vec::new();
        let options = ScanOptions {
            threads,
            ..ScanOptions::default()
        };
        let summary = scan_tuned(bytes, filters, Some(&mut out), &options, tuning).expect("scans");
        (summary, out)
    }

    /// Tiny blocks, one held block and little room for noted ranges make
    /// every path of the pipeline run on a small capture: blocks sent by
    /// the chunk being written and by chunks ahead, workers switching to
    /// noted ranges and back, waiting when too much is noted, and spans
    /// split across blocks. Whatever the timing, the output must be the
    /// serial scan's, byte for byte.
    #[test]
    fn every_pipeline_path_writes_what_a_serial_scan_writes() {
        let tunings = [
            Tuning {
                block: 512,
                held_blocks: 1,
                noted_bytes: 2048,
            },
            Tuning {
                block: 4096,
                held_blocks: 2,
                noted_bytes: 64 << 10,
            },
            Tuning {
                block: 100,
                held_blocks: 1,
                noted_bytes: 0,
            },
            TUNING,
        ];
        // pcap, pcapng, and a pcap whose header says a snapshot length of
        // 200 that its records exceed (cut to it on reading, written with
        // a rewritten header) and whose last record is cut short.
        for (pcapng, cut) in [(false, false), (true, false), (false, true)] {
            let options = SynthOptions {
                seed: 5,
                packets: 6000,
                pcapng,
                ..SynthOptions::default()
            };
            let mut bytes = capture(&options);
            if cut {
                bytes[16..20].copy_from_slice(&200u32.to_le_bytes());
                bytes.truncate(bytes.len() - 7);
            }
            // All, most, some and no packets kept.
            for expr in ["len > 0", "tcp", "udp port 53", "ip proto 47"] {
                let filters = filters(expr);
                let (want_summary, want) = run(&bytes, &filters, 1, TUNING);
                assert!(want_summary.matched > 0 || expr == "ip proto 47");
                assert_eq!(want_summary.error.is_some(), cut);
                if cut {
                    // Every record kept reads back, none over 200 bytes.
                    let kept = crate::capture::packets(&want).expect("output reads");
                    assert_eq!(kept.len() as u64, want_summary.matched);
                    assert!(kept.iter().all(|(_, p)| p.data.len() <= 200));
                    assert!(kept.iter().any(|(_, p)| p.data.len() == 200) || expr == "ip proto 47");
                }
                for tuning in tunings {
                    for threads in [1, 2, 3, 7] {
                        let (summary, out) = run(&bytes, &filters, threads, tuning);
                        assert_eq!(summary, want_summary, "{expr} {tuning:?} threads {threads}");
                        assert!(
                            out == want,
                            "{expr} {tuning:?} threads {threads}: output differs"
                        );
                    }
                }
            }
        }
    }
}
