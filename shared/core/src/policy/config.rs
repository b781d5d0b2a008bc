//! The contact policy as `store.yaml` writes it (`policy:`): priority
//! classes, caps, send windows and the default expiry. What the policy
//! decides with them is `policy`'s.

use crate::model::duration::Dur;
use crate::model::event::Channel;
use crate::model::localtime::{DailyWindow, LocalTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Priority classes, highest first. Flows name theirs; transactional
    /// sends always rank first.
    #[serde(default = "default_priorities")]
    pub priorities: Vec<String>,
    #[serde(default = "default_caps")]
    pub caps: Vec<Cap>,
    /// Send windows per channel, in the customer's local time.
    #[serde(default = "default_windows")]
    pub windows: BTreeMap<Channel, SendWindow>,
    /// How long a deferred message may wait when its step sets no expiry.
    #[serde(default = "default_expiry")]
    pub default_expiry: Dur,
}

fn default_priorities() -> Vec<String> {
    [
        "transactional",
        "checkout",
        "cart",
        "browse",
        "post_purchase",
        "welcome",
        "winback",
        "promotion",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
fn default_caps() -> Vec<Cap> {
    vec![Cap {
        name: "one marketing email per 16h".into(),
        channels: vec![Channel::Email],
        max: 1,
        per: Dur::hours(16),
        shared_name: Default::default(),
    }]
}
fn default_windows() -> BTreeMap<Channel, SendWindow> {
    let mut m = BTreeMap::new();
    m.insert(
        Channel::Sms,
        SendWindow {
            window: DailyWindow {
                from: LocalTime::parse("08:00").unwrap(),
                to: LocalTime::parse("21:00").unwrap(),
            },
            transactional: false,
        },
    );
    m
}
fn default_expiry() -> Dur {
    Dur::hours(24)
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            priorities: default_priorities(),
            caps: default_caps(),
            windows: default_windows(),
            default_expiry: default_expiry(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    pub name: String,
    /// Channels counted together (all channels when empty).
    #[serde(default)]
    pub channels: Vec<Channel>,
    pub max: u32,
    pub per: Dur,
    /// `name` as shared text for reasons, made on first use.
    #[serde(skip)]
    shared_name: std::sync::OnceLock<std::sync::Arc<str>>,
}

impl Cap {
    pub(crate) fn shared_name(&self) -> &std::sync::Arc<str> {
        self.shared_name
            .get_or_init(|| std::sync::Arc::from(self.name.as_str()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendWindow {
    #[serde(flatten)]
    pub window: DailyWindow,
    /// Whether the window also holds transactional messages (default: no).
    #[serde(default)]
    pub transactional: bool,
}
