//! Identity resolution: which profile an event belongs to, and when two
//! profiles turn out to be one person (a browser that later identified).
//!
//! The lookup itself is a port (a table in each runtime); this module says
//! what to do with what it finds.

use crate::model::event::Identity;
use crate::model::ids::{Email, Phone, ProfileId, ShopId};
use crate::model::links::short_hash;

/// Lookup keys of an identity, strongest first: platform customer id,
/// email, phone, anonymous id.
pub fn keys(shop: &ShopId, id: &Identity) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = id.id.as_deref().filter(|s| !s.trim().is_empty()) {
        out.push(format!("{shop}|customer|{}", c.trim()));
    }
    if let Some(e) = id.email.as_deref().and_then(|e| Email::parse(e).ok()) {
        out.push(format!("{shop}|email|{e}"));
    }
    if let Some(p) = id.phone.as_deref().and_then(|p| Phone::parse(p, None).ok()) {
        out.push(format!("{shop}|phone|{p}"));
    }
    if let Some(a) = id.anonymous_id.as_deref().filter(|s| !s.trim().is_empty()) {
        out.push(format!("{shop}|anon|{}", a.trim()));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// No identity at all: the event cannot be attributed.
    Unattributed,
    /// A new profile with this id.
    New(ProfileId),
    Existing(ProfileId),
    /// These profiles are one person: merge `from` into `into`.
    Merge {
        into: ProfileId,
        from: Vec<ProfileId>,
    },
}

/// Decides from the profiles found for each key (in [`keys`] order). The
/// profile of the strongest key survives a merge, so a known customer keeps
/// their id and absorbs anonymous browsing.
pub fn resolve(keys: &[String], found: &[Option<ProfileId>]) -> Resolution {
    let mut distinct: Vec<ProfileId> = Vec::new();
    for p in found.iter().flatten() {
        if !distinct.contains(p) {
            distinct.push(p.clone());
        }
    }
    match distinct.len() {
        0 => match keys.first() {
            None => Resolution::Unattributed,
            Some(k) => Resolution::New(
                ProfileId::parse(format!("p_{}", short_hash(&[k]))).expect("non-empty"),
            ),
        },
        1 => Resolution::Existing(distinct.remove(0)),
        _ => {
            let into = distinct.remove(0);
            Resolution::Merge {
                into,
                from: distinct,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_customer_absorbs_anonymous_browsing() {
        let shop = ShopId::parse("s").unwrap();
        let id = Identity {
            email: Some("A@x.com".into()),
            anonymous_id: Some("anon1".into()),
            ..Default::default()
        };
        let k = keys(&shop, &id);
        assert_eq!(
            k,
            vec!["s|email|a@x.com".to_string(), "s|anon|anon1".to_string()]
        );
        let known = ProfileId::parse("p_known").unwrap();
        let anon = ProfileId::parse("p_anon").unwrap();
        assert_eq!(
            resolve(&k, &[Some(known.clone()), Some(anon.clone())]),
            Resolution::Merge {
                into: known,
                from: vec![anon]
            }
        );
        assert!(matches!(resolve(&k, &[None, None]), Resolution::New(_)));
        assert_eq!(resolve(&[], &[]), Resolution::Unattributed);
    }
}
