//! Store-level state on SQLite: the `Shops` port and the list of shops.

use crate::store::*;
use jiff::Timestamp;
use rusqlite::{params, Connection};
use storeflow_app::ports::{Shops, StoreError};
use storeflow_core::engine::shop::ShopState;
use storeflow_core::model::ids::ShopId;

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
