//! What the engine decided, with its reason: the trace of every customer,
//! and the messages to deliver.

use crate::event::Channel;
use crate::ids::ProfileId;
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub at: Timestamp,
    pub kind: Kind,
    /// The customer's email when known, else the profile id.
    pub profile: std::sync::Arc<str>,
    pub profile_id: ProfileId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Arc<str>>,
    /// `email`, `sms`, `whatsapp`, `webhook`, or `alert` (to the merchant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<crate::reason::Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// A flow exit that reached the flow's goal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conversion: bool,
    /// The message to deliver (for `message` decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<Message>>,
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
            profile,
            profile_id,
            segment: None,
            flow: None,
            version: None,
            step: None,
            run: None,
            channel: None,
            template: None,
            subject: None,
            to: None,
            reason: None,
            until: None,
            conversion: false,
            message: None,
        }
    }
}

/// A message ready for a channel adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Stable id (run and step): a channel adapter's send ledger key.
    pub id: String,
    pub channel: MessageChannel,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageChannel {
    Email,
    Sms,
    Whatsapp,
    Webhook,
    Alert,
}

impl MessageChannel {
    pub fn from_channel(c: Channel) -> Self {
        match c {
            Channel::Email => MessageChannel::Email,
            Channel::Sms => MessageChannel::Sms,
            Channel::Whatsapp => MessageChannel::Whatsapp,
            Channel::Webhook => MessageChannel::Webhook,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            MessageChannel::Email => "email",
            MessageChannel::Sms => "sms",
            MessageChannel::Whatsapp => "whatsapp",
            MessageChannel::Webhook => "webhook",
            MessageChannel::Alert => "alert",
        }
    }
}
