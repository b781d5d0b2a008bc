//! A store's whole configuration, parsed and checked: `store.yaml`,
//! `segments/*.yaml`, `flows/*.yaml` and `templates/*.yaml`.
//!
//! The core reads no files: callers hand it `(path, text)` pairs. Every
//! problem found is reported with the file, the path to the field, and what
//! is wrong, and all problems are reported at once.

pub mod samples;
pub mod settings;

use crate::config::settings::Settings;
use crate::customer::history::{Keep, Retention};
use crate::customer::profile::STANDARD_FIELDS;
use crate::flow::{Action, FlowDef, TriggerKind, EXIT};
use crate::model::duration::Dur;
use crate::model::links::NameMap;
use crate::segment::condition::Condition;
use crate::segment::{SegmentDef, SegmentSet};
use crate::template::{TemplateChannel, TemplateDef, Templates};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// Path to the field (`steps[2].send.template`), empty for the whole file.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration error(s):\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// A configuration file's path (relative to the configuration directory)
/// and text.
pub struct Source {
    pub path: String,
    pub text: String,
}

/// How long history keeps events that flows look back for (a goal that
/// arrived before the event that starts the run, a `wait_for` whose event
/// came early).
const FLOW_LOOKBACK_DAYS: i64 = 35;

/// `Debug` is written by hand below: it leaves out the link secret.
pub struct Config {
    pub settings: Settings,
    pub segments: SegmentSet,
    /// Every version of every flow: runs stay on the version they began on.
    pub flows: BTreeMap<String, BTreeMap<u32, Arc<FlowDef>>>,
    pub templates: Templates,
    /// The secret that signs unsubscribe links (from the environment in a
    /// deployment; a development default otherwise).
    pub link_secret: Vec<u8>,
    /// `link_secret`, keyed once for signing.
    pub links: crate::model::links::Signer,
    /// Which file each segment / flow / template came from.
    pub files: BTreeMap<String, String>,
    /// The newest enabled version of each flow, highest priority first:
    /// the order in which flows are offered an event.
    pub by_priority: Vec<Arc<FlowDef>>,
    /// The flows of `by_priority` triggered by a segment enter or exit, in
    /// the same order.
    by_segment: Vec<Arc<FlowDef>>,
    /// The flows of `by_priority` triggered by a date, in the same order.
    by_date: Vec<Arc<FlowDef>>,
    /// What the configuration does with events of each name, found with
    /// one lookup per event (names it does nothing with are absent).
    facts: NameMap<EventFacts>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret that signs links: a log line of this must not
        // let anyone forge an unsubscribe or preference link.
        f.debug_struct("Config")
            .field("settings", &self.settings)
            .field("segments", &self.segments)
            .field("flows", &self.flows)
            .field("templates", &self.templates)
            .field("link_secret", &"<redacted>")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// What a configuration does with events of one name.
#[derive(Debug, Default)]
pub struct EventFacts {
    /// Flows this event triggers, highest priority first.
    pub triggers: Vec<Arc<FlowDef>>,
    /// How long the history keeps such events (`None`: not at all).
    pub keep: Option<Keep>,
    /// Whether some flow (any version) has it as a goal or a `wait_for`:
    /// only such an event can end or resume a run, so the others skip the
    /// pass over the customer's runs.
    pub ends_or_resumes_runs: bool,
    /// Whether a segment filter on such events can use their fingerprint.
    pub reads_fingerprint: bool,
    /// Whether something tests the properties of an event as it comes: a
    /// segment's or a goal's `where` or `same`, or a trigger's filter or run
    /// key. Otherwise they are not converted to JSON at all.
    pub reads_props: bool,
    /// Whether the history keeps the properties of such events: something
    /// tests them later (a segment's `where`, a goal's or `wait_for`'s
    /// `where` or `same`). Otherwise it keeps the event without them, which
    /// is most of a customer's memory and stored state: a condition added
    /// later sees such properties from then on, as a newly kept name's
    /// history begins when a condition first reads it.
    pub history_props: bool,
    /// When everything that tests kept properties of such events reads one
    /// top-level property, its name: the history keeps that property alone
    /// (see `speed::kept_props`).
    pub history_key: Option<Arc<str>>,
    /// When everything that reads such events' properties (as they come or
    /// later) reads one top-level property, its name: the engine converts
    /// that property alone to JSON (see `speed::property_pick`).
    pub props_key: Option<Arc<str>>,
}

/// The facts of a name the configuration does nothing with.
static NO_FACTS: EventFacts = EventFacts {
    triggers: Vec::new(),
    keep: None,
    ends_or_resumes_runs: false,
    reads_fingerprint: false,
    reads_props: false,
    history_props: false,
    history_key: None,
    props_key: None,
};

impl Retention for Config {
    fn keep_for(&self, name: &str) -> Option<Keep> {
        self.facts(name).keep
    }
}

fn parse<T: DeserializeOwned>(src: &Source, errs: &mut Vec<ConfigError>) -> Option<T> {
    let de = serde_norway::Deserializer::from_str(&src.text);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let mut message = e.into_inner().to_string();
            // The YAML parser names the field itself; say it once.
            if let Some((head, rest)) = message.split_once(": ") {
                let stem = |p: &str| p.split('[').next().unwrap_or("").to_string();
                if !head.contains(' ') && !head.is_empty() && stem(&path).starts_with(&stem(head)) {
                    message = rest.to_string();
                }
            }
            errs.push(ConfigError {
                file: src.path.clone(),
                path,
                message,
            });
            None
        }
    }
}

