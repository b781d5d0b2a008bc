//! `storeflow simulate` input: normalized event lines and platform delivery
//! lines, the latter through the same normalization as the ingest function
//! (minus signature checks), replayed together on the virtual clock.
//!
//! The file is streamed, never held: memory grows with the number of
//! customers, not with the length of the input. A first pass parses and
//! normalizes every line, so that every bad line is reported before
//! anything runs; a second pass feeds the simulator. A file whose arrival
//! times are out of order keeps only where each line starts (and when it
//! arrives), sorts that, and reads each line again from its place.

use jiff::Timestamp;
use serde_json::{json, Value};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use storeflow_app::simulate::{SimLine, Simulator};
use storeflow_core::customer::privacy::PrivacyRequest;
use storeflow_core::model::decision::Decision;
use storeflow_core::{Engine, Event};
use storeflow_ingest::{Accepted, DeliveryLine, MemoryStore, Router};

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
            let h = router
                .accept(&d.delivery(), d.at, store)
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

/// Runs inputs already in arrival order, then the clock to `until`.
pub fn run(
    engine: Engine,
    inputs: impl IntoIterator<Item = (Timestamp, Input)>,
    until: Option<Timestamp>,
    sink: &mut dyn FnMut(Output),
) {
    let mut r = Replay::new(engine);
    for (at, input) in inputs {
        r.input(at, input, sink);
    }
    r.finish(until, sink);
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

    fn rewind(&mut self) -> io::Result<()> {
        self.r.rewind()?;
        self.number = 0;
        self.pos = 0;
        Ok(())
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

/// Replays a JSON Lines file (see [`Line`]) and runs the clock on to
/// `until`, handing each output to `sink` as it is made. Bad lines are all
/// found before anything runs: then nothing is handed to `sink`, and the
/// error is every bad line's `number: message` (parse errors first; lines
/// that fail normalization only when every line parses).
pub fn simulate<R: Read + Seek>(
    file: R,
    router: &Router,
    engine: Engine,
    until: Option<Timestamp>,
    sink: &mut dyn FnMut(Output),
) -> io::Result<Result<(), Vec<String>>> {
    let mut lines = Lines::new(file);
    // First pass: parse and normalize every line, keep nothing but errors
    // (and places, should the arrival times turn out to be out of order).
    let (mut bad, mut refused) = (Vec::new(), Vec::new());
    let mut places = Vec::new();
    let mut last = Timestamp::MIN;
    let mut in_order = true;
    let mut store = MemoryStore::keys_only();
    while let Some(l) = lines.next()? {
        let line = match Line::parse(l.text) {
            Ok(line) => line,
            Err(e) => {
                bad.push(format!("{}: {e}", l.number));
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
        // Out of order, normalization waits for the sorted pass.
        if in_order {
            if let Err(e) = normalize(line, router, &mut store, &mut |_, _| {}) {
                refused.push(format!("{}: {e}", l.number));
            }
        }
    }
    if !bad.is_empty() {
        return Ok(Err(bad));
    }
    let mut replay = Replay::new(engine);
    let mut feed = |line: Line, store: &mut MemoryStore, replay: &mut Replay| {
        normalize(line, router, store, &mut |at, input| {
            replay.input(at, input, &mut *sink)
        })
    };
    if in_order {
        if !refused.is_empty() {
            return Ok(Err(refused));
        }
        drop(places);
        // Second pass: the same lines, fed to the simulator as they come.
        lines.rewind()?;
        let mut store = MemoryStore::keys_only();
        while let Some(l) = lines.next()? {
            let line = Line::parse(l.text).map_err(|e| reread(l.number, e))?;
            feed(line, &mut store, &mut replay).map_err(|e| reread(l.number, e))?;
        }
    } else {
        // Stable: lines arriving at one instant keep their file order.
        places.sort_by_key(|p| p.at);
        let mut store = MemoryStore::keys_only();
        for p in &places {
            let line = Line::parse(lines.at(p)?).map_err(|e| reread(p.number, e))?;
            if let Err(e) = normalize(line, router, &mut store, &mut |_, _| {}) {
                refused.push(format!("{}: {e}", p.number));
            }
        }
        if !refused.is_empty() {
            return Ok(Err(refused));
        }
        let mut store = MemoryStore::keys_only();
        for p in &places {
            let line = Line::parse(lines.at(p)?).map_err(|e| reread(p.number, e))?;
            feed(line, &mut store, &mut replay).map_err(|e| reread(p.number, e))?;
        }
    }
    replay.finish(until, sink);
    Ok(Ok(()))
}

/// A line that passed the first pass and failed the next: the file changed
/// while it was read.
fn reread(number: usize, e: String) -> io::Error {
    io::Error::other(format!("line {number} changed while it was read: {e}"))
}
