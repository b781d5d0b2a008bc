//! Sending on AWS: every channel behind one send ledger (docs/DATA.md,
//! patterns 15 and 17). Suppressed addresses are refused, a redelivered
//! message is never sent twice, and a message a provider refuses for now
//! goes back to the queue. The providers: SES v2 email ([`SesEmail`]), SMS
//! through End User Messaging SMS ([`Sms`]), WhatsApp through End User
//! Messaging Social ([`WhatsApp`]) and signed webhook POSTs
//! ([`WebhookPoster`]); a channel whose provider the stack does not
//! configure is refused, with that reason, before anything is claimed.

use crate::keys;
use crate::table::{get_s, key, s, unavailable, Table};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use jiff::Timestamp;
use storeflow_app::dispatch::Router;
use storeflow_app::ports::{DeliverError, Delivered};
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::model::{channel::Address, decision::Message};

/// Ledger entries outlive any redelivery of their message by far.
const LEDGER_DAYS: i64 = 60;

/// The send function's providers, one per channel the stack configures.
#[derive(Clone)]
pub struct Senders {
    /// The send ledger and suppression list.
    pub table: Table,
    /// The providers by channel.
    pub router: Router,
}

pub use crate::outgoing::attribution;

impl Senders {
    /// Sends `m` once, at `now`; `to` names the customer (shop and profile)
    /// for the provider events that come back (feedback's engagement events).
    pub async fn send(
        &self,
        m: &Message,
        to: Option<(&ShopId, &ProfileId)>,
        now: Timestamp,
    ) -> Result<Delivered, DeliverError> {
        let carrier = self.router.carrier(m)?;
        // Webhook URLs are the merchant's own endpoints, not a customer's
        // address: nothing to suppress.
        if m.channel.spec().address != Address::Url {
            if let Some(reason) = self.suppressed(&m.to).await? {
                return Err(DeliverError::Permanent(format!(
                    "{} is suppressed ({reason})",
                    m.to
                )));
            }
        }
        if let Some(previous) = self.claim(m, now).await? {
            return Ok(Delivered::Already(previous));
        }
        let sent = carrier.carry(m, to, now).await.map(|d| match d {
            Delivered::Sent(id) | Delivered::Already(id) => id,
        });
        match sent {
            Ok(id) => {
                self.settle(&m.id, "sent", &id).await?;
                Ok(Delivered::Sent(id))
            }
            Err(DeliverError::Permanent(why)) => {
                self.settle(&m.id, "failed", &why).await?;
                Err(DeliverError::Permanent(why))
            }
            Err(DeliverError::Transient(why)) => {
                // Throttled or down: withdraw the claim so the queue's
                // redelivery can send it.
                self.withdraw(&m.id).await?;
                Err(DeliverError::Transient(why))
            }
        }
    }

    async fn suppressed(&self, to: &str) -> Result<Option<String>, DeliverError> {
        let item = self
            .table
            .get(key(keys::suppression_pk(to), "suppressed"), false)
            .await
            .map_err(transient)?;
        Ok(item.map(|i| get_s(&i, "reason").unwrap_or("suppressed").to_string()))
    }

    /// Creates the ledger entry; `Some(provider id)` when it existed (the
    /// message was sent, or is being sent, by an earlier delivery).
    async fn claim(&self, m: &Message, now: Timestamp) -> Result<Option<String>, DeliverError> {
        let mut item = key(keys::ledger_pk(&m.id), "sent");
        item.insert("at".into(), s(now.to_string()));
        item.insert("to".into(), s(&m.to));
        item.insert(
            "flow".into(),
            s(format!("{} v{} {}", m.flow, m.version, m.step)),
        );
        item.insert("status".into(), s("sending"));
        let expires = now.as_second() + LEDGER_DAYS * 86_400;
        item.insert("expires_at".into(), crate::table::n(expires));
        let before = self.table.create(item).await.map_err(transient)?;
        Ok(before.map(|i| {
            get_s(&i, "provider_id")
                .unwrap_or("unconfirmed")
                .to_string()
        }))
    }

    async fn settle(&self, id: &str, status: &str, detail: &str) -> Result<(), DeliverError> {
        let field = if status == "sent" {
            "provider_id"
        } else {
            "error"
        };
        let out = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .set_key(Some(key(keys::ledger_pk(id), "sent")))
            .update_expression("SET #st = :st, #f = :d")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":d", s(detail))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| transient(unavailable("UpdateItem ledger", e)))?;
        self.table
            .meter
            .write("UpdateItem send", out.consumed_capacity());
        Ok(())
    }

    async fn withdraw(&self, id: &str) -> Result<(), DeliverError> {
        self.table
            .delete(key(keys::ledger_pk(id), "sent"))
            .await
            .map_err(transient)
    }
}

fn transient(e: storeflow_app::ports::StoreError) -> DeliverError {
    DeliverError::Transient(e.to_string())
}
