//! `branch`: goes one way or the other on a condition about the customer.

use super::{Checks, Host, Next, Reads, StepKind};
use crate::segment::condition::Condition;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    #[serde(rename = "if")]
    pub condition: Condition,
    #[serde(default)]
    pub then: Option<String>,
    #[serde(default, rename = "else")]
    pub otherwise: Option<String>,
}

impl StepKind for Branch {
    fn check(&self, c: &mut dyn Checks) {
        c.condition("if", &self.condition);
        for (k, v) in [("then", &self.then), ("else", &self.otherwise)] {
            if let Some(v) = v {
                c.target(k, v);
            }
        }
    }

    fn reads<'a>(&'a self, r: &mut Reads<'a>) {
        r.condition(&self.condition);
    }

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        let target = if h.eval(&self.condition) {
            &self.then
        } else {
            &self.otherwise
        };
        Next::to(target.as_deref())
    }
}
