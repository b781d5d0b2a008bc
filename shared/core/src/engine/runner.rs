//! Executes a run's steps until it waits, is deferred, or ends.

use super::{Cx, Engine};
use crate::customer::state::{CustomerState, Run, Wait};
use crate::flow::{Action, FlowDef, WaitSpec, EXIT};
use crate::model::decision::{Decision, Kind, Message, MessageChannel, SendDetails};
use crate::model::event::Channel;
use crate::model::links;
use crate::model::localtime::next_at;
use crate::model::reason::{Part, Reason};
use crate::policy::{Contact, Request, Verdict};
use crate::template::context;
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
        let step_id = step.id.clone();
        match run.wait {
            Wait::Ready => {}
            Wait::Deferred(t) if t <= cx.now => {}
            Wait::Until(t) if t <= cx.now => {
                let r = &mut *run;
                r.cursor = r.cursor.max(t);
                goto(r, flow, None);
                continue;
            }
            Wait::ForEvent(t) if t <= cx.now => {
                let target = match &step.action {
                    Action::WaitFor(w) => w.on_timeout.clone(),
                    _ => None,
                };
                let r = &mut *run;
                r.cursor = r.cursor.max(t);
                goto(r, flow, target.as_deref());
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
        match &step.action {
            Action::Wait(w) => {
                let until = wait_end(w, run, st, cx);
                let r = &mut *run;
                if until <= cx.now {
                    r.cursor = r.cursor.max(until);
                    goto(r, flow, None);
                } else {
                    r.wait = Wait::Until(until);
                    return None;
                }
            }
            Action::WaitFor(w) => {
                let found = st
                    .history
                    .named_since(&w.event, run.cursor)
                    .iter()
                    .find(|r| {
                        r.at <= cx.now
                            && super::matches(
                                w.view(),
                                &r.name,
                                r.props.view(),
                                run.trigger.as_deref(),
                            )
                    })
                    .map(|r| r.at);
                let deadline = w.timeout.add_local(run.cursor, &cx.tz);
                let r = &mut *run;
                if let Some(at) = found {
                    r.cursor = r.cursor.max(at);
                    goto(r, flow, w.on_event.as_deref());
                } else if deadline <= cx.now {
                    r.cursor = deadline;
                    goto(r, flow, w.on_timeout.as_deref());
                } else {
                    r.wait = Wait::ForEvent(deadline);
                    return None;
                }
            }
            Action::Branch(b) => {
                let v = engine.eval(st, cx, &b.condition).value;
                let target = if v {
                    b.then.clone()
                } else {
                    b.otherwise.clone()
                };
                goto(run, flow, target.as_deref());
            }
            Action::Split(sp) => {
                let roll = bucket(&run.id, &step_id, "holdout");
                if roll < sp.holdout as u64 {
                    return Some(
                        format!(
                            "holdout: in the {}% control group at step {step_id}",
                            sp.holdout
                        )
                        .into(),
                    );
                }
                let total: u64 = sp.variants.iter().map(|v| v.weight as u64).sum();
                let target = if total == 0 {
                    None
                } else {
                    let mut pick = bucket(&run.id, &step_id, "variant") * total / 100;
                    sp.variants
                        .iter()
                        .find(|v| {
                            if pick < v.weight as u64 {
                                true
                            } else {
                                pick -= v.weight as u64;
                                false
                            }
                        })
                        .map(|v| v.target.clone())
                };
                goto(run, flow, target.as_deref());
            }
            Action::Send(s) => {
                let msg_key = run.message_key(&step_id);
                if st.ledger.contains_key(&msg_key) {
                    let msg_id = links::hex64(msg_key);
                    let mut d = base(st, cx, Kind::Skipped, run, &step_id);
                    d.reason = Some(reason![
                        "already sent (message ",
                        Part::Owned(msg_id.into()),
                        ")"
                    ]);
                    cx.out.decisions.push(d);
                    goto(run, flow, None);
                    continue;
                }
                let marketing = !s.transactional;
                let rank = if marketing { run.rank } else { 0 };
                let expiry = s
                    .expires_after
                    .unwrap_or(cx.cfg.settings.policy.default_expiry);
                let req = Request {
                    profile: &st.profile,
                    channel: s.channel,
                    marketing,
                    rank,
                    now: cx.now,
                    tz: &cx.tz,
                    expires_at: expiry.add_exact(run.cursor),
                };
                match cx.cfg.settings.policy.decide(&req, &st.contacts) {
                    Verdict::Send => {
                        match render(st, cx, flow, run, &s.template, s.channel) {
                            Ok((content, unsub)) => {
                                let to = match s.channel {
                                    Channel::Email => st.profile.email().map(|e| e.to_string()),
                                    Channel::Sms | Channel::Whatsapp => {
                                        st.profile.phone().map(|p| p.to_string())
                                    }
                                    Channel::Webhook => None,
                                }
                                .unwrap_or_default();
                                let msg_id = links::hex64(msg_key);
                                st.note_ledger(&msg_id, cx.now);
                                st.contacts.push(Contact {
                                    at: cx.now,
                                    channel: s.channel,
                                    marketing,
                                    rank,
                                });
                                let mut d = base(st, cx, Kind::Message, run, &step_id);
                                d.send = Some(Box::new(SendDetails {
                                    channel: Some(MessageChannel::from_channel(s.channel)),
                                    template: Some(s.template.clone()),
                                    subject: content.subject.clone(),
                                    to: Some(to.clone()),
                                    until: None,
                                }));
                                d.reason = Some(if marketing {
                                    "marketing: consent and policy allow".into()
                                } else {
                                    "transactional".into()
                                });
                                d.message = Some(Box::new(Message {
                                    id: msg_id,
                                    channel: MessageChannel::from_channel(s.channel),
                                    to,
                                    template: s.template.to_string(),
                                    marketing,
                                    priority: if marketing {
                                        flow.priority.clone()
                                    } else {
                                        "transactional".into()
                                    },
                                    content,
                                    unsubscribe_url: marketing.then_some(unsub),
                                    from: cx.cfg.settings.store.from_email.clone(),
                                    flow: flow.id.to_string(),
                                    version: flow.version,
                                    step: step_id.to_string(),
                                }));
                                cx.out.decisions.push(d);
                            }
                            Err(e) => {
                                let mut d = base(st, cx, Kind::Skipped, run, &step_id);
                                d.send = Some(send_details(s));
                                d.reason = Some(format!("template error: {e}").into());
                                cx.out.decisions.push(d);
                            }
                        }
                        let r = &mut *run;
                        r.cursor = r.cursor.max(cx.now);
                        goto(r, flow, None);
                    }
                    Verdict::Defer { until, reason } => {
                        let already = run.wait == Wait::Deferred(until);
                        if !already {
                            let mut d = base(st, cx, Kind::Deferred, run, &step_id);
                            let mut send = send_details(s);
                            send.until = Some(until);
                            d.send = Some(send);
                            d.reason = Some(reason);
                            cx.out.decisions.push(d);
                        }
                        run.wait = Wait::Deferred(until);
                        return None;
                    }
                    Verdict::Skip { reason } => {
                        let mut d = base(st, cx, Kind::Skipped, run, &step_id);
                        d.send = Some(send_details(s));
                        d.reason = Some(reason);
                        cx.out.decisions.push(d);
                        goto(run, flow, None);
                    }
                }
            }
            Action::UpdateProfile(u) => {
                let at = cx.now;
                let mut changed = false;
                for t in &u.add_tags {
                    changed |= st.profile.set_tag(t, true, at);
                }
                for t in &u.remove_tags {
                    changed |= st.profile.set_tag(t, false, at);
                }
                for (k, v) in &u.set {
                    let key = k.strip_prefix("attributes.").unwrap_or(k);
                    changed |= st.profile.set_field(key, v.clone(), at);
                }
                if u.add_points != 0 {
                    changed |= st
                        .profile
                        .grant_points(format!("run:{}:{step_id}", run.id), u.add_points);
                }
                if changed {
                    cx.pending.profile = true;
                }
                goto(run, flow, None);
            }
            Action::Webhook(w) => {
                let msg_id = links::short_hash(&[&run.id, &step_id]);
                if st.note_ledger(&msg_id, cx.now) {
                    let content = match &w.template {
                        Some(t) => render(st, cx, flow, run, t, Channel::Webhook).map(|(c, _)| c),
                        None => Ok(crate::template::Rendered {
                            locale: String::new(),
                            body: Some(
                                json!({"profile": st.profile.to_json(cx.now, &cx.cfg.settings), "event": run.trigger, "flow": flow.id, "step": step_id})
                                    .to_string(),
                            ),
                            ..Default::default()
                        }),
                    };
                    push_outbound(
                        st,
                        cx,
                        flow,
                        run,
                        &step_id,
                        msg_id,
                        MessageChannel::Webhook,
                        w.url.clone(),
                        w.template.clone().unwrap_or_default(),
                        content,
                    );
                }
                goto(run, flow, None);
            }
            Action::Alert(a) => {
                let msg_id = links::short_hash(&[&run.id, &step_id]);
                if st.note_ledger(&msg_id, cx.now) {
                    let content =
                        render(st, cx, flow, run, &a.template, Channel::Email).map(|(c, _)| c);
                    let to = cx
                        .cfg
                        .settings
                        .store
                        .alert_email
                        .clone()
                        .unwrap_or_else(|| "merchant".into());
                    push_outbound(
                        st,
                        cx,
                        flow,
                        run,
                        &step_id,
                        msg_id,
                        MessageChannel::Alert,
                        to,
                        a.template.clone(),
                        content,
                    );
                }
                goto(run, flow, None);
            }
            Action::Exit => {
                return Some(reason!["exit step ", &step_id]);
            }
        }
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn push_outbound(
    st: &CustomerState,
    cx: &mut Cx,
    flow: &FlowDef,
    run: &Run,
    step_id: &Arc<str>,
    msg_id: String,
    channel: MessageChannel,
    to: String,
    template: String,
    content: Result<crate::template::Rendered, String>,
) {
    match content {
        Ok(content) => {
            let mut d = base(st, cx, Kind::Message, run, step_id);
            d.send = Some(Box::new(SendDetails {
                channel: Some(channel),
                template: (!template.is_empty()).then(|| Arc::from(template.as_str())),
                subject: content.subject.clone(),
                to: Some(to.clone()),
                until: None,
            }));
            d.reason = Some(format!("{} step", channel.as_str()).into());
            d.message = Some(Box::new(Message {
                id: msg_id,
                channel,
                to,
                template,
                marketing: false,
                priority: "transactional".into(),
                content,
                unsubscribe_url: None,
                from: cx.cfg.settings.store.from_email.clone(),
                flow: flow.id.to_string(),
                version: flow.version,
                step: step_id.to_string(),
            }));
            cx.out.decisions.push(d);
        }
        Err(e) => {
            let mut d = base(st, cx, Kind::Skipped, run, step_id);
            d.send_mut().channel = Some(channel);
            d.reason = Some(format!("template error: {e}").into());
            cx.out.decisions.push(d);
        }
    }
}

/// A send step's channel and template, for its decisions.
fn send_details(s: &crate::flow::SendSpec) -> Box<SendDetails> {
    Box::new(SendDetails {
        channel: Some(MessageChannel::from_channel(s.channel)),
        template: Some(s.template.clone()),
        ..Default::default()
    })
}

fn base(st: &CustomerState, cx: &Cx, kind: Kind, run: &Run, step: &Arc<str>) -> Decision {
    let mut d = cx.decision(st, kind);
    d.flow = Some(run.flow.clone());
    d.version = Some(run.version);
    d.run = Some(run.id.clone());
    d.step = Some(step.clone());
    d
}

/// A stable number in 0..100 for a run and step (splits and holdouts must
/// give the same answer on every replay).
fn bucket(run: &str, step: &str, salt: &str) -> u64 {
    let h = links::short_hash(&[run, step, salt]);
    u64::from_str_radix(&h[..8], 16).unwrap_or(0) % 100
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
    let ctx = context::build(
        s,
        st.profile
            .to_json_keys(cx.now, s, cfg.templates.profile_keys(template)),
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

/// When a wait step ends (see [`WaitSpec`]).
fn wait_end(w: &WaitSpec, run: &Run, st: &CustomerState, cx: &Cx) -> Timestamp {
    let tz = &cx.tz;
    let mut base = run.cursor;
    if let Some(u) = &w.until {
        if let Ok(dt) = u.parse::<jiff::civil::DateTime>() {
            base = dt
                .to_zoned(tz.clone())
                .map(|z| z.timestamp())
                .unwrap_or(run.cursor);
        }
    } else if let Some(prop) = &w.date {
        let date = st
            .profile
            .field_str(prop)
            .and_then(|s| s.parse::<jiff::civil::Date>().ok());
        base = match date {
            Some(d) => {
                let d = match w.offset {
                    Some(o) => d.checked_add(jiff::Span::new().days(o.days)).unwrap_or(d),
                    None => d,
                };
                crate::model::localtime::at_local(d, jiff::civil::Time::midnight(), tz)
            }
            // No such date on the profile: the wait ends at once.
            None => run.cursor,
        };
    } else if let Some(d) = w.after_start {
        base = d.add_local(run.started_at, tz);
    } else if let Some(d) = w.duration {
        base = d.add_local(run.cursor, tz);
    }
    if w.at.is_some() || !w.weekdays.is_empty() {
        base = next_at(base, w.at.map(|t| t.0), &w.weekdays, tz);
    }
    base
}
