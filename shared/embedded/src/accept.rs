//! Group commit of accepted deliveries: HTTP handlers hand their request
//! to one writer thread, which runs every request waiting at that moment
//! through the router in one SQLite transaction and answers each only
//! after that transaction committed. Under load the batch grows by
//! itself (the requests that arrived while the previous one was being
//! written), and while deliveries keep coming the writer also waits up to
//! [`GATHER`] for more before it commits; alone, a request is written at
//! once.

use crate::live::Live;
use jiff::Timestamp;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use storeflow_app::StoreError;
use storeflow_ingest::{Handled, Request};
use storeflow_sqlite::Sqlite;
use tokio::sync::oneshot;

/// At most this many deliveries in one transaction: a bound on how long
/// the first of them waits for the commit.
const MAX_BATCH: usize = 64;

/// While deliveries keep coming, how long a group commit waits for more.
///
/// Why: a commit writes every page it touches whole into the WAL (and the
/// checkpoint copies it again), about 7 pages for one delivery: its row,
/// its key's index leaf, a `delivery_subjects` leaf, the inbox's page, the
/// inbox's sequence. At 3,000 webhooks/s over 16 connections most commits
/// held one delivery, 30 KB written per webhook, and in 10-minute runs the
/// disk under that stream is what made acknowledgements stall
/// (BENCHMARKS.md, issue 5). Deliveries sharing a commit share the
/// appended pages.
const GATHER: Duration = Duration::from_millis(1);

/// "Deliveries keep coming": the previous commit ended less than this
/// before the next delivery reached the writer. An idle store's request is
/// written at once.
const BUSY_GAP: Duration = Duration::from_millis(2);

/// Until when the writer gathers deliveries for a commit whose first one
/// reached it at `arrived` (none: commit what is waiting now).
fn gather_until(last_commit: Option<Instant>, arrived: Instant) -> Option<Instant> {
    let busy = last_commit.is_some_and(|t| arrived.saturating_duration_since(t) < BUSY_GAP);
    busy.then(|| arrived + GATHER)
}

struct Job {
    live: Arc<Live>,
    req: Request,
    now: Timestamp,
    reply: oneshot::Sender<Result<Handled, StoreError>>,
}

/// The handle the HTTP handlers use; the writer thread stops when it is
/// dropped.
pub struct Acceptor {
    jobs: mpsc::Sender<Job>,
}

impl Acceptor {
    pub fn start(store: Arc<Sqlite>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("storeflow-accept".into())
            .spawn(move || writer(&store, &rx))?;
        Ok(Acceptor { jobs: tx })
    }

    /// Accepts one request with the router of `live`; answers once it is
    /// durable (or refused, or failed with nothing written).
    pub async fn accept(
        &self,
        live: Arc<Live>,
        req: Request,
        now: Timestamp,
    ) -> Result<Handled, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            live,
            req,
            now,
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(StoreError::Unavailable("the writer thread stopped".into()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the writer thread stopped".into())))
    }
}

fn writer(store: &Sqlite, rx: &mpsc::Receiver<Job>) {
    let mut last_commit = None;
    while let Ok(first) = rx.recv() {
        let until = gather_until(last_commit, Instant::now());
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            let wait = until.map_or(Duration::ZERO, |u| {
                u.saturating_duration_since(Instant::now())
            });
            let next = if wait.is_zero() {
                rx.try_recv().ok()
            } else {
                rx.recv_timeout(wait).ok()
            };
            match next {
                Some(j) => jobs.push(j),
                None => break,
            }
        }
        let batch: Vec<_> = jobs
            .iter()
            .map(|j| (&j.live.router, &j.req, j.now))
            .collect();
        let answers = store.accept_batch(&batch);
        drop(batch);
        match answers {
            Ok(answers) => {
                for (j, a) in jobs.into_iter().zip(answers) {
                    let _ = j.reply.send(a);
                }
            }
            Err(e) => {
                let why = e.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(StoreError::Unavailable(why.clone())));
                }
            }
        }
        last_commit = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_delivery_that_follows_a_commit_closely_waits_for_company() {
        let t0 = Instant::now();
        // The first delivery since start, and one after a quiet spell: at once.
        assert_eq!(gather_until(None, t0), None);
        assert_eq!(gather_until(Some(t0), t0 + BUSY_GAP * 3), None);
        // Close behind the last commit: gathers for GATHER from its arrival.
        let arrived = t0 + BUSY_GAP / 4;
        assert_eq!(gather_until(Some(t0), arrived), Some(arrived + GATHER));
    }
}
