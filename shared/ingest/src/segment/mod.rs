//! Segment-compatible tracking (`/v1/identify`, `/v1/track`, `/v1/page`,
//! `/v1/alias`, `/v1/batch`): any site already sending Segment- or
//! RudderStack-style calls can point at storeflow. Identify and alias join
//! a browser's anonymous id to the known customer; track calls of the
//! e-commerce spec become typed events ([`ecommerce`]).

mod ecommerce;

use crate::fields::parse_time;
use crate::normalized::{nonblank, EventBuilder, Normalized};
use crate::refusal::Refusal;
use jiff::Timestamp;
use serde_json::{Map, Value};
use storeflow_core::model::event::{CustomerProps, EventKind, Identity};
use storeflow_core::model::ids::ShopId;

/// One message of a call: its kind comes from `type`, else from the path.
pub struct Message<'a> {
    pub kind: &'a str,
    pub index: Option<usize>,
    pub value: &'a Map<String, Value>,
}

impl Message<'_> {
    /// Where a refusal points: `track` or `batch[3] (track)`.
    pub fn label(&self) -> String {
        match self.index {
            Some(i) => format!("batch[{i}] ({})", self.kind),
            None => self.kind.to_string(),
        }
    }

    pub fn str(&self, key: &str) -> Option<String> {
        text(self.value.get(key))
    }

    fn object(&self, key: &str) -> Option<&Map<String, Value>> {
        self.value.get(key).and_then(Value::as_object)
    }

    /// The message's idempotency key (`segment:<messageId>`); a message
    /// without one is known by a hash of its content.
    pub fn key(&self) -> String {
        match self.str("messageId") {
            Some(id) => format!("segment:{id}"),
            None => {
                let text = serde_json::to_string(self.value).unwrap_or_default();
                format!(
                    "segment:sha256:{}",
                    crate::signature::sign_hex(b"", text.as_bytes())
                )
            }
        }
    }

    /// When it happened: `timestamp`; else `originalTimestamp` corrected by
    /// the client's clock skew (`sentAt` against arrival); else arrival.
    /// Never later than arrival.
    pub fn time(&self, now: Timestamp, sent_at: Option<Timestamp>) -> Timestamp {
        let t = |k: &str| {
            self.value
                .get(k)
                .and_then(Value::as_str)
                .and_then(parse_time)
        };
        let at = t("timestamp").or_else(|| {
            let orig = t("originalTimestamp")?;
            let sent = t("sentAt").or(sent_at);
            Some(match sent.and_then(|s| now.since(s).ok()) {
                Some(skew) => orig.checked_add(skew).unwrap_or(orig),
                None => orig,
            })
        });
        at.unwrap_or(now).min(now)
    }

    /// Who: `userId`, `anonymousId`, and an email or phone from the traits
    /// or the properties.
    pub fn identity(&self) -> Identity {
        let traits = self.object("traits");
        let ctx_traits = self
            .object("context")
            .and_then(|c| c.get("traits"))
            .and_then(Value::as_object);
        let props = self.object("properties");
        let find = |k: &str| {
            [traits, ctx_traits, props]
                .into_iter()
                .flatten()
                .find_map(|m| text(m.get(k)))
        };
        Identity {
            id: self.str("userId"),
            email: find("email"),
            phone: find("phone"),
            anonymous_id: self.str("anonymousId"),
        }
    }
}

