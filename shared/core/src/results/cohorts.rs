//! Cohorts by the calendar month of a customer's first order, in the
//! store's zone: each cohort's size, the share that orders again in month
//! 0, 1, 2, … after it (calendar-month offsets; in month 0, a second order
//! in the first order's month), the repurchase rate (two orders or more),
//! and cumulative net revenue per customer by month.
//!
//! Refunds count against the month of the order they refund, not the
//! month they happened: a cohort's revenue in a month is what its orders
//! of that month finally earned. (Tools differ here; this keeps a month's
//! figure from going negative long after the fact.) So past months' net
//! revenue can still fall while refunds arrive.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::collections::BTreeMap;

/// One order, with what has been refunded of it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFact {
    pub customer: String,
    pub at: Timestamp,
    pub amount: f64,
    pub refunded: f64,
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i16,
    pub month: i8,
}

impl Month {
    pub fn of(t: Timestamp, tz: &TimeZone) -> Month {
        let d = t.to_zoned(tz.clone()).date();
        Month {
            year: d.year(),
            month: d.month(),
        }
    }

    fn index(self) -> i64 {
        self.year as i64 * 12 + (self.month as i64 - 1)
    }

    /// Months from `self` to `later`.
    pub fn offset_to(self, later: Month) -> i64 {
        later.index() - self.index()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One cohort's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    pub month: Month,
    pub size: u64,
    /// Per month offset (0 up to the report's last month): the share of
    /// the cohort that ordered again in that month.
    pub ordered_again: Vec<f64>,
    /// The share with two orders or more (up to the last month).
    pub repurchase_rate: f64,
    /// Per month offset: net revenue per customer, cumulative.
    pub revenue_per_customer: Vec<f64>,
}

/// The cohort table of every order up to the end of month `last`.
pub fn cohorts(orders: &[OrderFact], tz: &TimeZone, last: Month) -> Vec<Cohort> {
    // Each customer's orders by month.
    let mut by_customer: BTreeMap<&str, Vec<(Month, f64)>> = BTreeMap::new();
    for o in orders {
        let m = Month::of(o.at, tz);
        if m > last {
            continue;
        }
        let net = (o.amount - o.refunded).max(0.0);
        by_customer.entry(&o.customer).or_default().push((m, net));
    }
    let mut table: BTreeMap<Month, Cohort> = BTreeMap::new();
    for orders in by_customer.values_mut() {
        orders.sort_by_key(|(m, _)| *m);
        let first = orders[0].0;
        let width = (first.offset_to(last) + 1) as usize;
        let c = table.entry(first).or_insert_with(|| Cohort {
            month: first,
            size: 0,
            ordered_again: vec![0.0; width],
            repurchase_rate: 0.0,
            revenue_per_customer: vec![0.0; width],
        });
        c.size += 1;
        if orders.len() >= 2 {
            c.repurchase_rate += 1.0;
        }
        let mut months_again = vec![false; width];
        let mut in_first = 0;
        for (m, net) in orders.iter() {
            let k = first.offset_to(*m) as usize;
            c.revenue_per_customer[k] += net;
            if k == 0 {
                in_first += 1;
            } else {
                months_again[k] = true;
            }
        }
        months_again[0] = in_first >= 2;
        for (k, again) in months_again.into_iter().enumerate() {
            if again {
                c.ordered_again[k] += 1.0;
            }
        }
    }
    table
        .into_values()
        .map(|mut c| {
            let n = c.size as f64;
            c.repurchase_rate /= n;
            c.ordered_again.iter_mut().for_each(|v| *v /= n);
            let mut total = 0.0;
            for v in c.revenue_per_customer.iter_mut() {
                total += *v;
                *v = total / n;
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(customer: &str, at: &str, amount: f64, refunded: f64) -> OrderFact {
        OrderFact {
            customer: customer.into(),
            at: at.parse().unwrap(),
            amount,
            refunded,
        }
    }

    #[test]
    fn a_cohort_table_by_first_order_month_in_the_store_zone() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let orders = [
            order("a", "2026-01-05T10:00:00Z", 100.0, 0.0),
            order("a", "2026-01-20T10:00:00Z", 50.0, 0.0),
            // A later refund of 10 counts against March.
            order("a", "2026-03-02T10:00:00Z", 30.0, 10.0),
            // 23:30 UTC on 31 January is February in Paris.
            order("b", "2026-01-31T23:30:00Z", 40.0, 0.0),
            // Refunded in full: a customer of the cohort, no revenue.
            order("c", "2026-01-10T10:00:00Z", 80.0, 80.0),
            // After the report's last month: left out.
            order("c", "2026-04-01T10:00:00Z", 99.0, 0.0),
        ];
        let last = Month {
            year: 2026,
            month: 3,
        };
        let t = cohorts(&orders, &tz, last);
        assert_eq!(t.len(), 2);
        let jan = &t[0];
        assert_eq!(jan.month.to_string(), "2026-01");
        assert_eq!(jan.size, 2);
        assert_eq!(jan.ordered_again, vec![0.5, 0.0, 0.5]);
        assert_eq!(jan.repurchase_rate, 0.5);
        assert_eq!(jan.revenue_per_customer, vec![75.0, 75.0, 85.0]);
        let feb = &t[1];
        assert_eq!(feb.month.to_string(), "2026-02");
        assert_eq!(feb.size, 1);
        assert_eq!(feb.ordered_again, vec![0.0, 0.0]);
        assert_eq!(feb.repurchase_rate, 0.0);
        assert_eq!(feb.revenue_per_customer, vec![40.0, 40.0]);
    }
}
