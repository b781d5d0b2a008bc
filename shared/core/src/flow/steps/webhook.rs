//! `webhook`: posts to a URL of the merchant's, once per run.

use super::{Checks, Host, Next, Reads, StepKind, TemplateUse};
use crate::model::channel::Channel;
use crate::model::links;
use crate::template::Rendered;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub url: String,
    /// A template whose `body` is posted; without it, the profile and the
    /// trigger event as JSON.
    #[serde(default)]
    pub template: Option<String>,
}

impl StepKind for WebhookSpec {
    fn check(&self, c: &mut dyn Checks) {
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            c.err("url", format!("{:?} is not an http(s) URL", self.url));
        }
        if let Some(t) = &self.template {
            c.template("template", t, TemplateUse::Only(Channel::Webhook));
        }
    }

    fn reads<'a>(&'a self, _: &mut Reads<'a>) {}

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        let msg_id = links::short_hash(&[h.run_id(), h.step_id()]);
        if h.note_sent(&msg_id) {
            let content = match &self.template {
                Some(t) => h.render(t, Channel::Webhook).map(|(c, _)| c),
                None => Ok(Rendered {
                    locale: String::new(),
                    body: Some(h.profile_and_trigger_json().to_string()),
                    ..Default::default()
                }),
            };
            super::outbound(
                h,
                msg_id,
                Channel::Webhook,
                self.url.clone(),
                self.template.clone().unwrap_or_default(),
                content,
            );
        }
        Next::on()
    }
}
