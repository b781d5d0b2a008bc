//! Checking a parsed configuration: every reference resolves, every
//! condition and step is well formed, every template renders for the events
//! that can reach it. Each problem names the file, the path to the field and
//! what is wrong.

use super::*;
use crate::config::settings::Settings;
use crate::customer::profile::STANDARD_FIELDS;
use crate::flow::steps::{Checks, TemplateUse};
use crate::flow::{FlowDef, TriggerKind, EXIT};
use crate::model::duration::Dur;
use crate::segment::condition::Condition;
use crate::template::Templates;
use std::collections::BTreeSet;

pub(crate) struct Validator<'a> {
    pub(crate) errs: Vec<ConfigError>,
    pub(crate) settings: &'a Settings,
    pub(crate) broken_segments: Vec<String>,
}

pub(crate) fn file_stem(p: &str) -> String {
    let name = p.rsplit('/').next().unwrap_or(p);
    name.split('.').next().unwrap_or(name).to_string()
}

impl Validator<'_> {
    pub(crate) fn unknown_segment(&mut self, file: &str, path: &str, id: &str) {
        if !self.broken_segments.iter().any(|b| b == id) {
            self.err(file, path, format!("unknown segment {id:?}"));
        }
    }

    pub(crate) fn err(&mut self, file: &str, path: &str, msg: impl Into<String>) {
        self.errs.push(ConfigError {
            file: file.to_string(),
            path: path.to_string(),
            message: msg.into(),
        });
    }

    pub(crate) fn settings(&mut self) {
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
        for (ch, w) in &s.attribution.touches {
            for (kind, d) in [
                ("click", w.click),
                ("open", w.open),
                ("delivery", w.delivery),
            ] {
                if d.is_some_and(|d| d.is_negative() || d == Dur::ZERO) {
                    self.err(
                        f,
                        &format!("attribution.touches.{}.{kind}", ch.as_str()),
                        "must be a positive duration (leave it out to earn no credit)",
                    );
                }
            }
        }
        if s.attribution
            .conversion_window
            .is_some_and(|d| d.is_negative() || d == Dur::ZERO)
        {
            self.err(
                f,
                "attribution.conversion_window",
                "must be a positive duration",
            );
        }
        let pr = &s.predictions;
        if pr.horizon.seconds != 0 || pr.horizon.days < 1 || pr.horizon.days > 3660 {
            self.err(
                f,
                "predictions.horizon",
                "must be whole days, from 1d to 3660d (such as 90d or 365d)",
            );
        }
        if !(0.0..=1.0).contains(&pr.discount_rate) {
            self.err(
                f,
                "predictions.discount_rate",
                "must be a yearly rate from 0 to 1 (0.1 is 10% a year)",
            );
        }
        if pr.min_customers == 0 {
            self.err(f, "predictions.min_customers", "must be at least 1");
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

    pub(crate) fn known_property(&self, path: &str) -> bool {
        let p = path.strip_prefix("profile.").unwrap_or(path);
        let p = p.strip_prefix("attributes.").unwrap_or(p);
        STANDARD_FIELDS.contains(&p)
            || ["email", "phone", "customer_id", "tier"].contains(&p)
            || self.settings.profile_attributes.iter().any(|a| a == p)
    }

    pub(crate) fn condition(&mut self, file: &str, path: &str, c: &Condition) {
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

    pub(crate) fn segment_refs(
        &mut self,
        file: &str,
        path: &str,
        c: &Condition,
        ids: &BTreeSet<String>,
    ) {
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

    pub(crate) fn flow(
        &mut self,
        file: &str,
        f: &FlowDef,
        segs: &BTreeSet<String>,
        templates: &Templates,
    ) {
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
            let key = s.action.name();
            let mut c = StepChecks {
                v: &mut *self,
                file,
                at: format!("{at}.{key}"),
                flow: f,
                templates,
                segs,
                targets: Vec::new(),
            };
            s.action.check(&mut c);
            let more = c.targets;
            targets.extend(more.iter().map(|(p, t)| (p.clone(), t)));
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
    pub(crate) fn render_check(
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
pub(crate) fn resolves(ctx: &serde_json::Value, path: &str) -> bool {
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
pub(crate) fn custom_sample(templates: &Templates, tid: &str) -> serde_json::Value {
    let mut v = serde_json::json!({});
    for r in templates.referenced(tid) {
        if let Some(rest) = r.strip_prefix("event.") {
            let key = rest.split('.').next().unwrap_or(rest);
            v[key] = serde_json::json!("sample");
        }
    }
    v
}

/// What checking a flow offers one of its steps.
struct StepChecks<'v, 'a, 's> {
    v: &'v mut Validator<'a>,
    file: &'s str,
    /// `steps[i].<key>`.
    at: String,
    flow: &'s FlowDef,
    templates: &'s Templates,
    segs: &'s BTreeSet<String>,
    targets: Vec<(String, String)>,
}

impl StepChecks<'_, '_, '_> {
    fn path(&self, p: &str) -> String {
        format!("{}.{p}", self.at)
    }
}

impl Checks for StepChecks<'_, '_, '_> {
    fn err(&mut self, path: &str, msg: String) {
        let p = self.path(path);
        self.v.err(self.file, &p, msg);
    }

    fn target(&mut self, path: &str, target: &str) {
        let p = self.path(path);
        self.targets.push((p, target.to_string()));
    }

    fn condition(&mut self, path: &str, c: &Condition) {
        let p = self.path(path);
        self.v.condition(self.file, &p, c);
        self.v.segment_refs(self.file, &p, c, self.segs);
    }

    fn template(&mut self, path: &str, id: &str, used: TemplateUse) {
        let p = self.path(path);
        let Some(tpl) = self.templates.get(id) else {
            return self
                .v
                .err(self.file, &p, format!("unknown template {id:?}"));
        };
        let wrong = match used {
            TemplateUse::Message(ch) => (tpl.channel != ch).then(|| {
                format!(
                    "template {id:?} is for {}, this step sends {}",
                    tpl.channel.as_str(),
                    ch.as_str()
                )
            }),
            TemplateUse::Only(want) => (tpl.channel != want).then(|| {
                format!(
                    "template {id:?} is for {}, not {}",
                    tpl.channel.as_str(),
                    want.as_str()
                )
            }),
        };
        match wrong {
            Some(msg) => self.v.err(self.file, &p, msg),
            None => self
                .v
                .render_check(self.file, &p, self.flow, id, self.templates),
        }
    }

    fn has_trigger_event(&self) -> bool {
        self.flow.trigger.event.is_some()
    }

    fn known_property(&self, path: &str) -> bool {
        self.v.known_property(path)
    }

    fn date_property(&self, name: &str) -> bool {
        name == "birthday" || self.v.settings.profile_attributes.iter().any(|a| a == name)
    }
}
