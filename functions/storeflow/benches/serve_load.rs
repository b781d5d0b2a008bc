//! Load on `storeflow serve`: a load generator sending signed Shopify
//! webhooks over keep-alive HTTP/1.1 connections to the real binary (a
//! separate process on the same machine), and the timer wheel holding a
//! million pending timers. Prints figures; asserts nothing (BENCHMARKS.md).
//!
//! `cargo bench -p storeflow --bench serve_load`
//! Knobs: `REQUESTS` (default 30000), `CUSTOMERS` (REQUESTS / 6), `CONNECTIONS` (16), `RATE` (webhooks per
//! second offered, each latency counted from its due instant; unset: as fast
//! as the server answers), `TIMERS` (1000000);
//! `IO` prints the server's I/O counters, `TIMELINE` the latencies second by
//! second (when the slow ones came), `KEEP` keeps its data directory,
//! `STOREFLOW_BIN` runs another build of the server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-shopify-secret";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sign(body: &[u8]) -> String {
    storeflow_ingest::signature::sign_base64(SECRET.as_bytes(), body)
}

/// A realistic mix: sign-ups, checkouts and orders for many customers.
fn request(i: usize, customers: usize) -> Vec<u8> {
    let at = "2026-11-23T15:00:00Z";
    let who = i % customers;
    let (topic, body) = match i % 4 {
        0 => (
            "customers/create",
            serde_json::json!({"id": 100000 + who, "email": format!("c{who}@example.com"), "created_at": at, "updated_at": at,
              "email_marketing_consent": {"state": "subscribed", "consent_updated_at": at}}),
        ),
        1 | 2 => (
            "checkouts/create",
            serde_json::json!({"token": format!("chk-{i}"), "email": format!("c{who}@example.com"), "created_at": at, "updated_at": at,
              "currency": "USD", "total_price": "80.00",
              "line_items": [{"product_id": 1, "variant_id": 2, "title": "Tee", "quantity": 2, "price": "40.00"}]}),
        ),
        _ => (
            "orders/create",
            serde_json::json!({"id": 900000 + i, "email": format!("c{who}@example.com"), "created_at": at, "updated_at": at,
              "currency": "USD", "total_price": "80.00", "checkout_token": format!("chk-{}", i - 1),
              "line_items": [{"product_id": 1, "variant_id": 2, "title": "Tee", "quantity": 2, "price": "40.00"}]}),
        ),
    };
    let body = serde_json::to_vec(&body).unwrap();
    let mut req = format!(
        "POST /webhooks/shopify HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         X-Shopify-Topic: {topic}\r\nX-Shopify-Hmac-Sha256: {}\r\nX-Shopify-Shop-Domain: bench.myshopify.com\r\nX-Shopify-Webhook-Id: bench-{i}\r\n\r\n",
        body.len(),
        sign(&body)
    )
    .into_bytes();
    req.extend(body);
    req
}

/// Reads one HTTP/1.1 response (with Content-Length); returns its status.
fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed");
                buf.extend_from_slice(&chunk[..n]);
            }
            return head.split_whitespace().nth(1).unwrap().parse().unwrap();
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// The CPU time (user + system) a process used so far, from
/// `/proc/<pid>/stat`: much less sensitive than wall-clock time to other
/// work on the machine.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the
    // 14th field of the line, stime the 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Clock ticks per second: 100 on Linux (`getconf CLK_TCK`).
    let hz = 100.0;
    (ticks(11) + ticks(12)) / hz
}

