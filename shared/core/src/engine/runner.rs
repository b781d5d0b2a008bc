//! Executes a run's steps until it waits, is deferred, or ends.

use super::{Cx, Engine};
use crate::customer::profile::Profile;
use crate::customer::state::{CustomerState, Run, Wait};
use crate::flow::steps::{Host, MatchRef, Next};
use crate::flow::{FlowDef, EXIT};
use crate::model::decision::{Decision, Kind};
use crate::model::event::Channel;
use crate::model::reason::Reason;
use crate::policy::{Contact, Request, Verdict};
use crate::segment::condition::Condition;
use crate::template::context;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::json;
use std::sync::Arc;

/// Moves a run to `target` (a step id, `exit`, or the step after the
/// current one when `None`, honouring the step's own `next`).
pub(crate) fn goto(run: &mut Run, flow: &FlowDef, target: Option<&str>) {
    let target = target.or_else(|| flow.steps.get(run.step).and_then(|s| s.next.as_deref()));
    run.wait = Wait::Ready;
    match target {
        None => run.step += 1,
        Some(EXIT) => run.step = usize::MAX,
        Some(t) => {
            run.step = flow
                .steps
                .iter()
                .position(|s| &*s.id == t)
                .unwrap_or(usize::MAX)
        }
    }
}

/// Emits the exit of a run already taken out of the customer's runs.
fn exit_decision(st: &CustomerState, cx: &mut Cx, r: Run, reason: Reason) {
    let mut d = cx.decision(st, Kind::FlowExit);
    d.flow = Some(r.flow);
    d.version = Some(r.version);
    d.run = Some(r.id);
    d.reason = Some(reason);
    cx.out.decisions.push(d);
}

/// Runs the due steps of the run at `pos` in the customer's list. The run
/// is stepped in place, with the list set aside meanwhile (steps never read
/// it), and ends up last in the list, or leaves it if it ended: as when it
/// was taken out and put back (the order of runs orders later decisions).
pub(crate) fn run_steps(engine: &Engine, st: &mut CustomerState, pos: usize, cx: &mut Cx) {
    let mut runs = std::mem::take(&mut st.runs);
    let last = runs.len() - 1;
    if pos != last {
        // Swapped field by field in registers, not through a temporary.
        let (head, tail) = runs.split_at_mut(last);
        std::mem::swap(&mut head[pos], &mut tail[0]);
    }
    let run = &mut runs[last];
    let ended = if run.resolve_def(cx.cfg) {
        let flow = run.def.0.clone().expect("resolved above");
        step_loop(engine, st, run, &flow, cx)
    } else {
        Some(
            format!(
                "flow {} version {} is no longer configured",
                run.flow, run.version
            )
            .into(),
        )
    };
    match ended {
        None => st.runs = runs,
        Some(why) => {
            let run = runs.pop().expect("the run stepped");
            st.runs = runs;
            exit_decision(st, cx, run, why);
        }
    }
}

/// Executes steps until the run waits (None) or ends (its exit reason).
fn step_loop(
    engine: &Engine,
    st: &mut CustomerState,
    run: &mut Run,
    flow: &FlowDef,
    cx: &mut Cx,
) -> Option<Reason> {
    for _ in 0..256 {
        if run.step >= flow.steps.len() {
            let why = if run.step == usize::MAX {
                "exit"
            } else {
                "completed"
            };
            return Some(why.into());
        }
        let step = &flow.steps[run.step];
        match run.wait {
            Wait::Ready => {}
            Wait::Deferred(t) if t <= cx.now => {}
            Wait::Until(t) if t <= cx.now => {
                run.cursor = run.cursor.max(t);
                goto(run, flow, None);
                continue;
            }
            Wait::ForEvent(t) if t <= cx.now => {
                let target = step.action.awaits().and_then(|a| a.on_timeout);
                run.cursor = run.cursor.max(t);
                goto(run, flow, target);
                continue;
            }
            _ => return None,
        }
        // The flow filter holds before every step.
        if let Some(f) = &flow.filter {
            if !engine.eval(st, cx, f).value {
                return Some("flow filter no longer matches".into());
            }
        }
        let mut host = StepHost {
            engine,
            st,
            run,
            flow,
            cx,
            step: &step.id,
        };
        match step.action.run(&mut host) {
            Next::Go { to, at } => {
                if let Some(at) = at {
                    run.cursor = run.cursor.max(at);
                }
                goto(run, flow, to);
            }
            Next::Sleep(t) => {
                run.wait = Wait::Until(t);
                return None;
            }
            Next::Listen(t) => {
                run.wait = Wait::ForEvent(t);
                return None;
            }
            Next::Defer(t) => {
                run.wait = Wait::Deferred(t);
                return None;
            }
            Next::End(why) => return Some(why),
        }
    }
    None
}

