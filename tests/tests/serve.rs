//! `storeflow serve`, the embedded runtime: webhooks in over real HTTP,
//! real timers (on a scaled clock), real MIME mail in the outbox folder,
//! one-click unsubscribe; timers that survive a restart; and a `kill -9`
//! in the middle of a load that loses no accepted webhook and sends no
//! message twice.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use storeflow::demo::post;
use storeflow_embedded::runtime::Options;
use storeflow_embedded::{Clock, Runtime, ScaledClock};
use storeflow_tests::*;

fn options(data: &Path) -> Options {
    serve_options(data)
}

/// `Runtime::open` on the starter pack, with no report hook.
fn starter_runtime(data: &Path, clock: Arc<dyn Clock>) -> Arc<Runtime> {
    let config = repo_root().join("examples/starter");
    Runtime::open(options(data), storeflow::serve::loader(config), clock, None).unwrap()
}

fn shopify_headers(topic: &str, id: &str, body: &[u8]) -> Vec<(String, String)> {
    shopify_webhook_headers(topic, id, body)
}

async fn webhook(addr: SocketAddr, topic: &str, id: &str, body: &Value) -> u16 {
    let body = serde_json::to_vec(body).unwrap();
    post(
        addr,
        "/webhooks/shopify",
        &shopify_headers(topic, id, &body),
        &body,
    )
    .await
    .unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    get_with(addr, path, "").await
}

/// A GET with the admin bearer token (the profile view is not public).
async fn admin_get(addr: SocketAddr, path: &str) -> (u16, String) {
    get_with(
        addr,
        path,
        &format!("Authorization: Bearer {ADMIN_TOKEN}\r\n"),
    )
    .await
}

async fn get_with(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn customer(id: u64, email: &str, at: &str) -> Value {
    json!({"id": id, "email": email, "first_name": "Ann", "created_at": at, "updated_at": at,
           "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": at},
           "default_address": {"country_code": "US", "province_code": "NY"}})
}

fn emls(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    // `email/<first two characters of the id>/<id>.eml`
    for p in storeflow_channels::OutboxDir::new(dir.join("outbox")).files() {
        if p.parent()
            .and_then(|d| d.parent())
            .is_some_and(|d| d.ends_with("outbox/email"))
        {
            let text = std::fs::read_to_string(&p).unwrap();
            out.push((p, text));
        }
    }
    out
}

/// The welcome emails written to `email` in the outbox under `data`.
fn welcome_emails(data: &Path, email: &str) -> usize {
    emls(data)
        .iter()
        .filter(|(_, t)| {
            t.contains(&format!("To: {email}")) && t.contains("X-Storeflow-Flow: welcome")
        })
        .count()
}

/// `storeflow serve`'s `run` on `rt`, listening on a free loopback port.
async fn serve_on_a_free_port(
    rt: &Arc<Runtime>,
) -> (SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (
        addr,
        tokio::spawn(storeflow::serve::run(rt.clone(), listener)),
    )
}

async fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_abandonment_over_http_lands_in_the_outbox_and_unsubscribes_in_one_click() {
    let data = temp_dir("serve-e2e");
    let t0 = ts("2026-11-23T14:00:00Z");
    // An hour of store time passes in a second.
    let clock = Arc::new(ScaledClock::new(t0, 3600.0));
    let rt = starter_runtime(&data, clock.clone());
    let (addr, server) = serve_on_a_free_port(&rt).await;

    assert_eq!(get(addr, "/health").await.0, 200);
    let at = clock.now().to_string();
    assert_eq!(
        webhook(
            addr,
            "customers/create",
            "w-1",
            &customer(501, "ann@example.com", &at)
        )
        .await,
        200
    );
    let checkout = json!({"token": "chk-501", "email": "ann@example.com", "created_at": at, "updated_at": at,
        "currency": "USD", "total_price": "88.00",
        "line_items": [{"product_id": 7, "variant_id": 70, "title": "Linen Shirt", "quantity": 2, "price": "44.00"}]});
    assert_eq!(
        webhook(addr, "checkouts/create", "w-2", &checkout).await,
        200
    );
    // A delivery sent again is a duplicate: 200, nothing new.
    assert_eq!(
        webhook(addr, "checkouts/create", "w-2", &checkout).await,
        200
    );
    // A bad signature is refused and stores nothing.
    let body = serde_json::to_vec(&checkout).unwrap();
    let mut h = shopify_headers("checkouts/create", "w-3", &body);
    h.retain(|(k, _)| k != "X-Shopify-Hmac-Sha256");
    h.push(("X-Shopify-Hmac-Sha256".into(), "AAAA".into()));
    assert_eq!(
        post(addr, "/webhooks/shopify", &h, &body).await.unwrap(),
        401
    );

    // The welcome email now, the checkout reminder an hour (a second) later.
    let reminder = wait_for("the checkout reminder", Duration::from_secs(20), || {
        emls(&data)
            .into_iter()
            .find(|(_, t)| t.contains("X-Storeflow-Flow: checkout_abandonment"))
    })
    .await;
    let text = &reminder.1;
    assert!(text.contains("To: ann@example.com"), "{text}");
    assert!(text.contains("Subject: "), "{text}");
    assert!(
        text.contains("Linen Shirt"),
        "the line items are in the mail: {text}"
    );
    assert!(
        text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{text}"
    );
    assert!(text.contains("multipart/alternative"), "{text}");
    let unsub = text
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: <"))
        .and_then(|l| l.strip_suffix('>'))
        .expect("List-Unsubscribe header");
    let path = &unsub[unsub.find("/u/").unwrap()..];
    // Exactly one reminder, whatever the duplicate delivery did.
    let n = emls(&data)
        .iter()
        .filter(|(_, t)| t.contains("X-Storeflow-Flow: checkout_abandonment"))
        .count();
    assert_eq!(n, 1);

    // The unsubscribe page, then the RFC 8058 one-click POST.
    assert_eq!(get(addr, path).await.0, 200);
    assert_eq!(get(addr, "/u/not-a-token").await.0, 404);
    let one_click = post(
        addr,
        path,
        &[(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        b"List-Unsubscribe=One-Click",
    )
    .await
    .unwrap();
    assert_eq!(one_click, 200);
    // The profile view is for the merchant only.
    let (status, body) = get(addr, "/profiles/ann@example.com").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let wrong = "Authorization: Bearer storeflow-test-admin-tokeN\r\n";
    assert_eq!(
        get_with(addr, "/profiles/ann@example.com", wrong).await.0,
        401
    );
    let (status, view) = admin_get(addr, "/profiles/ann@example.com").await;
    assert_eq!(status, 200, "{view}");
    let view: Value = serde_json::from_str(&view).unwrap();
    assert_eq!(
        view["profile"]["consent"]["email"]["value"], "unsubscribed",
        "{view:#}"
    );
    assert!(view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["template"] == "checkout_reminder"));
    assert_eq!(admin_get(addr, "/profiles/nobody@example.com").await.0, 404);

    // The preference centre (the unsubscribe page links to it, as every
    // email does): the customer sees email off after the one click, and
    // turns it back on.
    let (_, unsub_page) = get(addr, path).await;
    let token = unsub_page
        .split("href=\"../preferences/")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("a preferences link on {unsub_page}"));
    let prefs = format!("/preferences/{token}");
    let (status, page) = get(addr, &prefs).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("ann@example.com") && page.contains("not subscribed"),
        "{page}"
    );
    let form = [(
        "Content-Type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    )];
    let saved = post(addr, &prefs, &form, b"shown_email=1&email=on")
        .await
        .unwrap();
    assert_eq!(saved, 200);
    let (_, view) = admin_get(addr, "/profiles/ann@example.com").await;
    let view: Value = serde_json::from_str(&view).unwrap();
    assert_eq!(
        view["profile"]["consent"]["email"]["value"], "subscribed",
        "{view:#}"
    );
    // A forged preferences link opens nothing.
    assert_eq!(get(addr, &format!("{prefs}0")).await.0, 404);

    rt.shutdown();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // `storeflow trace` explains what happened, from the same data.
    let (code, out, err) =
        storeflow(&["trace", "ann@example.com", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l.contains(" message ")
            && l.contains("template=checkout_reminder")
            && l.ends_with(": marketing: consent and policy allow")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains(" flow_enter flow=checkout_abandonment")
                && l.contains(": trigger: checkout_started")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_due_while_the_process_was_down_fires_on_start_once() {
    let data = temp_dir("serve-restart");
    let t0 = ts("2026-11-23T14:00:00Z");
    {
        // First life: a checkout is accepted and applied; the reminder is an
        // hour away. Then the process "dies" (dropped, no shutdown).
        let clock = Arc::new(ScaledClock::new(t0, 1.0));
        let rt = starter_runtime(&data, clock);
        let (addr, server) = serve_on_a_free_port(&rt).await;
        let at = t0.to_string();
        assert_eq!(
            webhook(
                addr,
                "customers/create",
                "r-1",
                &customer(601, "bo@example.com", &at)
            )
            .await,
            200
        );
        let checkout = json!({"token": "chk-601", "email": "bo@example.com", "created_at": at, "updated_at": at,
            "currency": "USD", "total_price": "10.00",
            "line_items": [{"product_id": 1, "variant_id": 2, "title": "Socks", "quantity": 1, "price": "10.00"}]});
        assert_eq!(
            webhook(addr, "checkouts/create", "r-2", &checkout).await,
            200
        );
        // Both applied: the welcome email written, and the earliest wake-up
        // the checkout's reminder (within the hour), not the welcome's next
        // step days away.
        let reminder_due = t0 + jiff::SignedDuration::from_hours(1);
        wait_for(
            "the welcome email and the checkout",
            Duration::from_secs(20),
            || {
                (!emls(&data).is_empty()
                    && rt
                        .store
                        .next_wake()
                        .unwrap()
                        .is_some_and(|t| t <= reminder_due))
                .then_some(())
            },
        )
        .await;
        server.abort();
    }
    assert!(emls(&data)
        .iter()
        .all(|(_, t)| !t.contains("checkout_abandonment")));
    // Second life, two hours later: the due reminder fires at start, once.
    let later = Arc::new(ScaledClock::new(
        t0 + jiff::SignedDuration::from_hours(2),
        1.0,
    ));
    let rt = starter_runtime(&data, later);
    assert!(rt.fire_due().await.unwrap() > 0, "the due wake-up fires");
    rt.deliver_pending().await.unwrap();
    let reminders = |d: &Path| {
        emls(d)
            .iter()
            .filter(|(_, t)| t.contains("X-Storeflow-Flow: checkout_abandonment"))
            .count()
    };
    assert_eq!(reminders(&data), 1);
    rt.fire_due().await.unwrap();
    rt.deliver_pending().await.unwrap();
    assert_eq!(reminders(&data), 1, "fired once");
}

/// Not a test by itself: the child process the kill -9 test starts and
/// kills (`STOREFLOW_TEST_CHILD` holds its arguments).
#[test]
#[ignore = "started by kill_dash_nine_mid_load_loses_no_accepted_webhook_and_sends_nothing_twice"]
fn child_serve() {
    let Ok(args) = std::env::var("STOREFLOW_TEST_CHILD") else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    let code = storeflow::run(args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}

fn spawn_child(data: &Path, port: u16) -> std::process::Child {
    spawn_child_with(data, port, &[])
}

/// [`spawn_child`] with more environment variables for the server.
fn spawn_child_with(data: &Path, port: u16, env: &[(&str, &str)]) -> std::process::Child {
    child_command(data, port, env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn child_command(data: &Path, port: u16, env: &[(&str, &str)]) -> std::process::Command {
    let args = json!([
        "storeflow",
        "serve",
        "--config",
        repo_root().join("examples/starter"),
        "--listen",
        format!("127.0.0.1:{port}"),
        "--data",
        data
    ]);
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "child_serve",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env("STOREFLOW_TEST_CHILD", args.to_string())
    .env("STOREFLOW_SHOPIFY_SECRETS", SHOPIFY_SECRET)
    .env("STOREFLOW_ADMIN_TOKENS", ADMIN_TOKEN)
    .envs(env.iter().copied());
    cmd
}

/// SIGTERM to a child server; its exit status once it ended.
async fn terminate(mut child: std::process::Child) -> std::process::ExitStatus {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap()
}

async fn wait_up(addr: SocketAddr) {
    wait_for("the server", Duration::from_secs(30), || {
        std::net::TcpStream::connect(addr).ok().map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_mid_load_loses_no_accepted_webhook_and_sends_nothing_twice() {
    let data = temp_dir("serve-kill");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = spawn_child(&data, port);
    wait_up(addr).await;

    // 4 senders, 60 sign-ups each; the process is killed (SIGKILL) while
    // they send. Each sign-up that got a 200 must end with its profile and
    // exactly one welcome email.
    let n = 240u64;
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut senders = Vec::new();
    for s in 0..4u64 {
        let (acked, sent) = (acked.clone(), sent.clone());
        senders.push(tokio::spawn(async move {
            for i in (s..n).step_by(4) {
                let email = format!("k{i}@example.com");
                let body =
                    serde_json::to_vec(&customer(10_000 + i, &email, &now_string())).unwrap();
                let id = format!("kill-{i}");
                let h = shopify_headers("customers/create", &id, &body);
                if let Ok(200) = post(addr, "/webhooks/shopify", &h, &body).await {
                    acked.lock().unwrap().push(email);
                }
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    wait_for("half the load", Duration::from_secs(60), || {
        (sent.load(std::sync::atomic::Ordering::SeqCst) >= n / 2).then_some(())
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= (n / 2) as usize - 8,
        "most of the first half was acknowledged: {}",
        acked.len()
    );
    assert!(acked.len() < n as usize, "the kill interrupted the load");

    // Restart on the same data.
    let mut child = spawn_child(&data, port);
    wait_up(addr).await;
    let welcome_count = |email: &str| welcome_emails(&data, email);
    for email in &acked {
        let (status, body) = wait_for_profile(addr, email).await;
        assert_eq!(
            status, 200,
            "{email} was acknowledged but is missing: {body}"
        );
    }
    wait_for("the welcome emails", Duration::from_secs(60), || {
        acked.iter().all(|e| welcome_count(e) >= 1).then_some(())
    })
    .await;
    for email in &acked {
        assert_eq!(
            welcome_count(email),
            1,
            "{email}: exactly one welcome email"
        );
    }
    // No message file twice under two names, and nothing half-written.
    let files = emls(&data);
    let mut ids: Vec<_> = files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), files.len());
    let _ = child.kill();
    let _ = child.wait();
}

fn now_string() -> String {
    jiff::Timestamp::now().to_string()
}

async fn wait_for_profile(addr: SocketAddr, email: &str) -> (u16, String) {
    let start = Instant::now();
    loop {
        let r = admin_get(addr, &format!("/profiles/{email}")).await;
        if r.0 == 200 || start.elapsed() > Duration::from_secs(30) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn a_bad_configuration_on_reload_keeps_the_running_one_and_names_the_error() {
    let data = temp_dir("serve-reload");
    let config = data.join("config");
    copy_dir(&repo_root().join("examples/starter"), &config);
    let clock = Arc::new(ScaledClock::new(ts("2026-11-23T14:00:00Z"), 1.0));
    let rt = Runtime::open(
        options(&data.join("data")),
        storeflow::serve::loader(config.clone()),
        clock,
        None,
    )
    .unwrap();
    let segments = rt.live().engine.config.segments.len();

    // A flow step pointing nowhere: refused, with file and field.
    let flow = config.join("flows/04_checkout_abandonment.yaml");
    let good = std::fs::read_to_string(&flow).unwrap();
    std::fs::write(&flow, good.replace("else: wait_48h", "else: wait_84h")).unwrap();
    let err = rt.reload().unwrap_err();
    assert!(err.contains("04_checkout_abandonment.yaml"), "{err}");
    assert!(err.contains("wait_84h"), "{err}");
    assert!(rt
        .live()
        .engine
        .config
        .flows
        .contains_key("checkout_abandonment"));

    // Fixed, and with one more segment: swapped in.
    std::fs::write(&flow, good).unwrap();
    std::fs::write(
        config.join("segments/new_big_spenders.yaml"),
        "id: new_big_spenders\ncondition: { metric: total_spent, gte: 1000 }\n",
    )
    .unwrap();
    rt.reload().unwrap();
    assert_eq!(rt.live().engine.config.segments.len(), segments + 1);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_exits_cleanly() {
    let data = temp_dir("serve-term");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = spawn_child(&data, port);
    wait_up(addr).await;
    let mut acked = Vec::new();
    for i in 0..30u64 {
        let email = format!("t{i}@example.com");
        let body = serde_json::to_vec(&customer(20_000 + i, &email, &now_string())).unwrap();
        let h = shopify_headers("customers/create", &format!("term-{i}"), &body);
        if post(addr, "/webhooks/shopify", &h, &body).await.unwrap() == 200 {
            acked.push(email);
        }
    }
    assert_eq!(acked.len(), 30);
    let exit = terminate(child).await;
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    // Everything acknowledged was applied before exit: the inbox is empty.
    let store = storeflow_sqlite::Sqlite::open(&data.join("storeflow.sqlite")).unwrap();
    assert!(
        store.inbox(10).unwrap().is_empty(),
        "nothing left unapplied"
    );
    for e in &acked {
        let key = format!("northwind.myshopify.com|email|{e}");
        assert!(store.profile_for_key(&key).unwrap().is_some(), "{e}");
    }
}

/// `storeflow deadletters …` on `data`, in this process: (code, stdout).
fn deadletters(args: &[&str], data: &Path) -> (i32, String) {
    let mut argv: Vec<String> = ["storeflow", "deadletters"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect();
    argv.extend(["--data".to_string(), data.display().to_string()]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = storeflow::run(argv, &mut out, &mut err);
    let mut text = String::from_utf8(out).unwrap();
    text.push_str(&String::from_utf8(err).unwrap());
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_input_stops_only_itself_and_is_replayed_once_after_a_fix() {
    let data = temp_dir("serve-dead");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = spawn_child(&data, port);
    wait_up(addr).await;

    // The order that once took the server down: dated the year 9999.
    let far = "9999-12-30T21:00:00Z";
    let order = json!({"id": 820_001, "name": "#1001", "email": "far@example.com", "created_at": far,
        "processed_at": far, "updated_at": far, "currency": "USD", "total_price": "10.00",
        "financial_status": "paid",
        "line_items": [{"product_id": 7, "variant_id": 70, "title": "Linen Shirt", "quantity": 1, "price": "10.00"}]});
    assert_eq!(webhook(addr, "orders/create", "dead-1", &order).await, 200);
    // An inbox item no version of storeflow can read (a bug, or a file
    // from elsewhere): set aside, not retried in a loop.
    let ingest = rusqlite::Connection::open(data.join("storeflow-ingest.sqlite")).unwrap();
    ingest
        .execute(
            "INSERT INTO inbox (delivery, kind, item, received_us) VALUES ('d-bad', 'event', '{\"id\": 1}', 0)",
            [],
        )
        .unwrap();
    drop(ingest);
    // An ordinary sign-up after both still gets its welcome email.
    let body = customer(820_002, "next@example.com", &now_string());
    assert_eq!(
        webhook(addr, "customers/create", "dead-2", &body).await,
        200
    );
    wait_for("the welcome email", Duration::from_secs(30), || {
        (welcome_emails(&data, "next@example.com") == 1).then_some(())
    })
    .await;
    assert_eq!(get(addr, "/health").await.0, 200, "alive");
    let (status, far_view) = wait_for_profile(addr, "far@example.com").await;
    assert_eq!(status, 200, "{far_view}");
    assert!(
        far_view.contains("occurred_at 9999-12-30T21:00:00Z taken as"),
        "the adjustment is in the trace: {far_view}"
    );
    let (code, list) = deadletters(&["list"], &data);
    assert_eq!(code, 0, "{list}");
    assert!(
        list.contains("event (waiting): unreadable event item") && list.contains("d-bad"),
        "{list}"
    );

    // A restart is clean: nothing left in the inbox, the letter kept.
    let exit = terminate(child).await;
    assert!(exit.success(), "{exit:?}");
    let store = storeflow_sqlite::Sqlite::open(&data.join("storeflow.sqlite")).unwrap();
    assert!(
        store.inbox(10).unwrap().is_empty(),
        "nothing left unapplied"
    );
    drop(store);
    let mut child = spawn_child(&data, port);
    wait_up(addr).await;
    assert_eq!(get(addr, "/health").await.0, 200);

    // After a fix, a replay applies the input once: here a sign-up the
    // engine of an older version had set aside.
    let event = json!({"id": "fixed-1", "shop": "northwind.myshopify.com", "type": "consent_changed",
        "occurred_at": now_string(), "customer": {"email": "fixed@example.com"},
        "properties": {"channel": "email", "status": "subscribed"}});
    let main = rusqlite::Connection::open(data.join("storeflow.sqlite")).unwrap();
    main.execute(
        "INSERT INTO dead_letters (kind, delivery, item, error, at_us) VALUES ('event', 'd-fixed', ?1, 'panicked: a bug since fixed', 0)",
        [event.to_string()],
    )
    .unwrap();
    let id: i64 = main
        .query_row("SELECT max(id) FROM dead_letters", [], |r| r.get(0))
        .unwrap();
    drop(main);
    let (code, said) = deadletters(&["replay", &id.to_string()], &data);
    assert_eq!(code, 0, "{said}");
    wait_for(
        "the replayed welcome email",
        Duration::from_secs(30),
        || (welcome_emails(&data, "fixed@example.com") == 1).then_some(()),
    )
    .await;
    let (code, said) = deadletters(&["replay", &id.to_string()], &data);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("was replayed"), "{said}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(welcome_emails(&data, "fixed@example.com"), 1, "once");
    let (_, list) = deadletters(&["list"], &data);
    assert!(
        list.contains(&format!("{id} ")) && list.contains("(replayed "),
        "{list}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_that_panics_is_set_aside_and_its_batch_applied_without_it() {
    let data = temp_dir("serve-panic");
    let clock: Arc<dyn Clock> = Arc::new(storeflow_embedded::SystemClock);
    let mut opts = options(&data);
    // A bug that only this customer's sign-up meets.
    opts.before_apply = Some(Arc::new(|e: &storeflow_core::Event| {
        if e.customer.email.as_deref() == Some("boom@example.com") {
            panic!("a bug met by {}", e.id);
        }
    }));
    let config = repo_root().join("examples/starter");
    let rt = Runtime::open(opts, storeflow::serve::loader(config), clock, None).unwrap();
    // Accepted before the workers start, so all three are in one batch.
    let (addr, server) = serve_on_a_free_port(&rt).await;
    for (i, who) in ["a@example.com", "boom@example.com", "c@example.com"]
        .iter()
        .enumerate()
    {
        let body = customer(830_000 + i as u64, who, &now_string());
        assert_eq!(
            webhook(addr, "customers/create", &format!("panic-{i}"), &body).await,
            200
        );
    }
    wait_for("the two welcome emails", Duration::from_secs(30), || {
        (welcome_emails(&data, "a@example.com") == 1 && welcome_emails(&data, "c@example.com") == 1)
            .then_some(())
    })
    .await;
    assert_eq!(welcome_emails(&data, "boom@example.com"), 0);
    assert_eq!(get(addr, "/health").await.0, 200, "alive");
    assert!(!rt.worker_died(), "no worker died");
    let letters = rt.store.dead_letters().unwrap();
    assert!(
        letters
            .iter()
            .any(|d| d.error.starts_with("panicked: a bug met by")
                && d.item.contains("boom@example.com")),
        "{letters:#?}"
    );
    assert!(
        rt.store.inbox(10).unwrap().is_empty(),
        "nothing left unapplied"
    );
    rt.shutdown();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A webhook step against a real receiver: POSTed with a Standard Webhooks
/// signature the receiver checks; the receiver is down at first (503), and
/// meanwhile the outbox goes on (the welcome email is written); the retry
/// carries the same `webhook-id` and lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_step_is_posted_signed_and_a_receiver_that_is_down_holds_up_nothing() {
    use axum::http::{HeaderMap, StatusCode};
    const SECRET: &str = "serve-test-webhook-secret-32-bytes!";
    type Seen = Arc<std::sync::Mutex<Vec<(HeaderMap, String)>>>;
    let seen: Seen = Default::default();
    let app = axum::Router::new()
        .route(
            "/crm",
            axum::routing::post(
                |axum::extract::State(seen): axum::extract::State<Seen>,
                 headers: HeaderMap,
                 body: String| async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    // The store's clock is virtual here: check the signature
                    // at the instant the sender stamped.
                    let stamped =
                        jiff::Timestamp::from_second(h("webhook-timestamp").parse().unwrap_or(0))
                            .unwrap();
                    let ok = storeflow_channels::webhook::verify(
                        SECRET,
                        &h("webhook-id"),
                        &h("webhook-timestamp"),
                        &h("webhook-signature"),
                        &body,
                        stamped,
                        Duration::from_secs(300),
                    );
                    let mut all = seen.lock().unwrap();
                    all.push((headers.clone(), body));
                    match (ok, all.len()) {
                        (Err(e), _) => (StatusCode::UNAUTHORIZED, e),
                        (Ok(()), 1) => (StatusCode::SERVICE_UNAVAILABLE, "down".into()),
                        (Ok(()), _) => (StatusCode::OK, "thanks".into()),
                    }
                },
            ),
        )
        .with_state(seen.clone());
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/crm", receiver.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(receiver, app).await });

    let config = starter_copy("serve-webhook");
    std::fs::write(
        config.join("flows/90_crm_sync.yaml"),
        format!(
            "id: crm_sync\nversion: 1\npriority: transactional\ntrigger:\n  event: customer_created\n\
             steps:\n  - webhook: {{ url: \"{hook}\" }}\n"
        ),
    )
    .unwrap();
    let data = temp_dir("serve-webhook-data");
    let clock = Arc::new(ScaledClock::new(ts("2026-11-23T14:00:00Z"), 3600.0));
    let mut opts = options(&data);
    opts.webhook_secret = Some(SECRET.into());
    let rt = Runtime::open(opts, storeflow::serve::loader(config), clock.clone(), None).unwrap();
    let (addr, server) = serve_on_a_free_port(&rt).await;
    let at = clock.now().to_string();
    assert_eq!(
        webhook(
            addr,
            "customers/create",
            "w-1",
            &customer(601, "dana@example.com", &at)
        )
        .await,
        200
    );

    let posts = wait_for("the retried webhook", Duration::from_secs(30), || {
        let all = seen.lock().unwrap();
        (all.len() >= 2).then(|| all.clone())
    })
    .await;
    // The welcome email went out while the receiver was down.
    assert!(
        emls(&data)
            .iter()
            .any(|(_, t)| t.contains("To: dana@example.com")),
        "the outbox went on"
    );
    let id = |h: &HeaderMap| h["webhook-id"].to_str().unwrap().to_string();
    assert_eq!(
        id(&posts[0].0),
        id(&posts[1].0),
        "a retry is the same message"
    );
    let body: Value = serde_json::from_str(&posts[1].1).unwrap();
    assert_eq!(body["flow"], "crm_sync");
    assert_eq!(body["profile"]["email"], "dana@example.com", "{body:#}");
    // Delivered once: no third POST, nothing in the webhook outbox.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(!data.join("outbox/webhook").exists());

    rt.shutdown();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A real SMTP server (`aiosmtpd` from PyPI) that requires a login and
/// writes each message it accepts, with the envelope and the login used,
/// as a JSON file into a folder: plain, STARTTLS required, or TLS from the
/// start (`mode`, with a certificate and key). It runs until its stdin
/// closes.
const SMTP_SERVER: &str = r#"
import json, logging, os, sys, warnings
# AUTH without TLS is what this test on loopback wants: no warnings about it.
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, out, user, password, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
tls = {}
if mode != "plain":
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[6], sys.argv[7])
    # STARTTLS demanded before anything else, or TLS from the first byte.
    tls = dict(tls_context=ctx, require_starttls=True) if mode == "starttls" else dict(ssl_context=ctx)

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
        and auth_data.password.decode() == password
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

class Keep:
    async def handle_DATA(self, server, session, envelope):
        n = len(os.listdir(out))
        record = {"from": envelope.mail_from, "to": envelope.rcpt_tos,
                  "login": session.auth_data.login.decode() if session.authenticated else None,
                  "data": envelope.content.decode("utf-8", "replace")}
        with open(os.path.join(out, f".{n}.tmp"), "w") as f:
            json.dump(record, f)
        os.rename(os.path.join(out, f".{n}.tmp"), os.path.join(out, f"{n}.json"))
        return "250 kept"

c = Controller(Keep(), hostname="127.0.0.1", port=port, authenticator=authenticate,
               auth_required=True, auth_require_tls=mode == "starttls", **tls)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

/// A private certificate authority and a certificate it signed for
/// `localhost` (made with the `openssl` command): (CA, certificate, key).
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=storeflow test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "relay.key",
        "-out",
        "relay.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("relay.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "relay.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "relay.pem",
        "-days",
        "2",
        "-extfile",
        "relay.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("relay.pem"),
        dir.join("relay.key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_smtp_url_in_the_environment_email_goes_to_the_smtp_server_with_its_login() {
    let port = free_port();
    email_through_smtp("plain", &format!("smtp://127.0.0.1:{port}"), port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_with_starttls_required_and_a_private_ca_from_the_environment() {
    let port = free_port();
    email_through_smtp(
        "starttls",
        &format!("smtp://localhost:{port}?tls=required"),
        port,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtps_with_a_private_ca_from_the_environment() {
    let port = free_port();
    email_through_smtp("tls", &format!("smtps://localhost:{port}"), port).await;
}

/// `storeflow serve` with `STOREFLOW_SMTP_URL` = `url` (and a login, and
/// for TLS the private CA in `STOREFLOW_SMTP_CA_FILE`) sends the welcome
/// email to a real SMTP server in `mode` on `smtp_port`.
async fn email_through_smtp(mode: &str, url: &str, smtp_port: u16) {
    use std::io::BufRead;
    let py = python_with("aiosmtpd", "aiosmtpd==1.4.6");
    let inbox = temp_dir("smtp-inbox");
    let certs = temp_dir("smtp-certs");
    let (ca, cert, key) = if mode == "plain" {
        Default::default()
    } else {
        private_ca(&certs)
    };
    let mut smtp = std::process::Command::new(py)
        .arg("-c")
        .arg(SMTP_SERVER)
        .arg(smtp_port.to_string())
        .arg(&inbox)
        .args(["northwind", "s3cret-pass", mode])
        .arg(&cert)
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(smtp.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready", "the SMTP server started");

    let data = temp_dir("serve-smtp");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ca = ca.display().to_string();
    let mut env = vec![
        ("STOREFLOW_SMTP_URL", url),
        ("STOREFLOW_SMTP_USERNAME", "northwind"),
        ("STOREFLOW_SMTP_PASSWORD", "s3cret-pass"),
    ];
    if mode != "plain" {
        env.push(("STOREFLOW_SMTP_CA_FILE", &ca));
    }
    let mut child = spawn_child_with(&data, port, &env);
    wait_up(addr).await;
    let at = now_string();
    assert_eq!(
        webhook(
            addr,
            "customers/create",
            "smtp-1",
            &customer(701, "cy@example.com", &at)
        )
        .await,
        200
    );

    // The welcome email, sent at once, arrives at the SMTP server.
    let kept = wait_for(
        "the welcome email at the SMTP server",
        Duration::from_secs(30),
        || {
            let f = std::fs::read_dir(&inbox)
                .ok()?
                .flatten()
                .find(|f| f.path().extension().is_some_and(|e| e == "json"))?;
            serde_json::from_str::<Value>(&std::fs::read_to_string(f.path()).ok()?).ok()
        },
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    drop(smtp.stdin.take()); // stops the SMTP server
    let _ = smtp.wait();

    assert_eq!(
        kept["login"], "northwind",
        "it logged in with the credentials from the environment"
    );
    assert_eq!(kept["from"], "hello@northwind.example.com");
    assert_eq!(kept["to"], json!(["cy@example.com"]));
    let mail = kept["data"].as_str().unwrap();
    for header in [
        "From: \"Northwind Goods\" <hello@northwind.example.com>",
        "To: cy@example.com",
        "X-Storeflow-Flow: welcome",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Content-Type: multipart/alternative",
        "Content-Type: text/plain",
        "Content-Type: text/html",
    ] {
        assert!(mail.contains(header), "{header:?} missing from:\n{mail}");
    }
    assert!(
        mail.contains("List-Unsubscribe: <http://localhost:8080/u/"),
        "a one-click unsubscribe link:\n{mail}"
    );
    // Sent by SMTP, so not to the outbox folder as well.
    assert!(emls(&data).is_empty(), "nothing in the outbox folder");
    assert_eq!(
        std::fs::read_dir(&inbox)
            .unwrap()
            .flatten()
            .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
            .count(),
        1,
        "sent once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_stops_the_server_with_an_error_and_loses_nothing() {
    let data = temp_dir("serve-worker-dies");
    let clock = Arc::new(ScaledClock::new(ts("2026-11-23T14:00:00Z"), 1.0));
    // The report hook runs on the inbox worker's thread: a panic there
    // stands for any bug that kills a worker.
    let report: storeflow_embedded::runtime::Report =
        Arc::new(|d: &storeflow_core::Decision| panic!("a bug in the inbox worker ({:?})", d.kind));
    let rt = Runtime::open(
        options(&data),
        storeflow::serve::loader(repo_root().join("examples/starter")),
        clock.clone(),
        Some(report),
    )
    .unwrap();
    let (addr, server) = serve_on_a_free_port(&rt).await;
    let at = clock.now().to_string();
    assert_eq!(
        webhook(
            addr,
            "customers/create",
            "die-1",
            &customer(801, "di@example.com", &at)
        )
        .await,
        200
    );
    let ended = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stopped by itself")
        .unwrap();
    let err = ended.expect_err("it stopped with an error");
    assert!(err.to_string().contains("a worker died"), "{err:#}");

    // The delivery was acknowledged before the worker died: a restart
    // without the bug applies it.
    drop(rt);
    let rt = starter_runtime(&data, clock.clone());
    let (addr, server) = serve_on_a_free_port(&rt).await;
    let (status, body) = wait_for_profile(addr, "di@example.com").await;
    assert_eq!(status, 200, "{body}");
    rt.shutdown();
    server.await.unwrap().unwrap();
}

#[test]
fn a_bad_smtp_setting_stops_serve_at_start_naming_the_variable() {
    let data = temp_dir("serve-smtp-bad");
    let missing = data.join("no-such-ca.pem");
    let missing = missing.display().to_string();
    let not_pem = data.join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let not_pem = not_pem.display().to_string();
    for (env, says) in [
        (
            vec![
                ("STOREFLOW_SMTP_URL", "smtps://localhost:465"),
                ("STOREFLOW_SMTP_CA_FILE", missing.as_str()),
            ],
            format!("STOREFLOW_SMTP_CA_FILE={missing}"),
        ),
        (
            vec![
                ("STOREFLOW_SMTP_URL", "smtps://localhost:465"),
                ("STOREFLOW_SMTP_CA_FILE", not_pem.as_str()),
            ],
            "the CA certificate (PEM): no \"BEGIN CERTIFICATE\" block".to_string(),
        ),
        (
            vec![
                ("STOREFLOW_SMTP_URL", "smtp://localhost:25"),
                ("STOREFLOW_SMTP_CA_FILE", not_pem.as_str()),
            ],
            "a CA certificate is given, but the URL uses no TLS".to_string(),
        ),
        (
            vec![("STOREFLOW_SMTP_URL", "gopher://localhost")],
            "SMTP URL \"gopher://localhost\"".to_string(),
        ),
    ] {
        let out = child_command(&data, free_port(), &env).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{env:?}: {stderr}");
        assert!(stderr.contains(&says), "{env:?}: {says:?} not in: {stderr}");
    }
}

/// A write of the engine's batch that fails (here a trigger stands in for
/// a disk error on the outbox) keeps nothing of that batch: once the fault
/// is gone, the event is applied again from the inbox and its message is
/// sent, once. (Were the failed commit's other rows kept, the customer
/// would already have seen the event, and its message would never go out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_in_the_engines_batch_keeps_nothing_and_is_applied_again() {
    let data = temp_dir("serve-batch-fault");
    let clock = Arc::new(ScaledClock::new(ts("2026-11-23T14:00:00Z"), 1.0));
    let rt = starter_runtime(&data, clock);
    let side = rusqlite::Connection::open(data.join("storeflow.sqlite")).unwrap();
    side.execute_batch(
        "CREATE TRIGGER disk_trouble BEFORE INSERT ON outbox
         WHEN NEW.message LIKE '%fail-me@example.com%'
         BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;",
    )
    .unwrap();
    let (addr, server) = serve_on_a_free_port(&rt).await;
    let at = "2026-11-23T14:00:00Z";
    let welcomes = |email: &str| welcome_emails(&data, email);
    let body = customer(701, "ok@example.com", at);
    assert_eq!(webhook(addr, "customers/create", "f-1", &body).await, 200);
    wait_for("ok's welcome", Duration::from_secs(20), || {
        (welcomes("ok@example.com") == 1).then_some(())
    })
    .await;
    let body = customer(702, "fail-me@example.com", at);
    assert_eq!(webhook(addr, "customers/create", "f-2", &body).await, 200);
    // The engine retries a failed batch every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(welcomes("fail-me@example.com"), 0);
    assert!(!rt.store.inbox(10).unwrap().is_empty(), "still to apply");
    let shop = rt.store.shops().unwrap().remove(0);
    assert_eq!(
        rt.store
            .profile_for_key(&format!("{shop}|email|fail-me@example.com"))
            .unwrap(),
        None,
        "nothing of the failed batch was kept"
    );

    side.execute_batch("DROP TRIGGER disk_trouble").unwrap();
    wait_for("fail-me's welcome", Duration::from_secs(20), || {
        (welcomes("fail-me@example.com") == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(welcomes("fail-me@example.com"), 1, "sent once");
    assert_eq!(welcomes("ok@example.com"), 1, "sent once");
    server.abort();
}

/// A raw request: (status, headers, body).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, resp[split + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_click_redirects_counts_once_scanners_aside_and_credits_the_order() {
    let data = temp_dir("serve-clicks");
    let t0 = ts("2026-11-23T14:00:00Z");
    // A minute of store time passes in a second.
    let clock = Arc::new(ScaledClock::new(t0, 60.0));
    let rt = starter_runtime(&data, clock.clone());
    let (addr, server) = serve_on_a_free_port(&rt).await;
    let at = clock.now().to_string();
    assert_eq!(
        webhook(
            addr,
            "customers/create",
            "c-1",
            &customer(601, "ann@example.com", &at)
        )
        .await,
        200
    );
    let welcome = wait_for("the welcome email", Duration::from_secs(20), || {
        emls(&data)
            .into_iter()
            .find(|(_, t)| t.contains("X-Storeflow-Flow: welcome"))
    })
    .await
    .1;
    // Quoted-printable folds long lines: unfold before reading links.
    let unfolded = welcome
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let targets = link_targets(&unfolded);
    assert!(
        targets.iter().all(|t| t == "https://northwind.example.com"),
        "{targets:?}"
    );
    assert!(!targets.is_empty(), "the shop link is tracked: {unfolded}");
    // The unsubscribe link stays direct (RFC 8058 needs it so).
    assert!(unfolded.contains("List-Unsubscribe: <http://localhost:8080/u/"));
    let link = unfolded.split("http://localhost:8080/c/").nth(1).unwrap();
    let token: String = link
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '~' | '-' | '_'))
        .collect();
    let path = format!("/c/{token}");
    // A HEAD and a known mail gateway: each redirected, neither counted.
    // (Ten store seconds after sending pass in a sixth of a second here;
    // a request within them is a scanner's too, see `storeflow_app::tracking`.)
    tokio::time::sleep(Duration::from_millis(400)).await;
    let browser =
        "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15\r\n";
    let (status, head, _) = request(addr, "HEAD", &path, browser).await;
    assert_eq!(status, 302);
    assert!(
        head.contains("location: https://northwind.example.com"),
        "{head}"
    );
    let gateway = "User-Agent: Mozilla/5.0 (compatible; Barracuda Sentinel)\r\n";
    assert_eq!(request(addr, "GET", &path, gateway).await.0, 302);
    // The customer's own click.
    assert_eq!(request(addr, "GET", &path, browser).await.0, 302);
    // A tampered token leads nowhere.
    let bad = format!("/c/{}", token.replacen('~', "~x", 1));
    assert_eq!(request(addr, "GET", &bad, browser).await.0, 404);
    // An order two hours later is credited to the welcome email.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let at = clock.now().to_string();
    let order = json!({"id": 820_101, "name": "#1001", "email": "ann@example.com", "created_at": at,
        "processed_at": at, "updated_at": at, "currency": "USD", "total_price": "64.00",
        "financial_status": "paid", "customer": {"id": 601, "email": "ann@example.com"},
        "line_items": [{"product_id": 7, "variant_id": 70, "title": "Linen Shirt", "quantity": 1, "price": "64.00"}]});
    assert_eq!(webhook(addr, "orders/create", "o-1", &order).await, 200);
    let dir = data.display().to_string();
    let row = wait_for("the credited order", Duration::from_secs(20), || {
        let (code, out, err) =
            storeflow(&["report", "messages", "--data", &dir, "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        let doc: Value = serde_json::from_str(&out).unwrap();
        doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["step"] == "welcome_1" && r["orders"] == 1)
            .cloned()
    })
    .await;
    assert_eq!(row["sent"], 1, "{row}");
    assert_eq!(row["delivered"], 1, "{row}");
    assert_eq!(row["clicked"], 1, "only the customer's click counts: {row}");
    assert_eq!(row["revenue_gross"], 64.0, "{row}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_are_refitted_on_start_on_demand_and_kept_across_restarts() {
    let data = temp_dir("serve-refit");
    let t0 = ts("2026-11-23T14:00:00Z");
    let clock = Arc::new(ScaledClock::new(t0, 60.0));
    let rt = starter_runtime(&data, clock.clone());
    let (addr, server) = serve_on_a_free_port(&rt).await;
    for (i, who) in ["ann@example.com", "bob@example.com"].iter().enumerate() {
        let at = clock.now().to_string();
        let id = 700 + i as u64;
        let order = json!({"id": 830_000 + id, "name": format!("#{id}"), "email": who, "created_at": at,
            "processed_at": at, "updated_at": at, "currency": "USD", "total_price": "50.00",
            "financial_status": "paid", "customer": {"id": id, "email": who},
            "line_items": [{"product_id": 7, "variant_id": 70, "title": "Linen Shirt", "quantity": 1, "price": "50.00"}]});
        assert_eq!(
            webhook(addr, "orders/create", &format!("o-{id}"), &order).await,
            200
        );
    }
    wait_for_profile(addr, "bob@example.com").await;
    // Not without the admin credential.
    let (status, _, _) = request(addr, "POST", "/admin/refit", "Content-Length: 0\r\n").await;
    assert_eq!(status, 401);
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 0\r\n");
    let body = wait_for("a refit with both orders", Duration::from_secs(20), || {
        let (status, _, body) = futures_block(request(addr, "POST", "/admin/refit", &auth));
        assert_eq!(status, 200);
        let doc: Value = serde_json::from_slice(&body).unwrap();
        (doc["refitted"][0]["model"]["customers"] == 2).then_some(doc)
    })
    .await;
    let model = &body["refitted"][0]["model"];
    // Two customers: the intervals model, saying why.
    assert_eq!(model["model"], "intervals", "{body}");
    assert!(model["reason"]
        .as_str()
        .unwrap()
        .contains("fewer than the 400"));
    // The profile view shows the customer's numbers.
    let (status, view) = admin_get(addr, "/profiles/ann@example.com").await;
    assert_eq!(status, 200);
    let view: Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["predictions"]["model"], "intervals", "{view}");
    assert!(view["predictions"]["p_alive"].as_f64().unwrap() > 0.9);
    rt.shutdown();
    server.abort();
    drop(rt);
    // After a restart the stored model is the engine's before any refit.
    let again = starter_runtime(&data, clock.clone());
    let shop = storeflow_core::model::ids::ShopId::parse("northwind.myshopify.com").unwrap();
    let kept = again.live().engine.model(&shop).expect("loaded at start");
    assert_eq!(kept.customers, 2);
}

/// Runs a future to completion from synchronous code inside the runtime.
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}
