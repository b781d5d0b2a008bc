//! The overview's figures for a period, computed by the report's own code
//! (`storeflow_core::results::report`): `storeflow report flows` and
//! `report messages` over the same days give the same numbers.

use jiff::civil::Date;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use storeflow_core::results::report as r;
use storeflow_core::results::rollup::Rollups;

/// One channel's messages in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChannelRow {
    pub channel: String,
    pub sent: f64,
    pub delivered: f64,
    pub clicked: f64,
}

/// The overview of `from..=to` (UTC days).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overview {
    pub from: Date,
    pub to: Date,
    pub revenue_net: f64,
    pub orders: f64,
    pub converted: f64,
    pub unsubscribed: f64,
    pub channels: Vec<ChannelRow>,
    /// Attributed net revenue per day, every day of the period.
    pub daily: Vec<(Date, f64)>,
    /// The flows report's rows, best revenue per recipient first.
    pub flows: Vec<Value>,
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

fn rows<T: Serialize>(rows: Vec<T>) -> Vec<Value> {
    rows.into_iter()
        .map(|row| serde_json::to_value(row).unwrap_or_default())
        .collect()
}

impl Overview {
    pub fn of(days: &Rollups, _totals: &Rollups, from: Date, to: Date) -> Overview {
        let within: Rollups = days
            .iter()
            .filter(|((d, _), _)| *d >= from && *d <= to)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut flows = rows(r::flows_of(&within));
        let sum = |k: &str| (flows.iter().map(|f| num(f, k)).sum::<f64>() * 100.0).round() / 100.0;
        let (revenue_net, orders, converted, unsubscribed) = (
            sum("revenue_net"),
            sum("orders"),
            sum("converted"),
            sum("unsubscribed"),
        );
        let mut by_channel: BTreeMap<String, ChannelRow> = BTreeMap::new();
        for m in rows(r::messages_of(&within)) {
            let channel = m["channel"].as_str().unwrap_or("").to_string();
            let e = by_channel.entry(channel.clone()).or_insert(ChannelRow {
                channel,
                ..Default::default()
            });
            e.sent += num(&m, "sent");
            e.delivered += num(&m, "delivered");
            e.clicked += num(&m, "clicked");
        }
        let mut daily = Vec::new();
        let mut d = from;
        while d <= to {
            let one: Rollups = within
                .iter()
                .filter(|((day, _), _)| *day == d)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let net: f64 = rows(r::flows_of(&one))
                .iter()
                .map(|f| num(f, "revenue_net"))
                .sum();
            daily.push((d, (net * 100.0).round() / 100.0));
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => break,
            }
        }
        flows.sort_by(|a, b| {
            num(b, "revenue_per_recipient")
                .total_cmp(&num(a, "revenue_per_recipient"))
                .then_with(|| num(b, "entered").total_cmp(&num(a, "entered")))
        });
        Overview {
            from,
            to,
            revenue_net,
            orders,
            converted,
            unsubscribed,
            channels: by_channel.into_values().collect(),
            daily,
            flows,
        }
    }
}