impl Config {
    /// Everything the configuration does with events of this name.
    pub fn facts(&self, event: &str) -> &EventFacts {
        self.facts.get(event).unwrap_or(&NO_FACTS)
    }

    /// Flows triggered by a segment enter or exit, highest priority first.
    pub fn segment_triggered(&self) -> &[Arc<FlowDef>] {
        &self.by_segment
    }

    /// Flows triggered by a date, highest priority first.
    pub fn date_triggered(&self) -> &[Arc<FlowDef>] {
        &self.by_date
    }

    pub fn latest(&self, id: &str) -> Option<&Arc<FlowDef>> {
        self.flows.get(id).and_then(|v| v.values().next_back())
    }
    pub fn flow(&self, id: &str, version: u32) -> Option<&Arc<FlowDef>> {
        self.flows.get(id).and_then(|v| v.get(&version))
    }
    pub fn from_sources(
        sources: Vec<Source>,
        link_secret: Vec<u8>,
    ) -> Result<Config, ConfigErrors> {
        let mut errs = Vec::new();
        let mut settings: Option<Settings> = None;
        let mut segs: Vec<(String, SegmentDef)> = Vec::new();
        let mut flows: Vec<(String, FlowDef)> = Vec::new();
        let mut tmpls: Vec<(String, TemplateDef)> = Vec::new();
        let mut files = BTreeMap::new();
        // Segments whose file did not parse: references to them are not
        // reported again as unknown.
        let mut broken_segments: Vec<String> = Vec::new();
        for src in &sources {
            let p = src.path.replace('\\', "/");
            let is_yaml = p.ends_with(".yaml") || p.ends_with(".yml");
            if !is_yaml {
                continue;
            }
            if p == "store.yaml" || p == "store.yml" {
                settings = parse(src, &mut errs);
            } else if p.starts_with("segments/") {
                match parse::<SegmentDef>(src, &mut errs) {
                    Some(s) => segs.push((src.path.clone(), s)),
                    None => broken_segments.push(file_stem(&p)),
                }
            } else if p.starts_with("flows/") {
                if let Some(f) = parse::<FlowDef>(src, &mut errs) {
                    flows.push((src.path.clone(), f));
                }
            } else if p.starts_with("templates/") {
                if let Some(t) = parse::<TemplateDef>(src, &mut errs) {
                    tmpls.push((src.path.clone(), t));
                }
            } else {
                errs.push(ConfigError {
                    file: src.path.clone(),
                    path: String::new(),
                    message: "not a configuration file: expected store.yaml, segments/, flows/ or templates/".into(),
                });
            }
        }
        let Some(settings) = settings else {
            if !errs.iter().any(|e| e.file.starts_with("store.y")) {
                errs.push(ConfigError {
                    file: "store.yaml".into(),
                    path: String::new(),
                    message: "missing: every configuration needs store.yaml".into(),
                });
            }
            return Err(ConfigErrors(errs));
        };
        let mut v = Validator {
            errs,
            settings: &settings,
            broken_segments,
        };
        v.settings();

        // Segments
        let mut seen = BTreeMap::new();
        for (file, s) in &segs {
            if let Some(prev) = seen.insert(s.id.clone(), file.clone()) {
                v.err(
                    file,
                    "id",
                    format!("segment {:?} is also defined in {prev}", s.id),
                );
            }
            files.insert(format!("segment:{}", s.id), file.clone());
            v.condition(file, "condition", &s.condition);
        }
        let segment_ids: BTreeSet<String> = segs.iter().map(|(_, s)| s.id.to_string()).collect();
        for (file, s) in &segs {
            v.segment_refs(file, "condition", &s.condition, &segment_ids);
        }
        let segment_set = match SegmentSet::new(segs.iter().map(|(_, s)| s.clone()).collect()) {
            Ok(s) => Some(s),
            Err((id, msg)) => {
                let file = seen.get(id.as_str()).cloned().unwrap_or_default();
                if !msg.starts_with("refers to unknown") {
                    v.err(&file, "condition", msg);
                }
                None
            }
        };

        // Templates
        for (file, t) in &tmpls {
            files.insert(format!("template:{}", t.id), file.clone());
        }
        let (templates, terrs) = Templates::new(tmpls.iter().map(|(_, t)| t.clone()).collect());
        for (id, msg) in terrs {
            let file = files
                .get(&format!("template:{id}"))
                .cloned()
                .unwrap_or_default();
            let (path, msg) = msg
                .split_once(": ")
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .unwrap_or((String::new(), msg));
            v.err(&file, &path, msg);
        }

        // Flows
        let mut by_id: BTreeMap<String, BTreeMap<u32, Arc<FlowDef>>> = BTreeMap::new();
        for (_, f) in flows.iter_mut() {
            // Unnamed steps are `step-N` (1-based), so every step has an id.
            for (i, st) in f.steps.iter_mut().enumerate() {
                if st.id.is_empty() {
                    st.id = format!("step-{}", i + 1).into();
                }
            }
        }
        for (file, f) in &flows {
            files.insert(format!("flow:{}:{}", f.id, f.version), file.clone());
            v.flow(file, f, &segment_ids, &templates);
            let versions = by_id.entry(f.id.to_string()).or_default();
            if versions.contains_key(&f.version) {
                v.err(
                    file,
                    "version",
                    format!("flow {:?} version {} is defined twice", f.id, f.version),
                );
            }
            versions.insert(f.version, Arc::new(f.clone()));
        }

        let mut errs = v.errs;
        if !errs.is_empty() {
            errs.sort_by(|a, b| (&a.file, &a.path).cmp(&(&b.file, &b.path)));
            errs.dedup();
            return Err(ConfigErrors(errs));
        }
        let segments = segment_set.expect("no errors means segments compiled");
        let retention = retention_table(&segments, &by_id);
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
        for c in history_conditions(&segments, &by_id) {
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
            let waits = f.steps.iter().filter_map(|s| match &s.action {
                Action::WaitFor(w) => Some(w.view()),
                _ => None,
            });
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
        Ok(Config {
            settings,
            segments,
            flows: by_id,
            templates,
            links: crate::model::links::Signer::new(&link_secret),
            link_secret,
            files,
            by_priority,
            by_segment,
            by_date,
            facts,
        })
    }
}

/// Every condition that can read the history: segments', and flows' filters
/// and branches (every version).
fn history_conditions<'a>(
    segments: &'a SegmentSet,
    flows: &'a BTreeMap<String, BTreeMap<u32, Arc<FlowDef>>>,
) -> Vec<&'a Condition> {
    let mut conds: Vec<&Condition> = segments.iter().map(|s| &s.condition).collect();
    for f in flows.values().flat_map(|v| v.values()) {
        conds.extend(&f.filter);
        conds.extend(f.steps.iter().filter_map(|s| match &s.action {
            Action::Branch(b) => Some(&b.condition),
            _ => None,
        }));
    }
    conds
}

