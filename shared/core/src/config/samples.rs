//! Sample template contexts for `check`: one event of each type with every
//! optional property present, and one with only what is always there.

use serde_json::{json, Value};

fn item(full: bool) -> Value {
    if full {
        json!({"product_id": "p1", "variant_id": "v1", "sku": "SKU-1", "title": "Linen shirt",
               "variant_title": "M / Blue", "quantity": 2, "price": 45.0,
               "image_url": "https://cdn.example.com/p1.jpg", "url": "https://shop.example.com/products/p1"})
    } else {
        json!({"product_id": "p1", "title": "Linen shirt", "quantity": 1, "price": 45.0})
    }
}

/// Properties of a sample event of a typed kind (`None` for custom types).
pub fn event_properties(kind: &str, full: bool) -> Option<Value> {
    let items = json!([item(full)]);
    let v = match (kind, full) {
        ("customer_created" | "customer_updated", true) => {
            json!({"first_name": "Ada", "last_name": "Lee", "locale": "en",
            "timezone": "Europe/London", "country": "GB", "province": "ENG", "birthday": "1990-04-02",
            "tags": ["new"], "attributes": {}})
        }
        ("customer_created" | "customer_updated", false) => json!({}),
        ("consent_changed", true) => {
            json!({"channel": "email", "status": "subscribed", "source": "footer"})
        }
        ("consent_changed", false) => json!({"channel": "email", "status": "subscribed"}),
        ("product_viewed", true) => {
            json!({"product_id": "p1", "variant_id": "v1", "title": "Linen shirt", "price": 45.0,
            "currency": "USD", "url": "https://shop.example.com/products/p1", "image_url": "https://cdn.example.com/p1.jpg", "category": "shirts"})
        }
        ("product_viewed", false) => json!({"product_id": "p1", "title": "Linen shirt"}),
        ("collection_viewed", _) => json!({"collection_id": "c1", "title": "Summer"}),
        ("searched", _) => json!({"query": "linen"}),
        ("added_to_cart" | "cart_updated", true) => {
            json!({"cart_id": "cart1", "line_items": items, "total": 90.0,
            "currency": "USD", "url": "https://shop.example.com/cart"})
        }
        ("added_to_cart" | "cart_updated", false) => json!({"line_items": items}),
        ("checkout_started" | "checkout_updated", true) => {
            json!({"checkout_id": "ck1", "line_items": items, "total": 90.0,
            "subtotal": 90.0, "currency": "USD", "url": "https://shop.example.com/checkouts/ck1/recover", "updated_at": "2026-01-01T00:00:00Z"})
        }
        ("checkout_started" | "checkout_updated", false) => {
            json!({"checkout_id": "ck1", "line_items": items, "total": 90.0})
        }
        ("order_placed" | "order_paid", true) => {
            json!({"order_id": "o1", "order_number": "#1001", "checkout_id": "ck1",
            "line_items": items, "total": 90.0, "subtotal": 90.0, "currency": "USD", "discount_codes": ["WELCOME10"],
            "url": "https://shop.example.com/account/orders/o1"})
        }
        ("order_placed" | "order_paid", false) => {
            json!({"order_id": "o1", "line_items": items, "total": 90.0, "discount_codes": []})
        }
        ("order_fulfilled", true) => {
            json!({"order_id": "o1", "partial": false, "line_items": items, "tracking_number": "1Z999",
            "tracking_url": "https://track.example.com/1Z999", "carrier": "UPS"})
        }
        ("order_fulfilled", false) => {
            json!({"order_id": "o1", "partial": false, "line_items": items})
        }
        ("shipment_updated", true) => {
            json!({"order_id": "o1", "status": "in_transit", "fulfillment_id": "f1",
            "tracking_number": "1Z999", "tracking_url": "https://track.example.com/1Z999", "carrier": "UPS",
            "estimated_delivery_at": "2026-01-03T00:00:00Z"})
        }
        ("shipment_updated", false) => json!({"order_id": "o1", "status": "in_transit"}),
        ("order_cancelled", true) => json!({"order_id": "o1", "reason": "customer"}),
        ("order_cancelled", false) => json!({"order_id": "o1"}),
        ("refunded", true) => {
            json!({"order_id": "o1", "refund_id": "r1", "amount": 45.0, "currency": "USD"})
        }
        ("refunded", false) => json!({"order_id": "o1", "amount": 45.0}),
        ("inventory_changed", true) => {
            json!({"variant_id": "v1", "product_id": "p1", "available": 3, "title": "Linen shirt",
            "url": "https://shop.example.com/products/p1", "image_url": "https://cdn.example.com/p1.jpg"})
        }
        ("inventory_changed", false) => json!({"variant_id": "v1", "available": 3}),
        ("price_changed", true) => {
            json!({"product_id": "p1", "variant_id": "v1", "title": "Linen shirt", "old_price": 60.0,
            "new_price": 45.0, "currency": "USD"})
        }
        ("price_changed", false) => {
            json!({"product_id": "p1", "title": "Linen shirt", "new_price": 45.0})
        }
        ("back_in_stock_requested" | "back_in_stock", true) => {
            json!({"variant_id": "v1", "product_id": "p1", "title": "Linen shirt",
            "url": "https://shop.example.com/products/p1", "image_url": "https://cdn.example.com/p1.jpg"})
        }
        ("back_in_stock_requested" | "back_in_stock", false) => json!({"variant_id": "v1"}),
        ("replenishment_due", true) => {
            json!({"product_id": "p1", "title": "Linen shirt", "order_id": "o1",
            "url": "https://shop.example.com/products/p1", "image_url": "https://cdn.example.com/p1.jpg"})
        }
        ("replenishment_due", false) => {
            json!({"product_id": "p1", "title": "Linen shirt", "order_id": "o1"})
        }
        _ => return None,
    };
    Some(v)
}

/// A sample profile as templates see it (see `Profile::to_json`).
pub fn profile(full: bool, attributes: &[String]) -> Value {
    let attrs: serde_json::Map<String, Value> = attributes
        .iter()
        .map(|a| (a.clone(), json!("sample")))
        .collect();
    let mut p = json!({"id": "p_sample", "email": "ada@example.com", "attributes": attrs, "timezone": "Europe/London",
        "locale": "en", "tags": [], "orders_count": 1, "total_spent": 90.0, "average_order_value": 90.0,
        "lifecycle_stage": "first_time_buyer", "rfm": {"recency": 5, "frequency": 1, "monetary": 1},
        "points": 0, "consent": {"email": "subscribed"}});
    if full {
        let o = p.as_object_mut().unwrap();
        for (k, v) in [
            ("first_name", json!("Ada")),
            ("last_name", json!("Lee")),
            ("phone", json!("+447700900123")),
            ("customer_id", json!("123")),
            ("country", json!("GB")),
            ("province", json!("ENG")),
            ("birthday", json!("1990-04-02")),
            ("tier", json!("gold")),
            ("last_order_at", json!("2026-01-01T00:00:00Z")),
            ("first_order_at", json!("2026-01-01T00:00:00Z")),
            // Only once the store's model is fitted (`storeflow refit`).
            (
                "predictions",
                json!({"model": "bg_nbd+gamma_gamma", "p_alive": 0.82, "expected_orders": 1.4,
                    "predicted_clv": 126.5, "expected_next_order_at": "2026-02-14"}),
            ),
        ] {
            o.insert(k.into(), v);
        }
    } else {
        // Attributes are optional too: a template must default them.
        p["attributes"] = json!({});
    }
    p
}
