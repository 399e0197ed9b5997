//! The filtering loop: walk the records of a mapped capture, run the filter
//! on each packet's bytes where they lie, and append every matching record
//! whole to a large output buffer.
//!
//! A match is a verdict other than 0, as libpcap's `pcap_offline_filter`
//! decides (tcpdump writes matching records whole; the verdict's snap
//! length is not applied). The filter sees the wire length as `len`.
//!
//! With several threads, one thread walks the record headers (a pcap
//! record's end is only known from its header, so boundaries must be found
//! in order; the walk is cheap) and hands out chunks of whole records with
//! the reader state at their start; workers filter chunks into their own
//! buffers, and the calling thread writes the buffers in file order.

use super::{CaptureError, Item, Reader};
use crate::Filter;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Output is written in blocks of about this many bytes.
const OUT_BLOCK: usize = 8 << 20;
/// Bytes of input per chunk when several threads filter.
const CHUNK: usize = 4 << 20;

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
    let mut buf = Vec::with_capacity(if out.is_some() { OUT_BLOCK + (1 << 20) } else { 0 });
    let mut cache = FilterCache::default();
    let len = reader.len();
    loop {
        // Filter up to the next block boundary, then flush and report.
        let stop = reader.offset().saturating_add(OUT_BLOCK).min(len);
        reader.limit(stop);
        let keep = out.is_some();
        let done = run_chunk(&mut reader, filters, &mut cache, keep.then_some(&mut buf), summary)?;
        if let Some(w) = out.as_deref_mut() {
            w.write_all(&buf).map_err(ScanError::Output)?;
            summary.written += buf.len() as u64;
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
    mut out: Option<&mut Vec<u8>>,
    summary: &mut Summary,
) -> Result<bool, ScanError> {
    let mut ahead = Prefetch::new(reader.bytes(), reader.offset());
    while let Some(item) = reader.next_item() {
        ahead.advance(reader.offset());
        match item? {
            Item::Packet(p) => {
                if cache.link_type != Some(p.link_type) {
                    let offset = (reader.offset() - p.record.len()) as u64;
                    let f = filters.get(p.link_type).map_err(|message| ScanError::Filter {
                        offset,
                        link_type: p.link_type,
                        message,
                    })?;
                    cache.filter = Some(f);
                    cache.link_type = Some(p.link_type);
                }
                summary.packets += 1;
                summary.packet_bytes += p.data.len() as u64;
                let Some(filter) = &cache.filter else {
                    continue;
                };
                if filter.run_wire(p.data, p.wire_len) != 0 {
                    summary.matched += 1;
                    if let Some(buf) = out.as_deref_mut() {
                        buf.extend_from_slice(p.record);
                    }
                }
            }
            Item::Other(block) => {
                if let Some(buf) = out.as_deref_mut() {
                    buf.extend_from_slice(block);
                }
            }
        }
    }
    Ok(reader.offset() >= reader.len())
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

/// One chunk's work: its index, and the reader positioned and limited.
type Job<'a> = (usize, Reader<'a>);
/// One chunk's result: its index, the matching bytes, its counts.
type Done = (usize, Result<(Vec<u8>, Summary), ScanError>);

fn scan_threaded(
    reader: Reader<'_>,
    filters: &Filters,
    mut out: Option<&mut dyn Write>,
    options: &ScanOptions<'_>,
    summary: &mut Summary,
) -> Result<(), ScanError> {
    let keep = out.is_some();
    let threads = options.threads;
    std::thread::scope(|scope| -> Result<(), ScanError> {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job<'_>>(threads * 2);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        let free_rx = Arc::new(Mutex::new(free_rx));
        let walker = scope.spawn(move || walk(reader, &job_tx));
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let free_rx = Arc::clone(&free_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut cache = FilterCache::default();
                loop {
                    let job = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((index, mut reader)) = job else {
                        return;
                    };
                    let mut buf = if keep {
                        let spare = free_rx.lock().unwrap_or_else(|e| e.into_inner()).try_recv();
                        spare.unwrap_or_else(|_| Vec::with_capacity(CHUNK + (1 << 20)))
                    } else {
                        Vec::new()
                    };
                    let mut counts = Summary::default();
                    let result = run_chunk(
                        &mut reader,
                        filters,
                        &mut cache,
                        keep.then_some(&mut buf),
                        &mut counts,
                    );
                    let _ = done_tx.send((index, result.map(|_| (buf, counts))));
                }
            });
        }
        drop(done_tx);
        // Write finished chunks in file order as they arrive.
        let mut pending: BTreeMap<usize, (Vec<u8>, Summary)> = BTreeMap::new();
        let mut next = 0;
        let mut failure: Option<(usize, ScanError)> = None;
        for (index, result) in done_rx {
            match result {
                Ok(r) => {
                    pending.insert(index, r);
                }
                Err(e) => {
                    if failure.as_ref().is_none_or(|(i, _)| index < *i) {
                        failure = Some((index, e));
                    }
                }
            }
            while let Some((mut buf, counts)) = pending.remove(&next) {
                if failure.is_none() {
                    if let Some(w) = out.as_deref_mut() {
                        if let Err(e) = w.write_all(&buf) {
                            failure = Some((next, ScanError::Output(e)));
                        }
                    }
                }
                summary.packets += counts.packets;
                summary.matched += counts.matched;
                summary.packet_bytes += counts.packet_bytes;
                summary.written += buf.len() as u64;
                buf.clear();
                let _ = free_tx.send(buf);
                next += 1;
                if let Some(progress) = options.progress {
                    progress((next * CHUNK) as u64);
                }
            }
        }
        let walked = walker
            .join()
            .unwrap_or_else(|_| Err(CaptureError::at(0, "the record walker panicked")));
        // The walker's error is the first in file order: workers only get
        // records it already checked.
        walked?;
        match failure {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    })
}

/// Walks every item, cutting the file into chunks of about [`CHUNK`]
/// bytes at item boundaries and sending each with the reader state at its
/// start.
fn walk<'a>(mut reader: Reader<'a>, jobs: &mpsc::SyncSender<Job<'a>>) -> Result<(), CaptureError> {
    let mut index = 0;
    let mut start = reader.clone();
    let mut chunk_start = reader.offset();
    while let Some(item) = reader.next_item() {
        item?;
        if reader.offset() - chunk_start >= CHUNK {
            start.limit(reader.offset());
            if jobs.send((index, start)).is_err() {
                return Ok(());
            }
            index += 1;
            start = reader.clone();
            chunk_start = reader.offset();
        }
    }
    if reader.offset() > chunk_start {
        start.limit(reader.offset());
        let _ = jobs.send((index, start));
    }
    Ok(())
}
