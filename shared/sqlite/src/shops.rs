//! Store-level state on SQLite: the `Shops` and `Models` ports and the
//! list of shops.

use crate::store::*;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use storeflow_app::ports::{Shops, StoreError};
use storeflow_core::customer::profile::order_history_of_state;
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::ids::{ProfileId, ShopId};
use storeflow_core::predict::forecast::{History, StoreModel};

pub(crate) fn load_shop_row(
    c: &Connection,
    shop: &ShopId,
) -> Result<Option<(ShopState, u64)>, StoreError> {
    let row = versioned(c, "shops", "shop", shop.as_str(), |stored| {
        stored_json(stored, &format!("shop {shop}"))
    })?;
    Ok(row.map(|(state, v, _)| (state, v)))
}

/// A shop commit's condition, before it writes (as [`check_customer`]).
pub(crate) fn check_shop(
    c: &Connection,
    shop: &ShopId,
    expected: Option<u64>,
) -> Result<(), StoreError> {
    if version_of(c, "shops", "shop", shop.as_str())? != expected {
        return Err(StoreError::Conflict(format!("shop {shop}")));
    }
    Ok(())
}

/// The shop's row, once [`check_shop`] found its condition met.
pub(crate) fn write_shop(
    c: &Connection,
    shop: &ShopId,
    text: &str,
    expected: Option<u64>,
    wake: Option<Timestamp>,
) -> Result<(), StoreError> {
    crate::exec(
        c,
        "INSERT INTO shops (shop, version, state, wake_us) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (shop) DO UPDATE SET version = ?2, state = ?3, wake_us = ?4",
        params![
            shop.as_str(),
            expected.map_or(1, |v| v + 1) as i64,
            text,
            wake.map(us)
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

impl Shops for Sqlite {
    async fn load_shop(&self, shop: &ShopId) -> Result<Option<(ShopState, u64)>, StoreError> {
        self.with(|c| load_shop_row(c, shop))
    }

    async fn commit_shop(
        &self,
        shop: &ShopId,
        state: &ShopState,
        expected: Option<u64>,
        wake: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(state).map_err(|e| corrupt("shop state", e))?;
        self.with(|c| {
            in_transaction(c, |tx| {
                check_shop(tx, shop, expected)?;
                write_shop(tx, shop, &text, expected, wake)
            })
        })
    }
}

impl Sqlite {
    /// Shops with customers (the profile view and `trace` look in each).
    pub fn shops(&self) -> Result<Vec<ShopId>, StoreError> {
        self.with(|c| texts(c, "SELECT DISTINCT shop FROM customers", []))?
            .into_iter()
            .map(|s| ShopId::parse(s).map_err(|e| corrupt("shop", e)))
            .collect()
    }
}

impl storeflow_app::ports::Models for Sqlite {
    async fn order_histories(&self) -> Result<Vec<(ShopId, ProfileId, History)>, StoreError> {
        self.with(|c| {
            let mut q = c
                .prepare("SELECT profile, state FROM customers ORDER BY shop, profile")
                .map_err(unavailable)?;
            let mut rows = q.query([]).map_err(unavailable)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(unavailable)? {
                let id: String = r.get(0).map_err(unavailable)?;
                let what = format!("customer {id}");
                let text = crate::state_codec::decode(r.get_ref(1).map_err(unavailable)?, &what)?;
                let (shop, profile, h) =
                    order_history_of_state(&text).map_err(|e| corrupt(&what, e))?;
                if !h.days.is_empty() {
                    out.push((shop, profile, h));
                }
            }
            Ok(out)
        })
    }

    async fn load_model(&self, shop: &ShopId) -> Result<Option<StoreModel>, StoreError> {
        let text = self.with(|c| {
            c.query_row(
                "SELECT model FROM models WHERE shop = ?1",
                [shop.as_str()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(unavailable)
        })?;
        text.map(|t| json(&t, &format!("the model of shop {shop}")))
            .transpose()
    }

    async fn save_model(&self, shop: &ShopId, model: &StoreModel) -> Result<(), StoreError> {
        let text = serde_json::to_string(model).map_err(|e| corrupt("a model", e))?;
        let fitted = model
            .as_of
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|e| corrupt("a model's date", e))?
            .timestamp();
        self.with(|c| {
            crate::exec(
                c,
                "INSERT INTO models (shop, model, fitted_us) VALUES (?1, ?2, ?3)
                 ON CONFLICT (shop) DO UPDATE SET model = ?2, fitted_us = ?3",
                params![shop.as_str(), text, us(fitted)],
            )
            .map_err(unavailable)?;
            Ok(())
        })
    }
}