/// What a step sees of the engine: one run of one customer, at one step.
struct StepHost<'h, 'c> {
    engine: &'h Engine,
    st: &'h mut CustomerState,
    run: &'h mut Run,
    flow: &'h FlowDef,
    cx: &'h mut Cx<'c>,
    step: &'h Arc<str>,
}

impl Host for StepHost<'_, '_> {
    fn now(&self) -> Timestamp {
        self.cx.now
    }

    fn tz(&self) -> &TimeZone {
        &self.cx.tz
    }

    fn cursor(&self) -> Timestamp {
        self.run.cursor
    }

    fn started_at(&self) -> Timestamp {
        self.run.started_at
    }

    fn run_id(&self) -> &str {
        &self.run.id
    }

    fn step_id(&self) -> &Arc<str> {
        self.step
    }

    fn deferred_until(&self) -> Option<Timestamp> {
        match self.run.wait {
            Wait::Deferred(t) => Some(t),
            _ => None,
        }
    }

    fn flow_id(&self) -> &Arc<str> {
        &self.flow.id
    }

    fn flow_version(&self) -> u32 {
        self.flow.version
    }

    fn flow_priority(&self) -> &str {
        &self.flow.priority
    }

    fn profile(&self) -> &Profile {
        &self.st.profile
    }

    fn profile_mut(&mut self) -> &mut Profile {
        &mut self.st.profile
    }

    fn profile_changed(&mut self) {
        self.cx.pending.profile = true;
    }

    fn eval(&mut self, c: &Condition) -> bool {
        self.engine.eval(self.st, self.cx, c).value
    }

    fn event_since(&self, m: MatchRef<'_>, since: Timestamp) -> Option<Timestamp> {
        let now = self.cx.now;
        let trigger = self.run.trigger.as_deref();
        self.st
            .history
            .named_since(m.event, since)
            .iter()
            .find(|r| r.at <= now && super::matches(m, &r.name, r.props.view(), trigger))
            .map(|r| r.at)
    }

    fn profile_and_trigger_json(&self) -> serde_json::Value {
        json!({
            "profile": self.st.profile.to_json(self.cx.now, &self.cx.cfg.settings),
            "event": self.run.trigger,
            "flow": self.flow.id,
            "step": self.step,
        })
    }

    fn message_key(&mut self) -> u64 {
        self.run.message_key(self.step)
    }

    fn sent(&self, key: u64) -> bool {
        self.st.ledger.contains_key(&key)
    }

    fn note_sent(&mut self, id: &str) -> bool {
        self.st.note_ledger(id, self.cx.now)
    }

    fn decide(&self, channel: Channel, marketing: bool, expires_at: Timestamp) -> Verdict {
        let req = Request {
            profile: &self.st.profile,
            channel,
            marketing,
            rank: if marketing { self.run.rank } else { 0 },
            now: self.cx.now,
            tz: &self.cx.tz,
            expires_at,
        };
        self.cx.cfg.settings.policy.decide(&req, &self.st.contacts)
    }

    fn note_contact(&mut self, channel: Channel, marketing: bool) {
        self.st.contacts.push(Contact {
            at: self.cx.now,
            channel,
            marketing,
            rank: if marketing { self.run.rank } else { 0 },
        });
    }

