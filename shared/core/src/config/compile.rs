//! What the configuration compiles into besides its definitions: which
//! conditions read the history, the properties they read, and how long the
//! history keeps each event name.

use crate::customer::history::Keep;
use crate::flow::steps::{Reads, LOOKBACK_DAYS};
use crate::flow::FlowDef;
use crate::model::duration::Dur;
use crate::model::links::NameMap;
use crate::segment::condition::Condition;
use crate::segment::SegmentSet;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Every condition that can read the history: segments', and flows' filters
/// and branches (every version).
pub(crate) fn history_conditions<'a>(
    segments: &'a SegmentSet,
    flows: &'a BTreeMap<String, BTreeMap<u32, Arc<FlowDef>>>,
) -> Vec<&'a Condition> {
    let mut conds: Vec<&Condition> = segments.iter().map(|s| &s.condition).collect();
    for f in flows.values().flat_map(|v| v.values()) {
        conds.extend(&f.filter);
        conds.extend(step_reads(f).conditions);
    }
    conds
}

/// What a flow's steps declare they read.
pub(crate) fn step_reads(f: &FlowDef) -> Reads<'_> {
    let mut r = Reads::default();
    for s in &f.steps {
        s.action.reads(&mut r);
    }
    r
}

/// Adds to `keys[name]` the top-level property each of `paths` reads (its
/// first non-empty part); a path with none reads the whole object, and
/// makes the entry `None` for good.
pub(crate) fn note_top_keys<'a>(
    keys: &mut NameMap<Option<BTreeSet<String>>>,
    name: &str,
    paths: impl IntoIterator<Item = &'a str>,
) {
    let entry = keys
        .entry(name.to_string())
        .or_insert_with(|| Some(BTreeSet::new()));
    for p in paths {
        match (p.split('.').find(|k| !k.is_empty()), entry.as_mut()) {
            (Some(k), Some(ks)) => {
                ks.insert(k.to_string());
            }
            _ => *entry = None,
        }
    }
}

pub(crate) fn retention_table(
    segments: &SegmentSet,
    flows: &BTreeMap<String, BTreeMap<u32, Arc<FlowDef>>>,
) -> NameMap<Keep> {
    let mut t: NameMap<Keep> = NameMap::default();
    let mut keep = |name: &str, k: Keep| {
        let e = t.entry(name.to_string()).or_insert(k);
        *e = match (*e, k) {
            (Keep::Forever, _) | (_, Keep::Forever) => Keep::Forever,
            (Keep::For(a), Keep::For(b)) => Keep::For(a.max(b)),
        };
    };
    for c in history_conditions(segments, flows) {
        c.walk(&mut |c| {
            if let Condition::Event(e) = c {
                keep(
                    &e.event,
                    e.within
                        .map(|w| Keep::For(w.exact()))
                        .unwrap_or(Keep::Forever),
                );
            }
        });
    }
    let look = Keep::For(Dur::days(LOOKBACK_DAYS).exact());
    for versions in flows.values() {
        for f in versions.values() {
            for g in &f.goals {
                keep(&g.event, look);
            }
            for (m, back) in step_reads(f).events {
                keep(m.event, Keep::For(back));
            }
        }
    }
    t
}
