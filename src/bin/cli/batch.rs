//! The streaming batch `check`: a reader thread cuts the inputs into batches, worker threads judge
//! and render them, and the calling thread writes the results in input order. A fixed number of
//! batches exist and go round (reader, worker, writer, back to the reader with their buffers
//! kept), so memory stays flat whatever the input's size and is not allocated anew per batch.
//! On one CPU the same three steps run in turn on the calling thread.

use crate::input::{MAX_POLICY_FILE_BYTES, open_input, read_input, write_stdout};
use anyhow::{Result, anyhow, bail};
use ecr_policy_guard_core::render::text::{
    CheckResult, CheckSummary, Style, result_json, result_text,
};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// A batch closes at this many inputs or this many bytes, whichever comes first: large enough
/// that handing it between threads costs nothing next to judging it, small enough that a few in
/// flight per worker stay a few megabytes.
const BATCH_INPUTS: usize = 256;
const BATCH_BYTES: usize = 256 * 1024;
/// Batches in flight per worker (being read, judged, or waiting for their turn to be written).
const IN_FLIGHT_PER_WORKER: usize = 3;
/// The rendered results of a batch fit here almost always (JSON is 0.4–0.5x its input on the
/// benchmark corpora); pages not written are never touched, so the spare room costs no memory.
const OUT_BYTES: usize = 2 * (BATCH_BYTES + MAX_POLICY_FILE_BYTES);
/// The read buffer of a JSON Lines input.
const READ_BUFFER: usize = 256 * 1024;

/// What a batch is made of.
pub enum Input {
    /// A policy file, judged whole.
    File(String),
    /// A JSON Lines file, already open: one policy per non-blank line.
    Lines(String, Box<dyn Read + Send>),
}

impl Input {
    /// Opens a JSON Lines input now, so a missing file fails before any output.
    pub fn lines(path: &str) -> Result<Input> {
        Ok(Input::Lines(path.to_owned(), open_input(path)?))
    }

    fn name(&self) -> &str {
        match self {
            Input::File(name) | Input::Lines(name, _) => name,
        }
    }
}

/// How each input is judged and rendered; called on the worker threads.
pub trait Judge: Sync {
    /// Judges one input: its text, or why it could not be read.
    fn judge<'a>(
        &self,
        file: &'a str,
        line: Option<usize>,
        text: Result<&str, String>,
    ) -> CheckResult<'a>;
}

/// The output format of a batch.
#[derive(Debug, Clone, Copy)]
pub enum Render {
    /// One document, `{"results":[...],"summary":{...}}`, compact.
    Json,
    Text(Style),
}

/// One input of a batch: where it came from and its bytes in the batch's buffer.
struct Item {
    input: usize,
    line: Option<usize>,
    span: Result<Range<usize>, String>,
}

/// Inputs read together, and then their rendered results (comma-separated in JSON). Its
/// buffers are reused from batch to batch: fresh ones cost the kernel a page fault and a zeroed
/// page per 4 KB, a tenth of a batch check's time when each batch allocated its own.
#[derive(Default)]
struct Batch {
    seq: u64,
    buf: Vec<u8>,
    items: Vec<Item>,
    out: Vec<u8>,
}

impl Batch {
    fn full(&self) -> bool {
        self.items.len() >= BATCH_INPUTS || self.buf.len() >= BATCH_BYTES
    }

    /// Emptied for its next round; its buffers keep their capacity.
    fn recycle(mut self) -> Batch {
        self.buf.clear();
        self.items.clear();
        self.out.clear();
        self
    }
}

/// A batch judged, with the counts of its results.
struct Done {
    batch: Batch,
    summary: CheckSummary,
}

