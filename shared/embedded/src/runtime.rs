//! `Runtime`: the store, the live configuration and the three workers.

use crate::clock::Clock;
pub use crate::live::Live;
use futures_util::FutureExt;
use jiff::{SignedDuration, Timestamp};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use storeflow_app::dispatch::Router;
use storeflow_app::panic_message;
use storeflow_app::ports::StoreError;
use storeflow_app::ports::{DeliverError, Delivered};
use storeflow_app::App;
use storeflow_channels::{OutboxDir, Smtp, WebhookPoster};
use storeflow_core::model::channel::Channel;
use storeflow_core::results::facts::Lifecycle;
use storeflow_core::{Config, Decision, Event, Message};
use storeflow_ingest::EnvOverrides;
use storeflow_sqlite::dead_letters::{LetterKind, WakeOf};
use storeflow_sqlite::deliveries::Inboxed;
use storeflow_sqlite::timers::Due;
use storeflow_sqlite::Sqlite;
use tokio::sync::{watch, Notify};

/// Inbox items read at a time.
const INBOX_BATCH: usize = 256;

/// How long one transaction of the engine's work may grow. The outbox and
/// timer workers and the profile view wait for it (the main file's
/// connection); acknowledgements do not (they write the ingest file).
const BATCH_TIME: Duration = Duration::from_millis(20);

/// How long the engine lets accepted events gather after it was woken, so
/// that one transaction applies many: each commit writes the pages its
/// events share (indexes, the trace's last page, the applied mark) once,
/// and costs a round of WAL writes. Nobody notices an event applied 20 ms
/// later; under a steady 3,000 webhooks/s, batches of 5 ms cost the engine
/// measurably more CPU per event (BENCHMARKS.md).
const INBOX_LINGER: Duration = Duration::from_millis(20);

/// Loads and validates the configuration directory (the CLI's loader: the
/// error names file and field).
pub type Loader = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// Called with every decision as it is committed (the demo prints them).
pub type Report = Arc<dyn Fn(&Decision) + Send + Sync>;

/// How long a message a provider keeps refusing for now is retried.
const GIVE_UP_AFTER: SignedDuration = SignedDuration::from_hours(24);

/// Whether a failure is the store's outage (worth trying again) rather
/// than the input's own problem.
fn is_outage(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<StoreError>(),
        Some(StoreError::Unavailable(_) | StoreError::Conflict(_))
    )
}

/// The wait after `attempts` refusals (at least one): 5 s doubling to at
/// most an hour.
fn retry_delay(attempts: u32) -> SignedDuration {
    let doublings = attempts.saturating_sub(1).min(10);
    SignedDuration::from_secs(5 << doublings).min(SignedDuration::from_hours(1))
}

pub struct Options {
    pub data_dir: PathBuf,
    /// `STOREFLOW_SMTP_URL`, credentials and CA; without it email goes to
    /// the outbox folder.
    pub smtp: Option<storeflow_channels::SmtpSettings>,
    /// `STOREFLOW_WEBHOOK_SECRET`: with it, webhook steps are POSTed, signed
    /// with it; without it they go to the outbox folder (never unsigned).
    pub webhook_secret: Option<String>,
    pub env: EnvOverrides,
    /// `STOREFLOW_ADMIN_TOKENS`: what opens the non-public endpoints.
    pub admin: storeflow_app::admin::AdminTokens,
    /// `STOREFLOW_ADMIN_PASSWORD_HASH`: the console's sign-in password, as
    /// an argon2 hash (`storeflow hash-password`).
    pub admin_password_hash: Option<String>,
    /// Called with each inbox event just before it is applied, inside the
    /// dead-letter guard. `None` in every deployment; tests use it to make
    /// one input fail as a bug would, and check that it stops only itself.
    pub before_apply: Option<BeforeApply>,
}

/// See [`Options::before_apply`].
pub type BeforeApply = Arc<dyn Fn(&Event) + Send + Sync>;

