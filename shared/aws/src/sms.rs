//! SMS through AWS End User Messaging SMS (the `pinpoint-sms-voice-v2`
//! API): `SendTextMessage` from the stack's origination identity (a phone
//! number, sender id or pool), as `TRANSACTIONAL` or `PROMOTIONAL` by the
//! message's kind, in the stack's SMS configuration set when there is one,
//! with the attribution in `Context` (it comes back on every SMS event).
//!
//! Opt-outs: a number that replied STOP is in the service's opt-out list and
//! the call is refused (`ConflictException`, reason
//! `DESTINATION_PHONE_NUMBER_OPTED_OUT`): a permanent failure, never
//! retried.

use aws_sdk_pinpointsmsvoicev2::types::MessageType;
use storeflow_app::ports::DeliverError;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};

#[derive(Clone)]
pub struct Sms {
    pub client: aws_sdk_pinpointsmsvoicev2::Client,
    /// `STOREFLOW_SMS_ORIGINATION_IDENTITY`: a phone number, its id or ARN,
    /// a sender id or a pool.
    pub origination_identity: String,
    /// `STOREFLOW_SMS_CONFIGURATION_SET`, when set: where delivery events go.
    pub configuration_set: Option<String>,
}

impl Sms {
    /// Sends `m` (its `to` an E.164 number, its body the text); returns the
    /// service's message id.
    pub async fn send(
        &self,
        m: &Message,
        to: Option<(&ShopId, &ProfileId)>,
    ) -> Result<String, DeliverError> {
        let body = crate::outgoing::text_body(m, "SMS")?;
        let mut req = self
            .client
            .send_text_message()
            .destination_phone_number(&m.to)
            .origination_identity(&self.origination_identity)
            .message_body(body)
            .message_type(if m.marketing {
                MessageType::Promotional
            } else {
                MessageType::Transactional
            })
            .set_configuration_set_name(self.configuration_set.clone());
        for (k, v) in crate::outgoing::attribution(m, to) {
            req = req.context(k, v);
        }
        match req.send().await {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_string()),
            Err(e) => {
                let permanent = e.as_service_error().is_some_and(|se| {
                    se.is_validation_exception()
                        || se.is_conflict_exception()
                        || se.is_access_denied_exception()
                        || se.is_resource_not_found_exception()
                });
                // Otherwise throttled, over the spend quota for now, or down.
                let why = format!("SMS SendTextMessage to {}: {e:?}", m.to);
                Err(crate::outgoing::refusal(permanent, why))
            }
        }
    }
}

impl storeflow_app::dispatch::Carrier for Sms {
    fn carry<'a>(
        &'a self,
        m: &'a Message,
        to: storeflow_app::dispatch::Recipient<'a>,
        _now: jiff::Timestamp,
    ) -> storeflow_app::dispatch::Carried<'a> {
        Box::pin(async move {
            self.send(m, to)
                .await
                .map(storeflow_app::ports::Delivered::Sent)
        })
    }
}
