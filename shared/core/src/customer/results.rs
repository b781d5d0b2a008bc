//! What a customer's state remembers so that results are decided as they
//! happen, not recomputed by a scan: the messages sent lately (so a click
//! names its flow, step and template), the touches that may still earn an
//! order, the split arms entered lately (so an order counts toward its
//! arm), and the orders already credited (so a refund lowers the right
//! message's net revenue).
//!
//! Everything here is bounded: a customer who receives many messages keeps
//! the latest [`MAX_KEPT`] of each list, and entries leave once no order
//! or refund can still need them.

use crate::model::channel::Channel;
use crate::results::attribution::{AttributionSettings, Touch, TouchKind};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A click or open later than this after its message is not credited: the
/// message has left the customer's memory.
pub const SENDS_KEPT: SignedDuration = SignedDuration::from_hours(24 * 35);
/// A refund later than this after its order lowers nothing (the order's
/// credit is forgotten); stores' return windows are far shorter.
pub const CREDITS_KEPT: SignedDuration = SignedDuration::from_hours(24 * 400);
/// Each list keeps at most this many entries, the newest.
pub const MAX_KEPT: usize = 64;

/// What is known of a message sent to this customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    pub message: Arc<str>,
    pub channel: Channel,
    pub flow: Arc<str>,
    pub version: u32,
    pub step: Arc<str>,
    pub template: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Arc<str>>,
    pub at: Timestamp,
}

/// A touch of a sent message (a delivery is the send itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Touched {
    pub message: Arc<str>,
    pub kind: TouchKind,
    pub at: Timestamp,
}

/// A split arm this customer entered (a holdout or a variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmEntry {
    pub flow: Arc<str>,
    pub version: u32,
    pub step: Arc<str>,
    pub run: Arc<str>,
    pub arm: Arc<str>,
    pub at: Timestamp,
    /// Order value counted toward the arm so far.
    #[serde(default)]
    pub revenue: f64,
    #[serde(default)]
    pub orders: u32,
}

/// An order credited to a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreditedOrder {
    pub order: String,
    pub sent: Sent,
    pub gross: f64,
    #[serde(default)]
    pub refunded: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sends: Vec<Sent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub touches: Vec<Touched>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<ArmEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credited: Vec<CreditedOrder>,
}

/// What an order earned: the message it is credited to, and which touch.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    pub sent: Sent,
    pub touch: TouchKind,
    pub touched_at: Timestamp,
}

