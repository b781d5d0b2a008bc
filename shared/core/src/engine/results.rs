//! Results decided as they happen: a message sent is remembered, a touch
//! (click, open) is recorded, an order is credited to the message whose
//! touch came last within its window and counted toward the split arms
//! entered before it, and a refund of a credited order takes its part off
//! that message's net revenue. Each is a decision, so every runtime stores
//! the same facts (`crate::results::facts`) without a scan.
//!
//! A credit is decided when the order arrives, with the touches known then
//! and the attribution settings in force then: changing the windows
//! changes what is credited from then on, and each credit names the
//! settings it was decided under.

use super::Cx;
use crate::customer::results::{ArmEntry, CreditedOrder, Sent};
use crate::customer::state::{CustomerState, Run};
use crate::model::decision::{Decision, Kind, ResultDetails};
use crate::model::event::{ConsentStatus, Event, EventKind};
use crate::results::facts::Lifecycle;
use std::sync::Arc;

/// A message decision of a run: tagged with the run's arm (and, the
/// run's first to a customer, as such), and remembered.
pub(crate) fn on_message(st: &mut CustomerState, run: &mut Run, d: &mut Decision) {
    let Some(m) = d.message.as_deref_mut() else {
        return;
    };
    if let Some(arm) = &run.arm {
        m.variant = Some(arm.to_string());
        d.send_mut().variant = Some(arm.clone());
    }
    let Some(m) = d.message.as_deref() else {
        return;
    };
    if !m.channel.spec().consent {
        // Webhooks and merchant alerts earn no credit.
        return;
    }
    if !run.messaged {
        run.messaged = true;
        d.send_mut().result = Some(Box::new(ResultDetails {
            first: true,
            ..Default::default()
        }));
    }
    let Some(m) = d.message.as_deref() else {
        return;
    };
    st.results.sent(Sent {
        message: m.id.as_str().into(),
        channel: m.channel,
        flow: run.flow.clone(),
        version: run.version,
        step: d.step.clone().unwrap_or_else(|| m.step.as_str().into()),
        template: m.template.as_str().into(),
        variant: run.arm.clone(),
        at: d.at,
    });
}

/// A run enters a split arm.
pub(crate) fn on_arm(
    st: &mut CustomerState,
    cx: &mut Cx,
    run: &mut Run,
    step: &Arc<str>,
    arm: &str,
) {
    let arm: Arc<str> = arm.into();
    run.arm = Some(arm.clone());
    let mut d = cx.decision(st, Kind::Arm);
    d.flow = Some(run.flow.clone());
    d.version = Some(run.version);
    d.run = Some(run.id.clone());
    d.step = Some(step.clone());
    d.send_mut().variant = Some(arm.clone());
    d.reason = Some(format!("split arm: {arm}").into());
    cx.out.decisions.push(d);
    st.results.entered_arm(ArmEntry {
        flow: run.flow.clone(),
        version: run.version,
        step: step.clone(),
        run: run.id.clone(),
        arm,
        at: cx.now,
        revenue: 0.0,
        orders: 0,
    });
}

/// What an applied event means for results.
pub(crate) fn on_event(st: &mut CustomerState, e: &Event, cx: &mut Cx) {
    match &e.kind {
        EventKind::OrderPlaced(o) => {
            let why = format!("order {} placed", o.order_id);
            let total = (o.total, o.currency.clone());
            order_fact(st, cx, e, Kind::Order, &o.order_id, total, why);
            on_order(st, cx, e, &o.order_id, o.total, o.currency.clone())
        }
        EventKind::Refunded(r) => {
            let why = format!("refund of order {}", r.order_id);
            let amount = (r.amount, r.currency.clone());
            order_fact(st, cx, e, Kind::Refund, &r.order_id, amount, why);
            if let Some((sent, taken, currency)) = st.results.refund(&r.order_id, r.amount) {
                let mut d = message_decision(st, cx, Kind::CreditRefund, &sent);
                d.at = e.occurred_at.min(cx.now);
                d.send_mut().result = Some(Box::new(ResultDetails {
                    message: Some(sent.message.clone()),
                    order: Some(r.order_id.clone()),
                    amount: taken,
                    currency,
                    ..Default::default()
                }));
                d.reason = Some(
                    format!(
                        "refund of credited order {}: {taken:.2} off message {}",
                        r.order_id, sent.message
                    )
                    .into(),
                );
                cx.out.decisions.push(d);
            }
        }
        EventKind::ConsentChanged(c) if c.status == ConsentStatus::Unsubscribed => {
            if let Some(sent) = st.results.latest_on(c.channel).cloned() {
                engaged(st, cx, &sent, Lifecycle::Unsubscribed, e);
            }
        }
        EventKind::Custom { name, properties } => {
            let Some((_, l)) = Lifecycle::of_event(name) else {
                return;
            };
            let Some(id) = properties.get("message").and_then(|v| v.as_str()) else {
                return;
            };
            if properties.get("bot").and_then(|v| v.as_bool()) == Some(true) {
                // A link scanner's request, not the customer's (see the
                // redirect's rule): no touch, no credit.
                return;
            }
            let touch = match l {
                Lifecycle::Clicked => Some(crate::results::attribution::TouchKind::Click),
                Lifecycle::Opened => Some(crate::results::attribution::TouchKind::Open),
                _ => None,
            };
            let sent = match touch {
                Some(kind) => st.results.touch(id, kind, e.occurred_at),
                None => st.results.message(id).cloned(),
            };
            if let Some(sent) = sent {
                engaged(st, cx, &sent, l, e);
            }
        }
        _ => {}
    }
}

