//! The filtering loop: walk the records of a mapped capture, run the filter
//! on each packet's bytes where they lie, and append every matching record
//! whole to a large output buffer.
//!
//! A match is a verdict other than 0, as libpcap's `pcap_offline_filter`
//! decides (tcpdump writes matching records whole; the verdict's snap
//! length is not applied). The filter sees the wire length as `len`.
//!
//! With several threads, the file is cut into one chunk per thread at
//! guessed record boundaries, checked afterwards (see [`scan`]'s threaded
//! path): walking every header first would cost as much as the scan.

use super::{CaptureError, Item, Reader};
use crate::Filter;
use std::io::{self, IoSlice, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Output is written in blocks of about this many bytes.
const OUT_BLOCK: usize = 8 << 20;

/// Why a scan stopped.
#[derive(Debug)]
pub enum ScanError {
    /// The capture is malformed.
    Capture(CaptureError),
    /// No filter could be built for a link type met at `offset`.
    Filter {
        /// Byte offset of the first packet of that link type.
        offset: u64,
        /// The link type.
        link_type: u32,
        /// Why.
        message: String,
    },
    /// Writing the output failed.
    Output(io::Error),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Capture(e) => e.fmt(f),
            ScanError::Filter {
                offset,
                link_type,
                message,
            } => write!(f, "byte offset {offset}: link type {link_type}: {message}"),
            ScanError::Output(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl std::error::Error for ScanError {}

impl From<CaptureError> for ScanError {
    fn from(e: CaptureError) -> ScanError {
        ScanError::Capture(e)
    }
}

/// Builds one filter per link type on first use and shares it.
pub struct Filters {
    make: Box<dyn Fn(u32) -> Result<Filter, String> + Send + Sync>,
    built: Mutex<Vec<(u32, Arc<Filter>)>>,
}

impl Filters {
    /// Filters made by `make(link_type)` (for a program, the same one for
    /// every link type; for an expression, compiled per link type).
    pub fn new(make: impl Fn(u32) -> Result<Filter, String> + Send + Sync + 'static) -> Filters {
        Filters {
            make: Box::new(make),
            built: Mutex::new(Vec::new()),
        }
    }

    /// The filter for `link_type`, built now if needed.
    pub fn get(&self, link_type: u32) -> Result<Arc<Filter>, String> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, f)) = built.iter().find(|(l, _)| *l == link_type) {
            return Ok(Arc::clone(f));
        }
        let f = Arc::new((self.make)(link_type)?);
        built.push((link_type, Arc::clone(&f)));
        Ok(f)
    }
}

/// How to scan.
#[derive(Default)]
pub struct ScanOptions<'p> {
    /// Filtering threads (0 or 1: filter on the calling thread).
    pub threads: usize,
    /// Called now and then with the number of input bytes done.
    pub progress: Option<&'p dyn Fn(u64)>,
}

/// What a scan did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Packets read.
    pub packets: u64,
    /// Packets matched.
    pub matched: u64,
    /// Bytes of captured packet data read.
    pub packet_bytes: u64,
    /// Bytes written to the output (file header included).
    pub written: u64,
}

/// Filters the capture in `bytes`, writing the file header and every
/// matching record to `out` (or only counting when `out` is `None`).
pub fn scan(
    bytes: &[u8],
    filters: &Filters,
    mut out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
) -> Result<Summary, ScanError> {
    let reader = Reader::new(bytes)?;
    let mut summary = Summary::default();
    if let Some(w) = out.as_deref_mut() {
        w.write_all(reader.preamble()).map_err(ScanError::Output)?;
        summary.written += reader.preamble().len() as u64;
    }
    if options.threads > 1 {
        scan_threaded(reader, filters, out, options, &mut summary)?;
    } else {
        scan_serial(reader, filters, out, options, &mut summary)?;
    }
    Ok(summary)
}

