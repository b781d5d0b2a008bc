//! Yearly dates (birthdays, anniversaries): parsing a date property and
//! its next occurrence in the customer's zone.

use super::*;

/// Month and day of a date property: `1990-04-02`, `04-02` or `--04-02`.
pub fn month_day(s: &str) -> Option<(i8, i8)> {
    let s = s.trim().trim_start_matches("--");
    let parts: Vec<&str> = s.split('-').collect();
    let (m, d) = match parts.as_slice() {
        [_, m, d] => (m, d),
        [m, d] => (m, d),
        _ => return None,
    };
    let (m, d): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((m, d))
}

/// The first yearly occurrence strictly after `after` of month/day (Feb 29
/// falls on Feb 28 in other years), shifted by `offset`, at `at` local time
/// (09:00 when not set).
pub fn next_occurrence(
    m: i8,
    d: i8,
    offset: Option<crate::model::duration::Dur>,
    at: Option<crate::model::localtime::LocalTime>,
    after: Timestamp,
    tz: &TimeZone,
) -> Option<Timestamp> {
    let year = after.to_zoned(tz.clone()).year();
    let time = at
        .map(|t| t.0)
        .unwrap_or_else(|| jiff::civil::time(9, 0, 0, 0));
    for y in (year - 1)..=(year + 1) {
        let day = jiff::civil::Date::new(y, m, d)
            .or_else(|_| jiff::civil::Date::new(y, m, d - 1))
            .ok()?;
        let day = match offset {
            Some(o) if o.days != 0 => day.checked_add(jiff::Span::new().days(o.days)).ok()?,
            _ => day,
        };
        let t = crate::model::localtime::at_local(day, time, tz);
        let t = match offset {
            Some(o) if o.seconds != 0 => t + SignedDuration::from_secs(o.seconds),
            _ => t,
        };
        if t > after {
            return Some(t);
        }
    }
    None
}
