//! Channel dispatch: which carrier takes a message, by its channel. Each
//! runtime builds one [`Router`] from the carriers it configures (`serve`:
//! SMTP, signed webhook POSTs and the outbox folder; AWS: SES, End User
//! Messaging SMS and Social, signed webhook POSTs) and sends every message
//! through it. A channel without a carrier is refused, with the reason the
//! runtime gives, before anything is sent.

use crate::ports::{DeliverError, Delivered};
use jiff::Timestamp;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use storeflow_core::model::channel::Channel;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// A carrier's answer, boxed: the router holds carriers of different types.
pub type Carried<'a> = Pin<Box<dyn Future<Output = Result<Delivered, DeliverError>> + Send + 'a>>;

/// The customer a message is for, when the runtime knows it (providers'
/// events about the message come back tagged with it).
pub type Recipient<'a> = Option<(&'a ShopId, &'a ProfileId)>;

/// Takes messages on one or more channels to a provider.
pub trait Carrier: Send + Sync {
    fn carry<'a>(&'a self, m: &'a Message, to: Recipient<'a>, now: Timestamp) -> Carried<'a>;
}

#[derive(Clone)]
enum Route {
    To(Arc<dyn Carrier>),
    /// No carrier: why (what to configure).
    Missing(String),
}

/// One route per channel.
#[derive(Clone)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// A router with no carrier yet; `missing` says, per channel, what to
    /// configure to get one.
    pub fn new(missing: impl Fn(Channel) -> String) -> Self {
        Router {
            routes: Channel::ALL
                .iter()
                .map(|c| Route::Missing(missing(*c)))
                .collect(),
        }
    }

    /// Routes `channels` to `carrier` (replacing what they had).
    pub fn route(mut self, channels: &[Channel], carrier: Arc<dyn Carrier>) -> Self {
        for c in channels {
            self.routes[*c as usize] = Route::To(carrier.clone());
        }
        self
    }

    /// Whether `ch` has a carrier.
    pub fn has(&self, ch: Channel) -> bool {
        matches!(self.routes[ch as usize], Route::To(_))
    }

    /// The carrier for `m`'s channel, or a permanent error naming what is
    /// missing.
    pub fn carrier(&self, m: &Message) -> Result<&dyn Carrier, DeliverError> {
        match &self.routes[m.channel as usize] {
            Route::To(c) => Ok(c.as_ref()),
            Route::Missing(why) => Err(DeliverError::Permanent(format!(
                "message {}: no provider for {} ({why})",
                m.id,
                m.channel.as_str()
            ))),
        }
    }

    /// Hands `m` to its channel's carrier.
    pub async fn carry(
        &self,
        m: &Message,
        to: Recipient<'_>,
        now: Timestamp,
    ) -> Result<Delivered, DeliverError> {
        self.carrier(m)?.carry(m, to, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use storeflow_core::template::Rendered;

    struct Recorder(&'static str, Mutex<Vec<String>>);

    impl Carrier for Recorder {
        fn carry<'a>(&'a self, m: &'a Message, _: Recipient<'a>, _: Timestamp) -> Carried<'a> {
            Box::pin(async move {
                self.1.lock().unwrap().push(m.id.clone());
                Ok(Delivered::Sent(format!("{}:{}", self.0, m.id)))
            })
        }
    }

    fn message(id: &str, channel: Channel) -> Message {
        Message {
            id: id.into(),
            channel,
            to: "a@example.com".into(),
            template: "t".into(),
            marketing: false,
            priority: "transactional".into(),
            content: Rendered::default(),
            unsubscribe_url: None,
            from: None,
            flow: "f".into(),
            version: 1,
            step: "s".into(),
            variant: None,
        }
    }

    #[test]
    fn each_channel_goes_to_its_carrier_and_a_missing_one_is_refused_with_why() {
        let mail = Arc::new(Recorder("mail", Mutex::new(vec![])));
        let hooks = Arc::new(Recorder("hooks", Mutex::new(vec![])));
        let router = Router::new(|c| format!("set up {}", c.as_str()))
            .route(&[Channel::Email, Channel::Alert], mail.clone())
            .route(&[Channel::Webhook], hooks.clone());
        let now = Timestamp::UNIX_EPOCH;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for (id, ch) in [("1", Channel::Email), ("2", Channel::Alert), ("3", Channel::Webhook)] {
                router.carry(&message(id, ch), None, now).await.unwrap();
            }
            let err = router
                .carry(&message("4", Channel::Sms), None, now)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, DeliverError::Permanent(w) if w.contains("no provider for sms (set up sms)")),
                "{err}"
            );
        });
        assert_eq!(*mail.1.lock().unwrap(), ["1", "2"]);
        assert_eq!(*hooks.1.lock().unwrap(), ["3"]);
    }
}