/// Adds to `keys[name]` the top-level property each of `paths` reads (its
/// first non-empty part); a path with none reads the whole object, and
/// makes the entry `None` for good.
fn note_top_keys<'a>(
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

fn retention_table(
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
    let look = Keep::For(Dur::days(FLOW_LOOKBACK_DAYS).exact());
    for versions in flows.values() {
        for f in versions.values() {
            for g in &f.goals {
                keep(&g.event, look);
            }
            for s in &f.steps {
                if let Action::WaitFor(w) = &s.action {
                    keep(
                        &w.event,
                        Keep::For(w.timeout.exact().max(Dur::days(FLOW_LOOKBACK_DAYS).exact())),
                    );
                }
            }
        }
    }
    t
}

struct Validator<'a> {
    errs: Vec<ConfigError>,
    settings: &'a Settings,
    broken_segments: Vec<String>,
}

fn file_stem(p: &str) -> String {
    let name = p.rsplit('/').next().unwrap_or(p);
    name.split('.').next().unwrap_or(name).to_string()
}

impl Validator<'_> {
    fn unknown_segment(&mut self, file: &str, path: &str, id: &str) {
        if !self.broken_segments.iter().any(|b| b == id) {
            self.err(file, path, format!("unknown segment {id:?}"));
        }
    }

    fn err(&mut self, file: &str, path: &str, msg: impl Into<String>) {
        self.errs.push(ConfigError {
            file: file.to_string(),
            path: path.to_string(),
            message: msg.into(),
        });
    }

    fn settings(&mut self) {
        let s = self.settings;
        let f = "store.yaml";
        if jiff::tz::TimeZone::get(&s.store.timezone).is_err() {
            self.err(
                f,
                "store.timezone",
                format!(
                    "{:?} is not an IANA time zone (e.g. Europe/Paris)",
                    s.store.timezone
                ),
            );
        }
        if s.policy.priorities.is_empty() {
            self.err(
                f,
                "policy.priorities",
                "at least one priority class is needed",
            );
        }
        for (i, c) in s.policy.caps.iter().enumerate() {
            if c.max == 0 || c.per.is_negative() || c.per == Dur::ZERO {
                self.err(
                    f,
                    &format!("policy.caps[{i}]"),
                    "a cap needs max ≥ 1 and a positive `per`",
                );
            }
        }
        for (id, p) in &s.products {
            if let Some(d) = p.replenish_after {
                if d.is_negative() || d == Dur::ZERO {
                    self.err(
                        f,
                        &format!("products.{id}.replenish_after"),
                        "must be a positive duration",
                    );
                }
            }
        }
        if s.lifecycle.at_risk_days >= s.lifecycle.dormant_days {
            self.err(
                f,
                "lifecycle.at_risk_days",
                "must be fewer days than lifecycle.dormant_days",
            );
        }
        let mut ladder = BTreeSet::new();
        for l in &s.intent_ladder {
            if !ladder.insert(l) {
                self.err(f, "intent_ladder", format!("{l:?} appears twice"));
            }
        }
    }

    fn known_property(&self, path: &str) -> bool {
        let p = path.strip_prefix("profile.").unwrap_or(path);
        let p = p.strip_prefix("attributes.").unwrap_or(p);
        STANDARD_FIELDS.contains(&p)
            || ["email", "phone", "customer_id", "tier"].contains(&p)
            || self.settings.profile_attributes.iter().any(|a| a == p)
    }

    fn condition(&mut self, file: &str, path: &str, c: &Condition) {
        let mut problems = Vec::new();
        c.walk(&mut |c| match c {
            Condition::Property { path: p, .. } if !self.known_property(p) => problems.push(format!(
                "unknown profile property {p:?}: use a standard field ({}) or declare it in store.yaml profile_attributes",
                STANDARD_FIELDS.join(", ")
            )),
            Condition::Tier(ts) => {
                for t in ts {
                    if !self.settings.loyalty.tiers.iter().any(|x| &x.name == t) {
                        problems.push(format!("unknown loyalty tier {t:?} (see store.yaml loyalty.tiers)"));
                    }
                }
            }
            Condition::Event(e) if e.event.trim().is_empty() => problems.push("event name must not be empty".into()),
            _ => {}
        });
        for p in problems {
            self.err(file, path, p);
        }
    }

    fn segment_refs(&mut self, file: &str, path: &str, c: &Condition, ids: &BTreeSet<String>) {
        let mut bad = Vec::new();
        c.walk(&mut |c| {
            if let Condition::Segment(s) = c {
                if !ids.contains(s) {
                    bad.push(s.clone());
                }
            }
        });
        for s in bad {
            self.unknown_segment(file, path, &s);
        }
    }

    fn flow(&mut self, file: &str, f: &FlowDef, segs: &BTreeSet<String>, templates: &Templates) {
        if f.id.trim().is_empty() {
            self.err(file, "id", "must not be empty");
        }
        if self.settings.policy.rank(&f.priority).is_none() {
            self.err(
                file,
                "priority",
                format!(
                    "unknown priority class {:?}; store.yaml policy.priorities has: {}",
                    f.priority,
                    self.settings.policy.priorities.join(", ")
                ),
            );
        }
        if let Some(i) = &f.intent {
            if !self.settings.intent_ladder.contains(i) {
                self.err(
                    file,
                    "intent",
                    format!(
                        "{i:?} is not on the intent ladder ({})",
                        self.settings.intent_ladder.join(" < ")
                    ),
                );
            }
        }
        let t = &f.trigger;
        let kinds = t.kinds();
        if kinds.len() != 1 {
            self.err(file, "trigger", "a trigger needs exactly one of: event, segment_enter, segment_exit, date, campaign");
        }
        if kinds.first() != Some(&TriggerKind::Event)
            && (!t.filter.is_empty() || t.key.is_some() || t.max_age.is_some())
        {
            self.err(
                file,
                "trigger",
                "where / key / max_age apply to event triggers only",
            );
        }
        if kinds.first() != Some(&TriggerKind::Date) && (t.offset.is_some() || t.at.is_some()) {
            self.err(file, "trigger", "offset / at apply to date triggers only");
        }
        for (k, s) in [
            ("segment_enter", &t.segment_enter),
            ("segment_exit", &t.segment_exit),
        ] {
            if let Some(s) = s {
                if !segs.contains(s) {
                    self.unknown_segment(file, &format!("trigger.{k}"), s);
                }
            }
        }
        if let Some(d) = &t.date {
            if d != "birthday" && !self.settings.profile_attributes.contains(d) {
                self.err(
                    file,
                    "trigger.date",
                    format!(
                        "{d:?} is not a date property (birthday or a declared profile attribute)"
                    ),
                );
            }
        }
        if let Some(c) = &t.campaign {
            if !segs.contains(&c.segment) {
                self.unknown_segment(file, "trigger.campaign.segment", &c.segment);
            }
            if c.start.parse::<jiff::civil::DateTime>().is_err() {
                self.err(
                    file,
                    "trigger.campaign.start",
                    format!(
                        "{:?} is not a local date-time (e.g. 2026-11-27T09:00)",
                        c.start
                    ),
                );
            }
        }
        if let Some(c) = &f.filter {
            self.condition(file, "filter", c);
            self.segment_refs(file, "filter", c, segs);
        }
        for (i, g) in f.goals.iter().enumerate() {
            if g.event.trim().is_empty() {
                self.err(file, &format!("goals[{i}].event"), "must not be empty");
            }
            if !g.same.is_empty() && t.event.is_none() {
                self.err(
                    file,
                    &format!("goals[{i}].same"),
                    "`same` compares with the trigger event; this flow has no event trigger",
                );
            }
        }
        if f.steps.is_empty() {
            self.err(file, "steps", "a flow needs at least one step");
        }
        // Unnamed steps were given `step-N` ids at load.
        let ids: Vec<&str> = f.steps.iter().map(|s| &*s.id).collect();
        let mut seen = BTreeSet::new();
        for (i, id) in ids.iter().enumerate() {
            if !seen.insert(id) {
                self.err(
                    file,
                    &format!("steps[{i}].id"),
                    format!("step id {id:?} is used twice"),
                );
            }
        }
        let target_ok = |t: &str| t == EXIT || ids.contains(&t);
        for (i, s) in f.steps.iter().enumerate() {
            let at = format!("steps[{i}]");
            let mut targets: Vec<(String, &String)> = Vec::new();
            if let Some(n) = &s.next {
                targets.push((format!("{at}.next"), n));
            }
            match &s.action {
                Action::Wait(w) => {
                    if let Some(u) = &w.until {
                        if u.parse::<jiff::civil::DateTime>().is_err() {
                            self.err(
                                file,
                                &format!("{at}.wait.until"),
                                format!("{u:?} is not a local date-time (e.g. 2026-11-28T09:00)"),
                            );
                        }
                    }
                    if let Some(d) = &w.date {
                        if d != "birthday" && !self.settings.profile_attributes.contains(d) {
                            self.err(
                                file,
                                &format!("{at}.wait.date"),
                                format!("{d:?} is not a date property"),
                            );
                        }
                    }
                    for (k, d) in [("for", w.duration), ("after_start", w.after_start)] {
                        if d.map(|d| d.is_negative()).unwrap_or(false) {
                            self.err(file, &format!("{at}.wait.{k}"), "must not be negative");
                        }
                    }
                }
                Action::WaitFor(w) => {
                    if w.timeout.is_negative() || w.timeout == Dur::ZERO {
                        self.err(
                            file,
                            &format!("{at}.wait_for.timeout"),
                            "must be a positive duration",
                        );
                    }
                    if !w.same.is_empty() && t.event.is_none() {
                        self.err(file, &format!("{at}.wait_for.same"), "`same` compares with the trigger event; this flow has no event trigger");
                    }
                    for (k, v) in [("on_event", &w.on_event), ("on_timeout", &w.on_timeout)] {
                        if let Some(v) = v {
                            targets.push((format!("{at}.wait_for.{k}"), v));
                        }
                    }
                }
                Action::Branch(b) => {
                    self.condition(file, &format!("{at}.branch.if"), &b.condition);
                    self.segment_refs(file, &format!("{at}.branch.if"), &b.condition, segs);
                    for (k, v) in [("then", &b.then), ("else", &b.otherwise)] {
                        if let Some(v) = v {
                            targets.push((format!("{at}.branch.{k}"), v));
                        }
                    }
                }
                Action::Split(sp) => {
                    if sp.holdout > 100 {
                        self.err(
                            file,
                            &format!("{at}.split.holdout"),
                            "is a percentage (0–100)",
                        );
                    }
                    if sp.variants.iter().any(|v| v.weight == 0) {
                        self.err(
                            file,
                            &format!("{at}.split.variants"),
                            "every weight must be positive",
                        );
                    }
                    for (j, var) in sp.variants.iter().enumerate() {
                        targets.push((format!("{at}.split.variants[{j}].goto"), &var.target));
                    }
                }
                Action::Send(snd) => match templates.get(&snd.template) {
                    None => self.err(
                        file,
                        &format!("{at}.send.template"),
                        format!("unknown template {:?}", snd.template),
                    ),
                    Some(tpl) if !tpl.channel.matches(snd.channel) => self.err(
                        file,
                        &format!("{at}.send.template"),
                        format!(
                            "template {:?} is for {}, this step sends {}",
                            snd.template,
                            tpl.channel.as_str(),
                            snd.channel.as_str()
                        ),
                    ),
                    Some(_) => self.render_check(
                        file,
                        &format!("{at}.send.template"),
                        f,
                        &snd.template,
                        templates,
                    ),
                },
                Action::Alert(a) => match templates.get(&a.template) {
                    None => self.err(
                        file,
                        &format!("{at}.alert.template"),
                        format!("unknown template {:?}", a.template),
                    ),
                    Some(tpl) if tpl.channel != TemplateChannel::Alert => self.err(
                        file,
                        &format!("{at}.alert.template"),
                        format!(
                            "template {:?} is for {}, not alert",
                            a.template,
                            tpl.channel.as_str()
                        ),
                    ),
                    Some(_) => self.render_check(
                        file,
                        &format!("{at}.alert.template"),
                        f,
                        &a.template,
                        templates,
                    ),
                },
                Action::Webhook(w) => {
                    if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                        self.err(
                            file,
                            &format!("{at}.webhook.url"),
                            format!("{:?} is not an http(s) URL", w.url),
                        );
                    }
                    if let Some(tid) = &w.template {
                        match templates.get(tid) {
                            None => self.err(
                                file,
                                &format!("{at}.webhook.template"),
                                format!("unknown template {tid:?}"),
                            ),
                            Some(tpl) if tpl.channel != TemplateChannel::Webhook => self.err(
                                file,
                                &format!("{at}.webhook.template"),
                                format!(
                                    "template {tid:?} is for {}, not webhook",
                                    tpl.channel.as_str()
                                ),
                            ),
                            Some(_) => self.render_check(
                                file,
                                &format!("{at}.webhook.template"),
                                f,
                                tid,
                                templates,
                            ),
                        }
                    }
                }
                Action::UpdateProfile(u) => {
                    for k in u.set.keys() {
                        if !self.known_property(k) {
                            self.err(file, &format!("{at}.update_profile.set.{k}"), "unknown profile property: declare it in store.yaml profile_attributes");
                        }
                    }
                }
                Action::Exit => {}
            }
            for (p, target) in targets {
                if !target_ok(target) {
                    self.err(
                        file,
                        &p,
                        format!("no step with id {target:?} (or use \"exit\")"),
                    );
                }
            }
        }
    }

    /// Renders the template for this flow's trigger with full and minimal
    /// samples: every reference must resolve.
    fn render_check(
        &mut self,
        file: &str,
        path: &str,
        f: &FlowDef,
        tid: &str,
        templates: &Templates,
    ) {
        let Some(def) = templates.get(tid) else {
            return;
        };
        let trigger_type = f.trigger.event.clone();
        let attrs = &self.settings.profile_attributes;
        for full in [true, false] {
            let props = match &trigger_type {
                Some(t) => match crate::config::samples::event_properties(t, full) {
                    Some(p) => p,
                    None => custom_sample(templates, tid),
                },
                // Segment, date and campaign runs have no trigger event properties.
                None => serde_json::json!({}),
            };
            let kind = trigger_type.clone().unwrap_or_else(|| "none".into());
            let event = crate::template::context::event_json(&kind, "2026-01-01T00:00:00Z", props);
            let links = serde_json::json!({"unsubscribe": "https://example.com/u/x", "preferences": "https://example.com/p/x"});
            let ctx = crate::template::context::build(
                self.settings,
                crate::config::samples::profile(full, attrs),
                event,
                links,
                &f.id,
                f.name.as_deref(),
            );
            for loc in def.locales.keys() {
                if let Err(e) = templates.render(tid, loc, ctx.clone()) {
                    let what = if full {
                        ""
                    } else {
                        " when optional fields are absent (use `| default(...)`)"
                    };
                    let missing: Vec<String> = templates
                        .referenced(tid)
                        .into_iter()
                        .filter(|r| !resolves(&ctx, r))
                        .collect();
                    let e = if missing.is_empty() {
                        e
                    } else {
                        format!("{e}; not defined: {}", missing.join(", "))
                    };
                    self.err(
                        file,
                        path,
                        format!("template {tid:?} (templates locale {loc}) fails for this flow{what}: {e}"),
                    );
                    return;
                }
            }
        }
    }
}