impl Results {
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
            && self.touches.is_empty()
            && self.arms.is_empty()
            && self.credited.is_empty()
    }

    pub fn sent(&mut self, s: Sent) {
        push_bounded(&mut self.sends, s);
    }

    /// The sent message `id`, if still remembered.
    pub fn message(&self, id: &str) -> Option<&Sent> {
        self.sends.iter().rev().find(|s| &*s.message == id)
    }

    /// The latest message sent on `channel`, if any.
    pub fn latest_on(&self, channel: Channel) -> Option<&Sent> {
        self.sends
            .iter()
            .filter(|s| s.channel == channel)
            .max_by_key(|s| s.at)
    }

    /// Records a touch of a remembered message; `None` when the message is
    /// not (or no longer) known, was sent [`SENDS_KEPT`] or more before,
    /// or the touch is already recorded.
    pub fn touch(&mut self, message: &str, kind: TouchKind, at: Timestamp) -> Option<Sent> {
        let sent = self.message(message)?.clone();
        if sent.at + SENDS_KEPT <= at {
            return None;
        }
        let dup = self
            .touches
            .iter()
            .any(|t| &*t.message == message && t.kind == kind && t.at == at);
        if dup {
            return None;
        }
        push_bounded(
            &mut self.touches,
            Touched {
                message: sent.message.clone(),
                kind,
                at,
            },
        );
        Some(sent)
    }

    /// The touches as attribution counts them: every send is a delivery.
    pub fn all_touches(&self) -> Vec<(Touch, &Sent)> {
        let mut out: Vec<(Touch, &Sent)> = self
            .sends
            .iter()
            .map(|s| {
                (
                    Touch {
                        message: s.message.to_string(),
                        channel: s.channel,
                        kind: TouchKind::Delivery,
                        at: s.at,
                    },
                    s,
                )
            })
            .collect();
        for t in &self.touches {
            if let Some(s) = self.message(&t.message) {
                out.push((
                    Touch {
                        message: t.message.to_string(),
                        channel: s.channel,
                        kind: t.kind,
                        at: t.at,
                    },
                    s,
                ));
            }
        }
        out
    }

    /// The credit an order placed at `at` earns, by last touch across
    /// channels (see [`crate::results::attribution::credit`]).
    pub fn credit_for(&self, s: &AttributionSettings, at: Timestamp) -> Option<Credit> {
        let all = self.all_touches();
        let touches: Vec<Touch> = all.iter().map(|(t, _)| t.clone()).collect();
        let won = crate::results::attribution::credit(s, &touches, at)?;
        let (_, sent) = all
            .iter()
            .find(|(t, _)| t == won)
            .expect("the credited touch is one of them");
        Some(Credit {
            sent: (*sent).clone(),
            touch: won.kind,
            touched_at: won.at,
        })
    }

    /// Remembers an order's credit (once per order id); false when the
    /// order was credited before (a redelivered webhook).
    pub fn credited(&mut self, c: CreditedOrder) -> bool {
        if self.credited.iter().any(|o| o.order == c.order) {
            return false;
        }
        push_bounded(&mut self.credited, c);
        true
    }

    /// Takes a refund off a credited order: the message and the amount
    /// taken off (never more than what is left of the order).
    pub fn refund(&mut self, order: &str, amount: f64) -> Option<(Sent, f64, Option<String>)> {
        let o = self.credited.iter_mut().find(|o| o.order == order)?;
        let taken = amount.max(0.0).min(o.gross - o.refunded);
        if taken <= 0.0 {
            return None;
        }
        o.refunded += taken;
        Some((o.sent.clone(), taken, o.currency.clone()))
    }

    pub fn entered_arm(&mut self, a: ArmEntry) {
        push_bounded(&mut self.arms, a);
    }

    /// The arms entered within `window` before `at` (and not after it).
    pub fn arms_covering(&mut self, window: SignedDuration, at: Timestamp) -> &mut [ArmEntry] {
        let start = self
            .arms
            .iter()
            .position(|a| a.at <= at && a.at + window >= at)
            .unwrap_or(self.arms.len());
        let slice = &mut self.arms[start..];
        let end = slice
            .iter()
            .position(|a| a.at > at || a.at + window < at)
            .unwrap_or(slice.len());
        &mut slice[..end]
    }

    /// Forgets what no order or refund can need any more: touches past
    /// the longest window (`touch_window`), messages past [`SENDS_KEPT`]
    /// that no kept touch names, arms past the conversion window.
    pub fn prune(
        &mut self,
        now: Timestamp,
        touch_window: SignedDuration,
        arm_window: SignedDuration,
    ) {
        self.touches.retain(|t| t.at + touch_window >= now);
        let touches = &self.touches;
        self.sends.retain(|s| {
            s.at + SENDS_KEPT > now
                || s.at + touch_window >= now
                || touches.iter().any(|t| t.message == s.message)
        });
        self.arms.retain(|a| a.at + arm_window >= now);
        self.credited.retain(|c| c.at + CREDITS_KEPT > now);
    }

    /// Takes in a merged profile's results.
    pub fn absorb(&mut self, other: Results) {
        for s in other.sends {
            if self.message(&s.message).is_none() {
                self.sends.push(s);
            }
        }
        self.sends.sort_by_key(|s| s.at);
        self.touches.extend(other.touches);
        self.touches.sort_by_key(|t| t.at);
        self.arms.extend(other.arms);
        self.arms.sort_by_key(|a| a.at);
        for c in other.credited {
            if !self.credited.iter().any(|o| o.order == c.order) {
                self.credited.push(c);
            }
        }
        trim(&mut self.sends);
        trim(&mut self.touches);
        trim(&mut self.arms);
        trim(&mut self.credited);
    }
}

