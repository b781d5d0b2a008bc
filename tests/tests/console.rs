//! The console on `storeflow serve`, over real HTTP: nothing answers
//! without a session or an admin token, sign-in sets a cookie a script
//! cannot read, forms need the session's CSRF token, failed sign-ins are
//! limited, and the overview shows the numbers `storeflow report` gives.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use storeflow_core::results::facts::facts_of;
use storeflow_embedded::runtime::Options;
use storeflow_embedded::{Runtime, ScaledClock};
use storeflow_tests::*;

const PASSWORD: &str = "a long console password";

/// A data directory holding the results of a few weeks of the starter
/// pack: two subscribers, clicks, orders (one credited), a refund.
fn data_with_results(name: &str) -> std::path::PathBuf {
    let mut t = Timeline::new();
    subscriber(&mut t, "2026-03-02T15:00:00Z", "ann@example.com");
    subscriber(&mut t, "2026-03-02T15:00:00Z", "bob@example.com");
    let tr = t.run("2026-03-03T00:00:00Z");
    let msg = tr.message("ann@example.com", "welcome_1").id.clone();
    t.at(
        "2026-03-03T10:00:00Z",
        "email_clicked",
        email("ann@example.com"),
        json!({"message": msg, "link": "https://northwind.example.com/"}),
    );
    for (at, who, id, total) in [
        ("2026-03-05T10:00:00Z", "ann@example.com", "1001", 120.0),
        ("2026-03-20T10:00:00Z", "bob@example.com", "1002", 80.0),
    ] {
        t.at(
            at,
            "order_placed",
            email(who),
            json!({"order_id": id, "total": total, "currency": "USD", "line_items": line_items()}),
        );
    }
    t.at(
        "2026-03-16T10:00:00Z",
        "refunded",
        email("ann@example.com"),
        json!({"order_id": "1001", "amount": 45.5, "currency": "USD"}),
    );
    let tr = t.run("2026-03-31T00:00:00Z");
    let mut facts = Vec::new();
    facts_of(&tr.decisions, &mut facts);
    let data = temp_dir(name);
    let db = storeflow_sqlite::Sqlite::open(&data.join("storeflow.sqlite")).unwrap();
    db.record_facts(&facts).unwrap();
    data
}

