//! The channels storeflow sends on, and what each one needs: one type and
//! one table. Code that differs by channel reads the table ([`Channel::spec`])
//! rather than matching on channels, so a new channel is a variant here, a
//! row in [`SPECS`], and a carrier in each runtime (see `docs/ARCHITECTURE.md`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Whatsapp,
    /// A POST to the merchant's own endpoint, from a `webhook` step (or a
    /// `send` step on this channel).
    Webhook,
    /// A notice to the merchant, from an `alert` step.
    Alert,
}

/// Where a channel's messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address {
    /// The customer's email address.
    Email,
    /// The customer's phone number.
    Phone,
    /// A URL the step names.
    Url,
    /// The store's alert address.
    Merchant,
}

/// How a customer stops a channel's marketing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribe {
    /// A signed link in the message and its List-Unsubscribe header; a
    /// transactional message still goes to an unsubscribed address.
    Link,
    /// A reply (STOP) the provider reports; it holds every message, even
    /// transactional ones.
    Reply,
    /// Not the customer's channel: nothing to unsubscribe from.
    None,
}

/// What a channel needs.
#[derive(Debug)]
pub struct Spec {
    pub channel: Channel,
    /// Its name in configuration, decisions and stored messages.
    pub name: &'static str,
    pub address: Address,
    /// Marketing needs the customer's consent on this channel, and the
    /// preferences page lists it.
    pub consent: bool,
    pub unsubscribe: Unsubscribe,
    /// Whether a `send` step may use it (alerts have their own step).
    pub sendable: bool,
    /// Template parts it needs, and parts it cannot use.
    pub parts: &'static [&'static str],
    pub unused_parts: &'static [&'static str],
    /// Whether the message is a MIME email (the outbox writes `.eml`).
    pub mime: bool,
    /// Skip reasons, fixed texts so that the common skips allocate nothing.
    pub no_address: &'static str,
    pub no_consent: &'static str,
    pub opted_out: &'static str,
}

/// One row per channel, in [`Channel`]'s order.
pub static SPECS: [Spec; 5] = [
    Spec {
        channel: Channel::Email,
        name: "email",
        address: Address::Email,
        consent: true,
        unsubscribe: Unsubscribe::Link,
        sendable: true,
        parts: &["subject", "html", "text"],
        unused_parts: &["body"],
        mime: true,
        no_address: "no email address for email",
        no_consent: "no email marketing consent",
        opted_out: "email unsubscribed",
    },
    Spec {
        channel: Channel::Sms,
        name: "sms",
        address: Address::Phone,
        consent: true,
        unsubscribe: Unsubscribe::Reply,
        sendable: true,
        parts: &["body"],
        unused_parts: &["subject", "preview", "html", "text"],
        mime: false,
        no_address: "no phone number for sms",
        no_consent: "no sms marketing consent",
        opted_out: "sms unsubscribed",
    },
    Spec {
        channel: Channel::Whatsapp,
        name: "whatsapp",
        address: Address::Phone,
        consent: true,
        unsubscribe: Unsubscribe::Reply,
        sendable: true,
        parts: &["body"],
        unused_parts: &["subject", "preview", "html", "text"],
        mime: false,
        no_address: "no phone number for whatsapp",
        no_consent: "no whatsapp marketing consent",
        opted_out: "whatsapp unsubscribed",
    },
    Spec {
        channel: Channel::Webhook,
        name: "webhook",
        address: Address::Url,
        consent: false,
        unsubscribe: Unsubscribe::None,
        sendable: true,
        parts: &["body"],
        unused_parts: &["subject", "preview", "html", "text"],
        mime: false,
        no_address: "no URL for webhook",
        no_consent: "no webhook marketing consent",
        opted_out: "webhook unsubscribed",
    },
    Spec {
        channel: Channel::Alert,
        name: "alert",
        address: Address::Merchant,
        consent: false,
        unsubscribe: Unsubscribe::None,
        sendable: false,
        parts: &["subject", "text"],
        unused_parts: &["body", "html", "preview"],
        mime: true,
        no_address: "no alert address",
        no_consent: "no alert consent",
        opted_out: "alert unsubscribed",
    },
];

impl Channel {
    /// Every channel, in order.
    pub const ALL: [Channel; 5] = [
        Channel::Email,
        Channel::Sms,
        Channel::Whatsapp,
        Channel::Webhook,
        Channel::Alert,
    ];

    #[inline]
    pub fn spec(self) -> &'static Spec {
        &SPECS[self as usize]
    }

    #[inline]
    pub fn as_str(&self) -> &'static str {
        self.spec().name
    }

    /// The channels a customer consents to and unsubscribes from.
    /// From its wire name (`email`, `sms`, …).
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn customer_channels() -> impl Iterator<Item = Channel> {
        Channel::ALL.into_iter().filter(|c| c.spec().consent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_channel_order_and_names_match_the_wire() {
        for (i, c) in Channel::ALL.iter().enumerate() {
            assert_eq!(SPECS[i].channel, *c);
            let wire = serde_json::to_value(c).unwrap();
            assert_eq!(wire, serde_json::json!(c.as_str()));
            let back: Channel = serde_json::from_value(wire).unwrap();
            assert_eq!(back, *c);
        }
    }
}
