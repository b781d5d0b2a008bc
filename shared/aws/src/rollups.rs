//! Result counters on DynamoDB: the daily rollups of
//! `storeflow_core::results::rollup`, updated with atomic adds. Per UTC day
//! and shop (`pk` `rollup#<day>`), one item per flow version (`sk`
//! `<shop>␟flow␟<flow>␟<version>`: its own counters, and its messages' and
//! arms' under `m␟<step>␟<template>␟<variant>␟<channel>␟<counter>` and
//! `a␟<step>␟<arm>␟<counter>`) and one for all segments (`<shop>␟segments`,
//! `<segment>␟<counter>`); each shop's first day under `rollup#first`.
//! A report reads a period with one Query per day, never a scan; members
//! at the end of a period are summed from the first day.
//!
//! A commit's facts are summed in memory, and each function adds the sum
//! to the table once per invocation ([`Table::flush_rollups`]): one
//! `UpdateItem` per shop and day a batch touched, not one per fact. Those
//! items are the homes of their scopes' counters, but an invocation's
//! counters of one shop and day all go into one of them ([`fold`]): the
//! first flow's item takes the segments' (`s␟<segment>␟<counter>`) and
//! other flows' (`f␟<flow>␟<version>␟…`), while it is under 1 KB. A report
//! sums each scope from whichever items of the day hold it. A function
//! that dies after committing and before its flush loses that batch's
//! counters (the states and messages are committed; only the counts miss
//! them).

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
/// The partition of each shop's first day of counters.
const FIRST: &str = "first";

/// The item a scope's counters live in (its sort key after the shop) and
/// the prefix of their attribute names there.
fn item_of(scope: &Scope) -> (String, String) {
    match scope {
        Scope::Flow { flow, version } => (format!("flow{SEP}{flow}{SEP}{version}"), String::new()),
        Scope::Message {
            flow,
            version,
            step,
            template,
            variant,
            channel,
        } => (
            format!("flow{SEP}{flow}{SEP}{version}"),
            format!("m{SEP}{step}{SEP}{template}{SEP}{variant}{SEP}{channel}{SEP}"),
        ),
        Scope::Arm {
            flow,
            version,
            step,
            arm,
        } => (
            format!("flow{SEP}{flow}{SEP}{version}"),
            format!("a{SEP}{step}{SEP}{arm}{SEP}"),
        ),
        Scope::Segment { segment } => ("segments".into(), format!("{segment}{SEP}")),
    }
}

/// The scopes and counters of one item (see [`item_of`]); an item keyed
/// by a scope's own key (an older layout) holds plain counters.
fn expand(
    suffix: &str,
    attrs: impl IntoIterator<Item = (String, f64)>,
) -> Vec<(Scope, BTreeMap<String, f64>)> {
    // Another flow's counters folded into this item (see `Table::fold`):
    // `f␟<flow>␟<version>␟<its own name>`, read as if in its own item.
    let mut own = Vec::new();
    let mut others: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (name, v) in attrs {
        let folded = name.strip_prefix(&format!("f{SEP}")).and_then(|rest| {
            let mut parts = rest.splitn(3, SEP);
            let (flow, version, name) = (parts.next()?, parts.next()?, parts.next()?);
            Some((format!("flow{SEP}{flow}{SEP}{version}"), name.to_string()))
        });
        match folded {
            Some((item, name)) => others.entry(item).or_default().push((name, v)),
            None => own.push((name, v)),
        }
    }
    let mut out: BTreeMap<Scope, BTreeMap<String, f64>> = BTreeMap::new();
    for (item, attrs) in others {
        for (scope, counters) in expand_one(&item, attrs) {
            rollup::sum_into(out.entry(scope).or_default(), counters);
        }
    }
    for (scope, counters) in expand_one(suffix, own) {
        rollup::sum_into(out.entry(scope).or_default(), counters);
    }
    out.into_iter().collect()
}

