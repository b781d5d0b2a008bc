//! The decision trace on SQLite, read back per customer.

use crate::store::*;
use rusqlite::params;
use storeflow_app::ports::StoreError;
use storeflow_core::model::ids::ProfileId;

impl Sqlite {
    /// A customer's decisions, oldest first (`storeflow trace`).
    pub fn decisions(
        &self,
        profile: &ProfileId,
    ) -> Result<Vec<storeflow_core::Decision>, StoreError> {
        let sql = "SELECT decision FROM decisions WHERE profile = ?1 ORDER BY seq";
        let what = format!("trace of {profile}");
        let mut out = Vec::new();
        self.with(|c| {
            each_row(c, sql, params![profile.as_str()], |row| {
                let stored = row.get_ref(0).map_err(unavailable)?;
                let t = crate::state_codec::decode(stored, &what)?;
                // A row is one evaluation's decisions (an array), or one
                // decision in a database written before that.
                if t.starts_with('[') {
                    out.extend(json::<Vec<storeflow_core::Decision>>(&t, &what)?);
                } else {
                    out.push(json(&t, &what)?);
                }
                Ok(())
            })
        })?;
        Ok(out)
    }
}