fn scan_serial(
    mut reader: Reader<'_>,
    filters: &Filters,
    mut out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
    summary: &mut Summary,
) -> Result<(), ScanError> {
    let mut buf = Ranges::default();
    let mut staging = Vec::new();
    let mut cache = FilterCache::default();
    let len = reader.len();
    loop {
        // Filter up to the next block boundary, then flush and report.
        let stop = reader.offset().saturating_add(OUT_BLOCK).min(len);
        reader.limit(stop);
        let keep = out.is_some();
        let done = run_chunk(
            &mut reader,
            filters,
            &mut cache,
            keep.then_some(&mut buf),
            summary,
        )?;
        if let Some(w) = out.as_deref_mut() {
            buf.write_to(reader.bytes(), w, &mut staging)
                .map_err(ScanError::Output)?;
            summary.written += buf.bytes as u64;
            buf.clear();
        }
        if let Some(progress) = options.progress {
            progress(reader.offset() as u64);
        }
        if done {
            return Ok(());
        }
        reader.limit(len);
    }
}

/// The filter of the last link type seen, so a lookup is one comparison.
#[derive(Default)]
struct FilterCache {
    link_type: Option<u32>,
    filter: Option<Arc<Filter>>,
}

/// Filters items until the reader's limit; returns whether the file
/// ended (rather than the limit cutting a record off, in which case the
/// reader stays at that record).
fn run_chunk(
    reader: &mut Reader<'_>,
    filters: &Filters,
    cache: &mut FilterCache,
    out: Option<&mut Ranges>,
    summary: &mut Summary,
) -> Result<bool, ScanError> {
    // One loop per format, so each reader's step is inlined into it.
    match reader {
        Reader::Pcap(r) => run_items(r, filters, cache, out, summary),
        Reader::Pcapng(r) => run_items(r, filters, cache, out, summary),
    }
}

/// A format's reader, as the filtering loop needs it.
trait Items<'a> {
    fn next(&mut self) -> Option<Result<Item<'a>, CaptureError>>;
    fn offset(&self) -> usize;
    fn bytes(&self) -> &'a [u8];
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
}

fn run_items<'a, R: Items<'a>>(
    reader: &mut R,
    filters: &Filters,
    cache: &mut FilterCache,
    mut out: Option<&mut Ranges>,
    summary: &mut Summary,
) -> Result<bool, ScanError> {
    let bytes = reader.bytes();
    let mut ahead = Prefetch::new(bytes, reader.offset());
    let (mut packets, mut matched, mut packet_bytes) = (0u64, 0u64, 0u64);
    // One runner per stretch of packets with the same link type: it keeps
    // the native context across packets. A new link type ends the stretch.
    let result = 'stretch: loop {
        let filter = cache.filter.clone();
        let mut runner = filter.as_deref().map(Filter::runner);
        loop {
            let Some(item) = reader.next() else {
                break 'stretch Ok(());
            };
            ahead.advance(reader.offset());
            let item = match item {
                Ok(item) => item,
                Err(e) => break 'stretch Err(ScanError::Capture(e)),
            };
            match item {
                Item::Packet(p) => {
                    let new_link = cache.link_type != Some(p.link_type);
                    if new_link {
                        let offset = (reader.offset() - p.record.len()) as u64;
                        match filters.get(p.link_type) {
                            Ok(f) => cache.filter = Some(f),
                            Err(message) => {
                                break 'stretch Err(ScanError::Filter {
                                    offset,
                                    link_type: p.link_type,
                                    message,
                                })
                            }
                        }
                        cache.link_type = Some(p.link_type);
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
                        if let Some(buf) = out.as_deref_mut() {
                            buf.push(bytes, p.record);
                        }
                    }
                    if new_link {
                        continue 'stretch;
                    }
                }
                Item::Other(block) => {
                    if let Some(buf) = out.as_deref_mut() {
                        buf.push(bytes, block);
                    }
                }
            }
        }
    };
    summary.packets += packets;
    summary.matched += matched;
    summary.packet_bytes += packet_bytes;
    result.map(|()| reader.offset() >= bytes.len())
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
        while self.next < want {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a prefetch is only a hint; it never faults, and the
            // address is inside the mapped file anyway.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(self.bytes.as_ptr().add(self.next) as *const i8);
            }
            self.next += 64;
        }
    }
}

