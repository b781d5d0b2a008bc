//! `storeflow simulate` input: normalized event lines and platform delivery
//! lines, the latter through the same normalization as the ingest function
//! (minus signature checks), replayed together on the virtual clock.
//!
//! The file is streamed, never held: memory grows with the number of
//! customers, not with the length of the input (see [`simulate`]).

use jiff::Timestamp;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use storeflow_app::simulate::{SimLine, Simulator};
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_core::model::decision::Decision;
use storeflow_core::{Engine, Event};
use storeflow_ingest::{Accepted, DeliveryLine, MemoryStore, Router, Source};

/// One input line.
// One value per line, moved once: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Line {
    Event(SimLine),
    Delivery(DeliveryLine),
}

impl Line {
    pub fn at(&self) -> Timestamp {
        match self {
            Line::Event(l) => l.at,
            Line::Delivery(d) => d.at,
        }
    }

    /// A delivery line has a `source`; any other is an event line.
    pub fn parse(text: &str) -> Result<Line, String> {
        // Straight from the text to the line, not through a `Value` that is
        // then taken apart (a third of the time of a delivery line). A line
        // without the word `source` has no `source`; one with it most
        // likely is a delivery. When the guess fails, the line is parsed
        // again the careful way below, whose answer (and error message)
        // is the line's.
        let quick = if text.contains("\"source\"") {
            serde_json::from_str(text).map(Line::Delivery)
        } else {
            serde_json::from_str(text).map(Line::Event)
        };
        if let Ok(line) = quick {
            return Ok(line);
        }
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if v.get("source").is_some() {
            serde_json::from_value(v).map(Line::Delivery)
        } else {
            serde_json::from_value(v).map(Line::Event)
        }
        .map_err(|e| e.to_string())
    }
}

/// What the simulator is fed.
// One value per line, moved once: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Input {
    Event(Event),
    Privacy(PrivacyRequest),
}

/// Normalizes one line into what the simulator is fed, handing each input
/// to `out` with the line's arrival time. Deliveries must come in arrival
/// order: later ones may need what earlier ones taught `store` (such as an
/// order's customer).
pub fn normalize(
    line: Line,
    router: &Router,
    store: &mut MemoryStore,
    out: &mut dyn FnMut(Timestamp, Input),
) -> Result<(), String> {
    match line {
        Line::Event(e) => out(e.at, Input::Event(e.event)),
        Line::Delivery(d) => {
            let h = match (&d.source, &d.body) {
                // A tracking call's body is parsed already (a string body
                // is the raw text, parsed by `accept`).
                (Source::Segment, body) if !body.is_string() => {
                    router.accept_tracking_parsed(d.topic.as_deref(), body, d.at, store)
                }
                _ => router.accept(&d.delivery(), d.at, store),
            }
            .map_err(|e| e.to_string())?;
            for a in h.accepted {
                out(
                    d.at,
                    match a {
                        Accepted::Event(e) => Input::Event(e),
                        Accepted::Privacy(p) => Input::Privacy(p),
                    },
                );
            }
        }
    }
    Ok(())
}

/// What the simulation prints: decisions, and privacy requests carried out.
// One value per line, moved once: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    Decision(Decision),
    Privacy(Value),
}

/// The simulator fed one input at a time (in arrival order).
pub struct Replay {
    sim: Simulator,
}

impl Replay {
    pub fn new(engine: Engine) -> Self {
        Replay {
            sim: Simulator::new(engine),
        }
    }