/// Judges every input on `workers` threads and writes the results to standard output in input
/// order, then the summary. A closed standard output stops the run quietly; an input that
/// cannot be read midway is an error (the output is then incomplete).
pub fn run(
    inputs: Vec<Input>,
    judge: &dyn Judge,
    render: Render,
    workers: usize,
) -> Result<CheckSummary> {
    let names: Vec<String> = inputs.iter().map(|i| i.name().to_owned()).collect();
    let names = &names;
    if workers <= 1 {
        return run_inline(inputs, names, judge, render);
    }
    let in_flight = workers * IN_FLIGHT_PER_WORKER;
    let (batch_tx, batch_rx) = sync_channel::<Batch>(in_flight);
    let (done_tx, done_rx) = sync_channel::<Done>(in_flight);
    // The batches themselves are the credits that bound the work in flight: the reader fills
    // one it is given, the writer gives it back once it is written, so a slow batch cannot
    // make the others pile up.
    let (credit_tx, credit_rx) = sync_channel::<Batch>(in_flight);
    for _ in 0..in_flight {
        credit_tx
            .send(Batch::default())
            .map_err(|_| anyhow!("internal error: no credits"))?;
    }
    let batch_rx = Mutex::new(batch_rx);
    let batch_rx = &batch_rx;
    // Set when the reader fails or a worker panics: the writer then stops before the summary,
    // so an incomplete document never looks complete.
    let failed = AtomicBool::new(false);
    let failed = &failed;
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let read = read_to_channels(inputs, &batch_tx, &credit_rx);
            if read.is_err() {
                failed.store(true, Ordering::SeqCst);
            }
            read
        });
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let worked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    work(batch_rx, &done_tx, names, judge, render);
                }));
                if worked.is_err() {
                    failed.store(true, Ordering::SeqCst);
                    // Wakes the writer, which would otherwise wait for the lost batch forever.
                    let _ = done_tx.send(Done {
                        batch: Batch {
                            seq: u64::MAX,
                            ..Batch::default()
                        },
                        summary: CheckSummary::default(),
                    });
                }
            });
        }
        drop(done_tx);
        let mut summary = CheckSummary::default();
        write_stdout(|out| write(out, done_rx, credit_tx, render, &mut summary, failed))?;
        // The writer's channels are gone: the reader and workers stop at their next batch.
        reader
            .join()
            .map_err(|_| anyhow!("internal error: the reading thread panicked"))??;
        finished(summary, failed.load(Ordering::SeqCst))
    })
}

/// One CPU: each batch is read, judged and written in turn on this thread. Threads would only
/// take turns on the one CPU, each handoff a context switch with the caches of another.
fn run_inline(
    inputs: Vec<Input>,
    names: &[String],
    judge: &dyn Judge,
    render: Render,
) -> Result<CheckSummary> {
    let mut summary = CheckSummary::default();
    let mut read = Ok(());
    let mut panicked = false;
    write_stdout(|out| {
        let mut writer = Writer::new(render);
        let mut written = Ok(());
        let mut text = String::new();
        read = read_batches(inputs, Batch::default(), &mut |mut batch, _| {
            let judged = std::panic::catch_unwind(AssertUnwindSafe(|| {
                judge_batch(&mut batch, names, judge, render, &mut text)
            }));
            let Ok(counts) = judged else {
                panicked = true;
                return None;
            };
            let mut back = None;
            written = writer.put(
                out,
                Done {
                    batch,
                    summary: counts,
                },
                &mut summary,
                &mut |b| {
                    back = Some(b);
                },
            );
            back.filter(|_| written.is_ok())
        });
        written?;
        if read.is_err() || panicked {
            return Ok(());
        }
        writer.finish(out, &summary)
    })?;
    read?;
    finished(summary, panicked)
}

/// The end of a run once everything is written: a lost batch or an empty input is an error.
fn finished(summary: CheckSummary, panicked: bool) -> Result<CheckSummary> {
    if panicked {
        bail!("internal error: a checking thread panicked; the output is incomplete");
    }
    if summary.inputs == 0 && !crate::input::stdout_closed() {
        bail!("no policy documents in the input");
    }
    Ok(summary)
}

/// The reader of the threaded run: each batch filled once the writer has given one back (or is
/// one of the first few), then sent to the workers.
fn read_to_channels(
    inputs: Vec<Input>,
    batches: &SyncSender<Batch>,
    credits: &Receiver<Batch>,
) -> Result<()> {
    // No credit at all: the writer has stopped (closed output), there is nobody to read for.
    let Ok(first) = credits.recv() else {
        return Ok(());
    };
    read_batches(inputs, first, &mut |batch, last| {
        batches.send(batch).ok()?;
        if last { None } else { credits.recv().ok() }
    })
}

/// Where the reader puts a full batch (`true` for the last one): it gives back an empty batch
/// to fill next, or `None` once nobody wants more (the writer has stopped).
type Hand<'h> = dyn FnMut(Batch, bool) -> Option<Batch> + 'h;