/// A string, or a number as its text (ids are sent either way).
pub fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => nonblank(Some(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Normalizes one message.
pub fn normalize(
    shop: &ShopId,
    m: &Message,
    now: Timestamp,
    sent_at: Option<Timestamp>,
) -> Result<Normalized, Refusal> {
    let refuse = |what: &str| Refusal::Malformed(format!("{}: {what}", m.label()));
    let who = m.identity();
    if who.id.is_none() && who.anonymous_id.is_none() {
        return Err(refuse("missing field \"userId\" or \"anonymousId\""));
    }
    let at = m.time(now, sent_at);
    let key = m.key();
    let b = EventBuilder {
        shop,
        prefix: "segment",
    };
    let id = key.trim_start_matches("segment:").to_string();
    let kind = match m.kind {
        "identify" => EventKind::CustomerUpdated(customer_props(m)),
        "alias" => {
            // The previous id (a browser's, or an old user id) is the same
            // person as the user id: an event naming both joins them.
            let Some(previous) = m.str("previousId") else {
                return Err(refuse("missing field \"previousId\""));
            };
            if who.id.is_none() {
                return Err(refuse("missing field \"userId\""));
            }
            let joined = Identity {
                anonymous_id: Some(previous),
                ..who
            };
            return Ok(Normalized {
                accepted: vec![b.make(
                    &[&id],
                    at,
                    joined,
                    EventKind::CustomerUpdated(Default::default()),
                )],
                key: Some(key),
                ..Default::default()
            });
        }
        "page" => {
            let mut p = m.object("properties").cloned().unwrap_or_default();
            if let Some(n) = m.str("name") {
                p.entry("name").or_insert(Value::String(n));
            }
            if let Some(c) = m.str("category") {
                p.entry("category").or_insert(Value::String(c));
            }
            EventKind::Custom {
                name: "page_viewed".into(),
                properties: p,
            }
        }
        "track" => {
            let Some(name) = m.str("event") else {
                return Err(refuse("missing field \"event\""));
            };
            let props = m.object("properties").cloned().unwrap_or_default();
            ecommerce::kind(&name, props, m.str("messageId").as_deref().unwrap_or(&id))
                .map_err(|e| refuse(&e))?
        }
        other => {
            return Ok(Normalized {
                note: Some(format!(
                    "{}: {other:?} calls are not read; ignored",
                    m.label()
                )),
                key: Some(key),
                ..Default::default()
            })
        }
    };
    Ok(Normalized {
        accepted: vec![b.make(&[&id], at, who, kind)],
        key: Some(key),
        ..Default::default()
    })
}

fn customer_props(m: &Message) -> CustomerProps {
    let traits = m.object("traits").cloned().unwrap_or_default();
    let context = m.object("context");
    let t = |k: &str| text(traits.get(k));
    let (first, last) = match (
        t("firstName").or(t("first_name")),
        t("lastName").or(t("last_name")),
    ) {
        (None, None) => match t("name") {
            Some(n) => match n.split_once(' ') {
                Some((f, l)) => (Some(f.to_string()), Some(l.trim().to_string())),
                None => (Some(n), None),
            },
            None => (None, None),
        },
        fl => fl,
    };
    let address = traits.get("address").and_then(Value::as_object);
    let country = address
        .and_then(|a| text(a.get("country")))
        .filter(|c| c.len() == 2);
    let ctx_str = |k: &str| context.and_then(|c| text(c.get(k)));
    const KNOWN: &[&str] = &[
        "email",
        "phone",
        "name",
        "firstName",
        "first_name",
        "lastName",
        "last_name",
        "address",
        "birthday",
        "locale",
        "timezone",
    ];
    let attributes = traits
        .iter()
        .filter(|(k, v)| !KNOWN.contains(&k.as_str()) && !v.is_object() && !v.is_array())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    CustomerProps {
        first_name: first,
        last_name: last,
        locale: t("locale").or_else(|| ctx_str("locale")),
        timezone: t("timezone").or_else(|| ctx_str("timezone")),
        country,
        province: address.and_then(|a| text(a.get("state"))),
        birthday: t("birthday").map(|b| b.chars().take(10).collect()),
        tags: Vec::new(),
        attributes,
    }
}

/// The messages of a call body: a batch's `batch` array, else the body.
/// Refuses what is not an object, or a batch with no array.
pub fn messages<'a>(call: &'a str, body: &'a Value) -> Result<Vec<Message<'a>>, Refusal> {
    let Some(obj) = body.as_object() else {
        return Err(Refusal::Malformed(format!(
            "{call}: body must be a JSON object"
        )));
    };
    let kind_of = |m: &'a Map<String, Value>, default: &'a str| -> &'a str {
        m.get("type").and_then(Value::as_str).unwrap_or(default)
    };
    if call != "batch" {
        return Ok(vec![Message {
            kind: kind_of(obj, call),
            index: None,
            value: obj,
        }]);
    }
    let Some(list) = obj.get("batch").and_then(Value::as_array) else {
        return Err(Refusal::Malformed("batch: missing field \"batch\"".into()));
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| match m.as_object() {
            Some(o) => {
                let Some(kind) = o.get("type").and_then(Value::as_str) else {
                    return Err(Refusal::Malformed(format!(
                        "batch[{i}]: missing field \"type\""
                    )));
                };
                Ok(Message {
                    kind,
                    index: Some(i),
                    value: o,
                })
            }
            None => Err(Refusal::Malformed(format!(
                "batch[{i}]: must be a JSON object"
            ))),
        })
        .collect()
}
