//! Random and mutated payloads at every normalizer, through the router:
//! never a panic, and every refusal is a 4xx with a message.

use proptest::prelude::*;
use serde_json::Value;
use storeflow_ingest::MemoryStore;
use storeflow_tests::*;

const TOPICS: &[(&str, &str)] = &[
    ("customers/create", "shopify/customers_create.json"),
    (
        "customers_marketing_consent/update",
        "shopify/customers_marketing_consent_update.json",
    ),
    (
        "customers_email_marketing_consent/update",
        "shopify/customers_email_marketing_consent_update.json",
    ),
    ("checkouts/create", "shopify/checkouts_create.json"),
    ("carts/update", "shopify/carts_update.json"),
    ("orders/create", "shopify/orders_create.json"),
    ("orders/updated", "shopify/orders_updated.json"),
    (
        "orders/partially_fulfilled",
        "shopify/orders_partially_fulfilled.json",
    ),
    ("orders/cancelled", "shopify/orders_cancelled.json"),
    ("refunds/create", "shopify/refunds_create.json"),
    ("fulfillments/update", "shopify/fulfillments_update.json"),
    (
        "fulfillment_events/create",
        "shopify/fulfillment_events_create.json",
    ),
    (
        "inventory_levels/update",
        "shopify/inventory_levels_update.json",
    ),
    ("products/update", "shopify/products_update.json"),
    (
        "customers/data_request",
        "shopify/customers_data_request.json",
    ),
    ("customers/redact", "shopify/customers_redact.json"),
    ("shop/redact", "shopify/shop_redact.json"),
];

/// Every (path, value) of a JSON document.
fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            let mut p = at.clone();
            p.push(k.clone());
            paths(x, p, out)
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
            let mut p = at.clone();
            p.push(i.to_string());
            paths(x, p, out)
        }),
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k),
        Value::Array(a) => a.get_mut(k.parse::<usize>().ok()?),
        _ => None,
    })
}

fn replacement(i: u8) -> Value {
    match i % 7 {
        0 => Value::Null,
        1 => Value::from(-1),
        2 => Value::from("not-a-date"),
        3 => Value::from(1.5e308),
        4 => Value::Array(vec![]),
        5 => serde_json::json!({}),
        _ => Value::from(true),
    }
}

/// Mutates one field of a real payload: dropped, or of another type.
fn mutate(doc: &Value, pick: usize, how: u8) -> Value {
    let mut all = Vec::new();
    paths(doc, Vec::new(), &mut all);
    let path = &all[pick % all.len()];
    let mut out = doc.clone();
    if path.is_empty() {
        return replacement(how);
    }
    let (last, parent) = path.split_last().unwrap();
    if how % 2 == 0 {
        match at_mut(&mut out, parent) {
            Some(Value::Object(m)) => {
                m.remove(last);
            }
            Some(Value::Array(a)) => {
                let i: usize = last.parse().unwrap();
                a.remove(i);
            }
            _ => {}
        }
    } else if let Some(v) = at_mut(&mut out, path) {
        *v = replacement(how / 2);
    }
    out
}

fn check(topic: &str, body: &[u8]) -> Result<(), TestCaseError> {
    let mut store = MemoryStore::new();
    let h = ingest_router().handle(
        &shopify_request(topic, "fuzz", body, SHOPIFY_SECRET),
        ts("2026-11-23T15:00:00Z"),
        &mut store,
    );
    let s = h.response.status;
    prop_assert!(s == 200 || (400..500).contains(&s), "{topic}: status {s}");
    if s != 200 {
        let msg = h.response.body["error"].as_str().unwrap_or("");
        prop_assert!(!msg.is_empty(), "{topic}: a {s} without a message");
        prop_assert!(store.is_empty(), "{topic}: a refusal stored something");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_payloads_never_panic(t in 0..TOPICS.len(), pick in any::<usize>(), how in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let (topic, file) = TOPICS[t];
        let Some(body) = fixture(file) else { return Ok(()) };
        let doc: Value = serde_json::from_slice(&body).unwrap();
        check(topic, &serde_json::to_vec(&mutate(&doc, pick, how)).unwrap())?;
        // Truncated anywhere.
        check(topic, &body[..cut.index(body.len())])?;
    }

    #[test]
    fn random_bytes_never_panic(t in 0..TOPICS.len(), body in prop::collection::vec(any::<u8>(), 0..300)) {
        check(TOPICS[t].0, &body)?;
    }

    #[test]
    fn random_tracking_calls_never_panic(call in prop::sample::select(vec!["identify", "track", "page", "alias", "batch"]),
            kind in prop::sample::select(vec!["identify", "track", "page", "alias", "group", "x"]),
            event in prop::sample::select(vec!["Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed",
                "Order Refunded", "Products Searched", "Product List Viewed", "Back In Stock Requested", "", "?"]),
            props in prop::sample::select(vec![r#"{}"#, r#"{"product_id":1,"price":"x","products":[1,{"quantity":-3}]}"#,
                r#"{"order_id":null,"total":"12.5"}"#, r#"[1]"#, r#"{"variant_id":"v1","query":7,"list_id":[]}"#]),
            anon in any::<bool>(), ts_ok in any::<bool>()) {
        let mut m = serde_json::json!({"type": kind, "event": event, "messageId": format!("{kind}{event}{props}"),
            "properties": serde_json::from_str::<Value>(props).unwrap(), "userId": "u", "previousId": "p",
            "timestamp": if ts_ok { "2026-11-23T14:00:00Z" } else { "2015-2-02T00:30:08.276Z" }});
        if anon { m["anonymousId"] = "a".into(); m.as_object_mut().unwrap().remove("userId"); }
        let body = if call == "batch" { serde_json::json!({"batch": [m]}) } else { m };
        let mut store = MemoryStore::new();
        let h = ingest_router().handle(&tracking_request(call, &body, WRITE_KEY), ts("2026-11-23T15:00:00Z"), &mut store);
        let s = h.response.status;
        prop_assert!(s == 200 || (s == 400 && h.response.body["error"].as_str().is_some_and(|m| !m.is_empty())), "{s} {:?}", h.response.body);
    }
}