fn runtime(data: &Path) -> Arc<Runtime> {
    let opts = Options {
        admin_password_hash: Some(storeflow_console::auth::hash_password(PASSWORD).unwrap()),
        ..serve_options(data)
    };
    let clock = Arc::new(ScaledClock::new(ts("2026-03-31T12:00:00Z"), 1.0));
    let config = repo_root().join("examples/starter");
    Runtime::open(opts, storeflow::serve::loader(config), clock, None).unwrap()
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

async fn call(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Reply {
        status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        head: head.to_string(),
        body: body.to_string(),
    }
}

const FORM: &str = "Content-Type: application/x-www-form-urlencoded\r\n";

fn form_value(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn figure(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("data-figure=\"{name}\">"))
        .unwrap_or_else(|| panic!("no figure {name}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('<').unwrap()].to_string()
}

/// `storeflow report <which> --data <dir>` for March, as JSON.
fn march_report(which: &str, dir: &str) -> Value {
    let (code, out, err) = storeflow(&[
        "report",
        which,
        "--data",
        dir,
        "--from",
        "2026-03-01T00:00:00Z",
        "--to",
        "2026-04-01T00:00:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_asks_for_a_session_and_shows_the_reports_numbers() {
    let data = data_with_results("console-overview");
    let rt = runtime(&data);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(storeflow::serve::run(rt.clone(), listener));

    // Nothing without a session: pages go to sign-in, JSON answers 401.
    let r = call(addr, "GET", "/admin/", "", "").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/admin/login"));
    let r = call(addr, "GET", "/admin/flows", "", "").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        call(addr, "GET", "/admin/api/overview", "", "")
            .await
            .status,
        401
    );
    let wrong = "Authorization: Bearer not-a-token-of-this-store\r\n";
    assert_eq!(call(addr, "GET", "/admin/", wrong, "").await.status, 401);

    // A wrong password, then the right one.
    let r = call(addr, "POST", "/admin/login", FORM, "password=guess").await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("not the console"), "{}", r.body);
    let body = format!("password={}", PASSWORD.replace(' ', "+"));
    let r = call(addr, "POST", "/admin/login", FORM, &body).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = r.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let with = format!("Cookie: {session}\r\n");

    // The overview of March: the numbers of `storeflow report flows`.
    let period = "from=2026-03-01&to=2026-03-31";
    let page = call(addr, "GET", &format!("/admin/?{period}"), &with, "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<h1>Overview</h1>"));
    let dir = data.display().to_string();
    let report = march_report("flows", &dir);
    let sum = |k: &str| -> f64 {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[k].as_f64().unwrap())
            .sum()
    };
    assert!(sum("revenue_net") > 0.0, "{report:#}");
    assert_eq!(
        figure(&page.body, "revenue_net"),
        format!("{:.2}", sum("revenue_net"))
    );
    assert_eq!(figure(&page.body, "orders"), sum("orders").to_string());
    assert_eq!(
        figure(&page.body, "converted"),
        sum("converted").to_string()
    );
    // The chart's bars carry each day's number.
    assert_eq!(page.body.matches("data-day=\"2026-03-").count(), 31);
    // The JSON endpoint for scripts, with a bearer token: the same.
    let bearer = format!("Authorization: Bearer {ADMIN_TOKEN}\r\n");
    let j = call(
        addr,
        "GET",
        &format!("/admin/api/overview?{period}"),
        &bearer,
        "",
    )
    .await;
    assert_eq!(j.status, 200);
    let j: Value = serde_json::from_str(&j.body).unwrap();
    assert_eq!(
        j["revenue_net"].as_f64(),
        Some((sum("revenue_net") * 100.0).round() / 100.0)
    );
    // Flows list every configured flow.
    let flows = call(addr, "GET", &format!("/admin/flows?{period}"), &with, "").await;
    assert_eq!(flows.status, 200);
    assert!(
        flows.body.contains("data-flow-entered=\"welcome\">2"),
        "{}",
        flows.body
    );
    // Segments: members at the end of the period, from the same counters
    // as `report segments`, the definition in words, a chart per segment.
    let segs = call(addr, "GET", &format!("/admin/segments?{period}"), &with, "").await;
    assert_eq!(segs.status, 200);
    let report = march_report("segments", &dir);
    let buyers = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["segment"] == "buyers")
        .unwrap()["members"]
        .as_u64()
        .unwrap();
    assert_eq!(buyers, 2);
    assert!(
        segs.body
            .contains(&format!("data-segment-members=\"buyers\">{buyers}<")),
        "{}",
        segs.body
    );
    assert!(segs.body.contains("orders count ≥ 1"), "{}", segs.body);
    assert!(
        segs.body.contains("<svg role=\"img\""),
        "the chart is markup, not text"
    );
    // Reports: the cohort table of `report cohorts`.
    let reports = call(addr, "GET", &format!("/admin/reports?{period}"), &with, "").await;
    assert_eq!(reports.status, 200, "{}", reports.body);
    let cohorts = march_report("cohorts", &dir);
    let march = cohorts["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cohort"] == "2026-03")
        .unwrap_or_else(|| panic!("{cohorts:#}"));
    let rate = format!("{:.0}%", march["repurchase_rate"].as_f64().unwrap() * 100.0);
    assert!(
        reports
            .body
            .contains(&format!("data-cohort-repurchase=\"2026-03\">{rate}<")),
        "{}",
        reports.body
    );
    // A bad period is a 400 with its reason.
    let bad = call(addr, "GET", "/admin/?from=March", &with, "").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not a day"), "{}", bad.body);

    // Signing out needs the session's CSRF token.
    let r = call(
        addr,
        "POST",
        "/admin/logout",
        &format!("{with}{FORM}"),
        "csrf=forged",
    )
    .await;
    assert_eq!(r.status, 403);
    let csrf = form_value(&page.body, "csrf");
    let r = call(
        addr,
        "POST",
        "/admin/logout",
        &format!("{with}{FORM}"),
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    rt.shutdown();
    server.abort();
}