/// The reader: whole files and JSON Lines cut into batches, starting with `first`.
fn read_batches(inputs: Vec<Input>, first: Batch, hand: &mut Hand<'_>) -> Result<()> {
    let prepare = |mut batch: Batch, seq: u64| {
        batch.seq = seq;
        // A no-op for a batch that has been round once.
        batch.buf.reserve(BATCH_BYTES + MAX_POLICY_FILE_BYTES);
        batch.items.reserve(BATCH_INPUTS);
        batch
    };
    let mut batch = prepare(first, 0);
    // Hands the batch over and takes the next one to fill; false once the writer has stopped.
    let mut send = |batch: &mut Batch| -> bool {
        let seq = batch.seq + 1;
        hand(std::mem::take(batch), false)
            .map(|next| *batch = prepare(next, seq))
            .is_some()
    };
    for (index, input) in inputs.into_iter().enumerate() {
        match input {
            Input::File(path) => {
                let span = match read_input(&path, MAX_POLICY_FILE_BYTES) {
                    Ok(text) => Ok(push(&mut batch.buf, text.as_bytes())),
                    Err(e) => Err(format!("{e:#}")),
                };
                batch.items.push(Item {
                    input: index,
                    line: None,
                    span,
                });
            }
            Input::Lines(path, source) => {
                let mut source = BufReader::with_capacity(READ_BUFFER, source);
                let mut number = 0;
                loop {
                    let start = batch.buf.len();
                    let line = next_line(&mut source, &mut batch.buf, MAX_POLICY_FILE_BYTES)
                        .map_err(|e| {
                            anyhow!("cannot read {}: {e}", crate::input::display(&path))
                        })?;
                    let Some(length) = line else { break };
                    number += 1;
                    let span = if length > MAX_POLICY_FILE_BYTES {
                        Err(format!(
                            "line is longer than {MAX_POLICY_FILE_BYTES} bytes ({length}), more than any ECR policy"
                        ))
                    } else if batch.buf[start..].iter().all(u8::is_ascii_whitespace) {
                        batch.buf.truncate(start);
                        continue;
                    } else {
                        Ok(start..batch.buf.len())
                    };
                    batch.items.push(Item {
                        input: index,
                        line: Some(number),
                        span,
                    });
                    if batch.full() && !send(&mut batch) {
                        return Ok(());
                    }
                }
            }
        }
        if batch.full() && !send(&mut batch) {
            return Ok(());
        }
    }
    if !batch.items.is_empty() {
        hand(batch, true);
    }
    Ok(())
}

fn push(buf: &mut Vec<u8>, bytes: &[u8]) -> Range<usize> {
    let start = buf.len();
    buf.extend_from_slice(bytes);
    start..buf.len()
}

