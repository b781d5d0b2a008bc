//! Durations as merchants write them in configuration: `30m`, `2h`, `7d`,
//! `1d12h`, `2w`. Days and weeks are calendar days when added to a local
//! time (so "+15d at 10:00" stays at 10:00 across a DST change) and exactly
//! 24 h when they measure a sliding window.

use jiff::{tz::TimeZone, SignedDuration, Span, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur {
    pub days: i64,
    pub seconds: i64,
}

impl Dur {
    pub const ZERO: Dur = Dur {
        days: 0,
        seconds: 0,
    };

    pub fn hours(h: i64) -> Self {
        Dur {
            days: 0,
            seconds: h * 3600,
        }
    }
    pub fn days(d: i64) -> Self {
        Dur {
            days: d,
            seconds: 0,
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (neg, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        if body.is_empty() {
            return Err(format!(
                "{s:?} is not a duration (expected e.g. 30m, 2h, 7d, 1d12h)"
            ));
        }
        let mut d = Dur::ZERO;
        let mut num = String::new();
        for c in body.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: i64 = num.parse().map_err(|_| {
                format!("{s:?} is not a duration (expected e.g. 30m, 2h, 7d, 1d12h)")
            })?;
            num.clear();
            match c {
                's' => d.seconds += n,
                'm' => d.seconds += n * 60,
                'h' => d.seconds += n * 3600,
                'd' => d.days += n,
                'w' => d.days += 7 * n,
                _ => return Err(format!("{s:?}: unknown unit {c:?} (use s, m, h, d or w)")),
            }
        }
        if !num.is_empty() {
            return Err(format!(
                "{s:?}: number {num} has no unit (use s, m, h, d or w)"
            ));
        }
        if neg {
            d.days = -d.days;
            d.seconds = -d.seconds;
        }
        Ok(d)
    }

    /// The exact length (a day is 24 h): for sliding windows.
    pub fn exact(&self) -> SignedDuration {
        SignedDuration::from_secs(self.days * 86_400 + self.seconds)
    }

    /// `t + self.exact()` (saturating at jiff's range, as [`add_secs`]),
    /// with one range check instead of jiff's general arithmetic.
    /// Window edges are computed this way several times per event.
    #[inline]
    pub fn add_exact(&self, t: Timestamp) -> Timestamp {
        add_secs(t, self.days * 86_400 + self.seconds)
    }

    /// `t - self.exact()`, as [`Dur::add_exact`].
    #[inline]
    pub fn sub_exact(&self, t: Timestamp) -> Timestamp {
        add_secs(t, -(self.days * 86_400 + self.seconds))
    }

    /// Adds this duration to `t` in the customer's zone: days are calendar days.
    pub fn add_local(&self, t: Timestamp, tz: &TimeZone) -> Timestamp {
        if self.days == 0 {
            // No calendar days: the zone plays no part.
            return add_secs(t, self.seconds);
        }
        let added = Span::new()
            .try_days(self.days)
            .and_then(|span| t.to_zoned(tz.clone()).checked_add(span));
        match added {
            Ok(z) => add_secs(z.timestamp(), self.seconds),
            // Past jiff's range: saturate, as `add_secs` does.
            Err(_) if self.days < 0 => Timestamp::MIN,
            Err(_) => Timestamp::MAX,
        }
    }

    pub fn is_negative(&self) -> bool {
        self.days < 0 || self.seconds < 0
    }
}

/// `t + SignedDuration::from_secs(secs)` without going through jiff's
/// general arithmetic: whole seconds leave the subsecond part as it is.
/// Past jiff's range (the years -9999 and 9999) it saturates there instead
/// of panicking: an instant that far away is "never" to every caller, and
/// no input may stop a runtime.
#[inline]
pub fn add_secs(t: Timestamp, secs: i64) -> Timestamp {
    t.as_second()
        .checked_add(secs)
        .and_then(|s| Timestamp::new(s, t.subsec_nanosecond()).ok())
        .unwrap_or(if secs < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
}

/// `t + d`, by [`add_secs`] when `d` is whole seconds (as every configured
/// duration is).
#[inline]
pub fn add_dur(t: Timestamp, d: SignedDuration) -> Timestamp {
    if d.subsec_nanos() == 0 {
        add_secs(t, d.as_secs())
    } else {
        t.checked_add(d).unwrap_or(if d.is_negative() {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days == 0 && self.seconds == 0 {
            return f.write_str("0s");
        }
        let neg = self.is_negative();
        let (days, mut secs) = (self.days.abs(), self.seconds.abs());
        if neg {
            f.write_str("-")?;
        }
        if days > 0 {
            write!(f, "{days}d")?;
        }
        for (unit, n) in [("h", 3600), ("m", 60), ("s", 1)] {
            if secs >= n {
                write!(f, "{}{unit}", secs / n)?;
                secs %= n;
            }
        }
        Ok(())
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Dur::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_merchant_durations() {
        assert_eq!(Dur::parse("2h").unwrap(), Dur::hours(2));
        assert_eq!(
            Dur::parse("1d12h").unwrap(),
            Dur {
                days: 1,
                seconds: 12 * 3600
            }
        );
        assert_eq!(Dur::parse("2w").unwrap(), Dur::days(14));
        assert_eq!(Dur::parse("-1d").unwrap(), Dur::days(-1));
        assert!(Dur::parse("12").unwrap_err().contains("no unit"));
        assert!(Dur::parse("3y").unwrap_err().contains("unknown unit"));
        assert_eq!(Dur::parse("1d12h").unwrap().to_string(), "1d12h");
    }

    #[test]
    fn whole_seconds_added_as_jiff_adds_them() {
        for t in [
            "2026-03-07T15:00:00Z",
            "2026-03-07T15:00:00.123456789Z",
            "1970-01-01T00:00:00.5Z",
            "1969-12-31T23:59:59.25Z",
        ] {
            let t: Timestamp = t.parse().unwrap();
            for secs in [
                0,
                1,
                -1,
                86_400 * 7,
                -86_400 * 3 - 5,
                1_000_000_000,
                -2_000_000_000,
            ] {
                assert_eq!(
                    add_secs(t, secs),
                    t + SignedDuration::from_secs(secs),
                    "{t} {secs}"
                );
            }
            for d in [
                SignedDuration::from_hours(24 * 31),
                SignedDuration::from_millis(-1500),
            ] {
                assert_eq!(add_dur(t, d), t + d);
            }
            let d = Dur {
                days: 3,
                seconds: 7200,
            };
            assert_eq!(d.add_exact(t), t + d.exact());
            assert_eq!(d.sub_exact(t), t - d.exact());
        }
    }

    #[test]
    fn calendar_days_keep_local_time_across_dst() {
        let tz = TimeZone::get("America/New_York").unwrap();
        // 2026-03-07 10:00 EST; DST begins 2026-03-08.
        let t: Timestamp = "2026-03-07T15:00:00Z".parse().unwrap();
        let later = Dur::days(2).add_local(t, &tz);
        assert_eq!(later.to_string(), "2026-03-09T14:00:00Z"); // still 10:00 local (EDT)
        assert_eq!(
            t + Dur::days(2).exact(),
            "2026-03-09T15:00:00Z".parse().unwrap()
        );
    }
}
