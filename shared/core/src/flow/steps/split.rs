//! `split`: holds a share of runs out (the flow's control group) and sends
//! the rest down weighted variants, the same way on every replay.

use super::{bucket, Checks, Host, Next, Reads, StepKind};
use serde::{Deserialize, Serialize};

/// The arm of the runs held out.
pub const HOLDOUT: &str = "holdout";
/// The arm of the runs let through a split with no variants.
pub const TREATED: &str = "treated";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Percent of entrants held out (they get nothing from here on, and
    /// measure the flow's real lift).
    #[serde(default)]
    pub holdout: u32,
    #[serde(default)]
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub weight: u32,
    #[serde(rename = "goto")]
    pub target: String,
}

impl StepKind for Split {
    fn check(&self, c: &mut dyn Checks) {
        if self.holdout > 100 {
            c.err("holdout", "is a percentage (0–100)".into());
        }
        if self.variants.iter().any(|v| v.weight == 0) {
            c.err("variants", "every weight must be positive".into());
        }
        for (j, var) in self.variants.iter().enumerate() {
            c.target(&format!("variants[{j}].goto"), &var.target);
        }
    }

    fn reads<'a>(&'a self, _: &mut Reads<'a>) {}

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        let (run, step) = (h.run_id(), &**h.step_id());
        if bucket(run, step, "holdout") < self.holdout as u64 {
            let why = format!(
                "holdout: in the {}% control group at step {step}",
                self.holdout
            );
            h.enter_arm(HOLDOUT);
            return Next::End(why.into());
        }
        let (run, step) = (h.run_id(), &**h.step_id());
        let total: u64 = self.variants.iter().map(|v| v.weight as u64).sum();
        if total == 0 {
            h.enter_arm(TREATED);
            return Next::on();
        }
        let mut pick = bucket(run, step, "variant") * total / 100;
        let target = self.variants.iter().find(|v| {
            if pick < v.weight as u64 {
                true
            } else {
                pick -= v.weight as u64;
                false
            }
        });
        if let Some(v) = target {
            h.enter_arm(&v.target);
        }
        Next::to(target.map(|v| v.target.as_str()))
    }
}
