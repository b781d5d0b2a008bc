//! `storeflow simulate` input: normalized event lines and platform delivery
//! lines, the latter through the same normalization as the ingest function
//! (minus signature checks), replayed together on the virtual clock.

use jiff::Timestamp;
use serde_json::{json, Value};
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

/// Normalizes delivery lines in arrival order (later deliveries may need
/// what earlier ones taught, such as an order's customer). Errors are
/// `line: message`, all of them.
pub fn inputs(
    mut lines: Vec<(usize, Line)>,
    router: &Router,
) -> Result<Vec<(Timestamp, Input)>, Vec<String>> {
    lines.sort_by_key(|(_, l)| l.at());
    // Duplicates are found by key; the raw bodies are not kept (a year of
    // deliveries is gigabytes of JSON nobody replays from here).
    let mut store = MemoryStore::keys_only();
    let (mut out, mut errs) = (Vec::new(), Vec::new());
    for (n, l) in lines {
        match l {
            Line::Event(e) => out.push((e.at, Input::Event(e.event))),
            Line::Delivery(d) => match router.accept(&d.delivery(), d.at, &mut store) {
                Ok(h) => out.extend(h.accepted.into_iter().map(|a| {
                    let input = match a {
                        Accepted::Event(e) => Input::Event(e),
                        Accepted::Privacy(p) => Input::Privacy(p),
                    };
                    (d.at, input)
                })),
                Err(e) => errs.push(format!("{n}: {e}")),
            },
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// What the simulation prints: decisions, and privacy requests carried out.
// One value per line, moved once: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    Decision(Decision),
    Privacy(Value),
}

/// Runs the inputs (already in arrival order), then the clock to `until`.
pub fn run(
    engine: Engine,
    inputs: Vec<(Timestamp, Input)>,
    until: Option<Timestamp>,
    sink: &mut dyn FnMut(Output),
) {
    let mut sim = Simulator::new(engine);
    for (at, input) in inputs {
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
    if let Some(u) = until {
        sim.run_until(u)
            .into_iter()
            .for_each(|d| sink(Output::Decision(d)));
    }
}