    /// Runs the clock to `at`, then applies the input.
    pub fn input(&mut self, at: Timestamp, input: Input, sink: &mut dyn FnMut(Output)) {
        let sim = &mut self.sim;
        match input {
            Input::Event(e) => sim
                .feed(at, e)
                .into_iter()
                .for_each(|d| sink(Output::Decision(d))),
            Input::Privacy(p) => {
                sim.run_until(at)
                    .into_iter()
                    .for_each(|d| sink(Output::Decision(d)));
                let result = match &p {
                    PrivacyRequest::ExportCustomer { shop, customer, .. } => {
                        json!({"export": sim.export_customer(shop, customer)})
                    }
                    PrivacyRequest::EraseCustomer { shop, customer, .. } => {
                        json!({"erased": sim.erase_customer(shop, customer, at)})
                    }
                    PrivacyRequest::EraseShop { shop } => {
                        json!({"erased": sim.erase_shop(shop, at)})
                    }
                };
                let mut line = json!({"at": at, "kind": "privacy", "request": p});
                if let (Some(l), Some(r)) = (line.as_object_mut(), result.as_object()) {
                    l.extend(r.clone());
                }
                sink(Output::Privacy(line));
            }
        }
    }

    /// Runs the clock on to `until`.
    pub fn finish(mut self, until: Option<Timestamp>, sink: &mut dyn FnMut(Output)) {
        if let Some(u) = until {
            self.sim
                .run_until(u)
                .into_iter()
                .for_each(|d| sink(Output::Decision(d)));
        }
    }
}

/// Where a line is in the file, and when it arrives: enough to sort the
/// lines and read each again.
#[derive(Debug, Clone, Copy)]
struct Place {
    at: Timestamp,
    number: usize,
    offset: u64,
    len: usize,
}

/// A line worth parsing: its number (from 1), where it starts, how many
/// bytes it has (with its line break), and its text, trimmed.
struct Read1<'a> {
    number: usize,
    offset: u64,
    len: usize,
    text: &'a str,
}

/// JSON Lines read one at a time, with their numbers and offsets; blank
/// lines and `//` comments are skipped.
struct Lines<R> {
    r: BufReader<R>,
    buf: Vec<u8>,
    number: usize,
    /// Where the next line starts.
    pos: u64,
}

fn utf8(b: &[u8]) -> io::Result<&str> {
    std::str::from_utf8(b).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

impl<R: Read + Seek> Lines<R> {
    fn new(r: R) -> Self {
        Lines {
            // Lines are kilobytes (a webhook body up to 2 MiB): a large
            // buffer keeps the reads few.
            r: BufReader::with_capacity(1 << 20, r),
            buf: Vec::new(),
            number: 0,
            pos: 0,
        }
    }

    /// The next line worth parsing, if any.
    fn next(&mut self) -> io::Result<Option<Read1<'_>>> {
        loop {
            self.buf.clear();
            let offset = self.pos;
            let n = self.r.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.pos += n as u64;
            self.number += 1;
            let text = utf8(&self.buf)?.trim();
            if text.is_empty() || text.starts_with("//") {
                continue;
            }
            // Borrowck: the text is re-sliced from the buffer it came from.
            let text = utf8(&self.buf)?.trim();
            return Ok(Some(Read1 {
                number: self.number,
                offset,
                len: n,
                text,
            }));
        }
    }

    /// The line at `p`, read again, trimmed.
    fn at(&mut self, p: &Place) -> io::Result<&str> {
        self.buf.resize(p.len, 0);
        let ahead = p.offset.wrapping_sub(self.pos);
        if ahead <= self.r.buffer().len() as u64 {
            // Next, or within what the reader holds (a nearly sorted file).
            self.r.seek_relative(ahead as i64)?;
            self.r.read_exact(&mut self.buf)?;
        } else {
            // Elsewhere: just this line, not a buffer's worth around it.
            self.r.seek(SeekFrom::Start(p.offset))?;
            self.r.get_mut().read_exact(&mut self.buf)?;
        }
        self.pos = p.offset + p.len as u64;
        Ok(utf8(&self.buf)?.trim())
    }
}

/// Why a simulation stopped short: the input could not be read, or the
/// output written.
#[derive(Debug)]
pub enum Error {
    Read(io::Error),
    Write(io::Error),
}

