//! The steps of a sent message's life, as reports count them.

use crate::model::channel::Channel;
use serde::{Deserialize, Serialize};

/// A message's life after it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Sent,
    Delivered,
    Bounced,
    Opened,
    Clicked,
    Unsubscribed,
    Complained,
}

impl Lifecycle {
    pub const ALL: [Lifecycle; 7] = [
        Lifecycle::Sent,
        Lifecycle::Delivered,
        Lifecycle::Bounced,
        Lifecycle::Opened,
        Lifecycle::Clicked,
        Lifecycle::Unsubscribed,
        Lifecycle::Complained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Sent => "sent",
            Lifecycle::Delivered => "delivered",
            Lifecycle::Bounced => "bounced",
            Lifecycle::Opened => "opened",
            Lifecycle::Clicked => "clicked",
            Lifecycle::Unsubscribed => "unsubscribed",
            Lifecycle::Complained => "complained",
        }
    }

    /// From an engagement event's name (`email_clicked`, `sms_delivered`,
    /// …): the channel and the step of the message's life.
    pub fn of_event(name: &str) -> Option<(Channel, Lifecycle)> {
        let (ch, what) = name.split_once('_')?;
        let ch = Channel::parse(ch)?;
        let l = match what {
            "delivered" => Lifecycle::Delivered,
            "opened" => Lifecycle::Opened,
            "clicked" => Lifecycle::Clicked,
            "bounced" => Lifecycle::Bounced,
            "complained" => Lifecycle::Complained,
            _ => return None,
        };
        Some((ch, l))
    }
}
