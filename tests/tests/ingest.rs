//! Ingestion: real Shopify payloads normalize to what a merchant expects;
//! signatures, status codes and duplicates behave as the README says; the
//! starter pack runs from platform deliveries.

use serde_json::{json, Value};
use storeflow_app::simulate::Simulator;
use storeflow_core::model::event::{EventKind, ShipmentStatus};
use storeflow_core::{Engine, Kind};
use storeflow_ingest::{DeliveryStore, MemoryStore};
use storeflow_tests::*;

const NOW: &str = "2026-11-23T15:00:00Z";

fn deliver(topic: &str, body: &[u8], store: &mut MemoryStore) -> storeflow_ingest::Handled {
    let id = format!("wh-{topic}-{}", store.len());
    ingest_router().handle(
        &shopify_request(topic, &id, body, SHOPIFY_SECRET),
        ts(NOW),
        store,
    )
}

fn one_event(topic: &str, file: &str) -> Option<storeflow_core::Event> {
    let body = fixture(file)?;
    let h = deliver(topic, &body, &mut MemoryStore::new());
    assert_eq!(h.response.status, 200, "{topic}: {:?}", h.response.body);
    let ev = events_of(&h);
    assert_eq!(ev.len(), 1, "{topic}: {ev:?}");
    Some(ev.into_iter().next().unwrap())
}

#[test]
fn real_shopify_customer_and_consent_payloads() {
    let Some(e) = one_event("customers/create", "shopify/customers_create.json") else {
        return;
    };
    assert_eq!(e.customer.email.as_deref(), Some("bob@biller.com"));
    assert_eq!(e.customer.id.as_deref(), Some("706405506930370084"));
    assert_eq!(e.occurred_at, ts("2022-01-01T00:00:00Z"));
    let EventKind::CustomerCreated(p) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(p.first_name.as_deref(), Some("Bob"));
    assert_eq!(p.country.as_deref(), Some("CA"));
    let Some(e) = one_event("customers/update", "shopify/customers_update.json") else {
        return;
    };
    assert!(matches!(e.kind, EventKind::CustomerUpdated(_)));

    let Some(e) = one_event(
        "customers_email_marketing_consent/update",
        "shopify/customers_email_marketing_consent_update.json",
    ) else {
        return;
    };
    let EventKind::ConsentChanged(c) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(
        c.status,
        storeflow_core::model::event::ConsentStatus::Unsubscribed
    );
    assert_eq!(e.customer.email.as_deref(), Some("bob@biller.com"));

    // SMS consent with a null state changes nothing, but is recorded.
    let body = fixture("shopify/customers_marketing_consent_update.json").unwrap();
    let mut store = MemoryStore::new();
    let h = deliver("customers_marketing_consent/update", &body, &mut store);
    assert_eq!(h.response.status, 200);
    assert!(h.accepted.is_empty());
    assert_eq!(store.len(), 1);
}

#[test]
fn real_shopify_checkout_cart_and_order_payloads() {
    let Some(e) = one_event("checkouts/create", "shopify/checkouts_create.json") else {
        return;
    };
    let EventKind::CheckoutStarted(c) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(c.checkout_id, "123123123");
    assert_eq!(c.total, 421.88);
    assert_eq!(c.currency.as_deref(), Some("USD"));
    assert_eq!(c.line_items.len(), 2);
    assert_eq!(c.line_items[0].title, "IPod Nano - 8GB");
    assert_eq!(c.line_items[0].price, 199.0);
    assert!(c.url.as_deref().unwrap().contains("/recover"));
    assert_eq!(e.customer.email.as_deref(), Some("example@email.com"));
    assert_eq!(
        e.customer.anonymous_id.as_deref(),
        Some("cart:eeafa272cebfd4b22385bc4b645e762c")
    );
    // An update that names the buyer also starts the checkout (the email
    // often arrives after checkouts/create), under the same id as a create
    // with a contact, so only the first of them counts.
    let Some(body) = fixture("shopify/checkouts_update.json") else {
        return;
    };
    let ev = events_of(&deliver("checkouts/update", &body, &mut MemoryStore::new()));
    assert!(
        matches!(ev[0].kind, EventKind::CheckoutStarted(_)),
        "{ev:?}"
    );
    assert!(
        matches!(ev[1].kind, EventKind::CheckoutUpdated(_)),
        "{ev:?}"
    );
    assert_eq!(ev[0].id, e.id, "create and update start the checkout once");

    let Some(e) = one_event("carts/create", "shopify/carts_create.json") else {
        return;
    };
    let EventKind::AddedToCart(c) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(c.line_items[0].quantity, 3);
    assert_eq!(c.line_items[0].product_id, "788032119674292922");
    assert_eq!(c.total, Some(59.97));
    assert_eq!(
        e.customer.anonymous_id.as_deref(),
        Some("cart:exampleCartId")
    );
    let Some(e) = one_event("carts/update", "shopify/carts_update.json") else {
        return;
    };
    assert!(matches!(e.kind, EventKind::CartUpdated(_)));

    let Some(e) = one_event("orders/create", "shopify/orders_create.json") else {
        return;
    };
    let EventKind::OrderPlaced(o) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(o.order_id, "820982911946154508");
    assert_eq!(o.order_number.as_deref(), Some("#9999"));
    assert_eq!(o.total, 404.95);
    assert_eq!(o.currency.as_deref(), Some("USD"));
    assert_eq!(o.line_items.len(), 5);
    assert_eq!(e.customer.email.as_deref(), Some("jon@example.com"));
    assert_eq!(e.customer.id.as_deref(), Some("115310627314723954"));
    assert_eq!(e.id.as_str(), "shopify:orders/create:820982911946154508");

    let Some(e) = one_event("orders/paid", "shopify/orders_paid.json") else {
        return;
    };
    assert!(matches!(e.kind, EventKind::OrderPaid(_)));
    let Some(e) = one_event("orders/cancelled", "shopify/orders_cancelled.json") else {
        return;
    };
    let EventKind::OrderCancelled(c) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(c.reason.as_deref(), Some("customer"));
    let Some(e) = one_event("orders/fulfilled", "shopify/orders_fulfilled.json") else {
        return;
    };
    assert!(matches!(&e.kind, EventKind::OrderFulfilled(f) if !f.partial));
    let Some(e) = one_event(
        "orders/partially_fulfilled",
        "shopify/orders_partially_fulfilled.json",
    ) else {
        return;
    };
    assert!(matches!(&e.kind, EventKind::OrderFulfilled(f) if f.partial));
    let Some(e) = one_event("orders/updated", "shopify/orders_updated.json") else {
        return;
    };
    assert_eq!(e.name(), "order_updated");
    assert_eq!(e.kind.properties_json()["total"], 404.95);
}