    fn render(
        &self,
        template: &str,
        channel: Channel,
    ) -> Result<(crate::template::Rendered, String), String> {
        render(self.st, self.cx, self.flow, self.run, template, channel)
    }

    fn track(
        &self,
        content: &mut crate::template::Rendered,
        template: &str,
        channel: Channel,
        message: &str,
    ) {
        let cfg = self.cx.cfg;
        let t = &cfg.settings.tracking;
        if !channel.spec().consent || !cfg.templates.tracked(template) {
            return;
        }
        let base = &cfg.settings.store.links_base_url;
        let shop = self.st.profile.shop.as_str();
        let pid = self.st.profile.id.as_str();
        let now = self.cx.now;
        if t.clicks {
            crate::template::tracking::rewrite(content, base.trim_end_matches('/'), &mut |url| {
                cfg.links
                    .click_url(base, shop, pid, channel.as_str(), message, now, url)
            });
        }
        if t.opens && channel == Channel::Email {
            if let Some(html) = content.html.as_mut() {
                let url = cfg.links.open_url(base, shop, pid, message, now);
                crate::template::tracking::add_pixel(html, &url);
            }
        }
    }

    fn settings(&self) -> &crate::config::settings::Settings {
        &self.cx.cfg.settings
    }

    fn decision(&self, kind: Kind) -> Decision {
        let mut d = self.cx.decision(self.st, kind);
        d.flow = Some(self.run.flow.clone());
        d.version = Some(self.run.version);
        d.run = Some(self.run.id.clone());
        d.step = Some(self.step.clone());
        d
    }

    fn push(&mut self, mut d: Decision) {
        if d.kind == Kind::Message {
            super::results::on_message(self.st, self.run, &mut d);
        }
        self.cx.out.decisions.push(d);
    }

    fn enter_arm(&mut self, arm: &str) {
        super::results::on_arm(self.st, self.cx, self.run, self.step, arm);
    }
}

fn render(
    st: &CustomerState,
    cx: &Cx,
    flow: &FlowDef,
    run: &Run,
    template: &str,
    channel: Channel,
) -> Result<(crate::template::Rendered, String), String> {
    let cfg = cx.cfg;
    let s = &cfg.settings;
    let event = match &run.trigger {
        Some(e) => context::event_json(
            e.name(),
            &e.occurred_at.to_string(),
            e.kind.properties_json(),
        ),
        None => json!({"type": "none"}),
    };
    let shop = st.profile.shop.as_str();
    let pid = st.profile.id.as_str();
    let base = &s.store.links_base_url;
    let unsub = cfg.links.unsubscribe_url(base, shop, pid, channel.as_str());
    // The unsubscribe link is needed anyway (the List-Unsubscribe header).
    let mut links = serde_json::Map::new();
    links.insert("unsubscribe".into(), json!(unsub));
    if cfg.templates.reads_preferences(template) {
        links.insert(
            "preferences".into(),
            json!(cfg.links.preferences_url(base, shop, pid)),
        );
    }
    let keys = cfg.templates.profile_keys(template);
    let mut profile = st.profile.to_json_keys(cx.now, s, keys);
    if keys.is_none_or(|k| k.contains("predictions")) {
        if let (Some(model), Some(o)) = (&cx.model, profile.as_object_mut()) {
            // The model's numbers for today (UTC); just the model's name
            // for a customer without an order.
            let today = cx.now.to_zoned(jiff::tz::TimeZone::UTC).date();
            let p = model
                .customer_json(&st.profile.order_history(), today)
                .unwrap_or_else(|| json!({ "model": model.model }));
            o.insert("predictions".into(), p);
        }
    }
    let ctx = context::build(
        s,
        profile,
        event,
        serde_json::Value::Object(links),
        &flow.id,
        flow.name.as_deref(),
    );
    let locale = cfg
        .templates
        .pick_locale(template, st.profile.locale(s), &s.store.locale)
        .ok_or_else(|| format!("unknown template {template:?}"))?
        .to_string();
    cfg.templates
        .render(template, &locale, ctx)
        .map(|r| (r, unsub))
}
