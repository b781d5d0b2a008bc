//! Domain identifiers with parsing constructors: a value of these types is
//! always valid, so the rest of the core never re-checks them.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("email address {0:?} is not valid")]
    Email(String),
    #[error("phone number {0:?} is not valid: {1}")]
    Phone(String, &'static str),
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        // Shared text: ids are cloned into every decision and record.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                let t = s.trim();
                if t.is_empty() {
                    return Err(IdError::Empty($what));
                }
                Ok(Self(std::sync::Arc::from(t)))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The shared text, for cheap copies.
            pub fn shared(&self) -> &std::sync::Arc<str> {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A store: its platform domain (`demo.myshopify.com`) or any stable name.
    ShopId, "shop"
);
string_id!(
    /// The engine's own id of a customer profile (stable across identity merges).
    ProfileId, "profile id"
);
string_id!(
    /// The idempotency key of an event: the same key is the same event.
    EventId, "event id"
);

/// A normalized email address: trimmed, lower-cased, one `@`, a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t = s.trim().to_lowercase();
        let bad = || IdError::Email(s.to_string());
        let (local, domain) = t.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || t.chars().any(|c| c.is_whitespace() || c.is_control())
            || t.len() > 254
        {
            return Err(bad());
        }
        Ok(Email(t))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Email::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A phone number in E.164 form (`+14155550123`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses an international number (`+44 20 7946 0958`, `0044…`), or a
    /// national one when the customer's country is known (`(415) 555-0123`
    /// with `US`).
    pub fn parse(s: &str, default_country: Option<&str>) -> Result<Self, IdError> {
        let err = |why| IdError::Phone(s.to_string(), why);
        let trimmed = s.trim();
        let mut digits = String::new();
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '/' | '+' => {}
                _ => return Err(err("contains characters other than digits")),
            }
        }
        let international = if trimmed.starts_with('+') {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else {
            let country = default_country
                .ok_or_else(|| err("no country calling code and no country to infer it from"))?;
            let code = crate::model::geo::calling_code(country)
                .ok_or_else(|| err("unknown country for calling code"))?;
            // National trunk prefix "0" (UK, FR, DE, …) is dropped before the country code;
            // NANP numbers may carry a leading "1" already.
            let national = digits.trim_start_matches('0');
            if code == "1" && national.len() == 11 && national.starts_with('1') {
                national.to_string()
            } else {
                format!("{code}{national}")
            }
        };
        if !(8..=15).contains(&international.len()) {
            return Err(err("an E.164 number has 8 to 15 digits"));
        }
        if international.starts_with('0') {
            return Err(err("a country code never starts with 0"));
        }
        Ok(Phone(format!("+{international}")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Phone::parse(&String::deserialize(d)?, None).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        assert!(Email::parse("ann@localhost").is_err());
        assert!(Email::parse("ann@@x.com").is_err());
        assert!(Email::parse("an n@x.com").is_err());
        assert!(Email::parse("@x.com").is_err());
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            Phone::parse("+1 (415) 555-0123", None).unwrap().as_str(),
            "+14155550123"
        );
        assert_eq!(
            Phone::parse("0044 20 7946 0958", None).unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            Phone::parse("020 7946 0958", Some("GB")).unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            Phone::parse("(415) 555-0123", Some("US")).unwrap().as_str(),
            "+14155550123"
        );
        assert_eq!(
            Phone::parse("1-415-555-0123", Some("US")).unwrap().as_str(),
            "+14155550123"
        );
        assert!(Phone::parse("555-0123", None).is_err());
        assert!(Phone::parse("+1 415 CALL NOW", None).is_err());
    }
}
