//! What the configuration compiles into besides its definitions: which
//! conditions read the history, the properties they read, and how long the
//! history keeps each event name.

use super::settings::Settings;
use super::EventFacts;
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

/// The flows in priority order, by trigger kind, and what each event name
/// means to the configuration (its [`EventFacts`]).
pub(crate) struct Compiled {
    pub by_priority: Vec<Arc<FlowDef>>,
    pub by_segment: Vec<Arc<FlowDef>>,
    pub by_date: Vec<Arc<FlowDef>>,
    pub facts: NameMap<EventFacts>,
}

/// Compiles a checked configuration's segments and flows.
pub(crate) fn compile(
    settings: &Settings,
    segments: &SegmentSet,
    by_id: &BTreeMap<String, BTreeMap<u32, Arc<FlowDef>>>,
) -> Compiled {
    let retention = retention_table(segments, by_id);
    let mut by_priority: Vec<Arc<FlowDef>> = by_id
        .values()
        .filter_map(|v| v.values().next_back())
        .filter(|f| f.enabled)
        .cloned()
        .collect();
    by_priority.sort_by_key(|f| {
        (
            settings.policy.rank(&f.priority).unwrap_or(usize::MAX),
            f.id.clone(),
        )
    });
    let mut facts: NameMap<EventFacts> = NameMap::default();
    for (name, keep) in retention {
        facts.entry(name).or_default().keep = Some(keep);
    }
    for f in &by_priority {
        if let Some(e) = &f.trigger.event {
            let x = facts.entry(e.clone()).or_default();
            x.triggers.push(f.clone());
            x.reads_props |= !f.trigger.filter.is_empty() || f.trigger.key.is_some();
        }
    }
    for name in segments.event_names() {
        facts.entry(name.to_string()).or_default().reads_fingerprint =
            segments.reads_fingerprint(name);
    }
    // Per name, the top-level properties that tests of kept events read
    // (`None` once some test reads the whole object).
    let mut kept_keys: NameMap<Option<BTreeSet<String>>> = NameMap::default();
    for c in history_conditions(segments, by_id) {
        c.walk(&mut |c| {
            if let Condition::Event(ec) = c {
                if !ec.filter.is_empty() {
                    let x = facts.entry(ec.event.clone()).or_default();
                    x.reads_props = true;
                    x.history_props = true;
                    note_top_keys(
                        &mut kept_keys,
                        &ec.event,
                        ec.filter.iter().map(|m| m.path.as_str()),
                    );
                }
            }
        });
    }
    let by_segment = by_priority
        .iter()
        .filter(|f| f.trigger.segment_enter.is_some() || f.trigger.segment_exit.is_some())
        .cloned()
        .collect();
    let by_date = by_priority
        .iter()
        .filter(|f| f.trigger.date.is_some())
        .cloned()
        .collect();
    for f in by_id.values().flat_map(|v| v.values()) {
        let waits = step_reads(f).events.into_iter().map(|(m, _)| m);
        for m in f.goals.iter().map(|g| g.view()).chain(waits) {
            let x = facts.entry(m.event.to_string()).or_default();
            x.ends_or_resumes_runs = true;
            if !m.filter.is_empty() || !m.same.is_empty() {
                x.reads_props = true;
                x.history_props = true;
                let filters = m.filter.iter().map(|f| f.path.as_str());
                note_top_keys(
                    &mut kept_keys,
                    m.event,
                    filters.chain(m.same.iter().map(|p| p.as_str())),
                );
            }
        }
    }
    // What reads these events as they come reads the same keys and
    // the triggers' filters and run keys.
    let mut read_keys = kept_keys.clone();
    for f in &by_priority {
        if let Some(e) = &f.trigger.event {
            let paths = f.trigger.filter.iter().map(|m| m.path.as_str());
            note_top_keys(&mut read_keys, e, paths.chain(f.trigger.key.as_deref()));
        }
    }
    let single = |keys: Option<BTreeSet<String>>| match keys {
        Some(ks) if ks.len() == 1 => ks.into_iter().next().map(|k| Arc::from(k.as_str())),
        _ => None,
    };
    for (name, keys) in kept_keys {
        if let Some(x) = facts.get_mut(&name) {
            x.history_key = single(keys);
        }
    }
    for (name, keys) in read_keys {
        if let Some(x) = facts.get_mut(&name) {
            x.props_key = single(keys);
        }
    }
    Compiled {
        by_priority,
        by_segment,
        by_date,
        facts,
    }
}
