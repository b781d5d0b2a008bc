//! Track calls of Segment's e-commerce spec (v2) onto the normalized kinds.
//!
//! | track event | event type |
//! |---|---|
//! | Product Viewed | `product_viewed` |
//! | Product Added | `added_to_cart` |
//! | Cart Viewed | `cart_updated` (the whole cart) |
//! | Checkout Started | `checkout_started` |
//! | Checkout Step Viewed / Completed, Payment Info Entered | `checkout_updated` |
//! | Order Completed | `order_placed` |
//! | Order Refunded | `refunded` |
//! | Order Cancelled | `order_cancelled` |
//! | Products Searched | `searched` |
//! | Product List Viewed, Product Category Viewed | `collection_viewed` |
//!
//! An event named after a normalized type (`Back In Stock Requested` →
//! `back_in_stock_requested`) takes that type's properties; any other is a
//! custom event with its name in snake case (`Quiz Completed` →
//! `quiz_completed`) and its properties as sent.

use super::text;
use serde_json::{Map, Value};
use storeflow_core::model::event::{
    CancelProps, CartProps, CheckoutProps, CollectionProps, EventKind, LineItem, OrderProps,
    ProductProps, RefundProps, SearchProps, EVENT_TYPES,
};

type Props = Map<String, Value>;

fn s(p: &Props, k: &str) -> Option<String> {
    text(p.get(k))
}

fn num(p: &Props, k: &str) -> Option<f64> {
    match p.get(k)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok().filter(|x: &f64| x.is_finite()),
        _ => None,
    }
}

fn product_id(p: &Props) -> Option<String> {
    s(p, "product_id")
        .or_else(|| s(p, "id"))
        .or_else(|| s(p, "sku"))
}

fn line(p: &Props) -> LineItem {
    LineItem {
        product_id: product_id(p).unwrap_or_default(),
        variant_id: s(p, "variant_id"),
        sku: s(p, "sku"),
        title: s(p, "name").unwrap_or_default(),
        variant_title: s(p, "variant"),
        quantity: num(p, "quantity")
            .map(|q| q.round().clamp(0.0, u32::MAX as f64) as u32)
            .unwrap_or(1),
        price: num(p, "price").unwrap_or(0.0),
        image_url: s(p, "image_url"),
        url: s(p, "url"),
    }
}

fn lines(p: &Props) -> Vec<LineItem> {
    p.get("products")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).map(line).collect())
        .unwrap_or_default()
}

fn need(p: &Props, k: &str, alt: Option<String>) -> Result<String, String> {
    s(p, k)
        .or(alt)
        .ok_or_else(|| format!("properties: missing field \"{k}\""))
}

fn total(p: &Props) -> Option<f64> {
    num(p, "total")
        .or_else(|| num(p, "value"))
        .or_else(|| num(p, "revenue"))
}

/// `Product Added` → `product_added`.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    for w in name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&w.to_lowercase());
    }
    out
}

/// The event kind of a track call. `message_id` stands in for a checkout
/// id the call does not give.
pub fn kind(name: &str, p: Props, message_id: &str) -> Result<EventKind, String> {
    Ok(match name {
        "Product Viewed" | "Product Clicked" => EventKind::ProductViewed(ProductProps {
            product_id: need(&p, "product_id", product_id(&p))?,
            variant_id: s(&p, "variant_id"),
            title: s(&p, "name").unwrap_or_default(),
            price: num(&p, "price"),
            currency: s(&p, "currency"),
            url: s(&p, "url"),
            image_url: s(&p, "image_url"),
            category: s(&p, "category"),
        }),
        "Product Added" => {
            let item = line(&p);
            if item.product_id.is_empty() {
                return Err("properties: missing field \"product_id\"".into());
            }
            EventKind::AddedToCart(CartProps {
                cart_id: s(&p, "cart_id"),
                total: Some(item.price * item.quantity as f64),
                line_items: vec![item],
                currency: s(&p, "currency"),
                url: s(&p, "url"),
            })
        }
        "Cart Viewed" => {
            let items = lines(&p);
            let sum: f64 = items.iter().map(|l| l.price * l.quantity as f64).sum();
            EventKind::CartUpdated(CartProps {
                cart_id: s(&p, "cart_id"),
                total: total(&p).or(Some(sum)),
                line_items: items,
                currency: s(&p, "currency"),
                url: None,
            })
        }
        "Checkout Started"
        | "Checkout Step Viewed"
        | "Checkout Step Completed"
        | "Payment Info Entered" => {
            let props = CheckoutProps {
                checkout_id: s(&p, "checkout_id")
                    .or_else(|| s(&p, "order_id"))
                    .unwrap_or_else(|| message_id.to_string()),
                line_items: lines(&p),
                total: total(&p).unwrap_or(0.0),
                subtotal: num(&p, "subtotal"),
                currency: s(&p, "currency"),
                url: s(&p, "url"),
                updated_at: None,
            };
            if name == "Checkout Started" {
                EventKind::CheckoutStarted(props)
            } else {
                EventKind::CheckoutUpdated(props)
            }
        }
        "Order Completed" => EventKind::OrderPlaced(OrderProps {
            order_id: need(&p, "order_id", None)?,
            order_number: None,
            checkout_id: s(&p, "checkout_id"),
            line_items: lines(&p),
            total: total(&p).unwrap_or(0.0),
            subtotal: num(&p, "subtotal"),
            currency: s(&p, "currency"),
            discount_codes: s(&p, "coupon").into_iter().collect(),
            url: None,
        }),
        "Order Refunded" => EventKind::Refunded(RefundProps {
            order_id: need(&p, "order_id", None)?,
            refund_id: None,
            amount: total(&p).unwrap_or(0.0),
            currency: s(&p, "currency"),
        }),
        "Order Cancelled" => EventKind::OrderCancelled(CancelProps {
            order_id: need(&p, "order_id", None)?,
            reason: s(&p, "reason"),
        }),
        "Products Searched" => EventKind::Searched(SearchProps {
            query: need(&p, "query", None)?,
        }),
        "Product List Viewed" | "Product Category Viewed" => {
            EventKind::CollectionViewed(CollectionProps {
                collection_id: need(&p, "list_id", s(&p, "category"))?,
                title: s(&p, "category").unwrap_or_default(),
            })
        }
        other => {
            let name = snake(other);
            if name.is_empty() {
                return Err("event name has no letters or digits".into());
            }
            if EVENT_TYPES.contains(&name.as_str()) {
                // A normalized type by name: its typed properties.
                let wire = serde_json::json!({"id": "x", "shop": "x", "type": name,
                    "occurred_at": "2000-01-01T00:00:00Z", "properties": p});
                serde_json::from_value::<storeflow_core::Event>(wire)
                    .map_err(|e| format!("properties: {e}"))?
                    .kind
            } else {
                EventKind::Custom {
                    name,
                    properties: p,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_snake_case() {
        assert_eq!(snake("Quiz Completed"), "quiz_completed");
        assert_eq!(
            snake("  Back-In-Stock  Requested"),
            "back_in_stock_requested"
        );
    }
}