fn serve(data: &Path, port: u16) -> Child {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/starter");
    // STOREFLOW_BIN: another build of the binary (an A/B comparison on a
    // busy machine, runs interleaved).
    let bin =
        std::env::var("STOREFLOW_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_storeflow").into());
    let child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("STOREFLOW_SHOPIFY_SECRETS", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn webhooks() {
    let requests = env("REQUESTS", 30_000);
    let conns = env("CONNECTIONS", 16);
    let data = std::env::temp_dir().join(format!("storeflow-bench-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let port = free_port();
    let mut child = serve(&data, port);
    // Six webhooks per customer by default, however many are sent: a longer
    // run is more of the same traffic, not customers with longer histories.
    let customers = env("CUSTOMERS", requests.div_ceil(6)).max(1);
    let all: Vec<Vec<u8>> = (0..requests).map(|i| request(i, customers)).collect();
    let per = requests / conns;
    // RATE=N: webhooks offered at N per second in all, each at its own
    // instant, and its latency counted from that instant: a late answer
    // delays the next send on its connection, and that delay is counted too
    // (no coordinated omission). Unset: each connection sends as soon as
    // its previous answer came (the server's maximum rate).
    let rate = env("RATE", 0);
    let interval = (rate > 0).then(|| Duration::from_secs_f64(conns as f64 / rate as f64));
    // Each connection's requests are set aside before the clock starts:
    // copied inside the loop below, they took seconds for a long run
    // (1.3 GB for 1,800,000 webhooks), so the last connections started
    // late and their first webhooks, already due, counted seconds of
    // latency the server never caused.
    let mut all = all.into_iter();
    let parts: Vec<Vec<Vec<u8>>> = (0..conns)
        .map(|_| all.by_ref().take(per).collect())
        .collect();
    let cpu0 = cpu_secs(child.id());
    let own0 = cpu_secs(std::process::id());
    let start = Instant::now();
    let threads: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(c, mine)| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = Vec::new();
                let mut lat = Vec::with_capacity(mine.len());
                for (i, r) in mine.into_iter().enumerate() {
                    let t = match interval {
                        // Connections staggered across one interval.
                        Some(iv) => {
                            let due = start + iv * i as u32 + iv * c as u32 / conns as u32;
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                            due
                        }
                        None => Instant::now(),
                    };
                    s.write_all(&r).unwrap();
                    let status = response(&mut s, &mut buf);
                    assert_eq!(status, 200);
                    lat.push((t - start, t.elapsed()));
                }
                lat
            })
        })
        .collect();
    let sent: Vec<(Duration, Duration)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let took = start.elapsed();
    if std::env::var("TIMELINE").is_ok() {
        timeline(&sent);
    }
    let mut lat: Vec<Duration> = sent.into_iter().map(|(_, l)| l).collect();
    let cpu_acked = cpu_secs(child.id()) - cpu0;
    let cpu_load = cpu_secs(std::process::id()) - own0;
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "webhooks: {} signed Shopify webhooks over {conns} connections in {:.2} s = {:.0}/s acknowledged; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; server RSS {} MB",
        lat.len(),
        took.as_secs_f64(),
        lat.len() as f64 / took.as_secs_f64(),
        q(0.50).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
        rss_kb(child.id()) / 1024
    );
    // How long the engine takes to apply what was acknowledged.
    let store = storeflow_sqlite::Sqlite::open(&data.join("storeflow.sqlite")).unwrap();
    let drain = Instant::now();
    while !store.inbox(1).unwrap().is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let drained = drain.elapsed();
    // Let the outbox and timer workers finish what the inbox left them.
    std::thread::sleep(Duration::from_millis(500));
    let cpu_all = cpu_secs(child.id()) - cpu0;
    // Both share the machine's cores: what the load generator takes is
    // not the server's to use.
    println!(
        "webhooks: load generator CPU {cpu_load:.1} s over {:.1} s",
        took.as_secs_f64()
    );
    println!(
        "webhooks: inbox applied {:.2} s after the last acknowledgement: {:.0}/s acknowledged and applied",
        drained.as_secs_f64(),
        lat.len() as f64 / (took + drained).as_secs_f64()
    );
    println!(
        "webhooks: server CPU {:.1} s while acknowledging, {:.1} s in all (acknowledge + apply + deliver) = {:.3} ms per webhook",
        cpu_acked,
        cpu_all,
        cpu_all * 1e3 / lat.len() as f64
    );
    if std::env::var("IO").is_ok() {
        println!(
            "{}",
            std::fs::read_to_string(format!("/proc/{}/io", child.id())).unwrap_or_default()
        );
        for f in ["storeflow.sqlite", "storeflow.sqlite-wal"] {
            let len = std::fs::metadata(data.join(f))
                .map(|m| m.len())
                .unwrap_or(0);
            println!("{f}: {} MB", len / 1_000_000);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if std::env::var("KEEP").is_ok() {
        println!("webhooks: data kept in {}", data.display());
    } else {
        let _ = std::fs::remove_dir_all(&data);
    }
}

/// Per second of the run (by each webhook's due instant): how many, p99
/// and max latency.
fn timeline(sent: &[(Duration, Duration)]) {
    let mut by_second: std::collections::BTreeMap<u64, Vec<Duration>> = Default::default();
    for (due, l) in sent {
        by_second.entry(due.as_secs()).or_default().push(*l);
    }
    for (second, mut l) in by_second {
        l.sort();
        println!(
            "timeline: second {second:>3}: {:>5} webhooks, p99 {:>8.2} ms, max {:>8.2} ms",
            l.len(),
            l[(l.len() * 99 / 100).min(l.len() - 1)].as_secs_f64() * 1e3,
            l.last().unwrap().as_secs_f64() * 1e3
        );
    }
}

fn timers() {
    let n = env("TIMERS", 1_000_000);
    let data = std::env::temp_dir().join(format!("storeflow-bench-timers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let t = Instant::now();
    storeflow_sqlite::bench_support::pending_timers(&data.join("storeflow.sqlite"), n).unwrap();
    println!(
        "timers: {n} customers with a pending wake-up written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let port = free_port();
    let mut child = serve(&data, port);
    std::thread::sleep(Duration::from_secs(3));
    let rss = rss_kb(child.id());
    // And it still answers.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: b\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(response(&mut s, &mut buf), 200);
    println!(
        "timers: server holding {n} pending timers: RSS {} MB",
        rss / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    webhooks();
    timers();
}
