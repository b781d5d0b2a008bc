//! Last-touch attribution across channels. A message touches a customer
//! when it is delivered, opened or clicked; each (channel, kind) of touch
//! that earns credit has its own window (`store.yaml` `attribution`). An
//! order is credited to the latest touch whose window covers it. Refunds
//! of a credited order lower that message's net revenue on the day of the
//! refund; gross revenue stays as it was.
//!
//! Opens earn nothing by default: privacy proxies (Apple Mail Privacy
//! Protection) open every message, so an open says little about a person.

use crate::model::channel::Channel;
use crate::model::duration::Dur;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a customer did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TouchKind {
    Delivery,
    Open,
    Click,
}

/// The windows of one channel's touches; a touch without one earns no
/// credit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    #[serde(default)]
    pub click: Option<Dur>,
    #[serde(default)]
    pub open: Option<Dur>,
    #[serde(default)]
    pub delivery: Option<Dur>,
}

/// `store.yaml` `attribution`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionSettings {
    /// Per channel, the touches that earn credit and their windows. A
    /// channel listed here takes exactly these windows; a channel not
    /// listed keeps the default: a click within 5 days for email, SMS and
    /// WhatsApp, nothing else.
    #[serde(default)]
    pub touches: BTreeMap<Channel, Windows>,
    /// How long after a run enters a split arm (holdout or variant) an
    /// order counts toward that arm; 5 days when not set.
    #[serde(default)]
    pub conversion_window: Option<Dur>,
}

impl AttributionSettings {
    /// How long after a touch of this kind on this channel an order is
    /// credited to it, if at all.
    pub fn window(&self, channel: Channel, kind: TouchKind) -> Option<Dur> {
        let w = match self.touches.get(&channel) {
            Some(w) => w.clone(),
            None => default_windows(channel),
        };
        match kind {
            TouchKind::Click => w.click,
            TouchKind::Open => w.open,
            TouchKind::Delivery => w.delivery,
        }
    }
}

impl AttributionSettings {
    /// [`AttributionSettings::conversion_window`] or its default.
    pub fn arm_window(&self) -> jiff::SignedDuration {
        self.conversion_window.unwrap_or(Dur::days(5)).exact()
    }

    /// The longest window of any touch on any channel: what a customer's
    /// memory must keep touches for.
    pub fn longest_window(&self) -> jiff::SignedDuration {
        Channel::customer_channels()
            .flat_map(|ch| {
                [TouchKind::Click, TouchKind::Open, TouchKind::Delivery].map(|k| self.window(ch, k))
            })
            .flatten()
            .map(|d| d.exact())
            .max()
            .unwrap_or(jiff::SignedDuration::ZERO)
    }

    /// The settings in words, as reports name the period they applied to:
    /// every channel's windows (`email click 5d; sms click 1d, delivery
    /// 12h; …`), customer channels in table order.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for ch in Channel::customer_channels() {
            let mut kinds = Vec::new();
            for (kind, name) in [
                (TouchKind::Click, "click"),
                (TouchKind::Open, "open"),
                (TouchKind::Delivery, "delivery"),
            ] {
                if let Some(w) = self.window(ch, kind) {
                    kinds.push(format!("{name} {w}"));
                }
            }
            if !kinds.is_empty() {
                parts.push(format!("{} {}", ch.as_str(), kinds.join(", ")));
            }
        }
        if parts.is_empty() {
            "no touch earns credit".into()
        } else {
            parts.join("; ")
        }
    }
}

fn default_windows(channel: Channel) -> Windows {
    let customer = matches!(channel, Channel::Email | Channel::Sms | Channel::Whatsapp);
    Windows {
        click: customer.then(|| Dur::days(5)),
        ..Default::default()
    }
}

/// One touch of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub message: String,
    pub channel: Channel,
    pub kind: TouchKind,
    pub at: Timestamp,
}

/// The touch an order placed at `at` is credited to: the latest touch
/// (ties: a click before an open before a delivery, then the message id)
/// at or before `at` whose window covers `at`.
pub fn credit<'t>(
    s: &AttributionSettings,
    touches: &'t [Touch],
    at: Timestamp,
) -> Option<&'t Touch> {
    touches
        .iter()
        .filter(|t| t.at <= at)
        .filter(|t| {
            s.window(t.channel, t.kind)
                .is_some_and(|w| w.add_exact(t.at) >= at)
        })
        .max_by(|a, b| (a.at, a.kind, &b.message).cmp(&(b.at, b.kind, &a.message)))
}

/// An order, and the refunds of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: String,
    pub at: Timestamp,
    pub amount: f64,
    /// (when, how much).
    pub refunds: Vec<(Timestamp, f64)>,
}

/// An order's credit: the message, its gross amount, and its net amount
/// as of an instant (refunds up to then taken off, never below zero).
#[derive(Debug, Clone, PartialEq)]
pub struct Credited<'a> {
    pub order: &'a Order,
    pub touch: &'a Touch,
}

