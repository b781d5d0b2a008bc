//! Results on SQLite: every fact (`results`), and the facts summed per UTC
//! day, scope and counter (`rollups`), both written in the transaction of
//! the commit or delivery that made them. Reports of flows, messages,
//! holdouts and segments read the rollups of the period's days; cohorts
//! and predictions read the orders and refunds.

use crate::store::*;
use jiff::civil::Date;
use rusqlite::{params, Connection, OpenFlags};
use storeflow_app::ports::StoreError;
use storeflow_core::results::facts::{Fact, FactKind};
use storeflow_core::results::rollup::{self, Rollups, Scope};

/// Facts ready to store: (key, instant, kind, JSON) each.
pub(crate) struct Prepared {
    rows: Vec<(String, i64, &'static str, String)>,
}

fn kind_name(k: FactKind) -> &'static str {
    match k {
        FactKind::Order => "order",
        FactKind::Refund => "refund",
        FactKind::Credit => "credit",
        FactKind::Message => "message",
        _ => "",
    }
}

/// Serializes `facts`, outside any lock.
pub(crate) fn prepare(facts: &[Fact]) -> Result<Prepared, StoreError> {
    let mut rows = Vec::with_capacity(facts.len());
    for f in facts {
        let text = serde_json::to_string(f).map_err(|e| corrupt("fact", e))?;
        rows.push((f.key(), us(f.at), kind_name(f.kind), text));
    }
    Ok(Prepared { rows })
}

/// Writes prepared facts and adds their counters, in the caller's
/// transaction. A fact whose key is stored already (seen before) is
/// skipped, counters and all.
pub(crate) fn write(conn: &Connection, p: &Prepared, facts: &[Fact]) -> Result<(), StoreError> {
    let mut counters = Rollups::new();
    for ((key, at, kind, text), f) in p.rows.iter().zip(facts) {
        let n = crate::exec(
            conn,
            "INSERT INTO results (key, at_us, kind, fact) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key) DO NOTHING",
            params![key, at, kind, text],
        )
        .map_err(unavailable)?;
        if n == 1 {
            rollup::add(&mut counters, f);
        }
    }
    for ((day, scope), sums) in &counters {
        let (day, scope) = (day.to_string(), scope.key());
        for (name, v) in sums {
            crate::exec(
                conn,
                "INSERT INTO rollups (day, scope, name, value) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (day, scope, name) DO UPDATE SET value = value + excluded.value",
                params![day, scope, name, v],
            )
            .map_err(unavailable)?;
        }
    }
    Ok(())
}

/// The database at `path`, opened for reading only (`storeflow report
/// --data`, beside a running `serve`).
pub fn open_read_only(path: &std::path::Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Unavailable(format!(
            "{}: no such database (is this serve's --data folder?)",
            path.display()
        )));
    }
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(unavailable)
}

/// The counters of the days `from..=to`, and the segment counters of every
/// day up to `to` (for members at its end).
pub fn read_rollups(
    c: &Connection,
    from: Date,
    to: Date,
) -> Result<(Rollups, Rollups), StoreError> {
    let mut days = Rollups::new();
    let mut q = c
        .prepare("SELECT day, scope, name, value FROM rollups WHERE day >= ?1 AND day <= ?2")
        .map_err(unavailable)?;
    let rows = q
        .query_map(params![from.to_string(), to.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, f64>(3)?,
            ))
        })
        .map_err(unavailable)?;
    for row in rows {
        let (day, scope, name, v) = row.map_err(unavailable)?;
        let (Ok(day), Some(scope)) = (day.parse::<Date>(), Scope::parse(&scope)) else {
            continue;
        };
        *days
            .entry((day, scope))
            .or_default()
            .entry(name)
            .or_default() += v;
    }
    let mut totals = Rollups::new();
    let mut q = c
        .prepare(
            "SELECT scope, name, SUM(value) FROM rollups \
             WHERE scope >= 'segment' AND scope < 'segmenu' AND day <= ?1 GROUP BY scope, name",
        )
        .map_err(unavailable)?;
    let rows = q
        .query_map(params![to.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, f64>(2)?,
            ))
        })
        .map_err(unavailable)?;
    for row in rows {
        let (scope, name, v) = row.map_err(unavailable)?;
        if let Some(scope) = Scope::parse(&scope) {
            *totals
                .entry((to, scope))
                .or_default()
                .entry(name)
                .or_default() += v;
        }
    }
    Ok((days, totals))
}