pub struct Runtime {
    pub store: Arc<Sqlite>,
    /// Accepted deliveries, committed in groups (`accept`).
    pub acceptor: crate::accept::Acceptor,
    pub clock: Arc<dyn Clock>,
    pub data_dir: PathBuf,
    pub outbox: OutboxDir,
    pub admin: storeflow_app::admin::AdminTokens,
    /// The console's credentials (`storeflow_console::auth`).
    pub console_auth: Arc<storeflow_console::auth::Auth>,
    before_apply: Option<BeforeApply>,
    live: RwLock<Arc<Live>>,
    loader: Loader,
    env: EnvOverrides,
    /// Carriers by channel: SMTP and webhook POSTs when configured, the
    /// outbox folder for the rest.
    router: Router,
    /// Messages a provider refused for now: (attempts, first refusal). Kept
    /// in memory: after a restart a message simply starts its backoff again.
    retries: std::sync::Mutex<std::collections::HashMap<String, (u32, Timestamp)>>,
    report: Option<Report>,
    pub(crate) poke_inbox: Notify,
    poke_outbox: Notify,
    poke_timers: Notify,
    stop: watch::Sender<bool>,
    /// Inbox items whose application panicked, by seq, with the panic's
    /// message: their batch was rolled back, and the next pass sets them
    /// aside as dead letters instead of applying them.
    poisoned: std::sync::Mutex<std::collections::HashMap<i64, String>>,
    /// A worker ended before `shutdown` was asked (a bug: it panicked).
    worker_died: std::sync::atomic::AtomicBool,
    /// Campaign starts known to be enrolled, so the timer loop does not ask
    /// the database about past campaigns on every tick.
    campaigns_done: std::sync::Mutex<std::collections::HashSet<(String, Timestamp)>>,
    /// The UTC day of the last refit of the prediction models (`None`:
    /// the first timer tick refits).
    refitted_on: std::sync::Mutex<Option<jiff::civil::Date>>,
    /// The model each shop's refit last reported (`refit_if_due`).
    refit_said: std::sync::Mutex<
        std::collections::HashMap<
            storeflow_core::model::ids::ShopId,
            storeflow_core::predict::forecast::Model,
        >,
    >,
}