/// What a worker sends: blocks of output, then where its chunk ended.
enum Msg<'a> {
    /// Output of the chunk, in order.
    Block(Ranges),
    /// The chunk is finished: its counts and the reader where it stopped
    /// (at the first item at or after the chunk's end), or its error.
    Done(Result<(Summary, Reader<'a>), ScanError>),
}

/// Output blocks a worker may hold before it waits for its turn to be
/// written. A block is a list of ranges of the input (16 bytes per range),
/// not a copy, so workers can run far ahead: while the writer drains one
/// chunk's output, the others finish filtering.
const HELD_BLOCKS: usize = 4096;

/// Filters the chunk `reader` starts at, up to `end`, in blocks.
fn filter_part<'a>(
    mut reader: Reader<'a>,
    end: usize,
    filters: &Filters,
    keep: bool,
    tx: &mpsc::SyncSender<Msg<'a>>,
    spare: &mpsc::Receiver<Ranges>,
) {
    let mut cache = FilterCache::default();
    let mut counts = Summary::default();
    let mut buf = Ranges::default();
    while reader.offset() < end {
        reader.limit(reader.offset().saturating_add(OUT_BLOCK).min(end));
        let r = run_chunk(
            &mut reader,
            filters,
            &mut cache,
            keep.then_some(&mut buf),
            &mut counts,
        );
        if let Err(e) = r {
            let _ = tx.send(Msg::Done(Err(e)));
            return;
        }
        // Only full blocks count against the held limit.
        if buf.bytes >= OUT_BLOCK {
            // Reuse a written list: fresh memory costs page faults.
            let next = spare.try_recv().unwrap_or_default();
            if tx
                .send(Msg::Block(std::mem::replace(&mut buf, next)))
                .is_err()
            {
                return;
            }
        }
    }
    if !buf.spans.is_empty() && tx.send(Msg::Block(buf)).is_err() {
        return;
    }
    reader.limit(reader.len());
    let _ = tx.send(Msg::Done(Ok((counts, reader))));
}

/// Splits the file into one chunk per thread at guessed record boundaries
/// ([`Reader::resync`]) and filters the chunks in parallel. The guesses
/// are then checked in order: chunk i is used only if chunk i-1, read for
/// real, stopped exactly where chunk i started, with the same reader state
/// (pcapng interfaces). Otherwise everything from the first wrong guess on
/// is filtered again on this thread, so the result is always that of a
/// sequential read. Output is written in file order as it comes; a thread
/// ahead of its turn holds at most [`HELD_BLOCKS`] blocks, then waits.
fn scan_threaded(
    reader: Reader<'_>,
    filters: &Filters,
    mut out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
    summary: &mut Summary,
) -> Result<(), ScanError> {
    let keep = out.is_some();
    let mut staging = Vec::new();
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
    std::thread::scope(|scope| -> Result<(), ScanError> {
        let mut receivers = Vec::new();
        for (i, start) in starts.into_iter().enumerate() {
            let Some(start) = start else {
                receivers.push(None);
                continue;
            };
            let (tx, rx) = mpsc::sync_channel::<Msg<'_>>(HELD_BLOCKS);
            let (spare_tx, spare_rx) = mpsc::channel::<Ranges>();
            let to = splits[i + 1];
            scope.spawn(move || filter_part(start, to, filters, keep, &tx, &spare_rx));
            receivers.push(Some((rx, spare_tx)));
        }
        // Returning drops the receivers, which stops threads waiting to
        // send before the scope joins them.
        for i in 0..n {
            let Some((rx, spare)) = receivers[i].take() else {
                break;
            };
            let mut done = None;
            for msg in rx.iter() {
                match msg {
                    Msg::Block(mut buf) => {
                        if let Some(w) = out.as_deref_mut() {
                            buf.write_to(base.bytes(), w, &mut staging)
                                .map_err(ScanError::Output)?;
                        }
                        summary.written += buf.bytes as u64;
                        buf.clear();
                        let _ = spare.send(buf);
                    }
                    Msg::Done(r) => {
                        done = Some(r);
                        break;
                    }
                }
            }
            let Some(result) = done else { break };
            let (counts, stop) = result?;
            add(summary, &counts);
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
                return scan_serial(stop, filters, out, options, summary);
            }
        }
        // Unreachable unless a worker panicked before reporting.
        Err(ScanError::Capture(CaptureError::at(
            0,
            "a filtering thread stopped early",
        )))
    })
}

