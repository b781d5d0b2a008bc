//! Message templates in a Jinja-style language (minijinja: `{{ … }}`,
//! `{% for item in event.line_items %}`, filters such as `default` and
//! `money`), with per-locale variants.
//!
//! Rendering is strict: a reference to a variable that is not there is an
//! error, never a blank in a customer's inbox. `check` renders every
//! template against sample contexts for each flow that uses it — once with
//! every optional field present (catching typos) and once with optional
//! fields absent (catching a `first_name` used without `| default`).

pub mod context;
pub mod context_lazy;
pub mod tracking;

use crate::model::event::Channel;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDef {
    pub id: String,
    pub channel: Channel,
    /// `false`: this template's links and opens are not tracked, whatever
    /// `store.yaml` `tracking` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<bool>,
    pub locales: BTreeMap<String, Parts>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

const PART_NAMES: [&str; 5] = ["subject", "preview", "html", "text", "body"];

impl Parts {
    fn get(&self, name: &str) -> Option<&String> {
        match name {
            "subject" => self.subject.as_ref(),
            "preview" => self.preview.as_ref(),
            "html" => self.html.as_ref(),
            "text" => self.text.as_ref(),
            _ => self.body.as_ref(),
        }
    }
    /// Parts this channel needs, and parts it cannot use.
    pub fn shape_errors(&self, ch: Channel) -> Vec<String> {
        let (need, unused) = (ch.spec().parts, ch.spec().unused_parts);
        let mut out = Vec::new();
        for n in need {
            if self.get(n).is_none() {
                out.push(format!(
                    "{n}: missing (a {} template needs {})",
                    ch.as_str(),
                    need.join(", ")
                ));
            }
        }
        for n in unused {
            if self.get(n).is_some() {
                out.push(format!("{n}: not used by a {} template", ch.as_str()));
            }
        }
        out
    }
}

/// A rendered message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rendered {
    pub locale: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// All templates, compiled.
pub struct Templates {
    env: Environment<'static>,
    defs: BTreeMap<String, TemplateDef>,
    /// Templates that can read `links.preferences`: the link costs an HMAC,
    /// so it is made only for them.
    reads_preferences: std::collections::BTreeSet<String>,
    /// For templates that read the profile only as `profile.<key>…`, those
    /// keys: their context holds only these parts of the profile (building
    /// all of it cost more than rendering). Templates not listed read the
    /// whole profile.
    profile_keys: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("ids", &self.defs.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn money(value: f64, currency: Option<String>) -> String {
    let cur = currency.unwrap_or_default();
    let sym = match cur.as_str() {
        "USD" | "CAD" | "AUD" | "NZD" | "SGD" | "HKD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" | "CNY" => "¥",
        _ => "",
    };
    if sym.is_empty() {
        format!("{value:.2} {cur}").trim().to_string()
    } else {
        format!("{sym}{value:.2}")
    }
}

impl Templates {
    /// Compiles every part; errors are `(template id, "locales.en.html: …")`.
    pub fn new(defs: Vec<TemplateDef>) -> (Self, Vec<(String, String)>) {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with("/html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.add_filter("money", money);
        // Escape what HTML needs and leave `/` alone, so links in emails
        // read as written (the default escaper writes `&#x2f;`).
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Html && !value.is_safe() {
                if let Some(s) = value.as_str() {
                    return out
                        .write_str(&escape_html(s))
                        .map_err(minijinja::Error::from);
                }
            }
            minijinja::escape_formatter(out, state, value)
        });
        let mut errors = Vec::new();
        let mut map = BTreeMap::new();
        for d in defs {
            for (loc, parts) in &d.locales {
                for e in parts.shape_errors(d.channel) {
                    errors.push((d.id.clone(), format!("locales.{loc}.{e}")));
                }
                for name in PART_NAMES {
                    if let Some(src) = parts.get(name) {
                        let key = format!("{}/{loc}/{name}", d.id);
                        if let Err(e) = env.add_template_owned(key, src.clone()) {
                            errors.push((
                                d.id.clone(),
                                format!("locales.{loc}.{name}: {}", describe(&e)),
                            ));
                        }
                    }
                }
            }
            if d.locales.is_empty() {
                errors.push((
                    d.id.clone(),
                    "locales: at least one locale is needed".into(),
                ));
            }
            map.insert(d.id.clone(), d);
        }
        let mut t = Templates {
            env,
            defs: map,
            reads_preferences: Default::default(),
            profile_keys: Default::default(),
        };
        t.reads_preferences = t
            .defs
            .keys()
            .filter(|id| {
                // `links` alone: read as a whole (printed, passed on, indexed).
                t.referenced(id)
                    .iter()
                    .any(|v| v == "links" || v.starts_with("links.preferences"))
            })
            .cloned()
            .collect();
        t.profile_keys = t
            .defs
            .keys()
            .filter_map(|id| Some((id.clone(), t.static_profile_keys(id)?)))
            .collect();
        (t, errors)
    }

    /// The profile keys template `id` reads, when it reads the profile only
    /// as `profile.<key>…` (not whole: printed, looped over, passed on,
    /// indexed by a variable) and takes in no other template, whose reads
    /// would not be seen here.
    fn static_profile_keys(&self, id: &str) -> Option<std::collections::BTreeSet<String>> {
        let d = self.defs.get(id)?;
        let sources = d
            .locales
            .values()
            .flat_map(|parts| PART_NAMES.iter().filter_map(|n| parts.get(n)));
        for src in sources {
            if ["include", "import", "extends"]
                .iter()
                .any(|w| src.contains(w))
            {
                return None;
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        for v in self.referenced(id) {
            if v == "profile" {
                return None;
            }
            if let Some(path) = v.strip_prefix("profile.") {
                keys.insert(path.split('.').next().unwrap_or(path).to_string());
            }
        }
        Some(keys)
    }

    /// See [`Templates::profile_keys`]: `None` for the whole profile.
    pub fn profile_keys(&self, id: &str) -> Option<&std::collections::BTreeSet<String>> {
        self.profile_keys.get(id)
    }

    /// Whether template `id` can read `links.preferences`.
    /// Whether the template's messages may be tracked (its own switch).
    pub fn tracked(&self, id: &str) -> bool {
        self.defs.get(id).and_then(|d| d.tracking) != Some(false)
    }

    pub fn reads_preferences(&self, id: &str) -> bool {
        self.reads_preferences.contains(id)
    }

    pub fn get(&self, id: &str) -> Option<&TemplateDef> {
        self.defs.get(id)
    }
    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.defs.keys()
    }

    /// The locale used for a customer: exact, then language, then the
    /// store's, then any.
    pub fn pick_locale<'a>(
        &'a self,
        id: &str,
        wanted: &str,
        store_default: &str,
    ) -> Option<&'a str> {
        let d = self.defs.get(id)?;
        let lang = wanted.split(['-', '_']).next().unwrap_or(wanted);
        for cand in [wanted, lang, store_default, "en"] {
            if let Some((k, _)) = d.locales.get_key_value(cand) {
                return Some(k);
            }
        }
        d.locales.keys().next().map(|s| s.as_str())
    }

    pub fn render(&self, id: &str, locale: &str, ctx: Value) -> Result<Rendered, String> {
        let d = self
            .defs
            .get(id)
            .ok_or_else(|| format!("unknown template {id:?}"))?;
        let parts = d
            .locales
            .get(locale)
            .ok_or_else(|| format!("template {id:?} has no locale {locale:?}"))?;
        let mut out = Rendered {
            locale: locale.to_string(),
            ..Default::default()
        };
        // Shared by every part (subject, preview, html, text); converted
        // only where a part reads it.
        let ctx = crate::template::context_lazy::value(ctx);
        // The parts' names, `id/locale/part`, written into one buffer.
        let mut key = String::with_capacity(id.len() + locale.len() + 10);
        for name in PART_NAMES {
            if parts.get(name).is_none() {
                continue;
            }
            key.clear();
            for s in [id, "/", locale, "/", name] {
                key.push_str(s);
            }
            let t = self.env.get_template(&key).map_err(|e| describe(&e))?;
            let s = t
                .render(&ctx)
                .map_err(|e| format!("{name}: {}", describe(&e)))?;
            let s = if name == "subject" || name == "preview" {
                s.trim().to_string()
            } else {
                s
            };
            match name {
                "subject" => out.subject = Some(s),
                "preview" => out.preview = Some(s),
                "html" => out.html = Some(s),
                "text" => out.text = Some(s),
                _ => out.body = Some(s),
            }
        }
        Ok(out)
    }

    /// Variables a part reads, with their attribute paths (`event.line_items`).
    pub fn referenced(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(d) = self.defs.get(id) {
            for (loc, parts) in &d.locales {
                for name in PART_NAMES {
                    if parts.get(name).is_some() {
                        if let Ok(t) = self.env.get_template(&format!("{id}/{loc}/{name}")) {
                            out.extend(t.undeclared_variables(true));
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A template error as one line: what, and where (`line 3`).
fn describe(e: &minijinja::Error) -> String {
    let mut s = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        s.push_str(&format!(" (line {line})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(channel: Channel, parts: Parts) -> Templates {
        let mut locales = BTreeMap::new();
        locales.insert("en".to_string(), parts.clone());
        locales.insert("fr".to_string(), parts);
        let (t, errs) = Templates::new(vec![TemplateDef {
            id: "t".into(),
            channel,
            tracking: None,
            locales,
        }]);
        assert!(errs.is_empty(), "{errs:?}");
        t
    }

    #[test]
    fn the_preferences_link_is_made_for_templates_that_can_read_it() {
        let body = |b: &str| Parts {
            body: Some(b.into()),
            ..Default::default()
        };
        for (b, reads) in [
            ("{{ links.unsubscribe }}", false),
            ("{{ profile.first_name }}", false),
            ("{{ links.preferences }}", true),
            ("{{ links['preferences'] }}", true),
            ("{% set l = links %}{{ l.preferences }}", true),
            ("{{ links }}", true),
        ] {
            let t = one(Channel::Sms, body(b));
            assert_eq!(t.reads_preferences("t"), reads, "{b}");
        }
    }

    #[test]
    fn templates_get_the_profile_keys_they_read_or_the_whole_profile() {
        let body = |b: &str| Parts {
            body: Some(b.into()),
            ..Default::default()
        };
        let keys = |ks: &[&str]| Some(ks.iter().map(|k| k.to_string()).collect());
        for (b, want) in [
            ("{{ links.unsubscribe }}", keys(&[])),
            (
                "{{ profile.first_name | default('x') }} {{ profile.rfm.recency }}",
                keys(&["first_name", "rfm"]),
            ),
            // Subscripts count as reading the whole profile.
            ("{{ profile['tier'] }}", None),
            ("{{ profile }}", None),
            ("{% for k in profile %}{{ k }}{% endfor %}", None),
            ("{% set p = profile %}{{ p.first_name }}", None),
            ("{{ profile[k] }}", None),
            ("{% include 't/en/body' %}", None),
        ] {
            let t = one(Channel::Sms, body(b));
            assert_eq!(t.profile_keys("t").cloned(), want, "{b}");
        }
    }

    #[test]
    fn missing_variables_are_errors_not_blanks() {
        let t = one(
            Channel::Sms,
            Parts {
                body: Some("Hi {{ profile.first_name }}".into()),
                ..Default::default()
            },
        );
        let err = t.render("t", "en", json!({"profile": {}})).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
        let t = one(
            Channel::Sms,
            Parts {
                body: Some(
                    "Hi {{ profile.first_name | default('there') }}, {{ 20 | money('EUR') }}"
                        .into(),
                ),
                ..Default::default()
            },
        );
        assert_eq!(
            t.render("t", "en", json!({"profile": {}}))
                .unwrap()
                .body
                .unwrap(),
            "Hi there, €20.00"
        );
    }

    #[test]
    fn html_is_escaped_text_is_not() {
        let t = one(
            Channel::Email,
            Parts {
                subject: Some("{{ name }}".into()),
                html: Some("<p>{{ name }}</p>".into()),
                text: Some("{{ name }}".into()),
                ..Default::default()
            },
        );
        let r = t
            .render("t", "en", json!({"name": "<b>Tom & Jerry</b>"}))
            .unwrap();
        assert_eq!(r.html.unwrap(), "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>");
        assert_eq!(r.text.unwrap(), "<b>Tom & Jerry</b>");
    }

    #[test]
    fn locale_falls_back_to_language_then_store() {
        let t = one(
            Channel::Sms,
            Parts {
                body: Some("x".into()),
                ..Default::default()
            },
        );
        assert_eq!(t.pick_locale("t", "fr-CA", "en"), Some("fr"));
        assert_eq!(t.pick_locale("t", "de-DE", "en"), Some("en"));
    }
}