/// [`expand`] for the counters an item holds as its own.
fn expand_one(
    suffix: &str,
    attrs: impl IntoIterator<Item = (String, f64)>,
) -> Vec<(Scope, BTreeMap<String, f64>)> {
    let mut out: BTreeMap<Scope, BTreeMap<String, f64>> = BTreeMap::new();
    if let Some(scope) = Scope::parse(suffix) {
        if matches!(scope, Scope::Segment { .. }) {
            out.insert(scope, attrs.into_iter().collect());
            return out.into_iter().collect();
        }
    }
    let flow: Option<(String, u32)> = suffix
        .strip_prefix(&format!("flow{SEP}"))
        .and_then(|r| r.rsplit_once(SEP))
        .and_then(|(f, v)| Some((f.to_string(), v.parse().ok()?)));
    for (name, v) in attrs {
        let parts: Vec<&str> = name.split(SEP).collect();
        let scope = match (&flow, parts.as_slice()) {
            (Some((flow, version)), [counter]) => Some((
                Scope::Flow {
                    flow: flow.clone(),
                    version: *version,
                },
                *counter,
            )),
            (Some((flow, version)), ["m", step, template, variant, channel, counter]) => Some((
                Scope::Message {
                    flow: flow.clone(),
                    version: *version,
                    step: step.to_string(),
                    template: template.to_string(),
                    variant: variant.to_string(),
                    channel: channel.to_string(),
                },
                *counter,
            )),
            (Some((flow, version)), ["a", step, arm, counter]) => Some((
                Scope::Arm {
                    flow: flow.clone(),
                    version: *version,
                    step: step.to_string(),
                    arm: arm.to_string(),
                },
                *counter,
            )),
            (None, [segment, counter]) if suffix == "segments" => Some((
                Scope::Segment {
                    segment: segment.to_string(),
                },
                *counter,
            )),
            // Segment counters folded into a flow's item (see `fold`).
            (Some(_), ["s", segment, counter]) => Some((
                Scope::Segment {
                    segment: segment.to_string(),
                },
                *counter,
            )),
            _ => None,
        };
        if let Some((scope, counter)) = scope {
            *out.entry(scope)
                .or_default()
                .entry(counter.to_string())
                .or_default() += v;
        }
    }
    out.into_iter().collect()
}

