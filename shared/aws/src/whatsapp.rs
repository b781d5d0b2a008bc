//! WhatsApp through AWS End User Messaging Social: `SendWhatsAppMessage`
//! from the stack's linked phone number, the message being a WhatsApp Cloud
//! API message object.
//!
//! A template whose body renders to a JSON object with a `type` (e.g. a
//! Meta-approved `template` message, which WhatsApp requires outside the
//! customer's 24-hour service window) is sent as that object; any other body
//! is sent as a text message.

use aws_sdk_socialmessaging::primitives::Blob;
use serde_json::{json, Value};
use storeflow_app::ports::DeliverError;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// The Meta Graph API version when the stack names none.
pub const DEFAULT_META_API_VERSION: &str = "v20.0";

#[derive(Clone)]
pub struct WhatsApp {
    pub client: aws_sdk_socialmessaging::Client,
    /// `STOREFLOW_WHATSAPP_PHONE_NUMBER_ID`: `phone-number-id-…`.
    pub phone_number_id: String,
    /// `STOREFLOW_WHATSAPP_META_API_VERSION`, e.g. `v20.0`.
    pub meta_api_version: String,
}

impl WhatsApp {
    /// Sends `m`; returns the service's message id.
    pub async fn send(
        &self,
        m: &Message,
        to: Option<(&ShopId, &ProfileId)>,
    ) -> Result<String, DeliverError> {
        let message = cloud_api_message(m, to)?;
        let out = self
            .client
            .send_whats_app_message()
            .origination_phone_number_id(&self.phone_number_id)
            .meta_api_version(&self.meta_api_version)
            .message(Blob::new(message.to_string()))
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_string()),
            Err(e) => {
                let permanent = e.as_service_error().is_some_and(|se| {
                    se.is_invalid_parameters_exception()
                        || se.is_resource_not_found_exception()
                        || se.is_access_denied_exception()
                        // Meta refused the message itself (a number not on
                        // WhatsApp, outside the service window).
                        || se.is_dependency_exception()
                });
                let why = format!("WhatsApp SendWhatsAppMessage to {}: {e:?}", m.to);
                Err(crate::outgoing::refusal(permanent, why))
            }
        }
    }
}

/// The most `biz_opaque_callback_data` may hold (Cloud API).
const CALLBACK_DATA_MAX: usize = 512;

/// The WhatsApp Cloud API message object for `m`, carrying its attribution
/// (`crate::outgoing::attribution`, as JSON) in `biz_opaque_callback_data`,
/// which WhatsApp returns on every status of the message; just the message
/// id when the whole would pass the field's 512 characters.
pub fn cloud_api_message(
    m: &Message,
    to_customer: Option<(&ShopId, &ProfileId)>,
) -> Result<Value, DeliverError> {
    let body = crate::outgoing::text_body(m, "WhatsApp")?;
    let to = m.to.trim_start_matches('+');
    let mut message = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(o)) if o.get("type").is_some_and(Value::is_string) => Value::Object(o),
        _ => json!({"type": "text", "text": {"preview_url": true, "body": body}}),
    };
    message["messaging_product"] = json!("whatsapp");
    message["recipient_type"] = json!("individual");
    message["to"] = json!(to);
    let tags: serde_json::Map<String, Value> = crate::outgoing::attribution(m, to_customer)
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut data = Value::Object(tags).to_string();
    if data.len() > CALLBACK_DATA_MAX {
        data = json!({ "message": m.id }).to_string();
    }
    message["biz_opaque_callback_data"] = json!(data);
    Ok(message)
}

impl storeflow_app::dispatch::Carrier for WhatsApp {
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

#[cfg(test)]
mod tests {
    use super::*;
    use storeflow_core::model::channel::Channel;
    use storeflow_core::template::Rendered;

    fn msg(body: &str) -> Message {
        Message {
            id: "m1".into(),
            channel: Channel::Whatsapp,
            to: "+33612345678".into(),
            template: "t".into(),
            marketing: false,
            priority: "transactional".into(),
            content: Rendered {
                body: Some(body.into()),
                ..Default::default()
            },
            unsubscribe_url: None,
            from: None,
            flow: "f".into(),
            version: 1,
            step: "s".into(),
            variant: None,
        }
    }

    #[test]
    fn plain_text_becomes_a_text_message() {
        let v = cloud_api_message(&msg("Your order shipped"), None).unwrap();
        assert_eq!(v["type"], "text");
        assert_eq!(v["text"]["body"], "Your order shipped");
        assert_eq!(v["to"], "33612345678");
        assert_eq!(v["messaging_product"], "whatsapp");
    }

    #[test]
    fn a_rendered_template_object_is_sent_as_it_is() {
        let body =
            r#"{"type":"template","template":{"name":"order_shipped","language":{"code":"en"}}}"#;
        let v = cloud_api_message(&msg(body), None).unwrap();
        assert_eq!(v["type"], "template");
        assert_eq!(v["template"]["name"], "order_shipped");
        assert_eq!(v["to"], "33612345678");
    }

    #[test]
    fn the_attribution_rides_along_and_comes_back_with_each_status() {
        let shop = ShopId::parse("s.myshopify.com").unwrap();
        let profile = ProfileId::parse("p1").unwrap();
        let v = cloud_api_message(&msg("Hi"), Some((&shop, &profile))).unwrap();
        let data: Value =
            serde_json::from_str(v["biz_opaque_callback_data"].as_str().unwrap()).unwrap();
        assert_eq!(data["message"], "m1");
        assert_eq!(data["flow"], "f");
        assert_eq!(data["shop"], "s.myshopify.com");
        assert_eq!(data["profile"], "p1");
        // Too long for the field: the message id alone.
        let mut long = msg("Hi");
        long.template = "t".repeat(600);
        let v = cloud_api_message(&long, Some((&shop, &profile))).unwrap();
        assert_eq!(v["biz_opaque_callback_data"], r#"{"message":"m1"}"#);
    }

    #[test]
    fn an_empty_body_is_refused() {
        assert!(matches!(
            cloud_api_message(&msg("  "), None),
            Err(DeliverError::Permanent(_))
        ));
    }
}
