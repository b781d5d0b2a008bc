//! `exit`: ends the run here (`exit: true`, or any value).

use super::{Checks, Host, Next, Reads, StepKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
pub struct ExitSpec;

impl<'de> Deserialize<'de> for ExitSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(ExitSpec)
    }
}

impl StepKind for ExitSpec {
    fn check(&self, _: &mut dyn Checks) {}

    fn reads<'a>(&'a self, _: &mut Reads<'a>) {}

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        Next::End(reason!["exit step ", h.step_id()])
    }
}
