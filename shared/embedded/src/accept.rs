//! Group commit of accepted deliveries: HTTP handlers hand their request
//! to one writer thread, which runs every request waiting at that moment
//! through the router in one SQLite transaction and answers each only
//! after that transaction committed. Under load the batch grows by
//! itself (the requests that arrived while the previous one was being
//! written); alone, a request is written at once.

use crate::runtime::Live;
use jiff::Timestamp;
use std::sync::mpsc;
use std::sync::Arc;
use storeflow_app::StoreError;
use storeflow_ingest::{Handled, Request};
use storeflow_sqlite::Sqlite;
use tokio::sync::oneshot;

/// At most this many deliveries in one transaction: a bound on how long
/// the first of them waits for the commit.
const MAX_BATCH: usize = 64;

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
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
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
    }
}
