//! An event's properties as a customer's history keeps them.
//!
//! The history keeps, for each event, the properties that something tests
//! later (a segment's `where`, a goal's or `wait_for`'s `where` or `same`).
//! Most of the time that is one top-level property of one scalar value (the
//! `product_id` of a product view): kept as that key and value alone, it
//! takes one 48-byte block. As a JSON object it took a B-tree node of 628
//! bytes, however few keys it held, besides every other property of the
//! event: most of an active customer's memory, and memory the engine reads
//! cold (a customer's state is seldom in the cache when their next event
//! comes).

use serde::{Serialize, Serializer};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub enum Kept {
    /// Nothing tests them later: not kept.
    #[default]
    None,
    /// Only one top-level property is tested later, and its value is a
    /// scalar: that property alone.
    One(Box<(Arc<str>, Value)>),
    /// All of them, shared with the event as applied.
    Json(Arc<Value>),
}

/// A view of properties for the tests that read them: a JSON value, or the
/// one key and value of [`Kept::One`] as if they were an object.
#[derive(Debug, Clone, Copy)]
pub enum PropsRef<'a> {
    Json(&'a Value),
    One(&'a str, &'a Value),
}

static NULL: Value = Value::Null;

/// The properties of an event nothing reads as JSON: one shared `null`.
pub fn no_props() -> Arc<Value> {
    static SHARED: std::sync::LazyLock<Arc<Value>> =
        std::sync::LazyLock::new(|| Arc::new(Value::Null));
    SHARED.clone()
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

impl Kept {
    /// What to keep of an event's properties when the only property tested
    /// later is `key` (`None`: several, or a path that is not one key).
    pub fn project(props: &Arc<Value>, key: Option<&Arc<str>>) -> Kept {
        if props.is_null() {
            return Kept::None;
        }
        let Some(k) = key else {
            return Kept::Json(props.clone());
        };
        match props.get(&**k) {
            Some(v) if is_scalar(v) => Kept::One(Box::new((k.clone(), v.clone()))),
            // An object without it reads like nothing kept.
            None if props.is_object() => Kept::None,
            _ => Kept::Json(props.clone()),
        }
    }

    /// As read back from a stored state: a one-key object of a scalar is
    /// kept as [`Kept::One`].
    pub fn from_json(v: Arc<Value>) -> Kept {
        match &*v {
            Value::Null => Kept::None,
            Value::Object(m) if m.len() == 1 => match m.iter().next() {
                Some((k, x)) if is_scalar(x) => {
                    Kept::One(Box::new((Arc::from(k.as_str()), x.clone())))
                }
                _ => Kept::Json(v),
            },
            _ => Kept::Json(v),
        }
    }

    pub fn is_none(&self) -> bool {
        match self {
            Kept::None => true,
            Kept::One(_) => false,
            Kept::Json(v) => v.is_null(),
        }
    }

    pub fn view(&self) -> PropsRef<'_> {
        match self {
            Kept::None => PropsRef::Json(&NULL),
            Kept::One(b) => PropsRef::One(&b.0, &b.1),
            Kept::Json(v) => PropsRef::Json(v),
        }
    }

    /// A top-level property.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Kept::None => None,
            Kept::One(b) => (&*b.0 == key).then_some(&b.1),
            Kept::Json(v) => v.get(key),
        }
    }

    /// The properties as a JSON value (`null` when none are kept).
    pub fn to_json(&self) -> Value {
        match self.view() {
            PropsRef::Json(v) => v.clone(),
            PropsRef::One(k, v) => one_object(k, v),
        }
    }
}

fn one_object(k: &str, v: &Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(k.to_string(), v.clone());
    Value::Object(m)
}

/// The same properties, however kept.
impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        match (self.view(), other.view()) {
            (PropsRef::Json(a), PropsRef::Json(b)) => a == b,
            (PropsRef::One(k, v), PropsRef::One(k2, v2)) => k == k2 && v == v2,
            (PropsRef::One(k, v), PropsRef::Json(o)) | (PropsRef::Json(o), PropsRef::One(k, v)) => {
                o.as_object()
                    .is_some_and(|m| m.len() == 1 && m.get(k) == Some(v))
            }
        }
    }
}

/// Stored as the JSON object it stands for.
impl Serialize for Kept {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.view() {
            PropsRef::Json(v) => v.serialize(s),
            PropsRef::One(k, v) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(k, v)?;
                m.end()
            }
        }
    }
}

impl<'a> PropsRef<'a> {
    /// [`crate::segment::compare::any_at`] over these properties: true when `f`
    /// passes some value at `parts`.
    pub fn any_at(self, parts: &[String], f: &mut dyn FnMut(&Value) -> bool) -> bool {
        match self {
            PropsRef::Json(v) => crate::segment::compare::any_at(v, parts, f),
            PropsRef::One(k, v) => match parts.split_first() {
                Some((head, rest)) => head == k && crate::segment::compare::any_at(v, rest, f),
                None => f(&one_object(k, v)),
            },
        }
    }

    /// [`crate::segment::compare::lookup`] over these properties.
    pub fn lookup(self, path: &str, out: &mut Vec<&'a Value>) {
        match self {
            PropsRef::Json(v) => crate::segment::compare::lookup(v, path, out),
            PropsRef::One(k, v) => {
                // A path with no part (the whole object) never reads values
                // kept this way: the configuration keeps the whole object
                // for it (see `history_key`).
                let rest = path.trim_start_matches('.');
                let (head, tail) = rest.split_once('.').unwrap_or((rest, ""));
                if !head.is_empty() && head == k {
                    crate::segment::compare::lookup(v, tail, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn one_kept_property_reads_like_the_object_it_came_from() {
        let full = Arc::new(json!({"product_id": "p1", "title": "Shirt", "price": 20.0}));
        let key: Arc<str> = Arc::from("product_id");
        let kept = Kept::project(&full, Some(&key));
        assert!(matches!(kept, Kept::One(_)));
        let alone = json!({"product_id": "p1"});
        for (path, want) in [
            ("product_id", true),
            ("title", false),
            ("product_id.x", false),
        ] {
            let mut a = Vec::new();
            let mut b = Vec::new();
            kept.view().lookup(path, &mut a);
            crate::segment::compare::lookup(&alone, path, &mut b);
            assert_eq!(a, b, "{path}");
            let hit = kept.view().any_at(&parts(path), &mut |v| v == "p1");
            assert_eq!(hit, want, "{path}");
        }
        assert_eq!(kept, Kept::Json(Arc::new(alone.clone())));
        assert_eq!(serde_json::to_value(&kept).unwrap(), alone);
        assert_eq!(Kept::from_json(Arc::new(alone)), kept);
    }

    #[test]
    fn other_shapes_keep_the_whole_object_or_nothing() {
        let key: Arc<str> = Arc::from("line_items");
        let order = Arc::new(json!({"line_items": [{"product_id": "p1"}], "total": 20.0}));
        assert!(matches!(Kept::project(&order, Some(&key)), Kept::Json(_)));
        assert!(matches!(Kept::project(&order, None), Kept::Json(_)));
        let other = Arc::new(json!({"total": 20.0}));
        assert!(Kept::project(&other, Some(&key)).is_none());
        assert!(Kept::project(&Arc::new(Value::Null), Some(&key)).is_none());
    }
}
