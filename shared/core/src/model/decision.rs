//! What the engine decided, with its reason: the trace of every customer,
//! and the messages to deliver.

use crate::model::event::Channel;
use crate::model::ids::ProfileId;
use crate::template::Rendered;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    SegmentEnter,
    SegmentExit,
    FlowEnter,
    FlowExit,
    Message,
    Deferred,
    Skipped,
    /// An input value outside what a store can mean was brought within
    /// limits before it was applied (`crate::model::limits`); the reason says
    /// which field, what it was and what it became.
    Adjusted,
    /// A run entered a split's arm (`holdout` or a variant's target step).
    Arm,
    /// A customer did something with a message (opened, clicked,
    /// unsubscribed after it); `result.lifecycle` says what.
    Engaged,
    /// An order credited to a message (last touch across channels).
    Credit,
    /// A refund of a credited order: what it takes off the message's net
    /// revenue.
    CreditRefund,
    /// An order placed within the conversion window of a split arm entered
    /// before it.
    ArmOrder,
    /// An order placed (`result.order`, `result.amount`).
    Order,
    /// A refund of an order (`result.order`, `result.amount`).
    Refund,
}

/// One decision. On the wire (JSON) its fields are, in order: `at`, `kind`,
/// `profile`, `profile_id`, `segment`, `flow`, `version`, `step`, `run`,
/// `channel`, `template`, `subject`, `to`, `reason`, `until`, `variant`,
/// `result`, `conversion`, `message` (absent ones left out).
///
/// In memory the send-step fields (`channel`, `template`, `subject`, `to`,
/// `until`) live in one boxed [`SendDetails`], present only on decisions
/// about a send: an event makes about ten decisions, each moved and
/// dropped several times, and most have none of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub at: Timestamp,
    pub kind: Kind,
    /// A flow exit that reached the flow's goal.
    pub conversion: bool,
    /// The customer's email when known, else the profile id.
    pub profile: std::sync::Arc<str>,
    pub profile_id: ProfileId,
    pub segment: Option<Arc<str>>,
    pub flow: Option<Arc<str>>,
    pub version: Option<u32>,
    pub step: Option<Arc<str>>,
    pub run: Option<Arc<str>>,
    pub reason: Option<crate::model::reason::Reason>,
    /// Channel, template, subject, recipient and deferral instant of a
    /// send step's decision (see [`Decision::channel`] and the others).
    pub send: Option<Box<SendDetails>>,
    /// The message to deliver (for `message` decisions).
    pub message: Option<Box<Message>>,
}

/// The send-step fields of a [`Decision`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendDetails {
    /// `email`, `sms`, `whatsapp`, `webhook`, or `alert` (to the merchant).
    pub channel: Option<Channel>,
    pub template: Option<Arc<str>>,
    pub subject: Option<String>,
    pub to: Option<String>,
    pub until: Option<Timestamp>,
    /// The split arm the run had entered (a holdout or variant).
    pub variant: Option<Arc<str>>,
    /// What a result decision counts (credits, arm orders, engagement).
    pub result: Option<Box<ResultDetails>>,
}

/// The figures of a result decision ([`Kind::Credit`],
/// [`Kind::CreditRefund`], [`Kind::ArmOrder`], [`Kind::Engaged`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultDetails {
    /// The message concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Arc<str>>,
    /// An engagement's step of the message's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<crate::model::lifecycle::Lifecycle>,
    /// The touch that won a credit, and when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touch: Option<crate::results::attribution::TouchKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touched_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// An arm order that is the run's first (the run converts); a
    /// message that is the run's first (its customer is a recipient).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first: bool,
    /// An arm order: when its run entered the arm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The run's arm revenue before this order (for sums of squares).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub before: f64,
    /// The attribution settings a credit was decided under, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Arc<str>>,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl SendDetails {
    fn is_empty(&self) -> bool {
        self.channel.is_none()
            && self.template.is_none()
            && self.subject.is_none()
            && self.to.is_none()
            && self.until.is_none()
            && self.variant.is_none()
            && self.result.is_none()
    }
}

impl Decision {
    pub fn new(
        at: Timestamp,
        kind: Kind,
        profile: std::sync::Arc<str>,
        profile_id: ProfileId,
    ) -> Self {
        Decision {
            at,
            kind,
            conversion: false,
            profile,
            profile_id,
            segment: None,
            flow: None,
            version: None,
            step: None,
            run: None,
            reason: None,
            send: None,
            message: None,
        }
    }

    /// The send-step fields, made on first use.
    pub fn send_mut(&mut self) -> &mut SendDetails {
        self.send.get_or_insert_with(Default::default)
    }

    /// `email`, `sms`, `whatsapp`, `webhook`, or `alert` (to the merchant).
    pub fn channel(&self) -> Option<&'static str> {
        self.send.as_ref()?.channel.map(|c| c.as_str())
    }
    pub fn template(&self) -> Option<&str> {
        self.send.as_ref()?.template.as_deref()
    }
    pub fn subject(&self) -> Option<&str> {
        self.send.as_ref()?.subject.as_deref()
    }
    pub fn to(&self) -> Option<&str> {
        self.send.as_ref()?.to.as_deref()
    }
    /// Until when a deferred send waits.
    pub fn until(&self) -> Option<Timestamp> {
        self.send.as_ref()?.until
    }
    pub fn variant(&self) -> Option<&str> {
        self.send.as_ref()?.variant.as_deref()
    }
    pub fn result(&self) -> Option<&ResultDetails> {
        self.send.as_ref()?.result.as_deref()
    }
}

impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let send = self.send.as_deref();
        let channel = send.and_then(|x| x.channel);
        let template = send.and_then(|x| x.template.as_ref());
        let subject = send.and_then(|x| x.subject.as_ref());
        let to = send.and_then(|x| x.to.as_ref());
        let until = send.and_then(|x| x.until);
        let variant = send.and_then(|x| x.variant.as_ref());
        let result = send.and_then(|x| x.result.as_ref());
        let len = 4 + [
            self.segment.is_some(),
            self.flow.is_some(),
            self.version.is_some(),
            self.step.is_some(),
            self.run.is_some(),
            channel.is_some(),
            template.is_some(),
            subject.is_some(),
            to.is_some(),
            self.reason.is_some(),
            until.is_some(),
            variant.is_some(),
            result.is_some(),
            self.conversion,
            self.message.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        let mut st = s.serialize_struct("Decision", len)?;
        st.serialize_field("at", &self.at)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("profile", &self.profile)?;
        st.serialize_field("profile_id", &self.profile_id)?;
        macro_rules! opt {
            ($name:literal, $v:expr) => {
                match $v {
                    Some(v) => st.serialize_field($name, v)?,
                    None => st.skip_field($name)?,
                }
            };
        }
        opt!("segment", &self.segment);
        opt!("flow", &self.flow);
        opt!("version", &self.version);
        opt!("step", &self.step);
        opt!("run", &self.run);
        opt!("channel", &channel);
        opt!("template", &template);
        opt!("subject", &subject);
        opt!("to", &to);
        opt!("reason", &self.reason);
        opt!("until", &until);
        opt!("variant", &variant);
        opt!("result", &result);
        if self.conversion {
            st.serialize_field("conversion", &true)?;
        } else {
            st.skip_field("conversion")?;
        }
        opt!("message", &self.message);
        st.end()
    }
}

/// A [`Decision`] as read back.
#[derive(Deserialize)]
struct Wire {
    at: Timestamp,
    kind: Kind,
    profile: std::sync::Arc<str>,
    profile_id: ProfileId,
    #[serde(default)]
    segment: Option<Arc<str>>,
    #[serde(default)]
    flow: Option<Arc<str>>,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    step: Option<Arc<str>>,
    #[serde(default)]
    run: Option<Arc<str>>,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    template: Option<Arc<str>>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    reason: Option<crate::model::reason::Reason>,
    #[serde(default)]
    until: Option<Timestamp>,
    #[serde(default)]
    variant: Option<Arc<str>>,
    #[serde(default)]
    result: Option<Box<ResultDetails>>,
    #[serde(default)]
    conversion: bool,
    #[serde(default)]
    message: Option<Box<Message>>,
}

impl<'de> Deserialize<'de> for Decision {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let send = SendDetails {
            channel: w.channel,
            template: w.template,
            subject: w.subject,
            to: w.to,
            until: w.until,
            variant: w.variant,
            result: w.result,
        };
        Ok(Decision {
            at: w.at,
            kind: w.kind,
            conversion: w.conversion,
            profile: w.profile,
            profile_id: w.profile_id,
            segment: w.segment,
            flow: w.flow,
            version: w.version,
            step: w.step,
            run: w.run,
            reason: w.reason,
            send: (!send.is_empty()).then(|| Box::new(send)),
            message: w.message,
        })
    }
}

/// A message ready for a channel adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Stable id (run and step): a channel adapter's send ledger key.
    pub id: String,
    pub channel: Channel,
    pub to: String,
    pub template: String,
    pub marketing: bool,
    pub priority: String,
    pub content: Rendered,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Attribution: which flow, version and step sent it.
    pub flow: String,
    pub version: u32,
    pub step: String,
    /// The split arm (A/B variant) the run had entered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_stay_small() {
        // Moved into the outcome and dropped about ten times per event.
        assert!(
            std::mem::size_of::<Decision>() <= 176,
            "{}",
            std::mem::size_of::<Decision>()
        );
    }

    #[test]
    fn send_fields_keep_their_place_on_the_wire() {
        let text = r#"{"at":"2026-01-01T00:04:00Z","kind":"deferred","profile":"a@example.com","profile_id":"p_1","flow":"f","version":1,"step":"s","run":"r","channel":"email","template":"t","reason":"quiet hours","until":"2026-01-01T08:00:00Z"}"#;
        let d: Decision = serde_json::from_str(text).unwrap();
        assert_eq!(d.channel(), Some("email"));
        assert_eq!(d.template(), Some("t"));
        assert_eq!(d.until(), Some("2026-01-01T08:00:00Z".parse().unwrap()));
        assert_eq!(serde_json::to_string(&d).unwrap(), text);
        let plain = r#"{"at":"2026-01-01T00:04:00Z","kind":"flow_exit","profile":"a@example.com","profile_id":"p_1","conversion":true}"#;
        let d: Decision = serde_json::from_str(plain).unwrap();
        assert!(d.send.is_none());
        assert_eq!(serde_json::to_string(&d).unwrap(), plain);
    }
}
