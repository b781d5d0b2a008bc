//! One top-level property of an event's typed properties, as JSON, without
//! converting the others.
//!
//! Conditions, trigger keys and goals read an event's properties as JSON.
//! When the configuration reads only one property of events of a name (a
//! product view's `product_id`), the engine makes JSON of that property
//! alone: converting a typed struct to a JSON object builds a B-tree map and
//! a string for every key and value, about a thousand instructions for a
//! product view, to be thrown away after the event.
//!
//! [`pick`] serializes the struct with a serializer that skips every field
//! but the one asked for. It handles structs, the shape of every typed
//! event's properties; anything else is reported as not picked, and the
//! caller converts the whole value instead.

use serde::ser::{self, Impossible, Serialize, SerializeStruct, Serializer};
use serde_json::Value;

/// `Ok(Some(v))`: the field `key` of the struct `t`, as JSON. `Ok(None)`:
/// `t` is a struct without that field (or it was skipped as empty).
/// `Err(NotAStruct)`: `t` is not serialized as a struct. (The engine goes
/// through [`picker`]; this is its test's way in.)
#[cfg(test)]
pub fn pick<T: Serialize + ?Sized>(t: &T, key: &str) -> Result<Option<Value>, NotAStruct> {
    t.serialize(Picker { key })
}

/// The serializer [`pick`] uses, for values serialized through a function.
pub fn picker(key: &str) -> Picker<'_> {
    Picker { key }
}

#[derive(Debug)]
pub struct NotAStruct(String);

impl std::fmt::Display for NotAStruct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotAStruct {}

impl ser::Error for NotAStruct {
    fn custom<M: std::fmt::Display>(msg: M) -> Self {
        NotAStruct(msg.to_string())
    }
}

pub struct Picker<'k> {
    key: &'k str,
}

pub struct Fields<'k> {
    key: &'k str,
    found: Option<Value>,
}

impl SerializeStruct for Fields<'_> {
    type Ok = Option<Value>;
    type Error = NotAStruct;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), NotAStruct> {
        if key == self.key {
            let v = serde_json::to_value(value).map_err(|e| NotAStruct(e.to_string()))?;
            self.found = Some(v);
        }
        Ok(())
    }

    fn end(self) -> Result<Option<Value>, NotAStruct> {
        Ok(self.found)
    }
}

fn not_a_struct<T>() -> Result<T, NotAStruct> {
    Err(NotAStruct("not a struct".into()))
}

/// Every shape but a struct is refused.
macro_rules! refuse {
    ($($name:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ok, NotAStruct> {
            not_a_struct()
        })*
    };
}

impl<'k> Serializer for Picker<'k> {
    type Ok = Option<Value>;
    type Error = NotAStruct;
    type SerializeSeq = Impossible<Option<Value>, NotAStruct>;
    type SerializeTuple = Impossible<Option<Value>, NotAStruct>;
    type SerializeTupleStruct = Impossible<Option<Value>, NotAStruct>;
    type SerializeTupleVariant = Impossible<Option<Value>, NotAStruct>;
    type SerializeMap = Impossible<Option<Value>, NotAStruct>;
    type SerializeStruct = Fields<'k>;
    type SerializeStructVariant = Impossible<Option<Value>, NotAStruct>;

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'k>, NotAStruct> {
        Ok(Fields {
            key: self.key,
            found: None,
        })
    }

    refuse! {
        serialize_bool(bool) -> Option<Value>;
        serialize_i8(i8) -> Option<Value>;
        serialize_i16(i16) -> Option<Value>;
        serialize_i32(i32) -> Option<Value>;
        serialize_i64(i64) -> Option<Value>;
        serialize_u8(u8) -> Option<Value>;
        serialize_u16(u16) -> Option<Value>;
        serialize_u32(u32) -> Option<Value>;
        serialize_u64(u64) -> Option<Value>;
        serialize_f32(f32) -> Option<Value>;
        serialize_f64(f64) -> Option<Value>;
        serialize_char(char) -> Option<Value>;
        serialize_str(&str) -> Option<Value>;
        serialize_bytes(&[u8]) -> Option<Value>;
        serialize_none() -> Option<Value>;
        serialize_unit() -> Option<Value>;
        serialize_unit_struct(&'static str) -> Option<Value>;
        serialize_unit_variant(&'static str, u32, &'static str) -> Option<Value>;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Option<Value>, NotAStruct> {
        not_a_struct()
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<Option<Value>, NotAStruct> {
        not_a_struct()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Option<Value>, NotAStruct> {
        not_a_struct()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Serialize)]
    struct Viewed {
        product_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        variant_id: Option<String>,
        line_items: Vec<u32>,
    }

    #[test]
    fn picks_one_field_as_the_whole_conversion_would_have_it() {
        let v = Viewed {
            product_id: "p1".into(),
            variant_id: None,
            line_items: vec![1, 2],
        };
        let whole = serde_json::to_value(&v).unwrap();
        for key in ["product_id", "variant_id", "line_items", "nope"] {
            assert_eq!(pick(&v, key).unwrap(), whole.get(key).cloned(), "{key}");
        }
        assert!(pick(&json!({"product_id": "p1"}), "product_id").is_err());
        assert!(pick(&3, "x").is_err());
    }
}