/// Whether a dotted variable path exists in a context. Loop variables
/// (`item.title`) are not in the context at all and count as resolved.
fn resolves(ctx: &serde_json::Value, path: &str) -> bool {
    let mut parts = path.split('.');
    let Some(root) = parts.next() else {
        return true;
    };
    let Some(mut v) = ctx.get(root) else {
        return !["profile", "event", "store", "links", "flow"].contains(&root);
    };
    for p in parts {
        match v.get(p) {
            Some(next) => v = next,
            // Methods and filters' arguments are not data paths.
            None => return v.is_array(),
        }
    }
    true
}

/// For custom events, whatever `event.*` the template reads is taken as a
/// property of the event (custom properties are not declared anywhere).
fn custom_sample(templates: &Templates, tid: &str) -> serde_json::Value {
    let mut v = serde_json::json!({});
    for r in templates.referenced(tid) {
        if let Some(rest) = r.strip_prefix("event.") {
            let key = rest.split('.').next().unwrap_or(rest);
            v[key] = serde_json::json!("sample");
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::{ProfileId, ShopId};
    use crate::{Engine, Event, Input};

    fn src(path: &str, text: &str) -> Source {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    fn event(id: &str, kind: &str, props: serde_json::Value) -> Event {
        serde_json::from_value(serde_json::json!({"id": id, "shop": "s", "type": kind,
            "occurred_at": "2026-03-02T10:00:00Z", "customer": {"email": "a@example.com"},
            "properties": props}))
        .unwrap()
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let cfg = Config::from_sources(
            vec![src(
                "store.yaml",
                "store: { name: S, url: https://s.example.com, timezone: UTC }\n\
                 ingest: { shopify_secrets: [shpss_topsecret1], write_keys: [wk_topsecret2] }\n",
            )],
            b"link-topsecret3".to_vec(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{cfg:?} {cfg:#?}");
        for secret in [
            "topsecret1",
            "topsecret2",
            "topsecret3",
            "108, 105, 110, 107",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("<1 redacted>"), "{shown}");
    }

    #[test]
    fn the_history_keeps_only_the_properties_something_tests() {
        let cfg = Config::from_sources(
            vec![
                src("store.yaml", "store: { name: S, url: https://s.example.com, timezone: UTC }\n"),
                src("segments/carted.yaml", "id: carted\ncondition: { event: added_to_cart, within: 3d }\n"),
                src("segments/viewed.yaml", "id: viewed\ncondition: { event: product_viewed, within: 3d, where: [{ path: product_id, eq: p1 }] }\n"),
                src("flows/thanks.yaml", "id: thanks\nversion: 1\npriority: checkout\ntrigger: { event: checkout_started, key: checkout_id }\ngoals:\n  - { event: order_placed, same: [checkout_id] }\nsteps:\n  - wait: 1h\n"),
            ],
            b"k".to_vec(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let facts = |n: &str| {
            let f = cfg.facts(n);
            (f.reads_props, f.history_props)
        };
        assert_eq!(facts("added_to_cart"), (false, false));
        assert_eq!(facts("product_viewed"), (true, true));
        // A run key reads the trigger as it comes; nothing reads it later.
        assert_eq!(facts("checkout_started"), (true, false));
        assert_eq!(facts("order_placed"), (true, true));
        // Each of these names is read by one property only: made alone.
        let key = |n: &str| cfg.facts(n).props_key.as_deref().map(str::to_string);
        assert_eq!(key("product_viewed").as_deref(), Some("product_id"));
        assert_eq!(key("checkout_started").as_deref(), Some("checkout_id"));
        assert_eq!(key("order_placed").as_deref(), Some("checkout_id"));
        assert_eq!(key("added_to_cart"), None);

        let engine = Engine::new(cfg);
        let now: jiff::Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        let mut st = engine.new_state(
            ProfileId::parse("p").unwrap(),
            ShopId::parse("s").unwrap(),
            now,
        );
        let line = serde_json::json!([{"product_id": "p1", "title": "Shirt", "price": 20.0}]);
        for e in [
            event(
                "e1",
                "added_to_cart",
                serde_json::json!({"line_items": line}),
            ),
            event(
                "e2",
                "product_viewed",
                serde_json::json!({"product_id": "p1", "title": "Shirt"}),
            ),
            event(
                "e3",
                "order_placed",
                serde_json::json!({"order_id": "o1", "checkout_id": "c1"}),
            ),
        ] {
            engine.handle(&mut st, Input::Event(e), now);
        }
        assert!(st.history.named("added_to_cart")[0].props.is_none());
        // One property read later: kept alone.
        let viewed = &st.history.named("product_viewed")[0].props;
        assert_eq!(viewed.get("product_id").unwrap(), "p1");
        assert_eq!(viewed.to_json(), serde_json::json!({"product_id": "p1"}));
        let ordered = &st.history.named("order_placed")[0].props;
        assert_eq!(ordered.get("checkout_id").unwrap(), "c1");
        assert_eq!(ordered.get("order_id"), None);
        assert!(st.segments.is_member("carted") && st.segments.is_member("viewed"));
        // Stored without them, and read back the same.
        let text = serde_json::to_string(&st.history).unwrap();
        assert_eq!(text.matches("\"props\"").count(), 2, "{text}");
        let back: crate::customer::history::History = serde_json::from_str(&text).unwrap();
        assert_eq!(back, st.history);
    }
}