fn push_bounded<T>(v: &mut Vec<T>, x: T) {
    v.push(x);
    trim(v);
}

fn trim<T>(v: &mut Vec<T>) {
    if v.len() > MAX_KEPT {
        let extra = v.len() - MAX_KEPT;
        v.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::duration::Dur;
    use crate::results::attribution::{attribute, Order, Windows};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Send(Channel),
        Click(usize),
        Open(usize),
        Order(f64),
    }

    fn step() -> impl Strategy<Value = (u32, Step)> {
        let channel = prop_oneof![Just(Channel::Email), Just(Channel::Sms)];
        let s = prop_oneof![
            channel.prop_map(Step::Send),
            (0usize..8).prop_map(Step::Click),
            (0usize..8).prop_map(Step::Open),
            (1u32..500).prop_map(|a| Step::Order(a as f64)),
        ];
        // Minutes since the previous step: up to about 4 days. (A touch at
        // the very instant of an order counts if it arrived first: order
        // of arrival, which a recomputation by instant cannot see.)
        (1u32..6_000, s)
    }

    fn settings() -> AttributionSettings {
        let mut s = AttributionSettings::default();
        s.touches.insert(
            Channel::Sms,
            Windows {
                click: Some(Dur::days(1)),
                open: None,
                delivery: Some(Dur::hours(12)),
            },
        );
        s.touches.insert(
            Channel::Email,
            Windows {
                click: Some(Dur::days(5)),
                open: Some(Dur::days(1)),
                delivery: None,
            },
        );
        s
    }

    proptest! {
        /// The credit decided when each order arrives, from the bounded
        /// memory pruned as time goes by, is the credit recomputed from
        /// the customer's whole history.
        #[test]
        fn incremental_credit_equals_recomputed(steps in proptest::collection::vec(step(), 1..120)) {
            let s = settings();
            let mut r = Results::default();
            let mut at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
            let mut sent: Vec<Sent> = Vec::new();
            let mut touches = Vec::new();
            let mut orders = Vec::new();
            let mut incremental = Vec::new();
            for (i, (gap, st)) in steps.iter().enumerate() {
                at += SignedDuration::from_mins(*gap as i64);
                r.prune(at, SignedDuration::from_hours(120), SignedDuration::from_hours(120));
                match st {
                    Step::Send(ch) => {
                        let m = Sent {
                            message: format!("m{i}").into(),
                            channel: *ch,
                            flow: "f".into(),
                            version: 1,
                            step: "s".into(),
                            template: "t".into(),
                            variant: None,
                            at,
                        };
                        touches.push(Touch { message: m.message.to_string(), channel: *ch, kind: TouchKind::Delivery, at });
                        r.sent(m.clone());
                        sent.push(m);
                    }
                    Step::Click(k) | Step::Open(k) => {
                        let kind = if matches!(st, Step::Click(_)) { TouchKind::Click } else { TouchKind::Open };
                        // A touch of one of the last messages (none yet: nothing).
                        let Some(m) = sent.iter().rev().nth(*k) else { continue };
                        // Touches of messages older than the memory keeps are
                        // not credited; the reference forgets them too.
                        if m.at + SENDS_KEPT > at {
                            touches.push(Touch { message: m.message.to_string(), channel: m.channel, kind, at });
                        }
                        r.touch(&m.message, kind, at);
                    }
                    Step::Order(amount) => {
                        let id = format!("o{i}");
                        if let Some(c) = r.credit_for(&s, at) {
                            incremental.push((id.clone(), c.sent.message.to_string()));
                        }
                        orders.push(Order { id, at, amount: *amount, refunds: vec![] });
                    }
                }
            }
            let recomputed: Vec<(String, String)> = attribute(&s, &touches, &orders)
                .into_iter()
                .map(|c| (c.order.id.clone(), c.touch.message.clone()))
                .collect();
            prop_assert_eq!(incremental, recomputed);
        }
    }
}