/// Shopify's `customers/create` for Ann (subscribed, a hostile tag).
async fn ingest_ann(addr: SocketAddr) {
    let at = "2026-03-31T12:00:00Z";
    let customer = json!({"id": 7001, "email": "ann@example.com", "first_name": "Ann",
        "tags": "<script>alert(1)</script>, vip",
        "created_at": at, "updated_at": at,
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": at}});
    let body = serde_json::to_vec(&customer).unwrap();
    let status = storeflow::demo::post(
        addr,
        "/webhooks/shopify",
        &shopify_webhook_headers("customers/create", "c-7001", &body),
        &body,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_is_found_by_email_and_shown_with_their_trace_escaped() {
    let data = temp_dir("console-customers");
    let rt = runtime(&data);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(storeflow::serve::run(rt.clone(), listener));
    ingest_ann(addr).await;
    let bearer = format!("Authorization: Bearer {ADMIN_TOKEN}\r\n");
    let started = std::time::Instant::now();
    let page = loop {
        let r = call(
            addr,
            "GET",
            "/admin/customers?q=ANN%40example.com",
            &bearer,
            "",
        )
        .await;
        assert_eq!(r.status, 200);
        if r.body.contains("data-field=\"email\"") {
            break r.body;
        }
        assert!(started.elapsed().as_secs() < 20, "never found: {}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        page.contains("data-field=\"email\">ann@example.com<"),
        "{page}"
    );
    assert!(page.contains("subscribers"), "{page}");
    // The welcome series entered, with its reason, in the timeline.
    assert!(page.contains("flow welcome"), "{page}");
    // What a customer's data says is shown, never run.
    assert!(page.contains("&lt;script&gt;alert(1)&lt;"), "{page}");
    assert!(!page.contains("<script>alert(1)"), "{page}");
    // The message log: Ann's welcome email as she received it, delivered
    // (the outbox folder took it), and nothing for another flow.
    let started = std::time::Instant::now();
    let log = loop {
        let r = call(
            addr,
            "GET",
            "/admin/messages?from=2026-03-31&to=2026-03-31&customer=ann%40example.com&flow=welcome",
            &bearer,
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body.contains("sent, delivered") {
            break r.body;
        }
        assert!(
            started.elapsed().as_secs() < 20,
            "never delivered: {}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(log.contains("welcome · welcome_1"), "{log}");
    assert!(log.contains("1 message(s) match"), "{log}");
    let other = call(
        addr,
        "GET",
        "/admin/messages?from=2026-03-31&to=2026-03-31&flow=winback",
        &bearer,
        "",
    )
    .await;
    assert!(other.body.contains("No messages match"), "{}", other.body);
    // Nobody by that phone.
    let none = call(addr, "GET", "/admin/customers?q=%2B15550100", &bearer, "").await;
    assert!(none.body.contains("No customer is known"), "{}", none.body);
    rt.shutdown();
    server.abort();
}

/// A dead letter (a shop's wake-up that failed) in the runtime's store.
fn dead_letter(rt: &Runtime, error: &str) -> i64 {
    let of = storeflow_sqlite::dead_letters::WakeOf {
        shop: storeflow_core::model::ids::ShopId::parse("northwind.myshopify.com").unwrap(),
        profile: None,
    };
    rt.store
        .dead_wake(&of, error, ts("2026-03-31T11:00:00Z"))
        .unwrap();
    rt.store.dead_letters().unwrap().last().unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_replayed_once_from_the_operations_page() {
    let data = data_with_results("console-operations");
    let rt = runtime(&data);
    let id = dead_letter(&rt, "the shop's state <did not read>");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(storeflow::serve::run(rt.clone(), listener));
    let body = format!("password={}", PASSWORD.replace(' ', "+"));
    let r = call(addr, "POST", "/admin/login", FORM, &body).await;
    let session = r.header("set-cookie").unwrap();
    let with = format!("Cookie: {}\r\n", session.split(';').next().unwrap());
    let page = call(addr, "GET", "/admin/operations", &with, "").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("the shop&#x27;s state &lt;did not read&gt;"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("data-config=\"flows\">12<"),
        "{}",
        page.body
    );
    let csrf = form_value(&page.body, "csrf");
    let replay = format!("/admin/operations/dead-letters/{id}/replay");
    let form = format!("{with}{FORM}");
    // Not without the session's token; not without the confirmation.
    assert_eq!(
        call(addr, "POST", &replay, &form, "confirm=yes")
            .await
            .status,
        403
    );
    let r = call(addr, "POST", &replay, &form, &format!("csrf={csrf}")).await;
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap().contains("refused"));
    assert!(rt.store.dead_letters().unwrap()[0].replayed.is_none());
    // Confirmed: replayed once.
    let r = call(
        addr,
        "POST",
        &replay,
        &form,
        &format!("csrf={csrf}&confirm=yes"),
    )
    .await;
    assert_eq!(
        r.header("location").as_deref(),
        Some(&*format!("/admin/operations?replayed={id}"))
    );
    assert!(rt.store.dead_letters().unwrap()[0].replayed.is_some());
    let again = call(
        addr,
        "POST",
        &replay,
        &form,
        &format!("csrf={csrf}&confirm=yes"),
    )
    .await;
    assert!(
        again.header("location").unwrap().contains("was+replayed"),
        "{:?}",
        again.header("location")
    );
    rt.shutdown();
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_lock_the_client_out() {
    let data = data_with_results("console-lockout");
    let rt = runtime(&data);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(storeflow::serve::run(rt.clone(), listener));
    let from = |ip: &str| format!("{FORM}X-Forwarded-For: {ip}\r\n");
    for _ in 0..storeflow_console::auth::MAX_FAILURES {
        let r = call(
            addr,
            "POST",
            "/admin/login",
            &from("192.0.2.7"),
            "password=guess",
        )
        .await;
        assert_eq!(r.status, 401);
    }
    let body = format!("password={}", PASSWORD.replace(' ', "+"));
    let r = call(addr, "POST", "/admin/login", &from("192.0.2.7"), &body).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Too many failed attempts"));
    // Another address still signs in.
    let r = call(addr, "POST", "/admin/login", &from("192.0.2.8"), &body).await;
    assert_eq!(r.status, 303);
    rt.shutdown();
    server.abort();
}

/// Signs in and opens every page in headless Chromium, as a merchant would:
/// no page logs a browser error. With `STOREFLOW_SCREENSHOTS=DIR` each page
/// is also saved as a PNG (the README's come from there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_sign_in_and_every_page_opens_without_errors() {
    let data = data_with_results("console-browser");
    let rt = runtime(&data);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(storeflow::serve::run(rt.clone(), listener));
    let shots = std::env::var_os("STOREFLOW_SCREENSHOTS").map(std::path::PathBuf::from);
    ingest_ann(addr).await;
    let letter = dead_letter(&rt, "a wake-up that failed");
    let b = storeflow_tests::webdriver::Browser::start().await;
    let base = format!("http://{addr}");
    b.goto(&format!("{base}/admin/")).await;
    assert!(b.url().await.ends_with("/admin/login"), "{}", b.url().await);
    if let Some(dir) = &shots {
        b.screenshot(&dir.join("console-login.png")).await;
    }
    b.type_into("#password", "not it").await;
    b.click("button[type=submit]").await;
    b.wait_for("not the console").await;
    // The refused sign-in answered 401, which the browser logs: expected.
    let refused = b.errors().await;
    assert!(
        refused
            .iter()
            .all(|e| e.contains("/admin/login") && e.contains("401")),
        "{refused:?}"
    );
    b.type_into("#password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.wait_for("<h1>Overview</h1>").await;
    assert!(b.url().await.ends_with("/admin/"), "{}", b.url().await);
    for (path, heading, shot) in [
        (
            "/admin/?from=2026-03-01&to=2026-03-31",
            "Overview",
            "console-overview.png",
        ),
        (
            "/admin/flows?from=2026-03-01&to=2026-03-31",
            "Flows",
            "console-flows.png",
        ),
        (
            "/admin/segments?from=2026-03-01&to=2026-03-31",
            "Segments",
            "console-segments.png",
        ),
        (
            "/admin/customers?q=ann%40example.com",
            "Customers",
            "console-customer.png",
        ),
        (
            "/admin/messages?from=2026-03-31&to=2026-03-31",
            "Messages",
            "console-messages.png",
        ),
        (
            "/admin/reports?from=2026-03-01&to=2026-03-31",
            "Reports",
            "console-reports.png",
        ),
    ] {
        b.goto(&format!("{base}{path}")).await;
        assert_eq!(b.text("h1").await, heading);
        if let Some(dir) = &shots {
            b.screenshot(&dir.join(shot)).await;
        }
    }
    // Replay the dead letter from the operations page.
    b.goto(&format!("{base}/admin/operations")).await;
    if let Some(dir) = &shots {
        b.screenshot(&dir.join("console-operations.png")).await;
    }
    b.click(&format!("#dead-letter-{letter} input[name=confirm]"))
        .await;
    b.click(&format!("#dead-letter-{letter} button")).await;
    b.wait_for("is back with the engine").await;
    assert!(rt
        .store
        .dead_letters()
        .unwrap()
        .iter()
        .all(|d| d.replayed.is_some()));
    // The navigation works by keyboard and link alike.
    b.click("nav a[href='/admin/']").await;
    b.wait_for("data-figure=\"revenue_net\"").await;
    assert_eq!(b.text("h1").await, "Overview");
    let errors = b.errors().await;
    assert!(errors.is_empty(), "browser errors: {errors:?}");
    // Sign out: the next page asks to sign in again.
    b.click("header form button").await;
    b.wait_for("Sign in to storeflow").await;
    b.goto(&format!("{base}/admin/flows")).await;
    assert!(b.url().await.ends_with("/admin/login"));
    b.quit().await;
    rt.shutdown();
    server.abort();
}

#[test]
fn hash_password_prints_a_hash_the_console_accepts() {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code =
        storeflow::hash_password(&mut "s3cret pass\n".as_bytes(), &mut out, &mut err).unwrap();
    assert_eq!(code, 0);
    let hash = String::from_utf8(out).unwrap();
    assert!(hash.starts_with("$argon2"), "{hash}");
    let auth =
        storeflow_console::auth::Auth::new(Some(hash.trim()), Default::default(), b"k", false)
            .unwrap();
    let now = ts("2026-03-31T12:00:00Z");
    assert!(auth.sign_in("c", "s3cret pass", now).is_ok());
    assert!(auth.sign_in("c", "s3cret pass\n", now).is_err());
    let code = storeflow::hash_password(&mut "\n".as_bytes(), &mut Vec::new(), &mut err).unwrap();
    assert_eq!(code, 1);
}
