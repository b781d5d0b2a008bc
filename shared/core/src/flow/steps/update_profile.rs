//! `update_profile`: tags, profile properties and loyalty points set by a
//! flow.

use super::{Checks, Host, Next, Reads, StepKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    #[serde(default)]
    pub set: serde_json::Map<String, Value>,
    #[serde(default)]
    pub add_points: i64,
}

impl StepKind for UpdateProfile {
    fn check(&self, c: &mut dyn Checks) {
        for k in self.set.keys() {
            if !c.known_property(k) {
                c.err(
                    &format!("set.{k}"),
                    "unknown profile property: declare it in store.yaml profile_attributes"
                        .into(),
                );
            }
        }
    }

    fn reads<'a>(&'a self, _: &mut Reads<'a>) {}

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        let at = h.now();
        let points_key = (self.add_points != 0)
            .then(|| format!("run:{}:{}", h.run_id(), h.step_id()));
        let p = h.profile_mut();
        let mut changed = false;
        for t in &self.add_tags {
            changed |= p.set_tag(t, true, at);
        }
        for t in &self.remove_tags {
            changed |= p.set_tag(t, false, at);
        }
        for (k, v) in &self.set {
            let key = k.strip_prefix("attributes.").unwrap_or(k);
            changed |= p.set_field(key, v.clone(), at);
        }
        if let Some(key) = points_key {
            changed |= p.grant_points(key, self.add_points);
        }
        if changed {
            h.profile_changed();
        }
        Next::on()
    }
}