/// Appends the next line of `source` (without its `\n`) to `buf` and returns its length, or
/// `None` at the end of input. A line longer than `limit` is skipped, not held: its length is
/// returned and nothing is appended.
fn next_line(
    source: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Option<usize>> {
    let start = buf.len();
    let mut length = 0;
    let mut any = false;
    loop {
        let available = match source.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (chunk, used, end) = match memchr::memchr(b'\n', available) {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        if length + chunk.len() <= limit {
            buf.extend_from_slice(chunk);
        } else {
            buf.truncate(start);
        }
        length += chunk.len();
        source.consume(used);
        if end {
            break;
        }
    }
    Ok(any.then_some(length))
}

/// A worker: judges and renders batches until the reader is done or the writer has stopped.
fn work(
    batches: &Mutex<Receiver<Batch>>,
    done: &SyncSender<Done>,
    names: &[String],
    judge: &dyn Judge,
    render: Render,
) {
    let mut text = String::new();
    loop {
        // The lock is held only to take a batch; a poisoned lock means a worker panicked, and
        // the writer reports the missing batch.
        let batch = match batches.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(mut batch) = batch else { return };
        let summary = judge_batch(&mut batch, names, judge, render, &mut text);
        if done.send(Done { batch, summary }).is_err() {
            return;
        }
    }
}

/// Judges and renders every input of `batch` into its output buffer; returns their counts.
fn judge_batch(
    batch: &mut Batch,
    names: &[String],
    judge: &dyn Judge,
    render: Render,
    text: &mut String,
) -> CheckSummary {
    let mut out = std::mem::take(&mut batch.out);
    if out.capacity() < OUT_BYTES {
        // Allocated once per batch, at its final size: growing an emptied buffer would make
        // the allocator copy its whole old capacity into fresh pages, and on two CPUs each
        // such page costs a TLB shootdown (an IPI to the other core).
        out = Vec::with_capacity(OUT_BYTES);
    }
    let mut summary = CheckSummary::default();
    for (i, item) in batch.items.iter().enumerate() {
        let text_of = |span: &Range<usize>| {
            std::str::from_utf8(&batch.buf[span.clone()]).map_err(|e| {
                format!(
                    "not valid UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                )
            })
        };
        let input = item.span.as_ref().map_err(Clone::clone).and_then(text_of);
        let result = judge.judge(&names[item.input], item.line, input);
        summary.count(&result);
        match render {
            Render::Json => {
                if i > 0 {
                    out.push(b',');
                }
                result_json(&mut out, &result);
            }
            Render::Text(style) => {
                text.clear();
                result_text(text, &result, style);
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    batch.out = out;
    summary
}

/// The writer of the threaded run: batches as the workers finish them, until they are all done.
fn write(
    out: &mut dyn Write,
    done: Receiver<Done>,
    credits: SyncSender<Batch>,
    render: Render,
    summary: &mut CheckSummary,
    failed: &AtomicBool,
) -> std::io::Result<()> {
    let mut writer = Writer::new(render);
    for batch in done {
        if failed.load(Ordering::SeqCst) {
            return Ok(());
        }
        // The reader may be gone already (end of input); a lost batch is then harmless.
        writer.put(out, batch, summary, &mut |b| {
            let _ = credits.try_send(b);
        })?;
    }
    if failed.load(Ordering::SeqCst) {
        return Ok(());
    }
    writer.finish(out, summary)
}

/// Results in input order, whatever order their batches complete in, then the summary.
struct Writer {
    render: Render,
    waiting: BTreeMap<u64, Done>,
    next: u64,
}

impl Writer {
    fn new(render: Render) -> Writer {
        Writer {
            render,
            waiting: BTreeMap::new(),
            next: 0,
        }
    }

    /// Takes a judged batch; writes it and every batch it was holding back for it, and gives
    /// each one written, emptied, to `recycle`.
    fn put(
        &mut self,
        out: &mut dyn Write,
        done: Done,
        summary: &mut CheckSummary,
        recycle: &mut dyn FnMut(Batch),
    ) -> std::io::Result<()> {
        self.waiting.insert(done.batch.seq, done);
        while let Some(Done {
            batch,
            summary: counts,
        }) = self.waiting.remove(&self.next)
        {
            // Counted before it is written: a pipe that closes midway still exits with the
            // worst of what its reader was given.
            summary.add(&counts);
            match self.render {
                Render::Json if self.next == 0 => out.write_all(b"{\"results\":[")?,
                Render::Json => out.write_all(b",")?,
                Render::Text(_) => {}
            }
            out.write_all(&batch.out)?;
            self.next += 1;
            recycle(batch.recycle());
        }
        Ok(())
    }

    /// The end of the document, once every batch is written.
    fn finish(&self, out: &mut dyn Write, summary: &CheckSummary) -> std::io::Result<()> {
        match self.render {
            Render::Json if self.next > 0 => {
                out.write_all(b"],\"summary\":")?;
                serde_json::to_writer(&mut *out, summary)?;
                out.write_all(b"}\n")
            }
            Render::Json => Ok(()),
            Render::Text(_) if summary.inputs > 0 => out.write_all(summary.text().as_bytes()),
            Render::Text(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn lines_are_cut_at_newlines_and_an_overlong_one_is_measured_not_held() {
        let input = b"one\r\n\nxxxxxxxxxx\nlast".as_slice();
        // A tiny buffer: lines span several reads.
        let mut source = BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut lines = Vec::new();
        while let Some(length) = next_line(&mut source, &mut buf, 5).unwrap() {
            lines.push((length, String::from_utf8(std::mem::take(&mut buf)).unwrap()));
        }
        assert_eq!(
            lines,
            [
                (4, "one\r".to_owned()),
                (0, String::new()),
                (10, String::new()),
                (4, "last".to_owned()),
            ]
        );
    }

    /// A source of endless JSON Lines that counts the bytes taken from it.
    struct Endless(Arc<AtomicUsize>);

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let line = b"{\"Version\":\"2012-10-17\",\"Statement\":[]}\n";
            let n = buf.len().min(line.len());
            buf[..n].copy_from_slice(&line[..n]);
            self.0.fetch_add(n, Ordering::SeqCst);
            Ok(n)
        }
    }

    #[test]
    fn the_reader_stops_when_its_credits_are_spent_and_ends_when_the_writer_goes() {
        // An endless input: without batches back from the writer, the reader fills at most the
        // batches it was given (and its read buffer), not the input.
        let taken = Arc::new(AtomicUsize::new(0));
        let inputs = vec![Input::Lines(
            "endless".into(),
            Box::new(Endless(taken.clone())),
        )];
        let (batch_tx, batch_rx) = sync_channel(16);
        let (credit_tx, credit_rx) = sync_channel(16);
        credit_tx.send(Batch::default()).unwrap();
        credit_tx.send(Batch::default()).unwrap();
        let reader = std::thread::spawn(move || read_to_channels(inputs, &batch_tx, &credit_rx));
        let first: Batch = batch_rx.recv().unwrap();
        let second: Batch = batch_rx.recv().unwrap();
        assert_eq!((first.seq, second.seq), (0, 1));
        assert_eq!(first.items.len(), BATCH_INPUTS);
        assert_eq!(second.items[0].line, Some(BATCH_INPUTS + 1));
        assert!(batch_rx.recv_timeout(Duration::from_millis(300)).is_err());
        let bound = 3 * BATCH_BYTES + READ_BUFFER + 2 * MAX_POLICY_FILE_BYTES;
        assert!(
            taken.load(Ordering::SeqCst) <= bound,
            "read ahead past its credits"
        );
        // The writer has gone (closed output): the reader stops without an error.
        drop(credit_tx);
        reader.join().unwrap().unwrap();
    }
}