/// Every order and refund fact, oldest first (cohorts, predictions).
pub fn read_orders(c: &Connection) -> Result<Vec<Fact>, StoreError> {
    read_kinds(c, "kind IN ('order', 'refund')")
}

/// The facts of messages' lives (sent, delivered, opened, clicked, …) from
/// `from` until `to`, oldest first.
pub fn read_message_facts(
    c: &Connection,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<Vec<Fact>, StoreError> {
    // Rows stored before message facts had their kind name have none.
    let mut facts = read_kinds(
        c,
        &format!(
            "kind IN ('message', '') AND at_us >= {} AND at_us < {}",
            from.as_microsecond(),
            to.as_microsecond()
        ),
    )?;
    facts.retain(|f| f.kind == FactKind::Message);
    Ok(facts)
}

/// Every credit, oldest first (which attribution settings applied when).
pub fn read_credits(c: &Connection) -> Result<Vec<Fact>, StoreError> {
    read_kinds(c, "kind = 'credit'")
}

fn read_kinds(c: &Connection, filter: &str) -> Result<Vec<Fact>, StoreError> {
    let mut q = c
        .prepare(&format!(
            "SELECT fact FROM results WHERE {filter} ORDER BY at_us, seq"
        ))
        .map_err(unavailable)?;
    let rows = q
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(unavailable)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(json(&r.map_err(unavailable)?, "fact")?);
    }
    Ok(out)
}

/// Every fact, oldest first.
pub fn read_facts(c: &Connection) -> Result<Vec<Fact>, StoreError> {
    read_kinds(c, "1 = 1")
}

impl Sqlite {
    /// Every fact stored, oldest first.
    pub fn facts(&self) -> Result<Vec<Fact>, StoreError> {
        self.with(|c| read_facts(c))
    }

    /// Stores facts (and adds their counters) in one transaction: facts a
    /// runtime learns outside a customer commit.
    pub fn record_facts(&self, facts: &[Fact]) -> Result<(), StoreError> {
        let p = prepare(facts)?;
        self.with(|c| in_transaction(c, |tx| write(tx, &p, facts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storeflow_core::model::channel::Channel;
    use storeflow_core::results::facts::Lifecycle;

    #[test]
    fn a_fact_stored_twice_counts_once_and_counters_read_back_by_day() {
        let db = Sqlite::in_memory().unwrap();
        let at: jiff::Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let mut sent = Fact::new(at, FactKind::Message, "p_1".into());
        sent.lifecycle = Some(Lifecycle::Sent);
        sent.first = true;
        sent.flow = Some("welcome".into());
        sent.version = Some(1);
        sent.step = Some("welcome_1".into());
        sent.channel = Some(Channel::Email);
        sent.message = Some("00ab".into());
        let mut order = Fact::new(at, FactKind::Order, "p_1".into());
        order.order = Some("1001".into());
        order.amount = 40.0;
        db.record_facts(&[sent.clone(), order.clone()]).unwrap();
        // A redelivery of the same facts.
        db.record_facts(&[sent, order]).unwrap();
        let day = jiff::civil::date(2026, 3, 1);
        let (days, _) = db.with(|c| read_rollups(c, day, day)).unwrap();
        assert_eq!(days.len(), 1, "{days:?}");
        let c = days.values().next().unwrap();
        assert_eq!((c["sent"], c["recipients"]), (1.0, 1.0));
        assert_eq!(db.with(|c| read_orders(c)).unwrap().len(), 1);
        let next = jiff::civil::date(2026, 3, 2);
        assert!(db
            .with(|c| read_rollups(c, next, next))
            .unwrap()
            .0
            .is_empty());
    }

    #[test]
    fn erasing_a_customer_deletes_their_facts_and_keeps_the_counters() {
        let db = Sqlite::in_memory().unwrap();
        let at: jiff::Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let order = |who: &str, id: &str| {
            let mut f = Fact::new(at, FactKind::Order, who.into());
            f.order = Some(id.into());
            f.amount = 10.0;
            f
        };
        let mut seg = Fact::new(at, FactKind::SegmentEnter, "p_1".into());
        seg.segment = Some("buyers".into());
        db.record_facts(&[order("p_1", "a"), order("pX1", "b"), seg])
            .unwrap();
        db.erase_profile(&storeflow_core::model::ids::ProfileId::parse("p_1").unwrap())
            .unwrap();
        let left = db.facts().unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(&*left[0].profile, "pX1");
        let day = jiff::civil::date(2026, 3, 1);
        let (days, _) = db.with(|c| read_rollups(c, day, day)).unwrap();
        assert_eq!(days.len(), 1, "the segment's counters stay");
    }
}
