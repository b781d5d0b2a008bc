//! The normalized event model: everything a store can tell us, in one shape
//! whatever platform it came from.
//!
//! On the wire an event is
//! `{"id", "shop", "type", "occurred_at", "customer": {…}, "properties": {…}}`;
//! `type` names one of the typed kinds below, and any other name is a custom
//! event whose properties are kept as given.

use crate::model::ids::{EventId, ShopId};
use jiff::Timestamp;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Who the event is about, as far as the source knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The platform's customer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A storefront browser id, before the visitor identifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.email.is_none()
            && self.phone.is_none()
            && self.anonymous_id.is_none()
    }
}

pub use crate::model::channel::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    Subscribed,
    Unsubscribed,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    #[serde(default)]
    pub product_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_title: Option<String>,
    #[serde(default = "one")]
    pub quantity: u32,
    /// Unit price in the event's currency.
    #[serde(default)]
    pub price: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// `YYYY-MM-DD` or `MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentProps {
    pub channel: Channel,
    pub status: ConsentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductProps {
    pub product_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectionProps {
    pub collection_id: String,
    #[serde(default)]
    pub title: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchProps {
    pub query: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CartProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<String>,
    /// For `added_to_cart`, the lines just added; for `cart_updated`, the whole cart.
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckoutProps {
    pub checkout_id: String,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    #[serde(default)]
    pub total: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotal: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The recovery link that brings the customer back to this checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderProps {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    #[serde(default)]
    pub total: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotal: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discount_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FulfillmentProps {
    pub order_id: String,
    #[serde(default)]
    pub partial: bool,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    InTransit,
    OutForDelivery,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentProps {
    pub order_id: String,
    pub status: ShipmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfillment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_delivery_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CancelProps {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefundProps {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    #[serde(default)]
    pub amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryProps {
    pub variant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    pub available: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceProps {
    pub product_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_price: Option<f64>,
    pub new_price: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariantProps {
    pub variant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplenishProps {
    pub product_id: String,
    #[serde(default)]
    pub title: String,
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// What happened, with its typed properties.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    CustomerCreated(CustomerProps),
    CustomerUpdated(CustomerProps),
    ConsentChanged(ConsentProps),
    ProductViewed(ProductProps),
    CollectionViewed(CollectionProps),
    Searched(SearchProps),
    AddedToCart(CartProps),
    CartUpdated(CartProps),
    CheckoutStarted(CheckoutProps),
    CheckoutUpdated(CheckoutProps),
    OrderPlaced(OrderProps),
    OrderPaid(OrderProps),
    OrderFulfilled(FulfillmentProps),
    ShipmentUpdated(ShipmentProps),
    OrderCancelled(CancelProps),
    Refunded(RefundProps),
    InventoryChanged(InventoryProps),
    PriceChanged(PriceProps),
    /// The customer asked to be told when a variant is back.
    BackInStockRequested(VariantProps),
    /// Made by the engine: a variant the customer waits for is back.
    BackInStock(VariantProps),
    /// Made by the engine: a product bought earlier is due to run out.
    ReplenishmentDue(ReplenishProps),
    Custom {
        name: String,
        properties: Map<String, Value>,
    },
}

/// Every typed kind's wire name, for `check` and documentation.
pub const EVENT_TYPES: &[&str] = &[
    "customer_created",
    "customer_updated",
    "consent_changed",
    "product_viewed",
    "collection_viewed",
    "searched",
    "added_to_cart",
    "cart_updated",
    "checkout_started",
    "checkout_updated",
    "order_placed",
    "order_paid",
    "order_fulfilled",
    "shipment_updated",
    "order_cancelled",
    "refunded",
    "inventory_changed",
    "price_changed",
    "back_in_stock_requested",
    "back_in_stock",
    "replenishment_due",
];

impl EventKind {
    pub fn name(&self) -> &str {
        match self {
            EventKind::Custom { name, .. } => name,
            typed => typed.typed_name().unwrap_or_default(),
        }
    }

    /// The name of a typed kind (`None` for a custom event).
    pub fn typed_name(&self) -> Option<&'static str> {
        Some(match self {
            EventKind::CustomerCreated(_) => "customer_created",
            EventKind::CustomerUpdated(_) => "customer_updated",
            EventKind::ConsentChanged(_) => "consent_changed",
            EventKind::ProductViewed(_) => "product_viewed",
            EventKind::CollectionViewed(_) => "collection_viewed",
            EventKind::Searched(_) => "searched",
            EventKind::AddedToCart(_) => "added_to_cart",
            EventKind::CartUpdated(_) => "cart_updated",
            EventKind::CheckoutStarted(_) => "checkout_started",
            EventKind::CheckoutUpdated(_) => "checkout_updated",
            EventKind::OrderPlaced(_) => "order_placed",
            EventKind::OrderPaid(_) => "order_paid",
            EventKind::OrderFulfilled(_) => "order_fulfilled",
            EventKind::ShipmentUpdated(_) => "shipment_updated",
            EventKind::OrderCancelled(_) => "order_cancelled",
            EventKind::Refunded(_) => "refunded",
            EventKind::InventoryChanged(_) => "inventory_changed",
            EventKind::PriceChanged(_) => "price_changed",
            EventKind::BackInStockRequested(_) => "back_in_stock_requested",
            EventKind::BackInStock(_) => "back_in_stock",
            EventKind::ReplenishmentDue(_) => "replenishment_due",
            EventKind::Custom { .. } => return None,
        })
    }

    /// Serializes the properties with `s`: the one match over kinds behind
    /// every form made of them.
    fn serialize_props<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EventKind::CustomerCreated(p) | EventKind::CustomerUpdated(p) => p.serialize(s),
            EventKind::ConsentChanged(p) => p.serialize(s),
            EventKind::ProductViewed(p) => p.serialize(s),
            EventKind::CollectionViewed(p) => p.serialize(s),
            EventKind::Searched(p) => p.serialize(s),
            EventKind::AddedToCart(p) | EventKind::CartUpdated(p) => p.serialize(s),
            EventKind::CheckoutStarted(p) | EventKind::CheckoutUpdated(p) => p.serialize(s),
            EventKind::OrderPlaced(p) | EventKind::OrderPaid(p) => p.serialize(s),
            EventKind::OrderFulfilled(p) => p.serialize(s),
            EventKind::ShipmentUpdated(p) => p.serialize(s),
            EventKind::OrderCancelled(p) => p.serialize(s),
            EventKind::Refunded(p) => p.serialize(s),
            EventKind::InventoryChanged(p) => p.serialize(s),
            EventKind::PriceChanged(p) => p.serialize(s),
            EventKind::BackInStockRequested(p) | EventKind::BackInStock(p) => p.serialize(s),
            EventKind::ReplenishmentDue(p) => p.serialize(s),
            EventKind::Custom { properties, .. } => properties.serialize(s),
        }
    }

    /// The properties as JSON, the form conditions and templates read.
    pub fn properties_json(&self) -> Value {
        match self {
            EventKind::Custom { properties, .. } => Value::Object(properties.clone()),
            _ => self
                .serialize_props(serde_json::value::Serializer)
                .unwrap_or(Value::Null),
        }
    }

    /// [`EventKind::properties_json`] with the top-level property `key`
    /// alone (an object without it when there is none): what the engine
    /// makes when the configuration reads no other property of such events
    /// (see `speed::property_pick`).
    pub fn property_json(&self, key: &str) -> Value {
        let v = match self {
            EventKind::Custom { properties, .. } => properties.get(key).cloned(),
            _ => match self.serialize_props(crate::speed::property_pick::picker(key)) {
                Ok(v) => v,
                Err(_) => self.properties_json().get(key).cloned(),
            },
        };
        let mut m = Map::new();
        if let Some(v) = v {
            m.insert(key.to_string(), v);
        }
        Value::Object(m)
    }

    fn from_parts(name: &str, props: Value) -> Result<Self, serde_json::Error> {
        use serde_json::from_value as v;
        Ok(match name {
            "customer_created" => EventKind::CustomerCreated(v(props)?),
            "customer_updated" => EventKind::CustomerUpdated(v(props)?),
            "consent_changed" => EventKind::ConsentChanged(v(props)?),
            "product_viewed" => EventKind::ProductViewed(v(props)?),
            "collection_viewed" => EventKind::CollectionViewed(v(props)?),
            "searched" => EventKind::Searched(v(props)?),
            "added_to_cart" => EventKind::AddedToCart(v(props)?),
            "cart_updated" => EventKind::CartUpdated(v(props)?),
            "checkout_started" => EventKind::CheckoutStarted(v(props)?),
            "checkout_updated" => EventKind::CheckoutUpdated(v(props)?),
            "order_placed" => EventKind::OrderPlaced(v(props)?),
            "order_paid" => EventKind::OrderPaid(v(props)?),
            "order_fulfilled" => EventKind::OrderFulfilled(v(props)?),
            "shipment_updated" => EventKind::ShipmentUpdated(v(props)?),
            "order_cancelled" => EventKind::OrderCancelled(v(props)?),
            "refunded" => EventKind::Refunded(v(props)?),
            "inventory_changed" => EventKind::InventoryChanged(v(props)?),
            "price_changed" => EventKind::PriceChanged(v(props)?),
            "back_in_stock_requested" => EventKind::BackInStockRequested(v(props)?),
            "back_in_stock" => EventKind::BackInStock(v(props)?),
            "replenishment_due" => EventKind::ReplenishmentDue(v(props)?),
            other => match props {
                Value::Object(properties) => EventKind::Custom {
                    name: other.to_string(),
                    properties,
                },
                Value::Null => EventKind::Custom {
                    name: other.to_string(),
                    properties: Map::new(),
                },
                _ => {
                    return Err(serde_json::Error::custom(format!(
                        "properties of custom event {other:?} must be an object"
                    )))
                }
            },
        })
    }
}

/// One normalized event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub shop: ShopId,
    pub occurred_at: Timestamp,
    pub customer: Identity,
    pub kind: EventKind,
}

impl Event {
    pub fn name(&self) -> &str {
        self.kind.name()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent {
    id: EventId,
    shop: ShopId,
    #[serde(rename = "type")]
    kind: String,
    occurred_at: Timestamp,
    #[serde(default)]
    customer: Identity,
    #[serde(default)]
    properties: Value,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireEvent {
            id: self.id.clone(),
            shop: self.shop.clone(),
            kind: self.kind.name().to_string(),
            occurred_at: self.occurred_at,
            customer: self.customer.clone(),
            properties: self.kind.properties_json(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireEvent::deserialize(d)?;
        if w.kind.trim().is_empty() {
            return Err(D::Error::custom("event type must not be empty"));
        }
        let props = if w.properties.is_null() {
            Value::Object(Map::new())
        } else {
            w.properties
        };
        let kind = EventKind::from_parts(&w.kind, props)
            .map_err(|e| D::Error::custom(format!("properties of {:?} event: {e}", w.kind)))?;
        Ok(Event {
            id: w.id,
            shop: w.shop,
            occurred_at: w.occurred_at,
            customer: w.customer,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_and_custom_events_round_trip() {
        let raw = r#"{"id":"e1","shop":"demo","type":"checkout_started","occurred_at":"2026-01-01T10:00:00Z",
            "customer":{"email":"a@b.co"},
            "properties":{"checkout_id":"c1","total":40.0,"line_items":[{"product_id":"p1","title":"Tee","price":20.0,"quantity":2}]}}"#;
        let e: Event = serde_json::from_str(raw).unwrap();
        assert_eq!(e.name(), "checkout_started");
        let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);

        let raw = r#"{"id":"e2","shop":"demo","type":"quiz_completed","occurred_at":"2026-01-01T10:00:00Z","properties":{"skin":"dry"}}"#;
        let e: Event = serde_json::from_str(raw).unwrap();
        assert_eq!(e.name(), "quiz_completed");
        assert_eq!(e.kind.properties_json()["skin"], "dry");
    }

    #[test]
    fn a_typed_event_missing_a_field_is_refused_with_its_name() {
        let raw = r#"{"id":"e1","shop":"demo","type":"order_placed","occurred_at":"2026-01-01T10:00:00Z","properties":{"total":1}}"#;
        let err = serde_json::from_str::<Event>(raw).unwrap_err().to_string();
        assert!(err.contains("order_id"), "{err}");
    }
}
