//! Facts that reports count: one row per thing that happened, flat and
//! typed. They come from the engine's decisions (a message sent, a flow
//! entered, a goal reached, a split arm entered, an order credited or one
//! of its refunds, an engagement), from the events it applied (orders and
//! refunds), and from the runtimes' carriers (a message delivered, bounced
//! or complained about). Every runtime stores the same rows; the reports in
//! [`crate::results::report`] read them.

use crate::model::channel::Channel;
use crate::model::decision::{Decision, Kind, Message};
use crate::model::ids::ProfileId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use crate::model::lifecycle::Lifecycle;

/// What a fact records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// A step of a message's life (`lifecycle` says which).
    Message,
    FlowEnter,
    /// A run reached its flow's goal.
    Converted,
    Arm,
    ArmOrder,
    Credit,
    CreditRefund,
    Order,
    Refund,
    SegmentEnter,
    SegmentExit,
}

/// One fact. Fields a kind does not have are empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub at: Timestamp,
    pub kind: FactKind,
    pub profile: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// An arm order that is its run's first; a message that is its run's
    /// first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first: bool,
    /// An arm order: when its run entered the arm (it counts with the
    /// arm's entries of that day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// An arm order: the run's arm revenue before it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub before: f64,
    /// The attribution settings of a credit, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Arc<str>>,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Fact {
    pub fn new(at: Timestamp, kind: FactKind, profile: Arc<str>) -> Fact {
        Fact {
            at,
            kind,
            profile,
            lifecycle: None,
            flow: None,
            version: None,
            step: None,
            run: None,
            template: None,
            variant: None,
            channel: None,
            message: None,
            segment: None,
            order: None,
            amount: 0.0,
            currency: None,
            first: false,
            since: None,
            before: 0.0,
            settings: None,
        }
    }

    /// A step of a sent message's life, as a carrier or provider reports
    /// it (delivered, bounced, complained).
    pub fn lifecycle(m: &Message, profile: &ProfileId, l: Lifecycle, at: Timestamp) -> Fact {
        let mut f = Fact::new(at, FactKind::Message, profile.shared().clone());
        f.lifecycle = Some(l);
        f.flow = Some(m.flow.as_str().into());
        f.version = Some(m.version);
        f.step = Some(m.step.as_str().into());
        f.template = (!m.template.is_empty()).then(|| m.template.as_str().into());
        f.variant = m.variant.as_deref().map(Arc::from);
        f.channel = Some(m.channel);
        f.message = Some(m.id.as_str().into());
        f
    }

    /// A key unique to the fact, so a store that sees it twice keeps one
    /// (a redelivered order webhook, a provider's repeated notice).
    pub fn key(&self) -> String {
        let or_empty = |x: Option<&str>| x.unwrap_or("").to_string();
        let order = or_empty(self.order.as_deref());
        match (self.kind, self.lifecycle) {
            // Opens and clicks repeat: each instant is its own.
            (FactKind::Message, Some(l @ (Lifecycle::Opened | Lifecycle::Clicked))) => format!(
                "m|{}|{}|{}",
                or_empty(self.message.as_deref()),
                l.as_str(),
                self.at.as_microsecond()
            ),
            (FactKind::Message, l) => format!(
                "m|{}|{}",
                or_empty(self.message.as_deref()),
                l.map(|l| l.as_str()).unwrap_or("")
            ),
            (FactKind::Order, _) => format!("o|{order}"),
            (FactKind::Credit, _) => format!("c|{order}"),
            _ => format!(
                "{:?}|{}|{}|{}|{}|{order}|{}|{}",
                self.kind,
                self.profile,
                self.at.as_microsecond(),
                or_empty(self.run.as_deref()),
                or_empty(self.segment.as_deref()),
                or_empty(self.message.as_deref()),
                self.amount
            ),
        }
    }
}

/// The facts among an evaluation's decisions.
pub fn facts_of(decisions: &[Decision], out: &mut Vec<Fact>) {
    for d in decisions {
        let kind = match d.kind {
            Kind::Message => FactKind::Message,
            Kind::Engaged => FactKind::Message,
            Kind::FlowEnter => FactKind::FlowEnter,
            Kind::FlowExit if d.conversion => FactKind::Converted,
            Kind::Arm => FactKind::Arm,
            Kind::ArmOrder => FactKind::ArmOrder,
            Kind::Credit => FactKind::Credit,
            Kind::CreditRefund => FactKind::CreditRefund,
            Kind::SegmentEnter => FactKind::SegmentEnter,
            Kind::SegmentExit => FactKind::SegmentExit,
            Kind::Order => FactKind::Order,
            Kind::Refund => FactKind::Refund,
            _ => continue,
        };
        let mut f = Fact::new(d.at, kind, d.profile_id.shared().clone());
        f.flow = d.flow.clone();
        f.version = d.version;
        f.step = d.step.clone();
        f.run = d.run.clone();
        f.segment = d.segment.clone();
        if let Some(s) = d.send.as_deref() {
            f.channel = s.channel;
            f.template = s.template.clone();
            f.variant = s.variant.clone();
            if let Some(r) = s.result.as_deref() {
                f.message = r.message.clone();
                f.lifecycle = r.lifecycle;
                f.order = r.order.clone();
                f.amount = r.amount;
                f.currency = r.currency.clone();
                f.first = r.first;
                f.since = r.since;
                f.before = r.before;
                f.settings = r.settings.clone();
            }
        }
        if d.kind == Kind::Message {
            f.lifecycle = Some(Lifecycle::Sent);
            if let Some(m) = &d.message {
                f.message = Some(m.id.as_str().into());
            }
        }
        out.push(f);
    }
}
