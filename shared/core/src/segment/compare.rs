//! Comparisons merchants write beside a field: `eq`, `ne`, `gt`, `gte`,
//! `lt`, `lte`, `in`, `not_in`, `contains`, `starts_with`, `exists`.
//! Every comparison given must hold.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ne: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<Value>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub is_in: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_in: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

/// A [`Compare`] of numbers only, its operands read once: what
/// [`Compare::test_num`] answers for a number, without reading JSON values
/// on every test (metrics and "days since" edges are tested several times
/// per segment pass).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumTest {
    eq: Option<f64>,
    ne: Option<f64>,
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
}

impl NumTest {
    /// As [`Compare::test_num`] of `Some(n)` for the comparison it came from.
    #[inline]
    pub fn test(&self, n: f64) -> bool {
        self.eq.is_none_or(|w| n == w)
            && self.ne.is_none_or(|w| n != w)
            && self.gt.is_none_or(|w| n > w)
            && self.gte.is_none_or(|w| n >= w)
            && self.lt.is_none_or(|w| n < w)
            && self.lte.is_none_or(|w| n <= w)
    }
}

/// Orders two JSON values when they are comparable: numbers numerically
/// (numeric strings such as Shopify's `"199.00"` count as numbers),
/// strings lexically (so RFC 3339 instants compare in time order).
pub fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => match (a, b) {
            (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
            (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
            _ => None,
        },
    }
}

pub fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        _ => order(a, b) == Some(Ordering::Equal) || a == b,
    }
}

impl Compare {
    pub fn is_empty(&self) -> bool {
        *self == Compare::default()
    }