/// Output as ranges of the input: everything written after the file
/// header is a record or block of the input itself, so it is written
/// straight from the mapping (`writev`), with no copy in between, and
/// neighbouring records join into one range.
#[derive(Debug, Default)]
struct Ranges {
    /// (offset in the input, length), in output order.
    spans: Vec<(usize, usize)>,
    /// Total length of the spans.
    bytes: usize,
}

impl Ranges {
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
    }

    /// Writes every span of `input`, up to 1024 segments per system call.
    /// Long spans go straight from the mapping; a run of short ones
    /// (scattered small records) is first gathered into `staging` and
    /// becomes one segment, because the kernel's cost per segment would
    /// exceed the copy.
    fn write_to(
        &self,
        input: &[u8],
        w: &mut dyn Write,
        staging: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        const SHORT: usize = 512;
        let mut i = 0;
        while i < self.spans.len() {
            // Gather this round's short bytes first, so `staging` does not
            // move while segments point into it.
            let end = (i + 4096).min(self.spans.len());
            staging.clear();
            for &(at, len) in &self.spans[i..end] {
                if len < SHORT {
                    staging.extend_from_slice(&input[at..at + len]);
                }
            }
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(1024);
            let mut staged = 0;
            let mut run = 0; // bytes of the current run of short spans
            for &(at, len) in &self.spans[i..end] {
                if len < SHORT {
                    run += len;
                    continue;
                }
                if run > 0 {
                    slices.push(IoSlice::new(&staging[staged..staged + run]));
                    staged += run;
                    run = 0;
                }
                slices.push(IoSlice::new(&input[at..at + len]));
            }
            if run > 0 {
                slices.push(IoSlice::new(&staging[staged..staged + run]));
            }
            for group in slices.chunks_mut(1024) {
                let mut rest = group;
                while !rest.is_empty() {
                    let n = w.write_vectored(rest)?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::WriteZero.into());
                    }
                    IoSlice::advance_slices(&mut rest, n);
                }
            }
            i = end;
        }
        Ok(())
    }
}

fn add(total: &mut Summary, part: &Summary) {
    total.packets += part.packets;
    total.matched += part.matched;
    total.packet_bytes += part.packet_bytes;
}

#[cfg(test)]
mod ranges_tests {
    use super::Ranges;
    use std::io::{self, IoSlice, Write};

    /// Accepts at most 7 bytes per call, so every partial-write path runs.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(7 - n);
                self.0.extend_from_slice(&b[..take]);
                n += take;
                if n == 7 {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_every_span_in_order_through_partial_writes() {
        let input: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let mut ranges = Ranges::default();
        let mut want = Vec::new();
        // Short and long spans, adjacent ones (which merge) and gaps.
        let mut at = 0;
        for (i, len) in [3usize, 700, 5, 5, 1, 2000, 40, 600, 9]
            .iter()
            .cycle()
            .take(60)
            .enumerate()
        {
            if at + len > input.len() {
                break;
            }
            ranges.push(&input, &input[at..at + len]);
            want.extend_from_slice(&input[at..at + len]);
            at += len + if i % 3 == 0 { 0 } else { 17 };
        }
        let mut out = Trickle(Vec::new());
        ranges
            .write_to(&input, &mut out, &mut Vec::new())
            .expect("writes");
        assert_eq!(out.0, want);
        assert_eq!(ranges.bytes, want.len());
    }
}
