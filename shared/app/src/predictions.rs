//! Refitting each shop's prediction model, and handing it to the engine.
//!
//! A refit reads every customer's order history through the [`Models`]
//! port, fits the store's model on the orders up to and including today
//! (UTC), stores it with the shop and gives it to the engine, whose every
//! clone sees it at once. Runtimes refit daily (at the first timer tick of
//! each UTC day) and on demand, and load the stored models when they start.
//!
//! A customer's segment memberships follow the new model at their next
//! evaluation (any event, or the wake-up of an earlier edge), not at the
//! refit itself: that would read every customer again each day.

use crate::evaluate::App;
use crate::ports::{Models, StoreError};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::collections::BTreeMap;
use storeflow_core::model::ids::ShopId;
use storeflow_core::predict::forecast::{fit, History, Options, StoreModel};

/// How long a runtime that does not refit itself (the Lambda functions)
/// trusts the model it read: a refit reaches it within this.
pub const MODEL_REREAD: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// When each shop's model was last read from the store.
#[derive(Debug, Default)]
pub struct ModelsRead(std::sync::Mutex<BTreeMap<ShopId, Timestamp>>);

/// One shop's refit.
#[derive(Debug, Clone, PartialEq)]
pub struct Refitted {
    pub shop: ShopId,
    pub model: StoreModel,
}

impl<B: Models> App<B> {
    /// Refits every shop with orders at `now`; returns the new models.
    pub async fn refit(&self, now: Timestamp) -> Result<Vec<Refitted>, StoreError> {
        let today = now.to_zoned(TimeZone::UTC).date();
        let as_of = today
            .tomorrow()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let p = &self.engine.config.settings.predictions;
        let options = Options {
            as_of,
            horizon_days: p.horizon.days.clamp(1, u32::MAX as i64) as u32,
            annual_discount_rate: p.discount_rate,
            min_customers: p.min_customers,
        };
        let mut by_shop: BTreeMap<ShopId, Vec<(String, History)>> = BTreeMap::new();
        for (shop, id, mut h) in self.store.order_histories().await? {
            // Orders dated after today (a clock ahead of ours) wait.
            h.days.retain(|d| d.0 <= today);
            if !h.days.is_empty() {
                by_shop.entry(shop).or_default().push((id.to_string(), h));
            }
        }
        let mut out = Vec::with_capacity(by_shop.len());
        for (shop, histories) in by_shop {
            let named: Vec<(&str, History)> = histories
                .iter()
                .map(|(id, h)| (id.as_str(), h.clone()))
                .collect();
            let model = fit(&named, &options);
            self.store.save_model(&shop, &model).await?;
            self.engine.set_model(&shop, Some(model.clone()));
            out.push(Refitted { shop, model });
        }
        Ok(out)
    }

    /// Reads the shop's stored model into the engine unless it was read
    /// within [`MODEL_REREAD`] before `now`, or no segment or template
    /// reads predictions.
    pub async fn fresh_model(
        &self,
        shop: &ShopId,
        now: Timestamp,
        read: &ModelsRead,
    ) -> Result<(), StoreError> {
        if !self.engine.config.uses_predictions() {
            // Nothing in the configuration reads the model's numbers.
            return Ok(());
        }
        {
            let mut r = read.0.lock().unwrap_or_else(|e| e.into_inner());
            if r.get(shop)
                .is_some_and(|t| *t <= now && now < *t + MODEL_REREAD)
            {
                return Ok(());
            }
            r.insert(shop.clone(), now);
        }
        if let Some(m) = self.store.load_model(shop).await? {
            if self.engine.model(shop).as_deref() != Some(&m) {
                self.engine.set_model(shop, Some(m));
            }
        }
        Ok(())
    }

    /// Gives the engine the stored model of each of `shops`; returns how
    /// many had one.
    pub async fn load_models(&self, shops: &[ShopId]) -> Result<usize, StoreError> {
        let mut n = 0;
        for shop in shops {
            if let Some(m) = self.store.load_model(shop).await? {
                self.engine.set_model(shop, Some(m));
                n += 1;
            }
        }
        Ok(n)
    }
}