/// Output held until the whole input is known to be good: an unnamed
/// temporary file (in memory where none can be made), so that memory does
/// not grow with the number of decisions.
enum Spool {
    File(io::BufWriter<File>),
    Memory(Vec<u8>),
}

impl Spool {
    fn new() -> Spool {
        match temp_file() {
            Ok(f) => Spool::File(io::BufWriter::with_capacity(1 << 16, f)),
            Err(_) => Spool::Memory(Vec::new()),
        }
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Spool::File(w) => w,
            Spool::Memory(v) => v,
        }
    }

    /// Everything written, copied to `out`.
    fn copy_to(self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Spool::File(w) => {
                let mut f = w.into_inner().map_err(|e| e.into_error())?;
                f.rewind()?;
                io::copy(&mut f, out)?;
            }
            Spool::Memory(v) => out.write_all(&v)?,
        }
        Ok(())
    }
}

/// A file that is gone from its directory once opened (on Unix; elsewhere
/// it stays until removed below, when it is closed).
fn temp_file() -> io::Result<File> {
    let dir = std::env::temp_dir();
    for n in 0..100 {
        let path = dir.join(format!(".storeflow-simulate-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                // Unix lets an open file lose its name; where that fails the
                // file is kept rather than the output lost.
                let _ = std::fs::remove_file(&path);
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free temporary file name"))
}

/// A run that may still have to be thrown away: the simulator and the
/// output it printed so far.
struct Attempt {
    replay: Replay,
    spool: Spool,
    failed: Option<io::Error>,
    /// A panic of the simulator: it is the run's end, once the rest of the
    /// lines are checked and what was printed before it is handed out.
    panicked: Option<Box<dyn std::any::Any + Send>>,
}

impl Attempt {
    fn new(engine: &Engine) -> Attempt {
        Attempt {
            replay: Replay::new(engine.clone()),
            spool: Spool::new(),
            failed: None,
            panicked: None,
        }
    }

    fn feed(&mut self, at: Timestamp, input: Input, print: &mut Print<'_>) {
        if self.panicked.is_some() {
            return;
        }
        let (replay, spool, failed) = (&mut self.replay, &mut self.spool, &mut self.failed);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            replay.input(at, input, &mut |o| {
                if failed.is_none() {
                    *failed = print(spool.writer(), o).err();
                }
            })
        }));
        self.panicked = run.err();
    }

    /// Runs the clock on to `until`, then hands the output to `out`.
    fn finish(
        self,
        until: Option<Timestamp>,
        print: &mut Print<'_>,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        let Attempt {
            replay,
            mut spool,
            mut failed,
            mut panicked,
        } = self;
        if panicked.is_none() {
            // The clock's run to `until` may panic too: what came before
            // it is printed all the same.
            panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                replay.finish(until, &mut |o| {
                    if failed.is_none() {
                        failed = print(spool.writer(), o).err();
                    }
                })
            }))
            .err();
        }
        if let Some(e) = failed {
            return Err(Error::Write(e));
        }
        spool.copy_to(out).map_err(Error::Write)?;
        if let Some(p) = panicked {
            let _ = out.flush();
            std::panic::resume_unwind(p);
        }
        Ok(())
    }
}

/// Writes one output (a JSON line). It runs on the simulator's thread.
pub type Print<'a> = dyn FnMut(&mut dyn Write, Output) -> io::Result<()> + Send + 'a;

/// Inputs handed to the simulator's thread at once: few enough to keep
/// memory flat, enough to keep the hand-overs cheap.
const BATCH: usize = 256;

