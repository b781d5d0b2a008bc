//! Why a decision was made, kept as parts and turned into text only when
//! printed. The engine makes several decisions per event (most of them
//! "skipped: entry rule …"); formatting each reason on the spot cost more
//! than evaluating the flow, and most reasons are never printed.

use crate::model::duration::Dur;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// One piece of a reason's text.
#[derive(Debug, Clone)]
pub enum Part {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(Box<str>),
    Dur(Dur),
    At(Timestamp),
    /// A time zone, printed by its IANA name.
    Zone(TimeZone),
    /// A string printed in quotes (`Debug` form), e.g. a trigger key.
    Quoted(Arc<str>),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Static(s) => f.write_str(s),
            Part::Shared(s) => f.write_str(s),
            Part::Owned(s) => f.write_str(s),
            Part::Dur(d) => write!(f, "{d}"),
            Part::At(t) => write!(f, "{t}"),
            Part::Zone(z) => f.write_str(z.iana_name().unwrap_or("UTC")),
            Part::Quoted(s) => write!(f, "{:?}", &**s),
        }
    }
}

impl From<&'static str> for Part {
    fn from(s: &'static str) -> Self {
        Part::Static(s)
    }
}

impl Part {
    /// An event's name (no copy for typed kinds).
    pub fn event_name(kind: &crate::model::event::EventKind) -> Self {
        match kind.typed_name() {
            Some(n) => Part::Static(n),
            None => Part::Owned(kind.name().into()),
        }
    }
}

impl From<&Arc<str>> for Part {
    fn from(s: &Arc<str>) -> Self {
        Part::Shared(s.clone())
    }
}

impl From<Dur> for Part {
    fn from(d: Dur) -> Self {
        Part::Dur(d)
    }
}

impl From<Timestamp> for Part {
    fn from(t: Timestamp) -> Self {
        Part::At(t)
    }
}

/// A decision's reason: its text is the concatenation of its parts.
#[derive(Clone)]
pub struct Reason(Repr);

#[derive(Clone)]
enum Repr {
    One(Part),
    Many(Vec<Part>),
    /// Made once and given to many decisions (a flow's entry rule).
    Shared(Arc<[Part]>),
    /// `<what>: <event name> (<event id>)`: a run entered or ended by an
    /// event (a few times per event), held as the shared event itself.
    Event(About, Arc<crate::model::event::Event>),
}

/// What a reason naming one event says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About {
    /// The event that started a run.
    Trigger,
    /// The event that reached a run's goal.
    GoalReached,
}

impl About {
    fn prefix(self) -> &'static str {
        match self {
            About::Trigger => "trigger: ",
            About::GoalReached => "goal reached: ",
        }
    }
}

impl Reason {
    pub fn new(parts: Vec<Part>) -> Self {
        Reason(Repr::Many(parts))
    }

    /// `trigger: <name> (<id>)` or `goal reached: <name> (<id>)`, with no
    /// allocation.
    pub fn about(what: About, e: &Arc<crate::model::event::Event>) -> Self {
        Reason(Repr::Event(what, e.clone()))
    }

    /// A reason to be cloned into many decisions: a clone allocates nothing.
    pub fn shared(parts: Vec<Part>) -> Self {
        Reason(Repr::Shared(parts.into()))
    }

    /// A text made elsewhere (rare paths, errors).
    pub fn text(s: impl Into<String>) -> Self {
        Reason(Repr::One(Part::Owned(s.into().into_boxed_str())))
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }

    /// `self`, then `sep`, then `other`.
    pub fn join(self, sep: &'static str, other: Reason) -> Reason {
        let mut parts = self.into_parts();
        parts.push(Part::Static(sep));
        parts.extend(other.into_parts());
        Reason(Repr::Many(parts))
    }

    fn into_parts(self) -> Vec<Part> {
        match self.0 {
            Repr::One(p) => vec![p],
            Repr::Many(v) => v,
            Repr::Shared(v) => v.to_vec(),
            Repr::Event(what, e) => vec![
                Part::Static(what.prefix()),
                Part::event_name(&e.kind),
                Part::Static(" ("),
                Part::Shared(e.id.shared().clone()),
                Part::Static(")"),
            ],
        }
    }
}

/// `reason!["trigger: ", name, " (", id, ")"]`: a reason from parts, each
/// anything with `Into<Part>`.
#[macro_export]
macro_rules! reason {
    ($($part:expr),+ $(,)?) => {
        $crate::model::reason::Reason::new(vec![$($crate::model::reason::Part::from($part)),+])
    };
}

impl From<&'static str> for Reason {
    fn from(s: &'static str) -> Self {
        Reason(Repr::One(Part::Static(s)))
    }
}

impl From<String> for Reason {
    fn from(s: String) -> Self {
        Reason::text(s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::One(p) => p.fmt(f),
            Repr::Many(ps) => ps.iter().try_for_each(|p| p.fmt(f)),
            Repr::Shared(ps) => ps.iter().try_for_each(|p| p.fmt(f)),
            Repr::Event(what, e) => write!(f, "{}{} ({})", what.prefix(), e.name(), e.id),
        }
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl PartialEq for Reason {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        let text: String = self.to_string();
        text == *other
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Reason::text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_print_as_one_text() {
        let id: Arc<str> = Arc::from("e-1");
        let r = reason![
            "trigger: ",
            &id,
            " after ",
            Dur {
                days: 7,
                seconds: 0
            }
        ];
        assert_eq!(r.to_string(), "trigger: e-1 after 7d");
        let j = r.join("; ", "cap".into());
        assert_eq!(
            serde_json::to_string(&j).unwrap(),
            "\"trigger: e-1 after 7d; cap\""
        );
    }
}
