//! The template context as a minijinja object over its JSON, converted only
//! where a template reads it.
//!
//! Converting a whole context (profile, trigger event with its line items,
//! store, links, flow) into minijinja values cost more than rendering the
//! message, and a template reads a few fields of it. A [`Node`] stands for
//! one JSON map or array: a scalar is converted when it is read, a nested
//! map or array becomes another node. A key that is not there is still
//! undefined, so strict undefined behaviour (an error) is unchanged; maps
//! and arrays enumerate in the same order, so `for` loops, `length` and
//! printing behave as with converted values.

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as Jinja};
use serde_json::Value;
use std::sync::Arc;

/// A JSON map or array inside a shared context: the root and the path to it.
#[derive(Debug)]
pub struct Node {
    root: Arc<Value>,
    path: Vec<Step>,
}

#[derive(Debug, Clone)]
enum Step {
    Key(Arc<str>),
    Index(usize),
}

/// The context's root as a template value.
pub fn value(root: Value) -> Jinja {
    convert(&Arc::new(root), &[], None)
}

impl Node {
    fn get(&self) -> &Value {
        let mut v = &*self.root;
        for s in &self.path {
            v = match (s, v) {
                (Step::Key(k), Value::Object(m)) => &m[&**k],
                (Step::Index(i), Value::Array(a)) => &a[*i],
                _ => unreachable!("a node's path leads to a map or an array"),
            };
        }
        v
    }

    fn child(&self, step: Step, v: &Value) -> Jinja {
        convert(&self.root, &self.path, Some((step, v)))
    }
}

/// A scalar as the value `from_serialize` would give; a map or an array as
/// a node at `path` (+ `step`).
fn convert(root: &Arc<Value>, path: &[Step], step: Option<(Step, &Value)>) -> Jinja {
    let v = step.as_ref().map_or(&**root, |(_, v)| *v);
    match v {
        Value::Null => Jinja::from(()),
        Value::Bool(b) => Jinja::from(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Jinja::from(u),
            (None, Some(i)) => Jinja::from(i),
            _ => Jinja::from(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Jinja::from(s.as_str()),
        Value::Array(_) | Value::Object(_) => {
            let mut path = path.to_vec();
            path.extend(step.map(|(s, _)| s));
            Jinja::from_object(Node {
                root: root.clone(),
                path,
            })
        }
    }
}

impl Object for Node {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.get() {
            Value::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        match self.get() {
            Value::Object(_) => self.get_value_by_str(key.as_str()?),
            Value::Array(a) => {
                let i = key.as_usize()?;
                a.get(i).map(|v| self.child(Step::Index(i), v))
            }
            _ => None,
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Jinja> {
        match self.get() {
            Value::Object(m) => {
                let (k, v) = m.get_key_value(key)?;
                Some(self.child(Step::Key(Arc::from(k.as_str())), v))
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.get() {
            Value::Array(a) => Enumerator::Seq(a.len()),
            Value::Object(m) => {
                Enumerator::Values(m.keys().map(|k| Jinja::from(k.as_str())).collect())
            }
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.get() {
            Value::Array(a) => Some(a.len()),
            Value::Object(m) => Some(m.len()),
            _ => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::{Environment, UndefinedBehavior};
    use serde_json::json;

    /// Each template renders as it does over the fully converted context.
    #[test]
    fn renders_as_the_converted_context() {
        let ctx = json!({"profile": {"first_name": "Ann", "tags": ["a", "b"], "n": 3, "x": -2, "f": 1.5,
            "none": null, "ok": true},
            "event": {"line_items": [{"title": "Shirt", "price": 20.0}, {"title": "Hat", "price": 5}]},
            "empty": {}, "list": []});
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for t in [
            "{{ profile.first_name }} {{ profile.n + 1 }} {{ profile.x }} {{ profile.f }} {{ profile.ok }}",
            "{% for li in event.line_items %}{{ loop.index }}:{{ li.title }}={{ li.price }};{% endfor %}",
            "{{ event.line_items | length }} {{ profile.tags | join(',') }} {{ profile.tags[-1] }}",
            "{{ profile }}|{{ event.line_items[0] }}|{{ profile.tags }}|{{ empty }}|{{ list }}",
            "{% for k, v in profile | items %}{{ k }}={{ v }},{% endfor %}",
            "{% if empty %}x{% endif %}{% if list %}y{% endif %}{% if profile %}z{% endif %}",
            "{{ profile.none is none }} {{ profile.missing | default('d') }} {{ event | tojson }}",
            "{{ event.line_items | map(attribute='price') | sum }} {{ profile['first_name'] }}",
            "{{ profile.missing }}",
            "{{ profile.first_name.missing }}",
        ] {
            let tmpl = env.template_from_str(t).unwrap();
            let want = tmpl.render(Jinja::from_serialize(&ctx)).map_err(|e| e.kind());
            let got = tmpl.render(value(ctx.clone())).map_err(|e| e.kind());
            assert_eq!(got, want, "{t}");
        }
    }
}
