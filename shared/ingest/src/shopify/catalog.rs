//! `inventory_levels/update` (stock, for back-in-stock) and
//! `products/update` (price changes, for price-drop flows).
//!
//! Neither payload says everything on its own: an inventory level names an
//! inventory item and one location, not the variant or its total stock; a
//! product update gives the new price, not the old one. What earlier
//! deliveries taught is kept as facts in the delivery store.

use super::Ctx;
use crate::fields::{first_time, parse, Id, Money, Time};
use crate::normalized::{nonblank, stamp, Normalized};
use crate::refusal::Refusal;
use crate::store::fact_key;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use storeflow_core::model::event::{EventKind, Identity, InventoryProps, PriceProps};

#[derive(Deserialize)]
struct Level {
    inventory_item_id: Id,
    location_id: Option<Id>,
    available: Option<i64>,
    updated_at: Option<Time>,
}

/// Which variant an inventory item is (learned from product updates).
#[derive(Serialize, Deserialize)]
struct VariantOf {
    variant_id: String,
    product_id: String,
    title: String,
}

pub fn inventory_level(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let l: Level = parse(ctx.topic, body)?;
    let Some(available) = l.available else {
        return Ok(Normalized::ignored(format!(
            "{}: stock of item {} is not tracked",
            ctx.topic, l.inventory_item_id.0
        )));
    };
    let item = &l.inventory_item_id.0;
    let shop = ctx.shop.as_str();
    let location = l.location_id.map(|i| i.0).unwrap_or_else(|| "-".into());
    // The variant's stock is the sum over its locations.
    let stock_key = fact_key("stock", shop, item);
    let mut stock: BTreeMap<String, i64> = ctx
        .facts
        .recall(&stock_key)
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    stock.insert(location.clone(), available);
    let total: i64 = stock.values().map(|v| (*v).max(0)).sum();
    let variant: Option<VariantOf> = ctx
        .facts
        .recall(&fact_key("variant_of", shop, item))
        .and_then(|s| serde_json::from_str(&s).ok());
    let at = ctx.time(first_time(&[l.updated_at]));
    let props = match variant {
        Some(v) => InventoryProps {
            variant_id: v.variant_id,
            product_id: Some(v.product_id),
            available: total,
            title: Some(v.title),
            url: None,
            image_url: None,
        },
        // Not yet seen in a product update: known by its item id.
        None => InventoryProps {
            variant_id: format!("inventory-item-{item}"),
            product_id: None,
            available: total,
            title: None,
            url: None,
            image_url: None,
        },
    };
    let event = ctx.builder().make(
        &[
            "inventory",
            item,
            &location,
            &stamp(at),
            &available.to_string(),
        ],
        at,
        Identity::default(),
        EventKind::InventoryChanged(props),
    );
    Ok(Normalized {
        accepted: vec![event],
        remember: vec![(stock_key, serde_json::to_string(&stock).unwrap_or_default())],
        ..Default::default()
    })
}

#[derive(Deserialize)]
struct Product {
    id: Id,
    title: Option<String>,
    updated_at: Option<Time>,
    #[serde(default)]
    variants: Vec<Variant>,
}

#[derive(Deserialize)]
struct Variant {
    id: Id,
    title: Option<String>,
    price: Option<Money>,
    compare_at_price: Option<Money>,
    inventory_item_id: Option<Id>,
    updated_at: Option<Time>,
}

/// A price change per variant whose price differs from the last one seen;
/// a variant seen for the first time with a compare-at price above its
/// price is on sale, and counts as a change from the compare-at price.
pub fn product(ctx: &Ctx, body: &[u8]) -> Result<Normalized, Refusal> {
    let p: Product = parse(ctx.topic, body)?;
    let shop = ctx.shop.as_str();
    let product_title = nonblank(p.title.as_deref()).unwrap_or_default();
    let mut out = Normalized::default();
    for v in &p.variants {
        let title = match nonblank(v.title.as_deref()) {
            Some(t) if t != "Default Title" && !product_title.is_empty() => {
                format!("{product_title} - {t}")
            }
            _ => product_title.clone(),
        };
        if let Some(item) = &v.inventory_item_id {
            let of = VariantOf {
                variant_id: v.id.0.clone(),
                product_id: p.id.0.clone(),
                title: title.clone(),
            };
            out.remember.push((
                fact_key("variant_of", shop, &item.0),
                serde_json::to_string(&of).unwrap_or_default(),
            ));
        }
        let Some(Money(price)) = v.price else {
            continue;
        };
        let price_key = fact_key("price", shop, &v.id.0);
        let before = ctx
            .facts
            .recall(&price_key)
            .and_then(|s| s.parse::<f64>().ok());
        out.remember.push((price_key, price.to_string()));
        let old = match before {
            Some(b) if (b - price).abs() > 1e-9 => b,
            Some(_) => continue,
            None => match v.compare_at_price {
                Some(Money(c)) if c > price => c,
                _ => continue,
            },
        };
        let at = ctx.time(first_time(&[v.updated_at, p.updated_at]));
        out.accepted.push(ctx.builder().make(
            &[
                "price",
                &v.id.0,
                &old.to_string(),
                &price.to_string(),
                &stamp(at),
            ],
            at,
            Identity::default(),
            EventKind::PriceChanged(PriceProps {
                product_id: p.id.0.clone(),
                variant_id: Some(v.id.0.clone()),
                title: title.clone(),
                old_price: Some(old),
                new_price: price,
                currency: None,
            }),
        ));
    }
    if out.accepted.is_empty() {
        out.note = Some(format!("{}: no price changed", ctx.topic));
    }
    Ok(out)
}
