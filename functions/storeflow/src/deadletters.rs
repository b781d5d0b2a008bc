//! `storeflow deadletters list|replay`: the inputs `serve` set aside
//! because applying them failed, and handing one back after a fix.

use anyhow::Result;
use std::io::Write;
use std::path::Path;
use storeflow_sqlite::dead_letters::ReplayError;

/// One line per dead letter: id, when, kind, whether replayed, the error;
/// then the item itself, indented.
pub fn list(data: &Path, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32> {
    let Some(store) = crate::serve::open_data(data, err)? else {
        return Ok(1);
    };
    let all = store.dead_letters()?;
    if all.is_empty() {
        writeln!(out, "no dead letters")?;
    }
    for d in all {
        let state = match d.replayed {
            Some(t) => format!("replayed {t}"),
            None => "waiting".into(),
        };
        writeln!(
            out,
            "{} {} {} ({state}): {}",
            d.id,
            d.at,
            d.kind.as_str(),
            d.error
        )?;
        if !d.delivery.is_empty() {
            writeln!(out, "    delivery: {}", d.delivery)?;
        }
        writeln!(out, "    item: {:.2000}", d.item)?;
    }
    Ok(0)
}

/// Puts one back: the running server (or the next start) applies it once.
pub fn replay(
    id: i64,
    data: &Path,
    now: jiff::Timestamp,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let Some(store) = crate::serve::open_data(data, err)? else {
        return Ok(1);
    };
    match store.replay_dead_letter(id, now) {
        Ok(d) => {
            writeln!(
                out,
                "dead letter {id} ({}) handed back to the engine; `storeflow serve` applies it once",
                d.kind.as_str()
            )?;
            Ok(0)
        }
        Err(e @ (ReplayError::NotFound(_) | ReplayError::AlreadyReplayed(..))) => {
            writeln!(err, "{e}")?;
            Ok(1)
        }
        Err(ReplayError::Store(e)) => Err(e.into()),
    }
}
