//! One contact policy over every flow and channel.
//!
//! - Consent and suppression are checked for every message; transactional
//!   messages skip only the marketing rules (caps, marketing send windows).
//! - Caps count marketing messages over sliding windows. A message is capped
//!   only by messages of its own priority or higher: a checkout reminder is
//!   never held back by an earlier newsletter, but a newsletter waits for
//!   the budget a checkout reminder used.
//! - A capped or out-of-window message is **deferred** to the earliest
//!   instant every rule allows, until the expiry its step sets; past that
//!   it is skipped with the reason.

pub mod config;

use crate::customer::profile::Profile;
use crate::model::channel::{Address, Channel, Unsubscribe};
use crate::model::reason::{Part, Reason};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use crate::policy::config::{Cap, PolicyConfig, SendWindow};

/// A message already sent, as the policy counts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub at: Timestamp,
    pub channel: Channel,
    pub marketing: bool,
    /// Index in the priority list (0 = highest).
    pub rank: usize,
}

/// What the policy says about one message at one instant.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send,
    Defer { until: Timestamp, reason: Reason },
    Skip { reason: Reason },
}

pub struct Request<'a> {
    pub profile: &'a Profile,
    pub channel: Channel,
    pub marketing: bool,
    pub rank: usize,
    pub now: Timestamp,
    pub tz: &'a TimeZone,
    /// Past this instant the message is no longer worth sending.
    pub expires_at: Timestamp,
}

impl PolicyConfig {
    pub fn rank(&self, class: &str) -> Option<usize> {
        self.priorities.iter().position(|p| p == class)
    }

    pub fn decide(&self, req: &Request, log: &[Contact]) -> Verdict {
        let p = req.profile;
        let ch = req.channel;
        // Reachability, suppression and consent come first and never wait.
        let spec = ch.spec();
        let has_address = match spec.address {
            Address::Email => p.email().is_some(),
            Address::Phone => p.phone().is_some(),
            Address::Url | Address::Merchant => true,
        };
        // The common reasons are fixed texts per channel: no formatting and
        // no allocation (a consent skip comes about once per event).
        if !has_address {
            return Verdict::Skip {
                reason: spec.no_address.into(),
            };
        }
        if let Some(why) = p.suppressed.get(&ch) {
            return Verdict::Skip {
                reason: format!("{} suppressed: {why}", ch.as_str()).into(),
            };
        }
        if spec.consent {
            let status = p.consent(ch);
            if req.marketing && status != Some(crate::model::event::ConsentStatus::Subscribed) {
                return Verdict::Skip {
                    reason: spec.no_consent.into(),
                };
            }
            // An explicit opt-out by reply (STOP) holds every message.
            if !req.marketing
                && spec.unsubscribe == Unsubscribe::Reply
                && status == Some(crate::model::event::ConsentStatus::Unsubscribed)
            {
                return Verdict::Skip {
                    reason: spec.opted_out.into(),
                };
            }
        }

        let mut t = req.now;
        // Why the message waits: each cap and the window at most once.
        let mut capped = crate::speed::bitset::BitSet::new(self.caps.len());
        let mut windowed = false;
        for _ in 0..32 {
            let mut moved = t;
            if req.marketing {
                for (ci, cap) in self.caps.iter().enumerate() {
                    if !cap.channels.is_empty() && !cap.channels.contains(&ch) {
                        continue;
                    }
                    let from = cap.per.sub_exact(moved);
                    let counted = log
                        .iter()
                        .filter(|c| {
                            c.marketing
                                && c.rank <= req.rank
                                && c.at > from
                                && c.at <= moved
                                && (cap.channels.is_empty() || cap.channels.contains(&c.channel))
                        })
                        .map(|c| c.at);
                    if let Some(oldest) = oldest_over_cap(counted, cap.max) {
                        let free = cap.per.add_exact(oldest);
                        if free > moved {
                            moved = free;
                            capped.insert(ci);
                        }
                    }
                }
            }
            if let Some(w) = self.windows.get(&ch) {
                if req.marketing || w.transactional {
                    let open = w.window.next_open(moved, req.tz);
                    if open > moved {
                        moved = open;
                        windowed = true;
                    }
                }
            }
            if moved == t {
                break;
            }
            t = moved;
        }
        if t == req.now {
            return Verdict::Send;
        }
        // Room for the usual reason (a cap: two parts) and then some.
        let mut parts: Vec<Part> = Vec::with_capacity(4);
        if t > req.expires_at {
            parts.push("expired: ".into());
        }
        for (_, cap) in self
            .caps
            .iter()
            .enumerate()
            .filter(|(i, _)| capped.contains(*i))
        {
            if parts.len() > 1 {
                parts.push("; ".into());
            }
            parts.push("cap: ".into());
            parts.push(Part::Shared(cap.shared_name().clone()));
        }
        if windowed {
            let w = &self.windows[&ch];
            if parts.len() > 1 {
                parts.push("; ".into());
            }
            parts.push(Part::Owned(
                format!(
                    "send window: {} only {}–{} local (",
                    ch.as_str(),
                    w.window.from,
                    w.window.to
                )
                .into(),
            ));
            parts.push(Part::Zone(req.tz.clone()));
            parts.push(")".into());
        }
        if t > req.expires_at {
            parts.extend(["; next allowed ".into(), t.into(), ", after expiry ".into()]);
            parts.push(req.expires_at.into());
            return Verdict::Skip {
                reason: Reason::new(parts),
            };
        }
        let reason = Reason::new(parts);
        Verdict::Defer { until: t, reason }
    }
}

