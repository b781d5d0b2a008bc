//! Result counters on DynamoDB: the daily rollups of
//! `storeflow_core::results::rollup`, one item per UTC day, shop and scope
//! (`pk` `rollup#<day>`, `sk` `<shop>␟<scope>`), its counters as number
//! attributes updated with atomic adds. A report reads a period with one
//! Query per day, never a scan; segment counters are also added to
//! `rollup#total`, for members now.
//!
//! A commit's facts are summed in memory, and each function adds the sum
//! to the table once per invocation ([`Table::flush_rollups`]): one
//! `UpdateItem` per day and scope a batch touched, not one per fact. A
//! function that dies after committing and before its flush loses that
//! batch's counters (the states and messages are committed; only the
//! counts miss them).

use crate::keys;
use crate::table::{s, unavailable, Table};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use jiff::civil::Date;
use std::collections::{BTreeMap, HashMap};
use storeflow_core::model::decision::Decision;
use storeflow_core::model::ids::ShopId;
use storeflow_core::results::facts::facts_of;
use storeflow_core::results::rollup::{self, Rollups, Scope};

const SEP: char = '\u{1f}';
const TOTAL: &str = "total";

impl Table {
    /// Adds the facts among a committed evaluation's decisions to the
    /// pending counters.
    pub fn note_facts(&self, shop: &ShopId, decisions: &[Decision]) {
        let mut facts = Vec::new();
        facts_of(decisions, &mut facts);
        self.note_fact_rows(shop, &facts);
    }

    /// Adds facts a function learned outside a commit (a provider's
    /// notice) to the pending counters.
    pub fn note_fact_rows(&self, shop: &ShopId, facts: &[storeflow_core::results::facts::Fact]) {
        if facts.is_empty() {
            return;
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let r = p.entry(shop.as_str().to_string()).or_default();
        for f in facts {
            rollup::add(r, f);
        }
    }

    /// Adds the pending counters to the table: one `UpdateItem` (`ADD`) per
    /// day and scope, and per segment scope one more to its total. On an
    /// error the counters not yet added stay pending.
    pub async fn flush_rollups(&self) -> anyhow::Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut items: Vec<(String, String, BTreeMap<String, f64>)> = Vec::new();
        for (shop, r) in pending {
            let mut totals: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            for ((day, scope), counters) in r {
                let sk = format!("{shop}{SEP}{}", scope.key());
                if matches!(scope, Scope::Segment { .. }) {
                    let t = totals.entry(sk.clone()).or_default();
                    for (n, v) in &counters {
                        *t.entry(n.clone()).or_default() += v;
                    }
                }
                items.push((keys::rollup_pk(&day.to_string()), sk, counters));
            }
            for (sk, c) in totals {
                items.push((keys::rollup_pk(TOTAL), sk, c));
            }
        }
        let mut left = items.into_iter();
        while let Some((pk, sk, counters)) = left.next() {
            if let Err(e) = self.add_counters(&pk, &sk, &counters).await {
                // Put back what was not added, for the next flush.
                let mut back = vec![(pk, sk, counters)];
                back.extend(left);
                self.restore(back);
                return Err(e);
            }
        }
        Ok(())
    }

    async fn add_counters(
        &self,
        pk: &str,
        sk: &str,
        counters: &BTreeMap<String, f64>,
    ) -> anyhow::Result<()> {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut adds = Vec::new();
        for (i, (name, v)) in counters.iter().enumerate() {
            names.insert(format!("#c{i}"), name.clone());
            values.insert(format!(":c{i}"), AttributeValue::N(v.to_string()));
            adds.push(format!("#c{i} :c{i}"));
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(format!("ADD {}", adds.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem rollup", e))?;
        self.meter
            .write("UpdateItem rollup", out.consumed_capacity());
        Ok(())
    }

    fn restore(&self, items: Vec<(String, String, BTreeMap<String, f64>)>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (pk, sk, counters) in items {
            let Some((shop, scope)) = sk.split_once(SEP) else {
                continue;
            };
            let (Some(day), Some(scope)) = (
                pk.strip_prefix("rollup#")
                    .and_then(|d| d.parse::<Date>().ok()),
                Scope::parse(scope),
            ) else {
                // A total: it is made again from the days at the next flush
                // only if they are pending; a lost total is the price of an
                // outage mid-flush.
                continue;
            };
            let e = p
                .entry(shop.to_string())
                .or_default()
                .entry((day, scope))
                .or_default();
            for (n, v) in counters {
                *e.entry(n).or_default() += v;
            }
        }
    }

    /// The counters of the days `from..=to` (every shop's, summed), and the
    /// segment totals of all time.
    pub async fn read_rollups(&self, from: Date, to: Date) -> anyhow::Result<(Rollups, Rollups)> {
        let mut days = Rollups::new();
        let mut d = from;
        while d <= to {
            for (scope, c) in self.query_rollups(&keys::rollup_pk(&d.to_string())).await? {
                let e = days.entry((d, scope)).or_default();
                for (n, v) in c {
                    *e.entry(n).or_default() += v;
                }
            }
            d = d.tomorrow()?;
        }
        let mut totals = Rollups::new();
        for (scope, c) in self.query_rollups(&keys::rollup_pk(TOTAL)).await? {
            let e = totals.entry((to, scope)).or_default();
            for (n, v) in c {
                *e.entry(n).or_default() += v;
            }
        }
        Ok((days, totals))
    }

    async fn query_rollups(&self, pk: &str) -> anyhow::Result<Vec<(Scope, BTreeMap<String, f64>)>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| unavailable("Query rollups", e))?;
            if let Some(c) = page.consumed_capacity() {
                self.meter
                    .read_all("Query rollups", std::slice::from_ref(c));
            }
            for item in page.items() {
                let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) else {
                    continue;
                };
                let Some(scope) = sk.split_once(SEP).and_then(|(_, k)| Scope::parse(k)) else {
                    continue;
                };
                let counters = item
                    .iter()
                    .filter(|(k, _)| k.as_str() != "pk" && k.as_str() != "sk")
                    .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
                    .collect();
                out.push((scope, counters));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}
