//! Timers on AWS (docs/AWS.md, "Timers"): a wake-up due within 15 minutes
//! is an SQS message on the timers queue with `DelaySeconds`; a later one
//! is a one-time EventBridge Scheduler schedule, named after what it wakes
//! and when, that delivers the same message to the same queue a little
//! before the wake-up ([`schedule_at`]), to be delayed there for the rest.
//! The stored wake-up is the truth: a timer for a wake-up that moved, or
//! that ran already (a schedule fired twice), does nothing.

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use storeflow_app::Timer;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::model::links::{hash64, hex64};

/// SQS's longest per-message delay.
pub const MAX_DELAY_SECONDS: i64 = 15 * 60;

/// A message on the timers queue (and the cron schedules' input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerMessage {
    /// A customer's wake-up at `due`.
    Wake {
        shop: ShopId,
        profile: ProfileId,
        due: Timestamp,
    },
    /// A shop's wake-up (back-in-stock batches).
    ShopWake { shop: ShopId, due: Timestamp },
    /// The campaign calendar cron.
    Calendar,
    /// One page of a campaign's enrolment (`crate::campaigns`).
    CampaignPage(crate::pages::CampaignPage),
    /// The reconciliation cron: re-arm what was lost.
    Reconcile,
    /// One page of a reconciliation (`crate::reconcile`).
    ReconcilePage(crate::pages::ReconcilePage),
    /// The daily refit of the prediction models (`crate::models`).
    Refit,
}

impl TimerMessage {
    pub fn of(t: &Timer) -> Self {
        match &t.profile {
            Some(p) => TimerMessage::Wake {
                shop: t.shop.clone(),
                profile: p.clone(),
                due: t.at,
            },
            None => TimerMessage::ShopWake {
                shop: t.shop.clone(),
                due: t.at,
            },
        }
    }

    pub fn due(&self) -> Option<Timestamp> {
        match self {
            TimerMessage::Wake { due, .. } | TimerMessage::ShopWake { due, .. } => Some(*due),
            _ => None,
        }
    }

    /// The schedule name for this wake-up: the same wake-up always gets the
    /// same name (a retry finds the schedule it made), within Scheduler's
    /// 64 characters of `[0-9a-zA-Z-_.]`.
    pub fn schedule_name(&self) -> String {
        let (what, due) = match self {
            TimerMessage::Wake {
                shop, profile, due, ..
            } => (hash64(&[shop.as_str(), "|", profile.as_str()]), due),
            TimerMessage::ShopWake { shop, due } => (hash64(&[shop.as_str()]), due),
            other => return format!("{other:?}").to_lowercase(),
        };
        format!(
            "wake-{}-{}",
            hex64(what),
            crate::keys::ceil_second(*due).as_second()
        )
    }
}

/// How long before its wake-up a schedule fires: Scheduler runs a
/// one-time schedule within the minute it names, up to a minute late, so
/// the schedule names the minute two minutes before the wake-up (rounded
/// down). The timer message then reaches the scheduler function early,
/// which puts it back on the timers queue with `DelaySeconds` for the rest:
/// the wake-up runs within a second or two of its instant, as locally.
pub const SCHEDULE_LEAD_SECONDS: i64 = 120;

/// The instant a wake-up's schedule names: [`SCHEDULE_LEAD_SECONDS`]
/// before it, down to the whole minute.
pub fn schedule_at(due: Timestamp) -> Timestamp {
    let s = crate::keys::ceil_second(due).as_second() - SCHEDULE_LEAD_SECONDS;
    Timestamp::from_second(s - s.rem_euclid(60)).unwrap_or(due)
}

/// How a wake-up was armed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Armed {
    /// On the timers queue, delayed this many seconds.
    Delayed(i64),
    /// As a one-time schedule with this name (new, or found from before).
    Scheduled(String),
}

/// Where timers go.
#[derive(Clone)]
pub struct Timers {
    pub sqs: aws_sdk_sqs::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub dead_letter_arn: String,
    pub group: String,
    pub role_arn: String,
    /// Wake-ups due within this many seconds go to the queue with a delay;
    /// later ones become schedules. [`MAX_DELAY_SECONDS`] in a deployment;
    /// tests on a virtual clock set 0, so every future wake-up is a
    /// schedule request they can read and fire (an SQS delay would be
    /// real time).
    pub max_delay_seconds: i64,
}