#[test]
fn refunds_and_shipments_find_their_customer_through_the_order() {
    let (Some(order), Some(refund), Some(event), Some(ful)) = (
        fixture("shopify/orders_create.json"),
        fixture("shopify/refunds_create.json"),
        fixture("shopify/fulfillment_events_create.json"),
        fixture("shopify/fulfillments_create.json"),
    ) else {
        return;
    };
    let mut store = MemoryStore::new();
    deliver("orders/create", &order, &mut store);
    let r = events_of(&deliver("refunds/create", &refund, &mut store));
    let EventKind::Refunded(p) = &r[0].kind else {
        panic!("{r:?}")
    };
    assert_eq!(p.order_id, "820982911946154508");
    assert_eq!(p.refund_id.as_deref(), Some("890088186047892319"));
    assert!(p.amount > 0.0, "{p:?}");
    assert_eq!(r[0].customer.email.as_deref(), Some("jon@example.com"));

    let s = events_of(&deliver("fulfillment_events/create", &event, &mut store));
    let EventKind::ShipmentUpdated(p) = &s[0].kind else {
        panic!("{s:?}")
    };
    assert_eq!(p.status, ShipmentStatus::InTransit);
    assert_eq!(s[0].customer.email.as_deref(), Some("jon@example.com"));

    let f = events_of(&deliver("fulfillments/create", &ful, &mut store));
    let EventKind::OrderFulfilled(p) = &f[0].kind else {
        panic!("{f:?}")
    };
    assert_eq!(p.tracking_number.as_deref(), Some("1z827wk74630"));
    assert_eq!(p.carrier.as_deref(), Some("UPS"));
    // fulfillments/update with no shipment status: recorded, nothing to tell.
    let h = deliver(
        "fulfillments/update",
        &fixture("shopify/fulfillments_update.json").unwrap(),
        &mut store,
    );
    assert_eq!(h.response.status, 200);
    assert!(h.accepted.is_empty());
}

#[test]
fn stock_and_prices_from_catalog_topics() {
    let (Some(level), Some(product)) = (
        fixture("shopify/inventory_levels_update.json"),
        fixture("shopify/products_update.json"),
    ) else {
        return;
    };
    let mut store = MemoryStore::new();
    let e = events_of(&deliver("inventory_levels/update", &level, &mut store));
    let EventKind::InventoryChanged(i) = &e[0].kind else {
        panic!("{e:?}")
    };
    assert_eq!(i.available, 10);
    assert_eq!(i.variant_id, "inventory-item-271878346596884015");

    // First sight: compare-at 24.99 above the price 19.99 is a sale.
    let e = events_of(&deliver("products/update", &product, &mut store));
    assert_eq!(e.len(), 2, "{e:?}");
    let EventKind::PriceChanged(p) = &e[0].kind else {
        panic!("{e:?}")
    };
    assert_eq!((p.old_price, p.new_price), (Some(24.99), 19.99));
    assert_eq!(p.title, "Example T-Shirt - Small");
    // The same prices again: no change.
    assert!(events_of(&deliver("products/update", &product, &mut store)).is_empty());
    // A drop to 15.00 is a change from the last price seen.
    let cheaper = String::from_utf8(product.clone())
        .unwrap()
        .replace("\"19.99\"", "\"15.00\"");
    let e = events_of(&deliver("products/update", cheaper.as_bytes(), &mut store));
    let EventKind::PriceChanged(p) = &e[0].kind else {
        panic!("{e:?}")
    };
    assert_eq!((p.old_price, p.new_price), (Some(19.99), 15.0));
}

