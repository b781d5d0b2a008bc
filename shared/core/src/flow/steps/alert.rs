//! `alert`: a message to the merchant (the store's alert address), once
//! per run.

use super::{Checks, Host, Next, Reads, StepKind, TemplateUse};
use crate::model::channel::Channel;
use crate::model::links;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    pub template: String,
}

impl StepKind for AlertSpec {
    fn check(&self, c: &mut dyn Checks) {
        c.template(
            "template",
            &self.template,
            TemplateUse::Only(Channel::Alert),
        );
    }

    fn reads<'a>(&'a self, _: &mut Reads<'a>) {}

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        let msg_id = links::short_hash(&[h.run_id(), h.step_id()]);
        if h.note_sent(&msg_id) {
            let content = h.render(&self.template, Channel::Email).map(|(c, _)| c);
            let to = h
                .settings()
                .store
                .alert_email
                .clone()
                .unwrap_or_else(|| "merchant".into());
            super::outbound(
                h,
                msg_id,
                Channel::Alert,
                to,
                self.template.clone(),
                content,
            );
        }
        Next::on()
    }
}
