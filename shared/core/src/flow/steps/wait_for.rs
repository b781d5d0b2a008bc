//! `wait_for`: waits for an event (or finds it already in the history
//! since the previous step), with a timeout.

use super::{Await, Checks, Host, MatchRef, Next, Reads, StepKind, LOOKBACK_DAYS};
use crate::model::duration::Dur;
use crate::segment::condition::PropertyMatch;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitFor {
    pub event: String,
    #[serde(default, rename = "where")]
    pub filter: Vec<PropertyMatch>,
    #[serde(default)]
    pub same: Vec<String>,
    pub timeout: Dur,
    /// Where to go when the event comes (default: the next step).
    #[serde(default)]
    pub on_event: Option<String>,
    /// Where to go when it does not come in time (default: the next step).
    #[serde(default)]
    pub on_timeout: Option<String>,
}

impl WaitFor {
    pub fn view(&self) -> MatchRef<'_> {
        MatchRef {
            event: &self.event,
            filter: &self.filter,
            same: &self.same,
        }
    }
}

impl StepKind for WaitFor {
    fn check(&self, c: &mut dyn Checks) {
        if self.timeout.is_negative() || self.timeout == Dur::ZERO {
            c.err("timeout", "must be a positive duration".into());
        }
        if !self.same.is_empty() && !c.has_trigger_event() {
            c.err(
                "same",
                "`same` compares with the trigger event; this flow has no event trigger".into(),
            );
        }
        for (k, v) in [("on_event", &self.on_event), ("on_timeout", &self.on_timeout)] {
            if let Some(v) = v {
                c.target(k, v);
            }
        }
    }

    fn reads<'a>(&'a self, r: &mut Reads<'a>) {
        let back = self.timeout.exact().max(Dur::days(LOOKBACK_DAYS).exact());
        r.event(self.view(), back);
    }

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        let cursor = h.cursor();
        if let Some(at) = h.event_since(self.view(), cursor) {
            return Next::Go {
                to: self.on_event.as_deref(),
                at: Some(at),
            };
        }
        let deadline = self.timeout.add_local(cursor, h.tz());
        if deadline <= h.now() {
            Next::Go {
                to: self.on_timeout.as_deref(),
                at: Some(deadline),
            }
        } else {
            Next::Listen(deadline)
        }
    }

    fn awaits(&self) -> Option<Await<'_>> {
        Some(Await {
            event: self.view(),
            on_event: self.on_event.as_deref(),
            on_timeout: self.on_timeout.as_deref(),
        })
    }
}
