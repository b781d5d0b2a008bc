//! Local wall-clock arithmetic in a customer's zone, DST-correct: "the next
//! 10:00 on a weekday", "is it inside 08:00–21:00 there".

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A wall-clock time written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime(pub Time);

impl LocalTime {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a time of day (expected HH:MM, e.g. 09:30)");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let h: i8 = h.parse().map_err(|_| bad())?;
        let m: i8 = m.parse().map_err(|_| bad())?;
        Time::new(h, m, 0, 0).map(LocalTime).map_err(|_| bad())
    }
}
impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}
impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        LocalTime::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Monday,
            Day::Tue => Weekday::Tuesday,
            Day::Wed => Weekday::Wednesday,
            Day::Thu => Weekday::Thursday,
            Day::Fri => Weekday::Friday,
            Day::Sat => Weekday::Saturday,
            Day::Sun => Weekday::Sunday,
        }
    }
}

/// The instant of `date` at `time` in `tz`. A time skipped by a DST jump
/// maps to the instant just after the gap (as clocks show it).
pub fn at_local(date: Date, time: Time, tz: &TimeZone) -> Timestamp {
    date.to_datetime(time)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| Timestamp::MAX)
}

/// The first instant at or after `from` whose local time is `time` on one
/// of `days` (any day when empty).
pub fn next_at(from: Timestamp, time: Option<Time>, days: &[Day], tz: &TimeZone) -> Timestamp {
    let z = from.to_zoned(tz.clone());
    let allowed = |d: Date| days.is_empty() || days.iter().any(|x| x.weekday() == d.weekday());
    let mut date = z.date();
    for _ in 0..15 {
        if allowed(date) {
            let t = match time {
                Some(t) => at_local(date, t, tz),
                None => at_local(date, Time::midnight(), tz).max(from),
            };
            if t >= from {
                return t;
            }
        }
        date = match date.tomorrow() {
            Ok(d) => d,
            Err(_) => break,
        };
    }
    from
}

/// A daily window `from`–`to` in local time (wrapping past midnight when
/// `to` is earlier than `from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyWindow {
    pub from: LocalTime,
    pub to: LocalTime,
}

impl DailyWindow {
    pub fn contains(&self, t: Timestamp, tz: &TimeZone) -> bool {
        let lt = t.to_zoned(tz.clone()).time();
        let (a, b) = (self.from.0, self.to.0);
        if a <= b {
            lt >= a && lt < b
        } else {
            lt >= a || lt < b
        }
    }

    /// `t` if inside the window, else the next opening.
    pub fn next_open(&self, t: Timestamp, tz: &TimeZone) -> Timestamp {
        if self.contains(t, tz) {
            return t;
        }
        next_at(t, Some(self.from.0), &[], tz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn next_local_time_respects_dst() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let t = LocalTime::parse("10:00").unwrap().0;
        // Saturday 2026-03-07 16:00 UTC = 11:00 EST → next 10:00 is Sunday, now EDT.
        assert_eq!(
            next_at(ts("2026-03-07T16:00:00Z"), Some(t), &[], &ny),
            ts("2026-03-08T14:00:00Z")
        );
        // Weekdays only: Monday.
        assert_eq!(
            next_at(ts("2026-03-07T16:00:00Z"), Some(t), &[Day::Mon], &ny),
            ts("2026-03-09T14:00:00Z")
        );
    }

    #[test]
    fn windows_open_at_local_morning() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let w = DailyWindow {
            from: LocalTime::parse("08:00").unwrap(),
            to: LocalTime::parse("21:00").unwrap(),
        };
        assert!(!w.contains(ts("2026-07-01T20:30:00Z"), &paris)); // 22:30 local
        assert_eq!(
            w.next_open(ts("2026-07-01T20:30:00Z"), &paris),
            ts("2026-07-02T06:00:00Z")
        );
        assert!(w.contains(ts("2026-01-01T07:30:00Z"), &paris)); // 08:30 local in winter
        assert!(LocalTime::parse("25:00").is_err());
    }
}