impl Timers {
    /// Puts `m` on the timers queue now (work for the scheduler function,
    /// not a wake-up).
    pub async fn enqueue(&self, m: &TimerMessage) -> anyhow::Result<()> {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(serde_json::to_string(m)?)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SQS SendMessage to the timers queue: {e:?}"))?;
        Ok(())
    }

    /// Arms a timer for `m`, due at `m.due()`, as seen at `now`.
    pub async fn arm(&self, m: &TimerMessage, now: Timestamp) -> anyhow::Result<Armed> {
        let due = m
            .due()
            .ok_or_else(|| anyhow::anyhow!("{m:?} has no due time"))?;
        let body = serde_json::to_string(m)?;
        let wait = crate::keys::ceil_second(due).as_second() - now.as_second();
        if wait <= self.max_delay_seconds.min(MAX_DELAY_SECONDS) {
            let delay = wait.clamp(0, MAX_DELAY_SECONDS);
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .delay_seconds(delay as i32)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("SQS SendMessage to the timers queue: {e:?}"))?;
            return Ok(Armed::Delayed(delay));
        }
        let name = m.schedule_name();
        let at = schedule_at(due).strftime("%Y-%m-%dT%H:%M:%S");
        let target = Target::builder()
            .arn(&self.queue_arn)
            .role_arn(&self.role_arn)
            .input(body)
            .dead_letter_config(
                DeadLetterConfig::builder()
                    .arn(&self.dead_letter_arn)
                    .build(),
            )
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(86_400)
                    .build(),
            )
            .build()?;
        let made = self
            .scheduler
            .create_schedule()
            .name(&name)
            .group_name(&self.group)
            .schedule_expression(format!("at({at})"))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(
                FlexibleTimeWindow::builder()
                    .mode(FlexibleTimeWindowMode::Off)
                    .build()?,
            )
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match made {
            Ok(_) => Ok(Armed::Scheduled(name)),
            // The same wake-up armed before (a retried evaluation): one
            // schedule is enough.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conflict_exception()) =>
            {
                Ok(Armed::Scheduled(name))
            }
            Err(e) => Err(anyhow::anyhow!("Scheduler CreateSchedule {name}: {e:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_names_the_whole_minute_two_minutes_before_its_wake_up() {
        let at = |due: &str| schedule_at(due.parse().unwrap()).to_string();
        assert_eq!(at("2026-11-23T16:00:00Z"), "2026-11-23T15:58:00Z");
        assert_eq!(at("2026-11-23T16:00:59Z"), "2026-11-23T15:58:00Z");
        assert_eq!(at("2026-11-23T16:01:00.5Z"), "2026-11-23T15:59:00Z");
        // Fired up to a minute late, it still comes a minute early.
        for due in ["2026-11-23T16:00:00Z", "2026-11-23T16:00:59.9Z"] {
            let due: Timestamp = due.parse().unwrap();
            let latest = schedule_at(due) + jiff::SignedDuration::from_secs(60);
            let due = crate::keys::ceil_second(due);
            assert!(due.duration_since(latest).as_secs() >= 60, "{due}");
        }
    }

    #[test]
    fn one_name_per_wake_up_within_schedulers_limits() {
        let m = |due: &str| TimerMessage::Wake {
            shop: ShopId::parse("north.myshopify.com").unwrap(),
            profile: ProfileId::parse("p_0123456789abcdef").unwrap(),
            due: due.parse().unwrap(),
        };
        let a = m("2026-03-01T10:00:00Z").schedule_name();
        assert_eq!(a, m("2026-03-01T10:00:00Z").schedule_name());
        assert_ne!(a, m("2026-03-01T10:01:00Z").schedule_name());
        assert!(a.len() <= 64);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        let json = serde_json::to_string(&TimerMessage::Calendar).unwrap();
        assert_eq!(json, r#"{"kind":"calendar"}"#);
    }
}