/// Puts all the counters an invocation adds for one shop and day into
/// one item: the first flow item among them that is not full takes
/// the segments' as `s␟<segment>␟<counter>` and other flows' as
/// `f␟<flow>␟<version>␟<counter name>`. An invocation that changes a
/// segment usually enters or ends a run, and an order can end one run
/// and start another: one write, not two or three. A report sums each
/// scope's counters from whichever items of the day hold them
/// ([`expand`]). An item this process saw cost more than one write unit
/// (over 1 KB: a busy store's day) takes no more, so folding never
/// makes a write dearer than the ones it saves.
fn fold(
    grouped: &mut BTreeMap<(String, String), BTreeMap<String, f64>>,
    full: &std::collections::HashSet<(String, String)>,
) {
    // (pk, shop) → that day's items of the shop.
    let mut by_shop: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (pk, sk) in grouped.keys() {
        if let Some((shop, _)) = sk.split_once(SEP) {
            by_shop
                .entry((pk.clone(), shop.to_string()))
                .or_default()
                .push(sk.clone());
        }
    }
    for ((pk, shop), sks) in by_shop {
        let flow_prefix = format!("{shop}{SEP}flow{SEP}");
        let Some(target) = sks
            .iter()
            .find(|k| k.starts_with(&flow_prefix) && !full.contains(&(pk.clone(), (*k).clone())))
            .cloned()
        else {
            continue;
        };
        for sk in sks.into_iter().filter(|k| *k != target) {
            let prefix = match sk.strip_prefix(&flow_prefix) {
                Some(flow_version) => format!("f{SEP}{flow_version}{SEP}"),
                None if sk.ends_with(&format!("{SEP}segments")) => format!("s{SEP}"),
                None => continue,
            };
            let counters = grouped.remove(&(pk.clone(), sk)).expect("listed above");
            let into = grouped
                .get_mut(&(pk.clone(), target.clone()))
                .expect("found above");
            for (name, v) in counters {
                *into.entry(format!("{prefix}{name}")).or_default() += v;
            }
        }
    }
}

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
    /// item (see the module's doc). On an error the counters not yet added
    /// stay pending.
    pub async fn flush_rollups(&self) -> anyhow::Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        // One item per day and flow (its message and arm counters beside
        // its own) and one per day for all segments: few items, so few
        // writes. Members are summed from the days, from the first.
        let mut grouped: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
        let mut earliest: BTreeMap<String, Date> = BTreeMap::new();
        for (shop, r) in pending {
            for ((day, scope), counters) in r {
                let first = earliest.entry(shop.clone()).or_insert(day);
                *first = (*first).min(day);
                let (suffix, prefix) = item_of(&scope);
                let e = grouped
                    .entry((
                        keys::rollup_pk(&day.to_string()),
                        format!("{shop}{SEP}{suffix}"),
                    ))
                    .or_default();
                for (n, v) in &counters {
                    *e.entry(format!("{prefix}{n}")).or_default() += v;
                }
            }
        }
        fold(
            &mut grouped,
            &self.full_items.lock().unwrap_or_else(|e| e.into_inner()),
        );
        let mut first_error = None;
        for (shop, day) in earliest {
            if let Err(e) = self.note_first_day(&shop, day).await {
                first_error = Some(e);
                break;
            }
        }
        let items: Vec<(String, String, BTreeMap<String, f64>)> = grouped
            .into_iter()
            .map(|((pk, sk), c)| (pk, sk, c))
            .collect();
        if let Some(e) = first_error {
            self.restore(items);
            return Err(e);
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

    /// Makes sure the table's first day of counters for `shop` is not
    /// after `day`: one conditional write the first time a process sees an
    /// earlier day, none after.
    async fn note_first_day(&self, shop: &str, day: Date) -> anyhow::Result<()> {
        let known = self
            .first_day
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(shop)
            .copied();
        if known.is_some_and(|k| k <= day) {
            return Ok(());
        }
        let r = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(keys::rollup_pk(FIRST)))
            .key("sk", s(shop))
            .update_expression("SET #d = :d")
            .condition_expression("attribute_not_exists(#d) OR #d > :d")
            .expression_attribute_names("#d", "day")
            .expression_attribute_values(":d", s(day.to_string()))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match r {
            Ok(o) => self
                .meter
                .write("UpdateItem rollup first", o.consumed_capacity()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable("UpdateItem rollup first", e).into()),
        }
        self.first_day
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shop.to_string(), day);
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
        if out
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .is_some_and(|u| u > 1.0)
        {
            self.full_items
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((pk.to_string(), sk.to_string()));
        }
        self.meter
            .write("UpdateItem rollup", out.consumed_capacity());
        Ok(())
    }

    fn restore(&self, items: Vec<(String, String, BTreeMap<String, f64>)>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (pk, sk, attrs) in items {
            let Some((shop, suffix)) = sk.split_once(SEP) else {
                continue;
            };
            let Some(day) = pk
                .strip_prefix("rollup#")
                .and_then(|d| d.parse::<Date>().ok())
            else {
                continue;
            };
            for (scope, counters) in expand(suffix, attrs) {
                let e = p
                    .entry(shop.to_string())
                    .or_default()
                    .entry((day, scope))
                    .or_default();
                rollup::sum_into(e, counters);
            }
        }
    }

    /// The counters of the days `from..=to` (every shop's, summed), and the
    /// segment counters of every day from the first up to `to` (members at
    /// the end of the period).
    pub async fn read_rollups(&self, from: Date, to: Date) -> anyhow::Result<(Rollups, Rollups)> {
        let first = self
            .query_first_days()
            .await?
            .into_iter()
            .min()
            .unwrap_or(from)
            .min(from);
        let mut days = Rollups::new();
        let mut totals = Rollups::new();
        let mut d = first;
        while d <= to {
            for (scope, c) in self.query_rollups(&keys::rollup_pk(&d.to_string())).await? {
                if matches!(scope, Scope::Segment { .. }) {
                    rollup::sum_into(totals.entry((to, scope.clone())).or_default(), c.clone());
                }
                if d >= from {
                    rollup::sum_into(days.entry((d, scope)).or_default(), c);
                }
            }
            d = d.tomorrow()?;
        }
        Ok((days, totals))
    }

    /// Each shop's first day of counters.
    async fn query_first_days(&self) -> anyhow::Result<Vec<Date>> {
        let page = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::rollup_pk(FIRST)))
            .send()
            .await
            .map_err(|e| unavailable("Query rollup first", e))?;
        Ok(page
            .items()
            .iter()
            .filter_map(|i| i.get("day")?.as_s().ok()?.parse().ok())
            .collect())
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
                let Some((_, suffix)) = sk.split_once(SEP) else {
                    continue;
                };
                let attrs = item
                    .iter()
                    .filter(|(k, _)| k.as_str() != "pk" && k.as_str() != "sk")
                    .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)));
                out.extend(expand(suffix, attrs));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_reads_back_from_the_item_it_is_kept_in() {
        let scopes = [
            Scope::Flow {
                flow: "welcome".into(),
                version: 2,
            },
            Scope::Message {
                flow: "welcome".into(),
                version: 2,
                step: "welcome_1".into(),
                template: "welcome_1".into(),
                variant: String::new(),
                channel: "email".into(),
            },
            Scope::Arm {
                flow: "welcome".into(),
                version: 2,
                step: "split".into(),
                arm: "holdout".into(),
            },
            Scope::Segment {
                segment: "buyers".into(),
            },
        ];
        for s in scopes {
            let (suffix, prefix) = item_of(&s);
            let got = expand(&suffix, [(format!("{prefix}sent"), 3.0)]);
            assert_eq!(
                got,
                vec![(s.clone(), BTreeMap::from([("sent".to_string(), 3.0)]))]
            );
        }
        // A segment's total: its own key, plain counters.
        let total = Scope::Segment {
            segment: "buyers".into(),
        };
        let got = expand(&total.key(), [("entered".to_string(), 2.0)]);
        assert_eq!(
            got,
            vec![(total, BTreeMap::from([("entered".to_string(), 2.0)]))]
        );
    }

    #[test]
    fn an_invocations_counters_fold_into_one_item_and_read_back_the_same() {
        let pk = "rollup#2026-11-23".to_string();
        let shop = "s.myshopify.com";
        let item = |suffix: &str| (pk.clone(), format!("{shop}{SEP}{suffix}"));
        let flow = |f: &str| format!("flow{SEP}{f}{SEP}1");
        let counters = |pairs: &[(&str, f64)]| -> BTreeMap<String, f64> {
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let mut grouped = BTreeMap::from([
            (item(&flow("checkout")), counters(&[("converted", 1.0)])),
            (
                item(&flow("post_purchase")),
                counters(&[
                    ("entered", 1.0),
                    (
                        &format!("m{SEP}thanks{SEP}thanks{SEP}{SEP}email{SEP}sent"),
                        1.0,
                    ),
                ]),
            ),
            (
                item("segments"),
                counters(&[(&format!("buyers{SEP}entered"), 1.0)]),
            ),
        ]);
        let read = |g: &BTreeMap<(String, String), BTreeMap<String, f64>>| {
            let mut out: BTreeMap<Scope, BTreeMap<String, f64>> = BTreeMap::new();
            for ((_, sk), c) in g {
                let suffix = sk.split_once(SEP).unwrap().1;
                for (scope, c) in expand(suffix, c.clone()) {
                    rollup::sum_into(out.entry(scope).or_default(), c);
                }
            }
            out
        };
        let before = read(&grouped);
        let mut one = grouped.clone();
        fold(&mut one, &Default::default());
        assert_eq!(one.len(), 1, "{one:?}");
        assert!(one.contains_key(&item(&flow("checkout"))));
        assert_eq!(read(&one), before);
        // An item known to be over 1 KB takes nothing more: the next flow's
        // item takes everything, that one's counters too.
        let full = std::collections::HashSet::from([item(&flow("checkout"))]);
        fold(&mut grouped, &full);
        assert_eq!(grouped.len(), 1, "{grouped:?}");
        assert!(grouped.contains_key(&item(&flow("post_purchase"))));
        assert_eq!(read(&grouped), before);
    }
}
