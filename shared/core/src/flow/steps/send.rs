//! `send`: a message to the customer on one channel, if consent and the
//! policy allow it now; deferred or skipped, with the reason, if not.

use super::{Checks, Host, Next, Reads, StepKind, TemplateUse};
use crate::model::decision::{Kind, Message, SendDetails};
use crate::model::duration::Dur;
use crate::model::event::Channel;
use crate::model::links;
use crate::model::reason::Part;
use crate::policy::Verdict;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendSpec {
    pub channel: Channel,
    pub template: Arc<str>,
    /// Transactional messages skip marketing caps and windows, never
    /// consent or suppression.
    #[serde(default)]
    pub transactional: bool,
    /// How long the message may be deferred before it is skipped.
    #[serde(default)]
    pub expires_after: Option<Dur>,
}

impl StepKind for SendSpec {
    fn check(&self, c: &mut dyn Checks) {
        if !self.channel.spec().sendable {
            let ch = self.channel.as_str();
            c.err(
                "channel",
                format!("a send step cannot use {ch}; use an {ch} step"),
            );
            return;
        }
        c.template("template", &self.template, TemplateUse::Message(self.channel));
    }

    fn reads<'a>(&'a self, _: &mut Reads<'a>) {}

    fn run<H: Host>(&self, h: &mut H) -> Next<'_> {
        let key = h.message_key();
        if h.sent(key) {
            let msg_id = links::hex64(key);
            let mut d = h.decision(Kind::Skipped);
            d.reason = Some(reason![
                "already sent (message ",
                Part::Owned(msg_id.into()),
                ")"
            ]);
            h.push(d);
            return Next::on();
        }
        let marketing = !self.transactional;
        let expiry = self
            .expires_after
            .unwrap_or(h.settings().policy.default_expiry);
        let expires_at = expiry.add_exact(h.cursor());
        match h.decide(self.channel, marketing, expires_at) {
            Verdict::Send => {
                match h.render(&self.template, self.channel) {
                    Ok((mut content, unsub)) => {
                        let to = h.profile().address(self.channel).unwrap_or_default();
                        let msg_id = links::hex64(key);
                        h.track(&mut content, &self.template, self.channel, &msg_id);
                        h.note_sent(&msg_id);
                        h.note_contact(self.channel, marketing);
                        let mut d = h.decision(Kind::Message);
                        d.send = Some(Box::new(SendDetails {
                            channel: Some(self.channel),
                            template: Some(self.template.clone()),
                            subject: content.subject.clone(),
                            to: Some(to.clone()),
                            ..Default::default()
                        }));
                        d.reason = Some(if marketing {
                            "marketing: consent and policy allow".into()
                        } else {
                            "transactional".into()
                        });
                        d.message = Some(Box::new(Message {
                            id: msg_id,
                            channel: self.channel,
                            to,
                            template: self.template.to_string(),
                            marketing,
                            priority: if marketing {
                                h.flow_priority().to_string()
                            } else {
                                "transactional".into()
                            },
                            content,
                            unsubscribe_url: marketing.then_some(unsub),
                            from: h.settings().store.from_email.clone(),
                            flow: h.flow_id().to_string(),
                            version: h.flow_version(),
                            step: h.step_id().to_string(),
                            variant: None,
                        }));
                        h.push(d);
                    }
                    Err(e) => {
                        let mut d = h.decision(Kind::Skipped);
                        d.send = Some(self.details());
                        d.reason = Some(format!("template error: {e}").into());
                        h.push(d);
                    }
                }
                Next::Go {
                    to: None,
                    at: Some(h.now()),
                }
            }
            Verdict::Defer { until, reason } => {
                if h.deferred_until() != Some(until) {
                    let mut d = h.decision(Kind::Deferred);
                    let mut send = self.details();
                    send.until = Some(until);
                    d.send = Some(send);
                    d.reason = Some(reason);
                    h.push(d);
                }
                Next::Defer(until)
            }
            Verdict::Skip { reason } => {
                let mut d = h.decision(Kind::Skipped);
                d.send = Some(self.details());
                d.reason = Some(reason);
                h.push(d);
                Next::on()
            }
        }
    }
}

impl SendSpec {
    /// The channel and template, for the step's decisions.
    fn details(&self) -> Box<SendDetails> {
        Box::new(SendDetails {
            channel: Some(self.channel),
            template: Some(self.template.clone()),
            ..Default::default()
        })
    }
}