/// With `max` allowed, the contact whose leaving the window frees the
/// cap: the (n - max)-th earliest of the n counted, or None under the cap.
/// The usual cap of one is the latest contact, found without collecting.
fn oldest_over_cap(counted: impl Iterator<Item = Timestamp>, max: u32) -> Option<Timestamp> {
    if max == 1 {
        return counted.max();
    }
    let mut all: Vec<Timestamp> = counted.collect();
    if (all.len() as u32) < max {
        return None;
    }
    all.sort();
    Some(all[all.len() - max as usize])
}

/// Forgets contacts no cap can count any more.
pub fn prune_log(log: &mut Vec<Contact>, caps: &[Cap], now: Timestamp) {
    let longest = caps.iter().map(|c| c.per.exact()).max().unwrap_or_default();
    // `c.at + longest > now`, with the edge computed once.
    match now.checked_sub(longest) {
        Ok(edge) => log.retain(|c| c.at > edge),
        Err(_) => log.retain(|c| c.at + longest > now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::profile::Stamped;
    use crate::model::duration::Dur;
    use crate::model::event::ConsentStatus;
    use crate::model::ids::{Email, ProfileId, ShopId};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn subscriber() -> Profile {
        let mut p = Profile::new(
            ProfileId::parse("p1").unwrap(),
            ShopId::parse("s").unwrap(),
            ts("2026-01-01T00:00:00Z"),
        );
        p.email = Some(Stamped {
            value: Email::parse("a@b.co").unwrap(),
            at: ts("2026-01-01T00:00:00Z"),
        });
        p.consent.insert(
            Channel::Email,
            Stamped {
                value: ConsentStatus::Subscribed,
                at: ts("2026-01-01T00:00:00Z"),
            },
        );
        p
    }

    #[test]
    fn lower_priority_defers_behind_cap_higher_priority_does_not() {
        let pol = PolicyConfig::default();
        let p = subscriber();
        let tz = TimeZone::UTC;
        let now = ts("2026-02-01T12:00:00Z");
        let log = vec![Contact {
            at: ts("2026-02-01T10:00:00Z"),
            channel: Channel::Email,
            marketing: true,
            rank: 7,
        }];
        let req = |rank| Request {
            profile: &p,
            channel: Channel::Email,
            marketing: true,
            rank,
            now,
            tz: &tz,
            expires_at: now + Dur::days(2).exact(),
        };
        // A checkout reminder (rank 1) ignores the earlier promotion (rank 7).
        assert_eq!(pol.decide(&req(1), &log), Verdict::Send);
        // Another promotion waits until the 16 h window has passed.
        match pol.decide(&req(7), &log) {
            Verdict::Defer { until, reason } => {
                assert_eq!(until, ts("2026-02-02T02:00:00Z"));
                assert!(reason.contains("one marketing email per 16h"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn consent_is_required_for_marketing_not_for_transactional_email() {
        let pol = PolicyConfig::default();
        let mut p = subscriber();
        p.consent.clear();
        let tz = TimeZone::UTC;
        let now = ts("2026-02-01T12:00:00Z");
        let mut req = Request {
            profile: &p,
            channel: Channel::Email,
            marketing: true,
            rank: 1,
            now,
            tz: &tz,
            expires_at: now,
        };
        assert!(
            matches!(pol.decide(&req, &[]), Verdict::Skip { reason } if reason.contains("consent"))
        );
        req.marketing = false;
        assert_eq!(pol.decide(&req, &[]), Verdict::Send);
    }
}
