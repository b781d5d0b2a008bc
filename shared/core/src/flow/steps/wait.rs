//! `wait`: pauses the run until an instant computed from the run, the
//! calendar or the profile.

use super::{Checks, Host, Next, Reads, StepKind};
use crate::model::duration::Dur;
use crate::model::localtime::{at_local, next_at, Day, LocalTime};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a wait ends. Without fields it ends at once. The base instant is,
/// in order of precedence: `until` (a local date-time), `date` (a date
/// property ± offset), `after_start` (from the run's start), `for` (from
/// the end of the previous step); `at` and `weekdays` then move it to the
/// first such local time at or after the base.
///
/// Written as a duration (`wait: 2h`) or as a map of these fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct WaitSpec {
    #[serde(rename = "for")]
    pub duration: Option<Dur>,
    pub after_start: Option<Dur>,
    pub until: Option<String>,
    pub date: Option<String>,
    pub offset: Option<Dur>,
    pub at: Option<LocalTime>,
    pub weekdays: Vec<Day>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitMap {
    #[serde(default, rename = "for")]
    duration: Option<Dur>,
    #[serde(default)]
    after_start: Option<Dur>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    offset: Option<Dur>,
    #[serde(default)]
    at: Option<LocalTime>,
    #[serde(default)]
    weekdays: Vec<Day>,
}

impl TryFrom<Value> for WaitSpec {
    type Error = String;
    fn try_from(v: Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Ok(WaitSpec {
                duration: Some(Dur::parse(&s)?),
                ..Default::default()
            }),
            v @ Value::Object(_) => {
                let m: WaitMap = serde_json::from_value(v).map_err(|e| format!("wait: {e}"))?;
                Ok(WaitSpec {
                    duration: m.duration,
                    after_start: m.after_start,
                    until: m.until,
                    date: m.date,
                    offset: m.offset,
                    at: m.at,
                    weekdays: m.weekdays,
                })
            }
            other => Err(format!(
                "wait takes a duration (2h) or a map, not {other}"
            )),
        }
    }
}

impl StepKind for WaitSpec {
    fn check(&self, c: &mut dyn Checks) {
        if let Some(u) = &self.until {
            if u.parse::<jiff::civil::DateTime>().is_err() {
                c.err(
                    "until",
                    format!("{u:?} is not a local date-time (e.g. 2026-11-28T09:00)"),
                );
            }
        }
        if let Some(d) = &self.date {
            if !c.date_property(d) {
                c.err("date", format!("{d:?} is not a date property"));
            }
        }
        for (k, d) in [("for", self.duration), ("after_start", self.after_start)] {
            if d.map(|d| d.is_negative()).unwrap_or(false) {
                c.err(k, "must not be negative".into());
            }
        }
    }

    fn reads<'a>(&'a self, _: &mut Reads<'a>) {}

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        let until = self.end(h);
        if until <= h.now() {
            Next::Go {
                to: None,
                at: Some(until),
            }
        } else {
            Next::Sleep(until)
        }
    }
}

impl WaitSpec {
    /// When the wait ends.
    fn end<H: Host>(&self, h: &H) -> Timestamp {
        let tz = h.tz();
        let cursor = h.cursor();
        let mut base = cursor;
        if let Some(u) = &self.until {
            if let Ok(dt) = u.parse::<jiff::civil::DateTime>() {
                base = dt
                    .to_zoned(tz.clone())
                    .map(|z| z.timestamp())
                    .unwrap_or(cursor);
            }
        } else if let Some(prop) = &self.date {
            let date = h
                .profile()
                .field_str(prop)
                .and_then(|s| s.parse::<jiff::civil::Date>().ok());
            base = match date {
                Some(d) => {
                    let d = match self.offset {
                        Some(o) => d.checked_add(jiff::Span::new().days(o.days)).unwrap_or(d),
                        None => d,
                    };
                    at_local(d, jiff::civil::Time::midnight(), tz)
                }
                // No such date on the profile: the wait ends at once.
                None => cursor,
            };
        } else if let Some(d) = self.after_start {
            base = d.add_local(h.started_at(), tz);
        } else if let Some(d) = self.duration {
            base = d.add_local(cursor, tz);
        }
        if self.at.is_some() || !self.weekdays.is_empty() {
            base = next_at(base, self.at.map(|t| t.0), &self.weekdays, tz);
        }
        base
    }
}