/// An order or refund as a decision: its id, amount and currency, at
/// the instant it happened.
fn order_fact(
    st: &CustomerState,
    cx: &mut Cx,
    e: &Event,
    kind: Kind,
    order: &str,
    (amount, currency): (f64, Option<String>),
    why: String,
) {
    let mut d = cx.decision(st, kind);
    d.at = e.occurred_at.min(cx.now);
    d.send_mut().result = Some(Box::new(ResultDetails {
        order: Some(order.to_string()),
        amount,
        currency,
        ..Default::default()
    }));
    d.reason = Some(why.into());
    cx.out.decisions.push(d);
}

fn engaged(st: &CustomerState, cx: &mut Cx, sent: &Sent, l: Lifecycle, e: &Event) {
    let mut d = message_decision(st, cx, Kind::Engaged, sent);
    d.at = e.occurred_at.min(cx.now);
    d.send_mut().result = Some(Box::new(ResultDetails {
        message: Some(sent.message.clone()),
        lifecycle: Some(l),
        ..Default::default()
    }));
    d.reason = Some(format!("{} message {}", l.as_str(), sent.message).into());
    cx.out.decisions.push(d);
}

fn message_decision(st: &CustomerState, cx: &Cx, kind: Kind, sent: &Sent) -> Decision {
    let mut d = cx.decision(st, kind);
    d.flow = Some(sent.flow.clone());
    d.version = Some(sent.version);
    d.step = Some(sent.step.clone());
    let s = d.send_mut();
    s.channel = Some(sent.channel);
    s.template = Some(sent.template.clone());
    s.variant = sent.variant.clone();
    d
}

fn on_order(
    st: &mut CustomerState,
    cx: &mut Cx,
    e: &Event,
    order: &str,
    total: f64,
    currency: Option<String>,
) {
    let at = e.occurred_at;
    let settings = &cx.cfg.settings.attribution;
    if let Some(c) = st.results.credit_for(settings, at) {
        let fresh = st.results.credited(CreditedOrder {
            order: order.to_string(),
            sent: c.sent.clone(),
            gross: total,
            refunded: 0.0,
            currency: currency.clone(),
            at,
        });
        if fresh {
            let mut d = message_decision(st, cx, Kind::Credit, &c.sent);
            d.at = at.min(cx.now);
            d.send_mut().result = Some(Box::new(ResultDetails {
                message: Some(c.sent.message.clone()),
                touch: Some(c.touch),
                touched_at: Some(c.touched_at),
                order: Some(order.to_string()),
                amount: total,
                currency: currency.clone(),
                settings: Some(settings.describe().into()),
                ..Default::default()
            }));
            d.reason = Some(
                format!(
                    "order {order} credited to message {} ({:?} at {})",
                    c.sent.message, c.touch, c.touched_at
                )
                .into(),
            );
            cx.out.decisions.push(d);
        }
    }
    let window = settings.arm_window();
    let mut made = Vec::new();
    for a in st.results.arms_covering(window, at) {
        let before = a.revenue;
        let first = a.orders == 0;
        a.revenue += total;
        a.orders += 1;
        made.push((a.clone(), before, first));
    }
    for (a, before, first) in made {
        let mut d = cx.decision(st, Kind::ArmOrder);
        d.at = at.min(cx.now);
        d.flow = Some(a.flow.clone());
        d.version = Some(a.version);
        d.step = Some(a.step.clone());
        d.run = Some(a.run.clone());
        let s = d.send_mut();
        s.variant = Some(a.arm.clone());
        s.result = Some(Box::new(ResultDetails {
            order: Some(order.to_string()),
            amount: total,
            currency: currency.clone(),
            first,
            before,
            since: Some(a.at),
            ..Default::default()
        }));
        d.reason = Some(
            format!(
                "order {order} within the conversion window of arm {}",
                a.arm
            )
            .into(),
        );
        cx.out.decisions.push(d);
    }
}