/// The reading side of a pass: inputs for the simulator, which runs on a
/// thread of its own (reading and normalizing lines, and running them, are
/// the two halves of the work, and this machine has two cores).
struct Feed {
    tx: Option<std::sync::mpsc::SyncSender<Vec<(Timestamp, Input)>>>,
    batch: Vec<(Timestamp, Input)>,
    abandoned: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Feed {
    fn input(&mut self, at: Timestamp, input: Input) {
        if self.tx.is_none() {
            return;
        }
        self.batch.push((at, input));
        if self.batch.len() >= BATCH {
            self.send();
        }
    }

    fn send(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if let Some(tx) = &self.tx {
            if tx.send(batch).is_err() {
                self.tx = None;
            }
        }
    }

    /// The run is of no use (a bad line, or lines out of order): it stops.
    fn abandon(&mut self) {
        self.abandoned
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.tx = None;
        self.batch.clear();
    }
}

/// Runs `read` on this thread and, on another, a simulator fed by it.
/// Gives what `read` returned, and the run unless it was abandoned.
fn pipelined<T>(
    engine: &Engine,
    print: &mut Print<'_>,
    read: impl FnOnce(&mut Feed) -> T,
) -> (T, Option<Attempt>) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(Timestamp, Input)>>(8);
    let abandoned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut feed = Feed {
        tx: Some(tx),
        batch: Vec::with_capacity(BATCH),
        abandoned: abandoned.clone(),
    };
    let mut attempt = Attempt::new(engine);
    std::thread::scope(|scope| {
        let runner = std::thread::Builder::new()
            .name("simulator".into())
            .spawn_scoped(scope, || {
                for batch in rx {
                    if abandoned.load(std::sync::atomic::Ordering::Relaxed) {
                        return None;
                    }
                    for (at, input) in batch {
                        attempt.feed(at, input, print);
                    }
                }
                if abandoned.load(std::sync::atomic::Ordering::Relaxed) {
                    None
                } else {
                    Some(attempt)
                }
            })
            .expect("a thread for the simulator");
        let got = read(&mut feed);
        feed.send();
        drop(feed);
        match runner.join() {
            Ok(attempt) => (got, attempt),
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

/// Replays a JSON Lines file (see [`Line`]), runs the clock on to `until`
/// and writes every output to `out` with `print`. Bad lines are all found
/// before anything is written: then `out` gets nothing, and the error is
/// every bad line's `number: message` (parse errors first; lines that fail
/// normalization only when every line parses).
///
/// One pass when the arrival times are in order: each line is parsed,
/// normalized and run at once (the simulator on a thread of its own), the
/// output held aside (a temporary file) until the end shows that no line
/// was bad. Out of order, the first pass keeps only each line's arrival
/// time, number and place; they are sorted (stably) and a second pass
/// reads each line again from its place.
pub fn simulate<R: Read + Seek>(
    file: R,
    router: &Router,
    engine: Engine,
    until: Option<Timestamp>,
    print: &mut Print<'_>,
    out: &mut dyn Write,
) -> Result<Result<(), Vec<String>>, Error> {
    let mut lines = Lines::new(file);
    let (mut bad, mut refused) = (Vec::new(), Vec::new());
    let mut places = Vec::new();
    let mut in_order = true;
    let (read, mut attempt) = pipelined(&engine, print, |feed| {
        let mut store = MemoryStore::keys_only();
        let mut last = Timestamp::MIN;
        while let Some(l) = lines.next().map_err(Error::Read)? {
            let line = match Line::parse(l.text) {
                Ok(line) => line,
                Err(e) => {
                    bad.push(format!("{}: {e}", l.number));
                    feed.abandon();
                    continue;
                }
            };
            let at = line.at();
            places.push(Place {
                at,
                number: l.number,
                offset: l.offset,
                len: l.len,
            });
            in_order &= at >= last;
            last = last.max(at);
            if !in_order {
                // Normalization waits for the sorted pass.
                feed.abandon();
                continue;
            }
            if let Err(e) = step(line, router, &mut store, feed) {
                refused.push(format!("{}: {e}", l.number));
            }
        }
        Ok(())
    });
    read?;
    if !bad.is_empty() {
        return Ok(Err(bad));
    }
    if !in_order {
        // Stable: lines arriving at one instant keep their file order.
        places.sort_by_key(|p| p.at);
        let read;
        (read, attempt) = pipelined(&engine, print, |feed| {
            let mut store = MemoryStore::keys_only();
            for p in &places {
                let text = lines.at(p).map_err(Error::Read)?;
                let line = Line::parse(text).map_err(|e| reread(p.number, e))?;
                if let Err(e) = step(line, router, &mut store, feed) {
                    refused.push(format!("{}: {e}", p.number));
                }
            }
            Ok(())
        });
        read?;
    }
    if !refused.is_empty() {
        return Ok(Err(refused));
    }
    attempt
        .expect("kept while every line is good")
        .finish(until, print, out)?;
    Ok(Ok(()))
}

/// Normalizes one line and hands its inputs to the simulator (a line that
/// fails normalization abandons the run).
fn step(
    line: Line,
    router: &Router,
    store: &mut MemoryStore,
    feed: &mut Feed,
) -> Result<(), String> {
    let res = normalize(line, router, store, &mut |at, input| feed.input(at, input));
    if res.is_err() {
        feed.abandon();
    }
    res
}

/// A line that parsed in the first pass and not in the second: the file
/// changed while it was read.
fn reread(number: usize, e: String) -> Error {
    Error::Read(io::Error::other(format!(
        "line {number} changed while it was read: {e}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use storeflow_ingest::{EnvOverrides, IngestConfig};

    fn repo(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    }

    /// What `storeflow simulate` prints for these lines (or the errors).
    fn simulate_text(text: &str, until: &str) -> Result<String, Vec<String>> {
        let cfg = crate::load_config(&repo("examples/starter"))
            .unwrap()
            .expect("the starter configuration is valid");
        let router = Router::new(IngestConfig::from_settings(
            &cfg.settings,
            &EnvOverrides::default(),
        ));
        let mut out = Vec::new();
        let ran = simulate(
            Cursor::new(text.as_bytes().to_vec()),
            &router,
            Engine::new(cfg),
            Some(until.parse().unwrap()),
            &mut |w, o| {
                match o {
                    Output::Decision(d) => serde_json::to_writer(&mut *w, &d),
                    Output::Privacy(v) => serde_json::to_writer(&mut *w, &v),
                }?;
                writeln!(w)
            },
            &mut out,
        )
        .expect("in memory: no I/O error");
        ran.map(|()| String::from_utf8(out).unwrap())
    }

    /// The sample week's event lines and platform deliveries, together.
    fn sample_lines() -> Vec<(Timestamp, String)> {
        let mut lines = Vec::new();
        for f in ["events/starter-week.jsonl", "events/platform-week.jsonl"] {
            for l in std::fs::read_to_string(repo(f)).unwrap().lines() {
                let l = l.trim();
                if l.is_empty() || l.starts_with("//") {
                    continue;
                }
                let v: Value = serde_json::from_str(l).unwrap();
                let at: Timestamp = v["at"].as_str().unwrap().parse().unwrap();
                lines.push((at, l.to_string()));
            }
        }
        lines
    }

    fn join(lines: &[(Timestamp, String)]) -> String {
        lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// The lines in a scrambled order (a fixed seed), except that lines
    /// arriving at one instant keep their order among themselves, as a
    /// stable sort keeps it.
    fn shuffled(lines: &[(Timestamp, String)]) -> Vec<(Timestamp, String)> {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut keyed: Vec<(u64, usize)> = (0..lines.len())
            .map(|i| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (seed >> 11, i)
            })
            .collect();
        keyed.sort();
        let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
        // Each group of equal instants takes the slots the shuffle gave it,
        // in file order.
        let mut out: Vec<Option<(Timestamp, String)>> = vec![None; lines.len()];
        let mut groups: std::collections::BTreeMap<Timestamp, Vec<usize>> = Default::default();
        for (slot, &i) in order.iter().enumerate() {
            groups.entry(lines[i].0).or_default().push(slot);
        }
        for (at, slots) in groups {
            let members = lines.iter().filter(|(t, _)| *t == at);
            for (slot, line) in slots.into_iter().zip(members) {
                out[slot] = Some(line.clone());
            }
        }
        out.into_iter()
            .map(|l| l.expect("every slot filled"))
            .collect()
    }

    #[test]
    fn shuffled_lines_decide_what_sorted_lines_decide() {
        let mut sorted = sample_lines();
        sorted.sort_by_key(|(at, _)| *at);
        let mixed = shuffled(&sorted);
        assert!(
            mixed.windows(2).any(|w| w[1].0 < w[0].0),
            "the shuffled lines are out of order"
        );
        let until = "2026-12-31T00:00:00Z";
        let expected = simulate_text(&join(&sorted), until).expect("good lines");
        assert!(expected.lines().count() > 50, "{expected}");
        assert!(
            expected.contains("\"kind\":\"privacy\""),
            "privacy requests run"
        );
        let got = simulate_text(&join(&mixed), until).expect("good lines");
        assert_eq!(got, expected);
    }

    #[test]
    fn a_parsed_tracking_body_is_accepted_as_its_bytes_are() {
        let cfg = crate::load_config(&repo("examples/starter"))
            .unwrap()
            .unwrap();
        let router = Router::new(IngestConfig::from_settings(
            &cfg.settings,
            &EnvOverrides::default(),
        ));
        let at: Timestamp = "2026-11-23T16:00:00Z".parse().unwrap();
        let mut seen = 0;
        for f in std::fs::read_dir(repo("events/segment")).unwrap() {
            let path = f.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.contains(".lambda.") || !name.ends_with(".json") {
                continue;
            }
            let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let call = name.split(['_', '.']).next().unwrap().to_string();
            for (topic, body) in [
                (Some(call.as_str()), body.clone()),
                (Some("nonsense"), body.clone()),
                (Some(call.as_str()), serde_json::json!({"type": "track"})),
                (None, serde_json::json!([1, 2])),
            ] {
                let line = DeliveryLine {
                    at,
                    source: Source::Segment,
                    topic: topic.map(str::to_string),
                    headers: Default::default(),
                    body,
                };
                let show = |h: Result<storeflow_ingest::Handled, storeflow_ingest::Refusal>| {
                    h.map(|h| (h.response.body, serde_json::to_value(&h.accepted).unwrap()))
                        .map_err(|e| e.to_string())
                };
                let (mut a, mut b) = (MemoryStore::keys_only(), MemoryStore::keys_only());
                for _ in 0..2 {
                    // The second time, a duplicate.
                    let parsed = show(router.accept_tracking_parsed(
                        line.topic.as_deref(),
                        &line.body,
                        at,
                        &mut a,
                    ));
                    let bytes = show(router.accept(&line.delivery(), at, &mut b));
                    assert_eq!(parsed, bytes, "{name} {topic:?}");
                }
                seen += 1;
            }
        }
        assert!(seen >= 20, "{seen}");
    }

    #[test]
    fn shuffled_lines_with_a_bad_delivery_print_nothing_and_name_it() {
        let mut lines = shuffled(&sample_lines());
        // A Shopify order that is not an order.
        let bad = r#"{"at": "2026-11-20T00:00:00Z", "source": "shopify", "topic": "orders/create", "headers": {"X-Shopify-Shop-Domain": "northwind.myshopify.com", "X-Shopify-Webhook-Id": "bad-1"}, "body": {"id": "not a number", "line_items": 7}}"#;
        lines.insert(
            3,
            ("2026-11-20T00:00:00Z".parse().unwrap(), bad.to_string()),
        );
        let errs = simulate_text(&join(&lines), "2026-12-31T00:00:00Z")
            .expect_err("the bad delivery is refused");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("4: "), "{errs:?}");
    }
}