impl Runtime {
    /// Opens the data directory (database and outbox) and loads the
    /// configuration.
    pub fn open(
        opts: Options,
        loader: Loader,
        clock: Arc<dyn Clock>,
        report: Option<Report>,
    ) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(&opts.data_dir)
            .map_err(|e| anyhow::anyhow!("{}: {e}", opts.data_dir.display()))?;
        let store = Sqlite::open(&opts.data_dir.join("storeflow.sqlite"))?;
        let config = loader().map_err(anyhow::Error::msg)?;
        let smtp = match &opts.smtp {
            Some(settings) => Some(Smtp::new(settings)?),
            None => None,
        };
        let webhooks = match &opts.webhook_secret {
            Some(secret) => Some(
                WebhookPoster::new(secret)
                    .map_err(|e| anyhow::anyhow!("STOREFLOW_WEBHOOK_SECRET: {e}"))?,
            ),
            None => None,
        };
        let outbox = opts.data_dir.join("outbox");
        let mut router = Router::new(|_| "the outbox folder takes every channel".into())
            .route(&Channel::ALL, Arc::new(OutboxDir::new(outbox.clone())));
        if let Some(smtp) = smtp {
            router = router.route(&[Channel::Email, Channel::Alert], Arc::new(smtp));
        }
        if let Some(poster) = webhooks {
            router = router.route(&[Channel::Webhook], Arc::new(poster));
        }
        // A bad password hash stops `serve` here, naming the variable.
        let console_auth = Arc::new(
            storeflow_console::auth::Auth::new(
                opts.admin_password_hash.as_deref(),
                opts.admin.clone(),
                &config.link_secret,
                config.settings.store.links_base_url.starts_with("https://"),
            )
            .map_err(anyhow::Error::msg)?,
        );
        let (stop, _) = watch::channel(false);
        let store = Arc::new(store);
        let rt = Arc::new(Runtime {
            acceptor: crate::accept::Acceptor::start(store.clone())?,
            store,
            clock,
            outbox: OutboxDir::new(outbox),
            console_auth,
            admin: opts.admin,
            before_apply: opts.before_apply,
            data_dir: opts.data_dir,
            live: RwLock::new(Arc::new(Live::new(config, &opts.env))),
            loader,
            env: opts.env,
            router,
            retries: Default::default(),
            report,
            poke_inbox: Notify::new(),
            poke_outbox: Notify::new(),
            poke_timers: Notify::new(),
            stop,
            campaigns_done: Default::default(),
            refitted_on: Default::default(),
            refit_said: Default::default(),
            worker_died: Default::default(),
            poisoned: Default::default(),
        });
        rt.load_models()?;
        Ok(rt)
    }

    /// Gives the engine each shop's stored prediction model; the day of
    /// the newest refit among them is today's, when it is.
    fn load_models(&self) -> anyhow::Result<()> {
        let shops = self.store.shops()?;
        storeflow_app::ready(self.app().load_models(&shops))?;
        let newest = shops
            .iter()
            .filter_map(|s| self.live().engine.model(s))
            .map(|m| m.as_of)
            .max();
        // A model fitted through day d has `as_of` d + 1.
        *self.refitted() = newest.and_then(|d| d.yesterday().ok());
        Ok(())
    }

    fn refitted(&self) -> std::sync::MutexGuard<'_, Option<jiff::civil::Date>> {
        self.refitted_on.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refits every shop's prediction model now (the daily refit, and
    /// `POST /admin/refit`).
    pub async fn refit(&self) -> anyhow::Result<Vec<storeflow_app::predictions::Refitted>> {
        let now = self.clock.now();
        let done = self.app().refit(now).await?;
        *self.refitted() = Some(now.to_zoned(jiff::tz::TimeZone::UTC).date());
        Ok(done)
    }

    /// The daily refit, started at the first timer tick of each UTC day on
    /// a thread of its own: a large store's fit takes seconds, and timers
    /// are due within a second.
    fn refit_if_due(self: &Arc<Self>) {
        let today = self.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
        {
            let mut done = self.refitted();
            if done.is_some_and(|d| d >= today) {
                return;
            }
            // Claimed for today whatever happens: a failed refit is tried
            // again tomorrow or on demand, not at every tick.
            *done = Some(today);
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let me = self.clone();
        let started = std::thread::Builder::new()
            .name("storeflow-refit".into())
            .spawn(move || {
                if let Err(e) = crate::priority::lower_this_thread() {
                    eprintln!("storeflow: refit: runs at normal priority: {e}");
                }
                match handle.block_on(me.refit()) {
                    Ok(done) => {
                        // Said when a shop's model first serves, or changes
                        // kind (intervals to BG/NBD): not every day.
                        let mut said = me.refit_said.lock().unwrap_or_else(|e| e.into_inner());
                        for r in &done {
                            if said.insert(r.shop.clone(), r.model.model) == Some(r.model.model) {
                                continue;
                            }
                            eprintln!(
                                "storeflow: predictions for {} refitted: {} ({})",
                                r.shop,
                                serde_json::to_string(&r.model.model).unwrap_or_default(),
                                r.model.reason
                            );
                        }
                    }
                    Err(e) => eprintln!("storeflow: predictions: the refit failed: {e:#}"),
                }
            });
        if let Err(e) = started {
            eprintln!("storeflow: predictions: no thread for the refit: {e}");
        }
    }

    pub fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn app(&self) -> App<Arc<Sqlite>> {
        App::new(self.live().engine.clone(), self.store.clone())
    }

    /// Loads the configuration again; a bad one keeps the old running.
    pub fn reload(&self) -> Result<(), String> {
        let config = (self.loader)()?;
        let mut live = Live::new(config, &self.env);
        // The fitted models stay: they are the store's, not the files'.
        live.engine = live.engine.with_models_of(&self.live().engine);
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(live);
        self.poke_timers.notify_one();
        Ok(())
    }

    /// Asks the workers to finish what they hold and stop.
    pub fn shutdown(&self) {
        // `send` stores nothing when no receiver exists at that moment
        // (no worker idle, nobody awaiting `stopped`): the request was then
        // lost and the server never stopped. `send_replace` always stores.
        self.stop.send_replace(true);
        self.poke_inbox.notify_one();
        self.poke_outbox.notify_one();
        self.poke_timers.notify_one();
    }

    /// Resolves once `shutdown` was asked.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn poisoned(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, String>> {
        self.poisoned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inputs or wake-ups may be waiting (a replayed dead letter): the
    /// inbox and timer workers look now.
    pub fn poke_workers(&self) {
        self.poke_inbox.notify_one();
        self.poke_timers.notify_one();
    }

    /// Messages may be waiting: the outbox worker looks now.
    pub fn poke_outbox(&self) {
        self.poke_outbox.notify_one();
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn report(&self, ds: &[Decision]) {
        if let Some(r) = &self.report {
            ds.iter().for_each(|d| r(d));
        }
    }

    /// Waits for a poke, a stop, or at most `max` of real time.
    async fn idle(&self, poke: &Notify, max: Duration) {
        let mut stop = self.stop.subscribe();
        tokio::select! {
            _ = poke.notified() => {}
            _ = stop.changed() => {}
            _ = tokio::time::sleep(max) => {}
        }
    }

    /// Starts the three workers, each on a thread of its own; the future
    /// resolves when `shutdown` was asked and each has finished the item it
    /// held.
    ///
    /// Not tasks on the HTTP runtime: the engine's batch, the timer
    /// wake-ups and the outbox's file writes block on SQLite and the disk
    /// for milliseconds at a time, and a blocked runtime worker stops
    /// answering webhooks until it is done. On threads of their own they
    /// are preempted by the kernel instead, so an acknowledgement does not
    /// queue behind them; and they run at a lower priority than the threads
    /// that acknowledge.
    pub fn start_workers(
        self: &Arc<Self>,
    ) -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
        let inbox =
            self.on_own_thread("storeflow-inbox", |r| async move { r.inbox_worker().await })?;
        let timers =
            self.on_own_thread(
                "storeflow-timers",
                |r| async move { r.timer_worker().await },
            )?;
        let outbox =
            self.on_own_thread(
                "storeflow-outbox",
                |r| async move { r.outbox_worker().await },
            )?;
        Ok(async move {
            let _ = tokio::join!(inbox, timers, outbox);
        })
    }

    /// Runs `work` on a new thread (called within an async runtime); the
    /// receiver resolves when it returned (or the thread died).
    fn on_own_thread<F, Fut>(
        self: &Arc<Self>,
        name: &str,
        work: F,
    ) -> std::io::Result<tokio::sync::oneshot::Receiver<()>>
    where
        F: FnOnce(Arc<Self>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        // The future runs on the new thread, its timers and I/O on the
        // caller's runtime: one runtime in the process, not one per worker.
        let handle = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let (done, finished) = tokio::sync::oneshot::channel();
        let me = self.clone();
        let name = name.to_string();
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                // Acknowledgements first when the cores are busy: what this
                // worker holds is durable and can wait (see `priority`).
                if let Err(e) = crate::priority::lower_this_thread() {
                    eprintln!("storeflow: {name}: runs at normal priority: {e}");
                }
                // However the thread ends (a panic included), a worker that
                // was not asked to stop takes the server down with it: a
                // server that acknowledges webhooks nobody applies, or sends
                // nothing, is worse than one a supervisor restarts.
                let _exit = WorkerExit {
                    rt: me.clone(),
                    name,
                    done: Some(done),
                };
                handle.block_on(work(me));
            })?;
        Ok(finished)
    }

    /// Whether a worker ended before `shutdown` was asked (it panicked):
    /// the server then stops, and should exit with an error.
    pub fn worker_died(&self) -> bool {
        self.worker_died.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Applies everything in the inbox now (also used at start: what was
    /// accepted before a crash is applied once).
    ///
    /// An item whose application fails for a reason another try will not
    /// fix (a panic, corrupt stored data, an item that no longer parses) is
    /// set aside as a dead letter with its error, in the same transaction
    /// that marks it done: it stops only itself. A panic rolls its batch
    /// back (it may have written part of its commit); the batch is applied
    /// again with that item set aside. An outage (the disk) stops the batch
    /// instead, to be applied again.
    pub async fn drain_inbox(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        loop {
            let items = self.store.inbox(INBOX_BATCH)?;
            if items.is_empty() {
                return Ok(n);
            }
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                // Events in one transaction (group commit), each item
                // removed from the inbox in it: applied exactly once.
                let engine = self.live().engine.clone();
                let started = std::time::Instant::now();
                let mut decisions = Vec::new();
                let mut dead = Vec::new();
                let mut applied = 0;
                let (r, committed) = self.store.batch(|tx| {
                    let app = App::new(engine, tx);
                    while let Some(it) = items.next_if(|it| {
                        matches!(it.item, Inboxed::Event(_) | Inboxed::Unreadable { .. })
                            && (applied == 0 || started.elapsed() < BATCH_TIME)
                    }) {
                        let now = self.clock.now();
                        // Set aside by an earlier pass, whose batch its
                        // panic rolled back: not applied again.
                        let poisoned = self.poisoned().remove(&it.seq);
                        let failed = match (it.item, poisoned) {
                            (_, Some(error)) => Some((LetterKind::Event, error)),
                            (Inboxed::Event(e), None) => {
                                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                    || {
                                        if let Some(hook) = &self.before_apply {
                                            hook(&e);
                                        }
                                        storeflow_app::ready(app.event(*e, now))
                                    },
                                ));
                                match run {
                                    Ok(Ok(out)) => {
                                        decisions.extend(out.decisions);
                                        None
                                    }
                                    // Found reading or serializing, before
                                    // any write: nothing of it to undo.
                                    Ok(Err(e @ StoreError::Corrupt(_))) => {
                                        Some((LetterKind::Event, e.to_string()))
                                    }
                                    // An outage: tried again.
                                    Ok(Err(e)) => return Err(e),
                                    Err(panic) => {
                                        // It may have written part of its
                                        // commit: the whole batch is rolled
                                        // back and applied again, this item
                                        // set aside. (A savepoint per item
                                        // would cost every event: SQLite
                                        // copies each page a savepoint
                                        // changes.)
                                        self.poisoned().insert(it.seq, panic_message(&*panic));
                                        app.store.abort();
                                        return Err(StoreError::Unavailable(format!(
                                            "inbox item {} panicked; applying the batch again without it",
                                            it.seq
                                        )));
                                    }
                                }
                            }
                            (Inboxed::Unreadable { kind, error }, None) => Some((kind, error)),
                            (Inboxed::Privacy(_), None) => unreachable!("only events are batched"),
                        };
                        if let Some((kind, error)) = failed {
                            app.store
                                .dead_letter(kind, &it.delivery, &it.text, &error, now)?;
                            dead.push((it.seq, error));
                        }
                        app.store.done(it.seq)?;
                        applied += 1;
                    }
                    Ok(())
                });
                // What the batch committed is reported even when an item
                // after it failed (that one stays in the inbox); a batch
                // rolled back is applied again later, and reported then.
                // (Not committed: `r` is the error.)
                if committed {
                    self.report(&decisions);
                    for (seq, error) in dead {
                        eprintln!(
                            "storeflow: inbox item {seq} set aside as a dead letter \
                             (storeflow deadletters list): {error}"
                        );
                    }
                    n += applied;
                }
                if !committed && !self.poisoned().is_empty() {
                    // Rolled back for a panic: read the inbox again, and the
                    // item is set aside this time.
                    break;
                }
                r?;
                if let Some(it) = items.next_if(|it| matches!(it.item, Inboxed::Privacy(_))) {
                    let Inboxed::Privacy(p) = &it.item else {
                        unreachable!("a privacy request")
                    };
                    let now = self.clock.now();
                    let run = std::panic::AssertUnwindSafe(crate::privacy::carry_out(
                        &self.store,
                        &self.data_dir,
                        p,
                        now,
                    ))
                    .catch_unwind()
                    .await;
                    match run {
                        Ok(Ok(line)) => eprintln!("storeflow: privacy: {line}"),
                        Ok(Err(e)) if is_outage(&e) => return Err(e),
                        failed => {
                            let error = match failed {
                                Ok(Err(e)) => format!("{e:#}"),
                                Err(panic) => panic_message(&*panic),
                                Ok(Ok(_)) => unreachable!("matched above"),
                            };
                            self.store.dead_letter(
                                LetterKind::Privacy,
                                &it.delivery,
                                &it.text,
                                &error,
                                now,
                            )?;
                            eprintln!(
                                "storeflow: privacy request {} set aside as a dead letter: {error}",
                                it.seq
                            );
                        }
                    }
                    // Erasing twice after a crash here is harmless.
                    self.store.done(it.seq)?;
                    n += 1;
                }
                if applied > 0 {
                    self.poke_outbox.notify_one();
                    self.poke_timers.notify_one();
                }
            }
        }
    }

    async fn inbox_worker(&self) {
        loop {
            if let Err(e) = self.drain_inbox().await {
                eprintln!("storeflow: inbox: {e:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            if self.stopping() {
                return;
            }
            self.idle(&self.poke_inbox, Duration::from_secs(1)).await;
            if !self.stopping() {
                // Only a stop ends the wait early.
                self.idle(&Notify::new(), INBOX_LINGER).await;
            }
        }
    }

    fn done_campaigns(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashSet<(String, Timestamp)>> {
        self.campaigns_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Fires every wake-up and campaign start due now; returns how many.
    pub async fn fire_due(&self) -> anyhow::Result<usize> {
        let now = self.clock.now();
        let live = self.live();
        let app = self.app();
        let mut n = 0;
        for (start, flow, segment) in live.campaigns.iter().filter(|c| c.0 <= now) {
            let key = (flow.clone(), *start);
            if self.done_campaigns().contains(&key) {
                continue;
            }
            if self.store.campaign_done(flow, *start)? {
                self.done_campaigns().insert(key);
                continue;
            }
            for (shop, p) in self.store.members(segment)? {
                let applied = app.campaign(&shop, &p, flow, now).await?;
                self.report(&applied.decisions);
            }
            self.store.claim_campaign(flow, *start, now)?;
            self.done_campaigns().insert(key);
            n += 1;
        }
        for (_, due) in self.store.due(now, 256)? {
            // No clearing first: the commit after the wake-up sets the next
            // one, so a crash in between fires it again, never not at all.
            let (run, of) = match &due {
                Due::Customer(shop, p) => (
                    std::panic::AssertUnwindSafe(app.wake(shop, p, now))
                        .catch_unwind()
                        .await,
                    WakeOf {
                        shop: shop.clone(),
                        profile: Some(p.clone()),
                    },
                ),
                Due::Shop(shop) => (
                    std::panic::AssertUnwindSafe(app.shop_wake(shop, now))
                        .catch_unwind()
                        .await,
                    WakeOf {
                        shop: shop.clone(),
                        profile: None,
                    },
                ),
            };
            let error = match run {
                Ok(Ok(applied)) => {
                    self.report(&applied.decisions);
                    n += 1;
                    continue;
                }
                Ok(Err(e @ StoreError::Corrupt(_))) => e.to_string(),
                Ok(Err(e)) => return Err(e.into()),
                Err(panic) => panic_message(&*panic),
            };
            // It would fail again at every tick: off the wheel, kept.
            self.store.dead_wake(&of, &error, now)?;
            eprintln!("storeflow: a wake-up set aside as a dead letter: {error}");
            n += 1;
        }
        if n > 0 {
            self.poke_outbox.notify_one();
        }
        Ok(n)
    }

    async fn timer_worker(self: &Arc<Self>) {
        loop {
            self.refit_if_due();
            match self.fire_due().await {
                Ok(n) if n > 0 && !self.stopping() => continue,
                Ok(_) => {}
                Err(e) => eprintln!("storeflow: timers: {e:#}"),
            }
            if self.stopping() {
                return;
            }
            let now = self.clock.now();
            let next_campaign = self
                .live()
                .campaigns
                .iter()
                .map(|c| c.0)
                .filter(|t| *t > now)
                .min();
            let next = [self.store.next_wake().ok().flatten(), next_campaign]
                .into_iter()
                .flatten()
                .min();
            // Within a second of due: never sleep past the next wake-up,
            // and look again at least every second of real time.
            let wait = next
                .map(|t| {
                    self.clock
                        .real(t.duration_since(now).max(SignedDuration::ZERO))
                })
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            self.idle(&self.poke_timers, wait).await;
        }
    }

    /// Delivers every committed message that is due and not yet delivered;
    /// returns how many were settled (delivered or given up).
    ///
    /// A message its provider refuses for now (an SMTP server or a webhook
    /// receiver down) waits, with a growing delay, while the others go on:
    /// one dead receiver never holds up the outbox.
    pub async fn deliver_pending(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        loop {
            let pending = self.store.pending(64, self.clock.now())?;
            if pending.is_empty() {
                return Ok(n);
            }
            for m in pending {
                let now = self.clock.now();
                let mut how = Lifecycle::Delivered;
                match self.deliver(&m, now).await {
                    Ok(_) => {}
                    Err(DeliverError::Permanent(why)) => {
                        eprintln!("storeflow: message {} not delivered: {why}", m.id);
                        how = Lifecycle::Bounced;
                    }
                    Err(DeliverError::Transient(why)) => {
                        let (attempts, since) = {
                            let mut r = self.retries.lock().expect("retries");
                            let e = r.entry(m.id.clone()).or_insert((0, now));
                            e.0 += 1;
                            *e
                        };
                        if now.duration_since(since) < GIVE_UP_AFTER {
                            let wait = retry_delay(attempts);
                            eprintln!(
                                "storeflow: message {} not delivered yet ({why}); attempt {} in {}s",
                                m.id,
                                attempts + 1,
                                wait.as_secs()
                            );
                            self.store.defer(&m.id, now + wait)?;
                            continue;
                        }
                        eprintln!(
                            "storeflow: message {} not delivered: gave up after {attempts} attempts \
                             over {} h: {why}",
                            m.id,
                            GIVE_UP_AFTER.as_hours()
                        );
                        how = Lifecycle::Bounced;
                    }
                }
                self.retries.lock().expect("retries").remove(&m.id);
                self.store.mark_sent(&m, now, how)?;
                n += 1;
            }
        }
    }

    async fn deliver(&self, m: &Message, now: Timestamp) -> Result<Delivered, DeliverError> {
        self.router.carry(m, None, now).await
    }

    async fn outbox_worker(&self) {
        loop {
            let pause = match self.deliver_pending().await {
                Ok(_) => Duration::from_secs(1),
                Err(e) => {
                    eprintln!("storeflow: outbox: {e:#}");
                    Duration::from_secs(5)
                }
            };
            if self.stopping() {
                return;
            }
            self.idle(&self.poke_outbox, pause).await;
        }
    }
}

/// Dropped when a worker's thread ends: says so, and stops the server when
/// nobody asked the worker to stop.
struct WorkerExit {
    rt: Arc<Runtime>,
    name: String,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for WorkerExit {
    fn drop(&mut self) {
        if !self.rt.stopping() {
            eprintln!(
                "storeflow: the {} worker stopped unexpectedly; stopping the server",
                self.name
            );
            self.rt
                .worker_died
                .store(true, std::sync::atomic::Ordering::SeqCst);
            self.rt.shutdown();
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}
