//! Verification + normalization of a large Shopify `orders/create` (50
//! line items) against the floor: parsing the same JSON into a
//! `serde_json::Value`. Target: at most 2× the floor (BENCHMARKS.md).
//!
//! `cargo bench -p storeflow-ingest --bench ingest`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use storeflow_core::model::ids::ShopId;
use storeflow_ingest::signature::sign_base64;
use storeflow_ingest::{Headers, IngestConfig, MemoryStore, Request, Router, Secrets};

const SECRET: &[u8] = b"storeflow-bench-secret";

fn money(a: f64) -> Value {
    let s = format!("{a:.2}");
    json!({"shop_money": {"amount": s, "currency_code": "USD"}, "presentment_money": {"amount": s, "currency_code": "USD"}})
}

/// An order in the shape Shopify sends, with `n` line items.
fn order(n: usize) -> Vec<u8> {
    let lines: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": 7_000_000_000_000_000_000u64 + i as u64, "admin_graphql_api_id": format!("gid://shopify/LineItem/{i}"),
                "attributed_staffs": [], "current_quantity": 1, "fulfillable_quantity": 1, "fulfillment_service": "manual",
                "fulfillment_status": null, "gift_card": false, "grams": 250, "name": format!("Product {i} - Blue / M"),
                "price": "24.50", "price_set": money(24.5), "product_exists": true, "product_id": 8_800_000_000_000_000_000u64 + i as u64,
                "properties": [], "quantity": 1 + i % 3, "requires_shipping": true, "sku": format!("SKU-{i:04}"), "taxable": true,
                "title": format!("Product {i}"), "total_discount": "0.00", "total_discount_set": money(0.0),
                "variant_id": 4_600_000_000_000_000_000u64 + i as u64, "variant_inventory_management": "shopify",
                "variant_title": "Blue / M", "vendor": "Northwind Goods",
                "tax_lines": [{"channel_liable": false, "price": "1.47", "price_set": money(1.47), "rate": 0.06, "title": "State tax"}],
                "duties": [], "discount_allocations": []})
        })
        .collect();
    let addr = json!({"first_name": "Ann", "address1": "48 Orchard Street", "phone": "+14155550142", "city": "New York",
        "zip": "10002", "province": "New York", "country": "United States", "last_name": "Lee", "address2": null,
        "company": null, "latitude": 40.7, "longitude": -73.9, "name": "Ann Lee", "country_code": "US", "province_code": "NY"});
    serde_json::to_vec(&json!({"id": 820982911946154508u64, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
        "buyer_accepts_marketing": true, "cancel_reason": null, "cancelled_at": null, "cart_token": "c1", "checkout_token": "ck1",
        "contact_email": "ann@example.com", "created_at": "2026-11-23T10:00:00-05:00", "currency": "USD",
        "current_total_price": "1300.00", "current_total_price_set": money(1300.0), "customer_locale": "en",
        "discount_codes": [{"code": "BF20", "amount": "20.00", "type": "fixed_amount"}], "email": "ann@example.com",
        "financial_status": "paid", "name": "#1042", "order_number": 1042, "order_status_url": "https://northwind.example.com/orders/x",
        "processed_at": "2026-11-23T10:00:00-05:00", "subtotal_price": "1280.00", "subtotal_price_set": money(1280.0),
        "tags": "", "total_price": "1300.00", "total_price_set": money(1300.0), "total_tax": "73.50", "total_tax_set": money(73.5),
        "updated_at": "2026-11-23T10:00:01-05:00", "billing_address": addr, "shipping_address": addr,
        "customer": {"id": 115310627314723954u64, "email": "ann@example.com", "first_name": "Ann", "last_name": "Lee",
            "state": "enabled", "verified_email": true, "currency": "USD", "default_address": addr},
        "line_items": lines, "fulfillments": [], "refunds": [], "shipping_lines": [], "tax_lines": [], "note_attributes": []}))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let body = order(50);
    let sig = sign_base64(SECRET, &body);
    let headers: Headers = [
        ("X-Shopify-Topic", "orders/create"),
        ("X-Shopify-Hmac-Sha256", sig.as_str()),
        ("X-Shopify-Shop-Domain", "northwind.myshopify.com"),
        ("X-Shopify-Webhook-Id", "bench"),
    ]
    .into_iter()
    .collect();
    let req = Request::post("/webhooks/shopify", headers, body.clone());
    let mut cfg = IngestConfig::new(ShopId::parse("northwind.myshopify.com").unwrap());
    cfg.shopify_secrets = Secrets::new([SECRET]);
    let router = Router::new(cfg);
    let now: jiff::Timestamp = "2026-11-23T15:01:00Z".parse().unwrap();
    println!("orders/create body: {} bytes, 50 line items", body.len());
    assert_eq!(
        router
            .handle(&req, now, &mut MemoryStore::new())
            .response
            .status,
        200
    );

    let mut g = c.benchmark_group("orders_create_50_lines");
    g.bench_function("floor: serde_json::from_slice::<Value>", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&body)).unwrap()))
    });
    g.bench_function("verify + normalize (router, in-memory store)", |b| {
        b.iter(|| {
            // A fresh store each time: every delivery is new, so none is
            // short-cut as a duplicate.
            let mut store = MemoryStore::new();
            black_box(router.handle(black_box(&req), now, &mut store))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
