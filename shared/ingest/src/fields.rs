//! Lenient field types for platform payloads: ids that come as numbers
//! (above 2^53, so never through `f64`) or strings, money as `"19.99"` or
//! `19.99`, timestamps with any RFC 3339 offset. Parsing a payload names
//! the field that was missing or mistyped.

use crate::refusal::Refusal;
use jiff::Timestamp;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A platform id, kept as its exact decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (a string or an integer)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("an id must not be empty"));
                }
                Ok(Id(v.trim().to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An amount of money (or any decimal) sent as a string or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Money(pub f64);

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount (a number or a decimal string)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
                match v.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(Money(x)),
                    _ => Err(E::custom(format!("{v:?} is not an amount"))),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
                Ok(Money(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
                Ok(Money(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
                Ok(Money(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

impl Money {
    /// As a count (quantities): rounded, never negative.
    pub fn count(self) -> u32 {
        self.0.round().clamp(0.0, u32::MAX as f64) as u32
    }
}

/// An instant with an offset (`2021-12-31T19:00:00-05:00`, `…Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub Timestamp);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_time(&s)
            .map(Time)
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not a timestamp with an offset")))
    }
}

pub fn parse_time(s: &str) -> Option<Timestamp> {
    s.trim().parse::<Timestamp>().ok()
}

/// The first timestamp present, in order of preference.
pub fn first_time(options: &[Option<Time>]) -> Option<Timestamp> {
    options.iter().flatten().next().map(|t| t.0)
}

/// Parses a payload into `T`, or refuses it naming the topic and field:
/// `orders/create: missing field "id"`, `orders/create: line_items[2].price: …`.
pub fn parse<T: DeserializeOwned>(topic: &str, body: &[u8]) -> Result<T, Refusal> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = serde_path_to_error::deserialize(&mut de).map_err(|e| malformed(topic, e))?;
    // Trailing bytes after the JSON value are malformed too.
    de.end()
        .map_err(|e| Refusal::Malformed(format!("{topic}: body is not valid JSON: {e}")))?;
    Ok(v)
}

/// Like [`parse`], from an already parsed JSON value.
pub fn from_value<T: DeserializeOwned>(topic: &str, v: &serde_json::Value) -> Result<T, Refusal> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        Refusal::Malformed(describe(topic, &path, &inner))
    })
}

fn malformed(topic: &str, e: serde_path_to_error::Error<serde_json::Error>) -> Refusal {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let msg = if inner.is_syntax() || inner.is_eof() {
        format!("{topic}: body is not valid JSON: {inner}")
    } else {
        describe(topic, &path, &inner.to_string())
    };
    Refusal::Malformed(msg)
}

fn describe(topic: &str, path: &str, inner: &str) -> String {
    // serde_json appends the position; the field path says more.
    let inner = inner
        .rsplit_once(" at line ")
        .map(|(m, _)| m)
        .unwrap_or(inner)
        .replace('`', "\"");
    if path == "." || path.is_empty() {
        format!("{topic}: {inner}")
    } else {
        format!("{topic}: {path}: {inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct Order {
        #[allow(dead_code)]
        id: Id,
        #[allow(dead_code)]
        lines: Option<Vec<Line>>,
    }
    #[derive(Deserialize, Debug)]
    struct Line {
        #[allow(dead_code)]
        price: Money,
    }

    #[test]
    fn refusals_name_the_topic_and_the_field() {
        let e = parse::<Order>("orders/create", br#"{"lines":[]}"#).unwrap_err();
        assert_eq!(e.to_string(), r#"orders/create: missing field "id""#);
        let e =
            parse::<Order>("orders/create", br#"{"id":1,"lines":[{"price":"x"}]}"#).unwrap_err();
        assert!(
            e.to_string().starts_with("orders/create: lines[0].price: "),
            "{e}"
        );
        let e = parse::<Order>("orders/create", br#"{"id":1"#).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }

    #[test]
    fn big_ids_keep_every_digit() {
        let o: Id = serde_json::from_str("820982911946154508").unwrap();
        assert_eq!(o.0, "820982911946154508");
    }
}