#[test]
fn eventbridge_envelope_takes_the_same_path() {
    let Some(env) = fixture("shopify/eventbridge_envelope_products_update.json") else {
        return;
    };
    let d = storeflow_ingest::shopify::eventbridge::unwrap(&env).unwrap();
    assert_eq!(d.topic.as_deref(), Some("products/update"));
    let mut store = MemoryStore::new();
    let h = ingest_router().accept(&d, ts(NOW), &mut store).unwrap();
    assert_eq!(h.response.status, 200);
    assert_eq!(store.len(), 1);
    let raw = store.deliveries().next().unwrap();
    assert_eq!(raw.shop, "example.myshopify.com");
    assert_eq!(raw.topic, "products/update");
}

#[test]
fn signatures_are_checked_as_shopify_computes_them_with_rotation() {
    let Some(body) = fixture("shopify/orders_create.json") else {
        return;
    };
    let router = ingest_router();
    let mut store = MemoryStore::new();
    // Either secret of a rotation verifies.
    let h = router.handle(
        &shopify_request("orders/create", "w1", &body, SHOPIFY_SECRET),
        ts(NOW),
        &mut store,
    );
    assert_eq!(h.response.status, 200);
    let h = router.handle(
        &shopify_request("orders/create", "w2", &body, "old-shopify-secret"),
        ts(NOW),
        &mut store,
    );
    assert_eq!(h.response.status, 200);
    assert_eq!(store.len(), 2);
    // A wrong secret, a tampered body or no header: 401 and nothing stored.
    let mut fresh = MemoryStore::new();
    let h = router.handle(
        &shopify_request("orders/create", "w3", &body, "wrong"),
        ts(NOW),
        &mut fresh,
    );
    assert_eq!(h.response.status, 401);
    assert!(h.accepted.is_empty());
    let mut req = shopify_request("orders/create", "w4", &body, SHOPIFY_SECRET);
    req.body.push(b' ');
    assert_eq!(
        router.handle(&req, ts(NOW), &mut fresh).response.status,
        401
    );
    let mut req = shopify_request("orders/create", "w5", &body, SHOPIFY_SECRET);
    req.headers = req
        .headers
        .iter()
        .filter(|(k, _)| !k.contains("Hmac"))
        .collect();
    let h = router.handle(&req, ts(NOW), &mut fresh);
    assert_eq!(h.response.status, 401);
    assert!(h.response.body["error"]
        .as_str()
        .unwrap()
        .contains("X-Shopify-Hmac-Sha256"));
    assert!(fresh.is_empty());
    // Lower-case header names (HTTP/2) work the same.
    let req = shopify_request("orders/create", "w6", &body, SHOPIFY_SECRET);
    let mut lower = req.clone();
    lower.headers = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.to_string()))
        .collect();
    assert_eq!(
        router.handle(&lower, ts(NOW), &mut fresh).response.status,
        200
    );
}

#[test]
fn the_same_webhook_twice_changes_nothing() {
    let Some(body) = fixture("shopify/orders_create.json") else {
        return;
    };
    let router = ingest_router();
    let mut store = MemoryStore::new();
    let req = shopify_request("orders/create", "dup-1", &body, SHOPIFY_SECRET);
    let first = router.handle(&req, ts(NOW), &mut store);
    assert_eq!(events_of(&first).len(), 1);
    let again = router.handle(&req, ts("2026-11-23T15:05:00Z"), &mut store);
    assert_eq!(again.response.status, 200);
    assert_eq!(again.response.body["status"], "duplicate");
    assert!(again.accepted.is_empty());
    assert_eq!(store.len(), 1);
    // Redelivered under another webhook id (another route, same fact): the
    // event id is the same, so the engine applies it once.
    let other = router.handle(
        &shopify_request("orders/create", "dup-2", &body, SHOPIFY_SECRET),
        ts(NOW),
        &mut store,
    );
    assert_eq!(events_of(&other)[0].id, events_of(&first)[0].id);
}

