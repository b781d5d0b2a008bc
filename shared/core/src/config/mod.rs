//! A store's whole configuration, parsed and checked: `store.yaml`,
//! `segments/*.yaml`, `flows/*.yaml` and `templates/*.yaml`.
//!
//! The core reads no files: callers hand it `(path, text)` pairs. Every
//! problem found is reported with the file, the path to the field, and what
//! is wrong, and all problems are reported at once.

mod compile;
pub mod samples;
pub mod settings;
mod validate;

use crate::config::settings::Settings;
use crate::customer::history::{Keep, Retention};
use crate::flow::FlowDef;
use crate::model::links::NameMap;
use crate::segment::{SegmentDef, SegmentSet};
use crate::template::{TemplateDef, Templates};
use compile::{compile, Compiled};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use validate::{file_stem, Validator};

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
    /// Whether a segment or a template reads predictions.
    reads_predictions: bool,
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

/// A configuration directory's files, each parsed into its type; what did
/// not parse is in `errs`.
struct Files {
    errs: Vec<ConfigError>,
    settings: Option<Settings>,
    segs: Vec<(String, SegmentDef)>,
    flows: Vec<(String, FlowDef)>,
    tmpls: Vec<(String, TemplateDef)>,
    /// Segments whose file did not parse: references to them are not
    /// reported again as unknown.
    broken_segments: Vec<String>,
}

impl Files {
    fn read(sources: &[Source]) -> Files {
        let mut errs = Vec::new();
        let mut settings: Option<Settings> = None;
        let mut segs: Vec<(String, SegmentDef)> = Vec::new();
        let mut flows: Vec<(String, FlowDef)> = Vec::new();
        let mut tmpls: Vec<(String, TemplateDef)> = Vec::new();
        let mut broken_segments: Vec<String> = Vec::new();
        for src in sources {
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
        Files {
            errs,
            settings,
            segs,
            flows,
            tmpls,
            broken_segments,
        }
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
    /// Whether a segment or a template reads the prediction model's
    /// numbers (a simulation refits only then).
    pub fn uses_predictions(&self) -> bool {
        self.reads_predictions
    }

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
        let Files {
            mut errs,
            settings,
            segs,
            mut flows,
            tmpls,
            broken_segments,
        } = Files::read(&sources);
        let mut files = BTreeMap::new();
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
        let Compiled {
            by_priority,
            by_segment,
            by_date,
            facts,
        } = compile(&settings, &segments, &by_id);
        let reads_predictions = segments.reads_predictions()
            || templates.ids().any(|t| {
                templates
                    .profile_keys(t)
                    .is_some_and(|k| k.contains("predictions"))
            });
        Ok(Config {
            reads_predictions,
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
    fn attribution_windows_are_read_and_a_bad_one_names_its_field() {
        let store = "store: { name: S, url: https://s.example.com, timezone: UTC }\n";
        let cfg = Config::from_sources(
            vec![src("store.yaml", &format!("{store}attribution: {{ touches: {{ sms: {{ click: 1d, delivery: 12h }} }} }}\n"))],
            b"k".to_vec(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        use crate::model::channel::Channel;
        use crate::results::attribution::TouchKind;
        let a = &cfg.settings.attribution;
        assert_eq!(
            a.window(Channel::Sms, TouchKind::Delivery),
            Some(crate::model::duration::Dur::parse("12h").unwrap())
        );
        assert_eq!(
            a.window(Channel::Email, TouchKind::Click),
            Some(crate::model::duration::Dur::days(5))
        );
        let err = Config::from_sources(
            vec![src(
                "store.yaml",
                &format!("{store}attribution: {{ touches: {{ email: {{ click: -1d }} }} }}\n"),
            )],
            b"k".to_vec(),
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].file, "store.yaml");
        assert_eq!(err.0[0].path, "attribution.touches.email.click");
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