impl Credited<'_> {
    pub fn gross(&self) -> f64 {
        self.order.amount
    }

    pub fn net_as_of(&self, at: Timestamp) -> f64 {
        let refunded: f64 = self
            .order
            .refunds
            .iter()
            .filter(|(t, _)| *t <= at)
            .map(|(_, a)| a)
            .sum();
        (self.order.amount - refunded).max(0.0)
    }
}

/// One customer's orders, each with the touch it is credited to (orders
/// credited to none are left out).
pub fn attribute<'a>(
    s: &AttributionSettings,
    touches: &'a [Touch],
    orders: &'a [Order],
) -> Vec<Credited<'a>> {
    orders
        .iter()
        .filter_map(|o| credit(s, touches, o.at).map(|touch| Credited { order: o, touch }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn touch(message: &str, channel: Channel, kind: TouchKind, at: &str) -> Touch {
        Touch {
            message: message.into(),
            channel,
            kind,
            at: t(at),
        }
    }

    #[test]
    fn a_click_earns_an_order_within_five_days_and_not_after() {
        let s = AttributionSettings::default();
        let touches = [touch(
            "m1",
            Channel::Email,
            TouchKind::Click,
            "2026-03-01T10:00:00Z",
        )];
        assert_eq!(
            credit(&s, &touches, t("2026-03-06T10:00:00Z"))
                .unwrap()
                .message,
            "m1"
        );
        assert!(credit(&s, &touches, t("2026-03-06T10:00:01Z")).is_none());
        // An order before the click is not the click's.
        assert!(credit(&s, &touches, t("2026-03-01T09:59:59Z")).is_none());
    }

    #[test]
    fn opens_and_deliveries_earn_nothing_unless_configured() {
        let touches = [
            touch(
                "m1",
                Channel::Email,
                TouchKind::Delivery,
                "2026-03-01T10:00:00Z",
            ),
            touch(
                "m1",
                Channel::Email,
                TouchKind::Open,
                "2026-03-01T11:00:00Z",
            ),
        ];
        let order = t("2026-03-02T10:00:00Z");
        assert!(credit(&AttributionSettings::default(), &touches, order).is_none());
        let yaml = "touches: { email: { open: 1d } }";
        let s: AttributionSettings = serde_norway::from_str(yaml).unwrap();
        assert_eq!(credit(&s, &touches, order).unwrap().kind, TouchKind::Open);
        // Listing email replaced its windows: its clicks earn nothing now;
        // SMS keeps the default.
        assert_eq!(s.window(Channel::Email, TouchKind::Click), None);
        assert_eq!(s.window(Channel::Sms, TouchKind::Click), Some(Dur::days(5)));
    }

    #[test]
    fn the_last_touch_across_channels_wins_each_in_its_own_window() {
        let yaml = "touches: { email: { click: 5d }, sms: { click: 1d } }";
        let s: AttributionSettings = serde_norway::from_str(yaml).unwrap();
        let touches = [
            touch(
                "email-1",
                Channel::Email,
                TouchKind::Click,
                "2026-03-01T10:00:00Z",
            ),
            touch(
                "sms-1",
                Channel::Sms,
                TouchKind::Click,
                "2026-03-02T10:00:00Z",
            ),
        ];
        // Within both windows: the later touch, the SMS.
        assert_eq!(
            credit(&s, &touches, t("2026-03-03T09:00:00Z"))
                .unwrap()
                .message,
            "sms-1"
        );
        // The SMS's day is over; the email's five days are not.
        assert_eq!(
            credit(&s, &touches, t("2026-03-03T11:00:00Z"))
                .unwrap()
                .message,
            "email-1"
        );
    }

    #[test]
    fn a_partial_refund_lowers_net_from_its_day_and_leaves_gross() {
        let s = AttributionSettings::default();
        let touches = [touch(
            "m1",
            Channel::Email,
            TouchKind::Click,
            "2026-03-01T10:00:00Z",
        )];
        let orders = [
            Order {
                id: "o1".into(),
                at: t("2026-03-02T10:00:00Z"),
                amount: 120.0,
                refunds: vec![(t("2026-03-10T00:00:00Z"), 45.5)],
            },
            Order {
                id: "o2".into(),
                at: t("2026-03-20T10:00:00Z"),
                amount: 80.0,
                refunds: vec![],
            },
        ];
        let credited = attribute(&s, &touches, &orders);
        assert_eq!(credited.len(), 1, "o2 is outside the window");
        let c = &credited[0];
        assert_eq!(c.order.id, "o1");
        assert_eq!(c.gross(), 120.0);
        assert_eq!(c.net_as_of(t("2026-03-09T23:59:59Z")), 120.0);
        assert_eq!(c.net_as_of(t("2026-03-10T00:00:00Z")), 74.5);
    }
}