#[test]
fn refusals_are_clear_4xx_and_store_nothing() {
    let router = ingest_router();
    let mut store = MemoryStore::new();
    let status = |topic: &str, body: &[u8], store: &mut MemoryStore| {
        let h = router.handle(
            &shopify_request(topic, "x", body, SHOPIFY_SECRET),
            ts(NOW),
            store,
        );
        (
            h.response.status,
            h.response.body["error"].as_str().unwrap_or("").to_string(),
        )
    };
    assert_eq!(
        status("orders/create", br#"{"email":"a@b.co"}"#, &mut store),
        (400, r#"orders/create: missing field "id""#.to_string())
    );
    let (s, msg) = status(
        "orders/create",
        br#"{"id":1,"line_items":[{"price":"abc"}]}"#,
        &mut store,
    );
    assert_eq!(s, 400);
    assert!(msg.contains("line_items[0].price"), "{msg}");
    let (s, msg) = status("orders/create", b"{not json", &mut store);
    assert_eq!(s, 400);
    assert!(msg.contains("not valid JSON"), "{msg}");
    let (s, msg) = status(
        "customers/update",
        br#"{"id":5,"updated_at":"yesterday"}"#,
        &mut store,
    );
    assert_eq!(s, 400);
    assert!(msg.contains("updated_at"), "{msg}");
    assert!(store.is_empty());

    // Over the limit: 413 before anything else.
    let mut small = ingest_router();
    small.config.max_body = 100;
    let h = small.handle(
        &shopify_request("orders/create", "x", &[b' '; 101], "wrong"),
        ts(NOW),
        &mut store,
    );
    assert_eq!(h.response.status, 413);

    // An unknown topic is recorded and ignored.
    let h = router.handle(
        &shopify_request("app/uninstalled", "u1", br#"{"id":1}"#, SHOPIFY_SECRET),
        ts(NOW),
        &mut store,
    );
    assert_eq!(h.response.status, 200);
    assert_eq!(h.response.body["status"], "ignored");
    assert_eq!(store.len(), 1);

    let get = storeflow_ingest::Request {
        method: "GET".into(),
        ..storeflow_ingest::Request::post("/health", Default::default(), "")
    };
    assert_eq!(
        router.handle(&get, ts(NOW), &mut store).response.status,
        200
    );
    let get_hook = storeflow_ingest::Request {
        path: "/webhooks/shopify".into(),
        ..get.clone()
    };
    assert_eq!(
        router
            .handle(&get_hook, ts(NOW), &mut store)
            .response
            .status,
        405
    );
    let nowhere = storeflow_ingest::Request::post("/nowhere", Default::default(), "");
    assert_eq!(
        router.handle(&nowhere, ts(NOW), &mut store).response.status,
        404
    );
}

#[test]
fn an_older_customer_update_after_a_newer_one_does_not_win() {
    let Some(body) = fixture("shopify/customers_update.json") else {
        return;
    };
    let base: Value = serde_json::from_slice(&body).unwrap();
    let version = |name: &str, at: &str| {
        let mut v = base.clone();
        v["first_name"] = json!(name);
        v["updated_at"] = json!(at);
        serde_json::to_vec(&v).unwrap()
    };
    let mut store = MemoryStore::new();
    let newer = events_of(&deliver(
        "customers/update",
        &version("Robert", "2026-11-23T12:00:00Z"),
        &mut store,
    ));
    let older = events_of(&deliver(
        "customers/update",
        &version("Bob", "2026-11-23T10:00:00Z"),
        &mut store,
    ));
    let mut sim = Simulator::new(Engine::new(starter()));
    for e in newer.into_iter().chain(older) {
        sim.feed(ts("2026-11-23T13:00:00Z"), e);
    }
    let c = sim.customer_by_email("bob@biller.com").unwrap();
    assert_eq!(c.profile.field_str("first_name"), Some("Robert"));
}

#[test]
fn redaction_erases_raw_deliveries_and_the_profile() {
    let (Some(create), Some(redact), Some(data)) = (
        fixture("shopify/customers_create.json"),
        fixture("shopify/customers_redact.json"),
        fixture("shopify/customers_data_request.json"),
    ) else {
        return;
    };
    // The docs' redact sample names another customer: point it at Bob.
    let redact = String::from_utf8(redact)
        .unwrap()
        .replace("191167", "706405506930370084")
        .replace("john@example.com", "bob@biller.com");
    let data = String::from_utf8(data)
        .unwrap()
        .replace("191167", "706405506930370084")
        .replace("john@example.com", "bob@biller.com");
    let mut store = MemoryStore::new();
    let created = events_of(&deliver("customers/create", &create, &mut store));
    let mut sim = Simulator::new(Engine::new(starter()));
    for e in created {
        sim.feed(ts(NOW), e);
    }
    let h = deliver("customers/data_request", data.as_bytes(), &mut store);
    let Some(storeflow_ingest::Accepted::Privacy(
        storeflow_core::customer::privacy::PrivacyRequest::ExportCustomer {
            shop,
            customer,
            request_id,
        },
    )) = h.accepted.first()
    else {
        panic!("{h:?}")
    };
    assert_eq!(request_id.as_deref(), Some("9999"));
    let export = sim.export_customer(shop, customer);
    assert_eq!(export[0]["profile"]["email"]["value"], "bob@biller.com");

    let h = deliver("customers/redact", redact.as_bytes(), &mut store);
    assert_eq!(h.response.body["erased_deliveries"], 1);
    let Some(storeflow_ingest::Accepted::Privacy(
        storeflow_core::customer::privacy::PrivacyRequest::EraseCustomer { shop, customer, .. },
    )) = h.accepted.first()
    else {
        panic!("{h:?}")
    };
    let erased = sim.erase_customer(shop, customer, ts(NOW));
    assert_eq!(erased.len(), 1);
    assert!(sim.customer_by_email("bob@biller.com").is_none());
    let raw = store
        .deliveries()
        .find(|d| d.topic == "customers/create")
        .unwrap();
    assert!(raw.body.is_empty() && raw.erased_at.is_some());
    // A redelivery of the erased webhook is still a duplicate.
    assert!(store.seen(&raw.key).unwrap().is_some());
}

#[test]
fn tracking_calls_with_the_write_key_and_identity_joining() {
    let router = ingest_router();
    let mut store = MemoryStore::new();
    let view = json!({"type": "track", "event": "Product Viewed", "messageId": "m1", "anonymousId": "anon-9",
        "timestamp": "2026-11-23T14:00:00Z", "properties": {"product_id": "linen-shirt", "name": "Linen shirt", "price": 65}});
    let h = router.handle(
        &tracking_request("track", &view, WRITE_KEY),
        ts(NOW),
        &mut store,
    );
    assert_eq!(h.response.status, 200, "{:?}", h.response.body);
    let e = events_of(&h);
    assert_eq!(e[0].name(), "product_viewed");
    assert_eq!(e[0].occurred_at, ts("2026-11-23T14:00:00Z"));
    // Same messageId again: nothing changes.
    let h = router.handle(
        &tracking_request("track", &view, WRITE_KEY),
        ts(NOW),
        &mut store,
    );
    assert!(h.accepted.is_empty());
    assert_eq!(h.response.body["duplicates"], 1);
    // A wrong key: 401, nothing stored.
    let other = json!({"type": "track", "event": "Product Viewed", "messageId": "m2", "anonymousId": "anon-9", "properties": {"product_id": "p"}});
    let h = router.handle(
        &tracking_request("track", &other, "nope"),
        ts(NOW),
        &mut store,
    );
    assert_eq!(h.response.status, 401);
    assert_eq!(store.len(), 1);
    // No product id: 400 naming it.
    let bad = json!({"type": "track", "event": "Product Viewed", "messageId": "m3", "anonymousId": "a", "properties": {}});
    let h = router.handle(
        &tracking_request("track", &bad, WRITE_KEY),
        ts(NOW),
        &mut store,
    );
    assert_eq!(h.response.status, 400);
    assert!(h.response.body["error"]
        .as_str()
        .unwrap()
        .contains("product_id"));
    // Identify with an email joins the browsing to the customer.
    let ident = json!({"type": "identify", "messageId": "m4", "anonymousId": "anon-9", "userId": "u-1",
        "timestamp": "2026-11-23T14:05:00Z", "traits": {"email": "ann@example.com", "firstName": "Ann"}});
    let h2 = router.handle(
        &tracking_request("identify", &ident, WRITE_KEY),
        ts(NOW),
        &mut store,
    );
    let mut sim = Simulator::new(Engine::new(starter()));
    for e in e.into_iter().chain(events_of(&h2)) {
        sim.feed(ts(NOW), e);
    }
    let ann = sim.customer_by_email("ann@example.com").unwrap();
    assert!(ann.profile.anonymous_ids.contains("anon-9"));
    assert_eq!(sim.customers().len(), 1);
}

#[test]
fn the_segment_spec_samples_are_accepted() {
    let router = ingest_router();
    let mut store = MemoryStore::new();
    for (call, file) in [
        ("identify", "segment/identify.json"),
        ("track", "segment/track.json"),
        ("page", "segment/page.json"),
        ("alias", "segment/alias.json"),
        ("batch", "segment/batch.json"),
    ] {
        let Some(body) = fixture(file) else { return };
        let v: Value = serde_json::from_slice(&body).unwrap();
        // The docs' samples share one messageId: a store each.
        let mut store = MemoryStore::new();
        let h = router.handle(&tracking_request(call, &v, WRITE_KEY), ts(NOW), &mut store);
        assert_eq!(h.response.status, 200, "{file}: {:?}", h.response.body);
        assert!(!h.accepted.is_empty(), "{file}");
    }
    // The batch's invalid "2015-2-02…" timestamps fall back to arrival.
    let Some(batch) = fixture("segment/batch.json") else {
        return;
    };
    let v: Value = serde_json::from_slice(&batch).unwrap();
    let e = events_of(&router.handle(
        &tracking_request("batch", &v, WRITE_KEY),
        ts(NOW),
        &mut store,
    ));
    assert_eq!(e.len(), 4);
    assert_eq!(e[0].occurred_at, ts("2012-12-02T00:30:08.276Z"));
    assert_eq!(e[2].occurred_at, ts(NOW));
    assert_eq!(e[1].name(), "song_played");
    let Some(props) = fixture("segment/ecommerce_v2_order_completed.properties.json") else {
        return;
    };
    let m = json!({"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "oc-1",
        "properties": serde_json::from_slice::<Value>(&props).unwrap()});
    let e = events_of(&router.handle(
        &tracking_request("track", &m, WRITE_KEY),
        ts(NOW),
        &mut store,
    ));
    let EventKind::OrderPlaced(o) = &e[0].kind else {
        panic!("{e:?}")
    };
    assert_eq!(
        (o.order_id.as_str(), o.total, o.line_items.len()),
        ("50314b8e9bcf000000000000", 27.5, 2)
    );
    assert_eq!(o.discount_codes, vec!["hasbros".to_string()]);
}

#[test]
fn shopline_webhooks_with_hex_signatures() {
    let Some(body) = fixture("shopline/overview_example_customer_body.json") else {
        return;
    };
    let sig = storeflow_ingest::signature::sign_hex(SHOPLINE_SECRET.as_bytes(), &body);
    let headers: storeflow_ingest::Headers = [
        ("X-Shopline-Topic", "customers/create"),
        ("X-Shopline-Hmac-Sha256", sig.as_str()),
        ("X-Shopline-Shop-Domain", "shophub.myshopline.com"),
        ("X-Shopline-Webhook-Id", "b54557e48a5fbf7d70bcd043"),
    ]
    .into_iter()
    .collect();
    let req = storeflow_ingest::Request::post("/webhooks/shopline", headers, body);
    let mut store = MemoryStore::new();
    let h = ingest_router().handle(&req, ts(NOW), &mut store);
    assert_eq!(h.response.status, 200, "{:?}", h.response.body);
    let e = events_of(&h);
    assert_eq!(e[0].customer.email.as_deref(), Some("test1@joyy.com"));
    assert_eq!(
        e[0].id.as_str(),
        "shopline:customers/create:421475190:2023-05-26T11:25:47Z"
    );
    assert!(e.iter().any(|e| matches!(&e.kind, EventKind::ConsentChanged(c) if c.status == storeflow_core::model::event::ConsentStatus::Subscribed)));
}

#[test]
fn checkout_abandonment_runs_from_shopify_deliveries() {
    let d = simulate_events_file("shopify-checkout-abandoned.jsonl", "2026-11-24T00:00:00Z");
    let sent: Vec<(&str, &str)> = d
        .iter()
        .filter(|d| d["kind"] == "message" && d["profile"] == "maya@example.com")
        .map(|d| (d["template"].as_str().unwrap(), d["at"].as_str().unwrap()))
        .collect();
    assert!(
        sent.contains(&("checkout_reminder", "2026-11-23T16:00:00Z")),
        "{sent:?}"
    );
}

#[test]
fn a_checkout_that_gets_its_email_in_an_update_is_still_reminded() {
    let checkout = |email: Value, at: &str| {
        json!({"token": "tok-late", "cart_token": "cart-late", "email": email,
               "created_at": "2026-11-23T14:00:00Z", "updated_at": at,
               "currency": "USD", "total_price": "60.00",
               "line_items": [{"product_id": 1, "variant_id": 2, "title": "Tee", "quantity": 1, "price": "60.00"}]})
    };
    let mut store = MemoryStore::new();
    let mut sim = Simulator::new(Engine::new(starter()));
    // Lea subscribed to email weeks before (the reminder is marketing).
    let consent: storeflow_core::Event = serde_json::from_value(json!({
        "id": "consent-lea", "shop": "northwind.myshopify.com", "type": "consent_changed",
        "occurred_at": "2026-11-01T10:00:00Z", "customer": {"email": "lea@example.com"},
        "properties": {"channel": "email", "status": "subscribed"}}))
    .unwrap();
    sim.feed(ts("2026-11-01T10:00:00Z"), consent);
    let mut decisions = Vec::new();
    for (topic, body, at) in [
        (
            "checkouts/create",
            checkout(Value::Null, "2026-11-23T14:00:00Z"),
            "2026-11-23T14:00:05Z",
        ),
        (
            "checkouts/update",
            checkout(json!("lea@example.com"), "2026-11-23T14:10:00Z"),
            "2026-11-23T14:10:05Z",
        ),
    ] {
        let body = serde_json::to_vec(&body).unwrap();
        let req = shopify_request(topic, &format!("wh-{topic}"), &body, SHOPIFY_SECRET);
        let h = ingest_router().handle(&req, ts(at), &mut store);
        assert_eq!(h.response.status, 200, "{:?}", h.response.body);
        for e in events_of(&h) {
            decisions.extend(sim.feed(ts(at), e));
        }
    }
    decisions.extend(sim.run_until(ts("2026-11-24T00:00:00Z")));
    let reminders: Vec<_> = decisions
        .iter()
        .filter(|d| d.template() == Some("checkout_reminder") && d.kind == Kind::Message)
        .map(|d| (d.profile.to_string(), d.at))
        .collect();
    assert_eq!(
        reminders,
        vec![("lea@example.com".to_string(), ts("2026-11-23T15:10:00Z"))],
        "one reminder, an hour after the email arrived"
    );
}

#[test]
fn an_order_in_time_ends_checkout_abandonment_from_shopify_deliveries() {
    let d = simulate_events_file("shopify-checkout-ordered.jsonl", "2026-11-30T00:00:00Z");
    let sent: Vec<&str> = d
        .iter()
        .filter(|d| d["kind"] == "message" && d["profile"] == "noah@example.com")
        .map(|d| d["template"].as_str().unwrap())
        .collect();
    assert!(!sent.contains(&"checkout_reminder"), "{sent:?}");
    assert!(sent.contains(&"thank_you_first"), "{sent:?}");
    assert_eq!(
        sent.iter().filter(|t| **t == "shipping_update").count(),
        2,
        "{sent:?}"
    );
}

#[test]
fn every_sample_lambda_event_is_accepted_by_the_router() {
    let dir = repo_root().join("events");
    let mut n = 0;
    for sub in ["shopify", "shopline", "segment"] {
        for f in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = f.unwrap().path();
            if !p.to_string_lossy().ends_with(".lambda.json") {
                continue;
            }
            let ev: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let body = ev["body"].as_str().unwrap();
            let body = if ev["isBase64Encoded"] == true {
                decode_base64(body)
            } else {
                body.as_bytes().to_vec()
            };
            let headers: storeflow_ingest::Headers = ev["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let req =
                storeflow_ingest::Request::post(ev["rawPath"].as_str().unwrap(), headers, body);
            let h = ingest_router().handle(&req, ts(NOW), &mut MemoryStore::new());
            assert_eq!(
                h.response.status,
                200,
                "{}: {:?}",
                p.display(),
                h.response.body
            );
            n += 1;
        }
    }
    assert!(n >= 30, "{n}");
}

fn decode_base64(s: &str) -> Vec<u8> {
    const A: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.chars().filter(|c| *c != '=') {
        bits = bits << 6 | A.find(c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// A group of deliveries committed together: one whose storage fails is
/// answered with an error and rolled back alone, the others are kept, and
/// the failed one is taken as new when Shopify retries it.
#[test]
fn a_delivery_whose_storage_fails_in_a_group_commit_is_rolled_back_alone() {
    let dir = temp_dir("group_commit_failure");
    let db = dir.join("storeflow.db");
    let store = storeflow_sqlite::Sqlite::open(&db).unwrap();
    // A failing disk for one customer's item only, injected beside the store.
    let side = rusqlite::Connection::open(storeflow_sqlite::store::ingest_path(&db)).unwrap();
    side.execute_batch(
        "CREATE TRIGGER fail_one BEFORE INSERT ON inbox WHEN NEW.item LIKE '%fail-me@%'
         BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END;",
    )
    .unwrap();
    let router = ingest_router();
    let body = |n: u32, email: &str| {
        serde_json::to_vec(&json!({"id": 7000 + n, "email": email, "first_name": "A",
            "created_at": "2026-11-23T14:00:00Z", "updated_at": "2026-11-23T14:00:00Z"}))
        .unwrap()
    };
    let reqs = [
        shopify_request(
            "customers/create",
            "w1",
            &body(1, "one@example.com"),
            SHOPIFY_SECRET,
        ),
        shopify_request(
            "customers/create",
            "w2",
            &body(2, "fail-me@example.com"),
            SHOPIFY_SECRET,
        ),
        shopify_request(
            "customers/create",
            "w3",
            &body(3, "three@example.com"),
            SHOPIFY_SECRET,
        ),
    ];
    let batch: Vec<_> = reqs.iter().map(|r| (&router, r, ts(NOW))).collect();
    let answers = store.accept_batch(&batch).unwrap();
    assert_eq!(answers[0].as_ref().unwrap().response.status, 200);
    assert!(answers[1].is_err(), "{:?}", answers[1]);
    assert_eq!(answers[2].as_ref().unwrap().response.status, 200);
    let inbox = store.inbox(10).unwrap();
    let items: Vec<String> = inbox
        .iter()
        .map(|i| match &i.item {
            storeflow_sqlite::deliveries::Inboxed::Event(e) => {
                e.customer.email.clone().unwrap_or_default()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(items, ["one@example.com", "three@example.com"]);
    assert_eq!(
        store.deliveries_kept().unwrap(),
        2,
        "the failed delivery left nothing"
    );

    // The disk recovers; Shopify's retry of the failed delivery is new, the
    // others are duplicates.
    side.execute_batch("DROP TRIGGER fail_one").unwrap();
    let again: Vec<_> = reqs.iter().map(|r| (&router, r, ts(NOW))).collect();
    let answers = store.accept_batch(&again).unwrap();
    assert!(answers
        .iter()
        .all(|a| a.as_ref().unwrap().response.status == 200));
    assert_eq!(store.inbox(10).unwrap().len(), 3);
    assert_eq!(store.deliveries_kept().unwrap(), 3);
}

/// A database written before the ingest file existed (deliveries, facts
/// and the inbox in the main file) opens with nothing lost: its unapplied
/// items are still there to apply, the engine's mark of how far it applied
/// starts below them, and a redelivery is still a duplicate.
#[test]
fn a_database_from_before_the_ingest_file_opens_with_its_inbox_and_deliveries() {
    let dir = temp_dir("ingest_file_upgrade");
    let db = dir.join("storeflow.sqlite");
    let router = ingest_router();
    let body = serde_json::to_vec(
        &json!({"id": 7101, "email": "old@example.com", "first_name": "O",
        "created_at": "2026-11-23T14:00:00Z", "updated_at": "2026-11-23T14:00:00Z"}),
    )
    .unwrap();
    let req = shopify_request("customers/create", "old-1", &body, SHOPIFY_SECRET);
    {
        let store = storeflow_sqlite::Sqlite::open(&db).unwrap();
        assert_eq!(
            store
                .accept(&router, &req, ts(NOW))
                .unwrap()
                .response
                .status,
            200
        );
    }
    // Make it the old layout: the ingest tables and their rows in the main
    // file, and no ingest file.
    let ingest = storeflow_sqlite::store::ingest_path(&db);
    {
        let main = rusqlite::Connection::open(&db).unwrap();
        main.execute("ATTACH DATABASE ?1 AS ingest", [ingest.to_str().unwrap()])
            .unwrap();
        main.execute_batch("DROP TABLE applied").unwrap();
        for t in ["deliveries", "delivery_subjects", "facts", "inbox"] {
            main.execute_batch(&format!(
                "CREATE TABLE main.{t} AS SELECT * FROM ingest.{t} WHERE 0"
            ))
            .unwrap();
            main.execute_batch(&format!("INSERT INTO main.{t} SELECT * FROM ingest.{t}"))
                .unwrap();
        }
        main.execute_batch("DETACH DATABASE ingest").unwrap();
    }
    for f in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{f}", ingest.display()));
    }

    let store = storeflow_sqlite::Sqlite::open(&db).unwrap();
    let inbox = store.inbox(10).unwrap();
    assert_eq!(inbox.len(), 1, "the unapplied item is still there");
    assert_eq!(store.deliveries_kept().unwrap(), 1);
    let main = rusqlite::Connection::open(&db).unwrap();
    let left: i64 = main
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('inbox', 'deliveries', 'facts', 'delivery_subjects')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "moved out of the main file");
    // Shopify's redelivery is a duplicate, and a new delivery's item comes
    // after the old one.
    let again = store.accept(&router, &req, ts(NOW)).unwrap();
    assert_eq!(again.response.status, 200);
    assert!(again.accepted.is_empty(), "a duplicate: {again:?}");
    let body2 = serde_json::to_vec(
        &json!({"id": 7102, "email": "new@example.com", "first_name": "N",
        "created_at": "2026-11-23T14:00:00Z", "updated_at": "2026-11-23T14:00:00Z"}),
    )
    .unwrap();
    let req2 = shopify_request("customers/create", "new-1", &body2, SHOPIFY_SECRET);
    assert_eq!(
        store
            .accept(&router, &req2, ts(NOW))
            .unwrap()
            .response
            .status,
        200
    );
    let inbox = store.inbox(10).unwrap();
    assert_eq!(inbox.len(), 2);
    assert!(inbox[0].seq < inbox[1].seq);
    // Applied up to the first: only the second is left.
    store.done(inbox[0].seq).unwrap();
    let left = store.inbox(10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].seq, inbox[1].seq);
}

/// Applied items do not stay in the ingest file: the accepting writer
/// deletes them as deliveries keep coming (in batches), and what was applied
/// before a restart is gone once the store is open again.
#[test]
fn applied_inbox_items_are_deleted_from_the_ingest_file() {
    let dir = temp_dir("inbox_pruned");
    let db = dir.join("storeflow.sqlite");
    let router = ingest_router();
    let request = |n: u32| {
        let body = serde_json::to_vec(
            &json!({"id": 9000 + n, "email": format!("p{n}@example.com"),
            "created_at": "2026-11-23T14:00:00Z", "updated_at": "2026-11-23T14:00:00Z"}),
        )
        .unwrap();
        shopify_request(
            "customers/create",
            &format!("prune-{n}"),
            &body,
            SHOPIFY_SECRET,
        )
    };
    let rows_in_ingest_file = || -> i64 {
        rusqlite::Connection::open(storeflow_sqlite::store::ingest_path(&db))
            .unwrap()
            .query_row("SELECT count(*) FROM inbox", [], |r| r.get(0))
            .unwrap()
    };
    let store = storeflow_sqlite::Sqlite::open(&db).unwrap();
    let reqs: Vec<_> = (0..1100).map(request).collect();
    for group in reqs.chunks(100) {
        let batch: Vec<_> = group.iter().map(|r| (&router, r, ts(NOW))).collect();
        for a in store.accept_batch(&batch).unwrap() {
            assert_eq!(a.unwrap().response.status, 200);
        }
    }
    let mut last = 0;
    loop {
        let items = store.inbox(500).unwrap();
        let Some(item) = items.last() else { break };
        last = item.seq;
        store.done(last).unwrap();
    }
    assert_eq!(rows_in_ingest_file(), 1100, "not deleted by the engine");

    let next = request(2000);
    assert_eq!(
        store
            .accept(&router, &next, ts(NOW))
            .unwrap()
            .response
            .status,
        200
    );
    assert_eq!(rows_in_ingest_file(), 1, "only the new delivery's item");
    let left = store.inbox(10).unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].seq > last);

    // Applied, then the process stops before another delivery came.
    store.done(left[0].seq).unwrap();
    drop(store);
    let store = storeflow_sqlite::Sqlite::open(&db).unwrap();
    assert_eq!(rows_in_ingest_file(), 0);
    assert!(store.inbox(10).unwrap().is_empty());
}