    /// Names of the comparisons given, for error messages.
    pub fn given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        macro_rules! g { ($($f:ident => $n:literal),*) => { $(if self.$f.is_some() { v.push($n) })* } }
        g!(eq => "eq", ne => "ne", gt => "gt", gte => "gte", lt => "lt", lte => "lte", is_in => "in",
           not_in => "not_in", contains => "contains", starts_with => "starts_with", exists => "exists");
        v
    }

    /// Tests one value (`None` when the field is absent or null).
    pub fn test(&self, v: Option<&Value>) -> bool {
        let v = v.filter(|v| !v.is_null());
        if let Some(want) = self.exists {
            if v.is_some() != want {
                return false;
            }
        }
        let Some(v) = v else {
            // An absent field satisfies only "exists: false" and "ne" / "not_in".
            return self.eq.is_none()
                && self.gt.is_none()
                && self.gte.is_none()
                && self.lt.is_none()
                && self.lte.is_none()
                && self.is_in.is_none()
                && self.contains.is_none()
                && self.starts_with.is_none();
        };
        let ord = |w: &Value| order(v, w);
        if let Some(w) = &self.eq {
            if !equal(v, w) {
                return false;
            }
        }
        if let Some(w) = &self.ne {
            if equal(v, w) {
                return false;
            }
        }
        if let Some(w) = &self.gt {
            if ord(w) != Some(Ordering::Greater) {
                return false;
            }
        }
        if let Some(w) = &self.gte {
            if !matches!(ord(w), Some(Ordering::Greater | Ordering::Equal)) {
                return false;
            }
        }
        if let Some(w) = &self.lt {
            if ord(w) != Some(Ordering::Less) {
                return false;
            }
        }
        if let Some(w) = &self.lte {
            if !matches!(ord(w), Some(Ordering::Less | Ordering::Equal)) {
                return false;
            }
        }
        if let Some(ws) = &self.is_in {
            if !ws.iter().any(|w| equal(v, w)) {
                return false;
            }
        }
        if let Some(ws) = &self.not_in {
            if ws.iter().any(|w| equal(v, w)) {
                return false;
            }
        }
        if let Some(w) = &self.contains {
            let ok = match (v, w) {
                (Value::String(s), Value::String(t)) => s.contains(t.as_str()),
                (Value::Array(items), w) => items.iter().any(|i| equal(i, w)),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        if let Some(p) = &self.starts_with {
            if !matches!(v, Value::String(s) if s.starts_with(p.as_str())) {
                return false;
            }
        }
        true
    }

    /// Tests a number (a metric, a count). Numeric comparisons are made
    /// directly; anything else goes through [`Compare::test`].
    pub fn test_num(&self, n: Option<f64>) -> bool {
        let Some(n) = n else { return self.test(None) };
        if self.contains.is_some() || self.starts_with.is_some() || self.exists == Some(false) {
            return self.test(Some(&serde_json::json!(n)));
        }
        let cmp = |w: &Option<Value>, f: fn(f64, f64) -> bool| match w {
            None => Some(true),
            Some(w) => num(w).map(|w| f(n, w)),
        };
        let checks = [
            cmp(&self.eq, |a, b| a == b),
            cmp(&self.ne, |a, b| a != b),
            cmp(&self.gt, |a, b| a > b),
            cmp(&self.gte, |a, b| a >= b),
            cmp(&self.lt, |a, b| a < b),
            cmp(&self.lte, |a, b| a <= b),
        ];
        if checks.iter().any(|c| c.is_none()) {
            // A non-numeric operand: compare as JSON.
            return self.test(Some(&serde_json::json!(n)));
        }
        if !checks.iter().all(|c| *c == Some(true)) {
            return false;
        }
        let in_list = |ws: &Vec<Value>| ws.iter().any(|w| num(w) == Some(n));
        if self.is_in.as_ref().is_some_and(|ws| !in_list(ws)) {
            return false;
        }
        if self.not_in.as_ref().is_some_and(in_list) {
            return false;
        }
        true
    }

    /// This comparison as a [`NumTest`], when it compares numbers only
    /// (`eq`, `ne`, `gt`, `gte`, `lt`, `lte` with numeric operands).
    pub fn num_test(&self) -> Option<NumTest> {
        if self.contains.is_some()
            || self.starts_with.is_some()
            || self.exists.is_some()
            || self.is_in.is_some()
            || self.not_in.is_some()
        {
            return None;
        }
        let op = |w: &Option<Value>| match w {
            None => Some(None),
            Some(w) => num(w).map(Some),
        };
        Some(NumTest {
            eq: op(&self.eq)?,
            ne: op(&self.ne)?,
            gt: op(&self.gt)?,
            gte: op(&self.gte)?,
            lt: op(&self.lt)?,
            lte: op(&self.lte)?,
        })
    }

    /// Every number compared with, in any order.
    pub fn numbers(&self) -> Vec<f64> {
        let ones = [&self.eq, &self.ne, &self.gt, &self.gte, &self.lt, &self.lte];
        let lists = [&self.is_in, &self.not_in];
        ones.into_iter()
            .flatten()
            .chain(lists.into_iter().flatten().flatten())
            .filter_map(num)
            .collect()
    }

    /// The whole numbers at which a test on an integer can change its answer:
    /// each compared number `v` gives `floor(v)`, `floor(v)+1` and `ceil(v)`.
    pub fn integer_edges(&self) -> Vec<i64> {
        let mut out = Vec::new();
        let mut add = |v: &Value| {
            if let Some(f) = num(v) {
                out.extend([f.floor() as i64, f.floor() as i64 + 1, f.ceil() as i64]);
            }
        };
        for v in [&self.eq, &self.ne, &self.gt, &self.gte, &self.lt, &self.lte]
            .into_iter()
            .flatten()
        {
            add(v);
        }
        for vs in [&self.is_in, &self.not_in].into_iter().flatten() {
            vs.iter().for_each(&mut add);
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// True when some value at the (pre-split) path passes `f`; arrays on the
/// way fan out. Allocates nothing.
pub fn any_at(root: &Value, parts: &[String], f: &mut dyn FnMut(&Value) -> bool) -> bool {
    match root {
        Value::Array(items) if !parts.is_empty() => items.iter().any(|i| any_at(i, parts, f)),
        _ => match parts.split_first() {
            None => f(root),
            Some((head, rest)) => match root.get(head.as_str()) {
                Some(next) => any_at(next, rest, f),
                None => false,
            },
        },
    }
}

/// The first value [`lookup`] finds at `path`, found without collecting
/// (a flow's run key is read so on every trigger).
pub fn first_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    // Empty parts (`a..b`, a leading or trailing dot) are skipped, as in `lookup`.
    let rest = path.trim_start_matches('.');
    match root {
        Value::Array(items) if !rest.is_empty() => items.iter().find_map(|i| first_at(i, rest)),
        _ if rest.is_empty() => Some(root),
        _ => {
            let (head, tail) = rest.split_once('.').unwrap_or((rest, ""));
            first_at(root.get(head)?, tail)
        }
    }
}

/// Reads a dotted path (`line_items.product_id`) in a JSON value; arrays on
/// the way fan out, so the result holds every value found.
pub fn lookup<'a>(root: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    fn walk<'a>(v: &'a Value, parts: &[&str], out: &mut Vec<&'a Value>) {
        match v {
            Value::Array(items) if !parts.is_empty() => {
                for i in items {
                    walk(i, parts, out);
                }
            }
            _ => match parts.split_first() {
                None => out.push(v),
                Some((head, rest)) => {
                    if let Some(next) = v.get(*head) {
                        walk(next, rest, out);
                    }
                }
            },
        }
    }
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    walk(root, &parts, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_at_is_the_first_value_lookup_finds() {
        let v = json!({"checkout_id": "c1", "n": 2, "line_items": [{"sku": "a"}, {"x": 1}, {"sku": "b"}],
            "deep": {"list": [[{"k": 1}], [{"k": 2}]]}, "empty": []});
        for path in [
            "checkout_id",
            "n",
            "line_items.sku",
            "line_items",
            "deep.list.k",
            ".n.",
            "a..b",
            "line_items.x",
            "empty",
            "empty.k",
            "missing",
            "n.x",
            "",
        ] {
            let mut all = Vec::new();
            lookup(&v, path, &mut all);
            assert_eq!(first_at(&v, path), all.first().copied(), "{path}");
        }
    }

    fn c(y: &str) -> Compare {
        serde_norway::from_str(y).unwrap()
    }

    #[test]
    fn comparisons() {
        assert!(c("gte: 100").test(Some(&json!("199.00"))));
        assert!(!c("gt: 100").test(Some(&json!(100))));
        assert!(c("in: [US, CA]").test(Some(&json!("CA"))));
        assert!(c("contains: vip").test(Some(&json!(["new", "vip"]))));
        assert!(c("exists: false").test(None));
        assert!(!c("eq: 1").test(None));
        assert!(c("ne: 1").test(None));
        assert!(c("gte: 10\nlt: 20").test(Some(&json!(15))));
        for (y, n, want) in [
            ("gte: 2", 2.0, true),
            ("gt: 2", 2.0, false),
            ("in: [1, 3]", 3.0, true),
            ("not_in: [3]", 3.0, false),
            ("ne: 1", 1.0, false),
            ("lte: \"5\"", 5.0, true),
            ("eq: x", 1.0, false),
        ] {
            assert_eq!(c(y).test_num(Some(n)), want, "{y} with {n}");
            assert_eq!(c(y).test(Some(&json!(n))), want, "{y} with {n} as JSON");
        }
        assert!(!c("gte: 10\nlt: 20").test(Some(&json!(20))));
    }

    #[test]
    fn paths_fan_out_over_arrays() {
        let v = json!({"line_items": [{"product_id": "a"}, {"product_id": "b"}]});
        let mut out = Vec::new();
        lookup(&v, "line_items.product_id", &mut out);
        assert_eq!(out, vec![&json!("a"), &json!("b")]);
    }
}

#[cfg(test)]
mod num_test_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn num_tests_answer_as_test_num() {
        let ops = [json!(3), json!(2.5), json!("4"), json!(-1)];
        let mut cmps = vec![Compare::default()];
        for v in &ops {
            for k in 0..6 {
                let mut c = Compare::default();
                let slot = match k {
                    0 => &mut c.eq,
                    1 => &mut c.ne,
                    2 => &mut c.gt,
                    3 => &mut c.gte,
                    4 => &mut c.lt,
                    _ => &mut c.lte,
                };
                *slot = Some(v.clone());
                cmps.push(c.clone());
                c.lte = Some(json!(10));
                cmps.push(c);
            }
        }
        for c in &cmps {
            let t = c.num_test().expect("numeric");
            for n in [-2.0, -1.0, 0.0, 2.5, 3.0, 4.0, 9.0, 10.0, 11.0] {
                assert_eq!(t.test(n), c.test_num(Some(n)), "{c:?} {n}");
            }
        }
        let text = Compare {
            eq: Some(json!("x")),
            ..Default::default()
        };
        assert!(text.num_test().is_none());
        let listed = Compare {
            is_in: Some(vec![json!(1)]),
            ..Default::default()
        };
        assert!(listed.num_test().is_none());
    }
}
