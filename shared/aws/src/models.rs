//! Each shop's prediction model on DynamoDB (docs/DATA.md, pattern 26):
//! the `Models` port.
//!
//! - The model is one item, `shop#<shop>` / `model`, its JSON in `model`.
//! - A refit reads every customer's orders with a parallel scan of the
//!   state items, as reconciliation does once a day: half a read unit per
//!   4 KB, whatever the traffic, and no index to keep on every commit. The
//!   orders are in the state the engine keeps, so the fit sees exactly the
//!   histories the engine's numbers read.

use crate::codec::inflate;
use crate::keys::{self, STATE};
use crate::table::{corrupt, get_b, get_s, key, n, s, unavailable, Table};
use storeflow_app::ports::{Models, StoreError};
use storeflow_core::customer::profile::order_history_of_state;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::predict::forecast::{History, StoreModel};

/// The sort key of a shop's model item.
pub const MODEL: &str = "model";
/// Parallel segments of a refit's scan, read one after another by one
/// invocation (each page up to 1 MB).
const PARTS: u32 = 4;
const PAGE_ITEMS: i32 = 1000;

impl Models for Table {
    async fn order_histories(&self) -> Result<Vec<(ShopId, ProfileId, History)>, StoreError> {
        let mut out = Vec::new();
        for part in 0..PARTS {
            let mut cursor = None;
            loop {
                let got = self
                    .scan_page(part, PARTS, PAGE_ITEMS, cursor.as_ref())
                    .filter_expression("sk = :state AND begins_with(pk, :profile)")
                    .projection_expression("pk, #state")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":state", s(STATE))
                    .expression_attribute_values(":profile", s("profile#"))
                    .send()
                    .await
                    .map_err(|e| unavailable("Scan orders", e))?;
                self.meter.read("Scan orders", got.consumed_capacity());
                for item in got.items() {
                    let what = get_s(item, "pk").unwrap_or("a state item").to_string();
                    let bytes = get_b(item, "state").ok_or_else(|| corrupt(&what, "no state"))?;
                    let json = inflate(bytes).map_err(|e| corrupt(&what, e))?;
                    let text = std::str::from_utf8(&json).map_err(|e| corrupt(&what, e))?;
                    let (shop, profile, h) =
                        order_history_of_state(text).map_err(|e| corrupt(&what, e))?;
                    if !h.days.is_empty() {
                        out.push((shop, profile, h));
                    }
                }
                match got.last_evaluated_key() {
                    Some(last) => cursor = Some(crate::table::scan_cursor(last)),
                    None => break,
                }
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(out)
    }

    async fn load_model(&self, shop: &ShopId) -> Result<Option<StoreModel>, StoreError> {
        let Some(item) = self.get(key(keys::shop_pk(shop), MODEL), false).await? else {
            return Ok(None);
        };
        let what = format!("the model of shop {shop}");
        let text = get_s(&item, "model").ok_or_else(|| corrupt(&what, "no model"))?;
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| corrupt(&what, e))
    }

    async fn save_model(&self, shop: &ShopId, model: &StoreModel) -> Result<(), StoreError> {
        let text = serde_json::to_string(model).map_err(|e| corrupt("a model", e))?;
        let mut item = key(keys::shop_pk(shop), MODEL);
        item.insert("model".into(), s(text));
        item.insert("as_of".into(), s(model.as_of.to_string()));
        item.insert("customers".into(), n(model.customers));
        self.put(item).await
    }
}
