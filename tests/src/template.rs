//! Reads `infra/template.yaml`, the single source of truth for the deployed
//! shape, so tests build their tables and queues from it instead of from a
//! second hand-written definition.
//!
//! CloudFormation's short-form tags (`!Ref X`, `!GetAtt X.Arn`, `!Sub …`) are
//! turned into their long JSON form (`{"Ref": "X"}`,
//! `{"Fn::GetAtt": ["X", "Arn"]}`, `{"Fn::Sub": …}`), so a test can tell a
//! reference from a literal and resolve the references it understands.

use serde_json::{Map, Value};
use std::path::PathBuf;

/// The parsed template, in CloudFormation's JSON form.
pub struct Template {
    pub doc: Value,
}

impl Template {
    pub fn path() -> PathBuf {
        crate::repo_root().join("infra/template.yaml")
    }

    /// Loads `infra/template.yaml`; panics with the reason if it is unreadable.
    pub fn load() -> Self {
        let path = Self::path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Self::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, serde_norway::Error> {
        let yaml: serde_norway::Value = serde_norway::from_str(text)?;
        Ok(Self {
            doc: long_form(yaml),
        })
    }

    pub fn resources(&self) -> &Map<String, Value> {
        self.doc["Resources"]
            .as_object()
            .expect("template has a Resources mapping")
    }

    /// Logical ids of every resource of one type (in key order: JSON maps
    /// do not keep the template's order).
    pub fn ids_of_type(&self, ty: &str) -> Vec<&str> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == ty)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// A resource's `Properties`; panics naming the id if there is no such
    /// resource.
    pub fn properties(&self, id: &str) -> &Value {
        let resource = self
            .resources()
            .get(id)
            .unwrap_or_else(|| panic!("infra/template.yaml has no resource {id}"));
        &resource["Properties"]
    }

    /// A function property, falling back to `Globals.Function` as SAM does.
    pub fn function_property(&self, id: &str, name: &str) -> Option<&Value> {
        let own = &self.properties(id)[name];
        if !own.is_null() {
            return Some(own);
        }
        let global = &self.doc["Globals"]["Function"][name];
        (!global.is_null()).then_some(global)
    }
}

/// `{"Fn::GetAtt": [id, attribute]}` → `(id, attribute)`.
pub fn get_att(v: &Value) -> Option<(&str, &str)> {
    let parts = v.get("Fn::GetAtt")?.as_array()?;
    match parts.as_slice() {
        [id, att] => Some((id.as_str()?, att.as_str()?)),
        _ => None,
    }
}

/// `{"Ref": id}` → `id`.
pub fn reference(v: &Value) -> Option<&str> {
    v.get("Ref")?.as_str()
}

/// YAML with short-form tags → CloudFormation's long JSON form.
fn long_form(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(long_form).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        // CloudFormation keys are strings; YAML would allow
                        // others (`true:`), which we keep as their text.
                        other => serde_norway::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, long_form(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(t.value);
            let (key, inner) = match name {
                "Ref" | "Condition" => (name.to_string(), inner),
                // `!GetAtt Queue.Arn` is the dotted short form of
                // `Fn::GetAtt: [Queue, Arn]`.
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((id, att)) => Value::from(vec![id, att]),
                            None => Value::String(s),
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), inner)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut m = Map::new();
            m.insert(key, inner);
            Value::Object(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_tags_become_long_form() {
        let t = Template::parse(
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Ref X\n      B: !GetAtt D.Arn\n      C: !Sub arn:${AWS::Region}\n      E: !If [Cond, 1, !Ref AWS::NoValue]\n",
        )
        .unwrap();
        let p = t.properties("Q");
        assert_eq!(reference(&p["A"]), Some("X"));
        assert_eq!(get_att(&p["B"]), Some(("D", "Arn")));
        assert_eq!(p["C"]["Fn::Sub"], "arn:${AWS::Region}");
        assert_eq!(p["E"]["Fn::If"][2]["Ref"], "AWS::NoValue");
    }
}
