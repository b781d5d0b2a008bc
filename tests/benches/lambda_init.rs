//! Cold start of each Lambda function, through the Lambda runtime API.
//!
//! A minimal runtime API (the three calls a Rust function makes: `next`,
//! `response`, `error`) is served on a free port; each function's release
//! binary is started with the environment the template gives it, against
//! the emulators (`source scripts/emulators` first). Like Lambda's "Init
//! Duration", *init* is the time from starting the process to its first
//! `GET /runtime/invocation/next`: the SDK clients built, secrets read from
//! SSM, the store configuration loaded. *First invoke* is the time from
//! handing it its sample event (`events/`) to its answer — the first use of
//! each connection included. Package sizes are read from the zips
//! `cargo lambda build --release --arm64 --output-format zip` made.
//!
//! ```sh
//! source scripts/emulators
//! cargo build --release -p storeflow-fn-ingest -p storeflow-fn-evaluate \
//!   -p storeflow-fn-scheduler -p storeflow-fn-send -p storeflow-fn-feedback
//! STOREFLOW_FUNCTION_BIN_DIR=target/release \
//!   STOREFLOW_LAMBDA_ZIP_DIR=target/lambda \
//!   cargo test -p storeflow-tests --bench lambda_init
//! ```
//!
//! (`cargo test --bench` runs it on the debug build of the harness: only the
//! functions' binaries need to be release builds.)
//!
//! `RUNS` (default 7) cold starts per function; medians are printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use storeflow_tests::aws::{sdk_config, Stack};
use storeflow_tests::repo_root;

/// (binary, template logical id, sample event)
const FUNCTIONS: [(&str, &str, &str); 5] = [
    (
        "ingest",
        "IngestFunction",
        "shopify/checkouts_create.lambda.json",
    ),
    ("evaluate", "EvaluateFunction", "aws/evaluate.sqs.json"),
    ("scheduler", "SchedulerFunction", "aws/scheduler.sqs.json"),
    ("send", "SendFunction", "aws/send.sqs.json"),
    (
        "feedback",
        "FeedbackFunction",
        "aws/feedback.ses-complaint.json",
    ),
];

/// What the runtime API saw of one process.
enum Seen {
    Next(Instant),
    Answered(Instant, String),
    Failed(String),
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let bin_dir = PathBuf::from(
        std::env::var("STOREFLOW_FUNCTION_BIN_DIR").unwrap_or_else(|_| "target/release".into()),
    );
    let zip_dir = std::env::var("STOREFLOW_LAMBDA_ZIP_DIR")
        .ok()
        .map(PathBuf::from);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stack = rt.block_on(async {
        let aws = sdk_config().await;
        let stack = Stack::create(&aws).await;
        stack.put_secrets(&aws).await;
        stack
    });

    println!("function    init median (min-max) ms   first invoke median ms   binary MB   zip MB");
    for (bin, logical, event) in FUNCTIONS {
        let path = bin_dir.join(bin);
        let binary_mb = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (build the functions first)", path.display()))
            .len() as f64
            / 1e6;
        let event = std::fs::read(repo_root().join("events").join(event)).unwrap();
        let mut env = stack.function_env(logical);
        env.insert(
            "STOREFLOW_CONFIG_DIR".into(),
            repo_root().join("examples/starter").display().to_string(),
        );
        let (mut inits, mut invokes) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let (init, invoke, answer) = cold_start(&path, &env, &event);
            if run == 0 {
                eprintln!("{bin}: {}", answer.chars().take(160).collect::<String>());
            }
            inits.push(init);
            invokes.push(invoke);
        }
        let zip_mb = zip_dir
            .as_ref()
            .and_then(|d| std::fs::metadata(d.join(bin).join("bootstrap.zip")).ok())
            .map(|m| format!("{:.1}", m.len() as f64 / 1e6))
            .unwrap_or_else(|| "-".into());
        inits.sort();
        invokes.sort();
        println!(
            "{bin:<11} {:>6.1} ({:.1}-{:.1}) {:>24.1} {:>11.1} {zip_mb:>8}",
            ms(inits[inits.len() / 2]),
            ms(inits[0]),
            ms(inits[inits.len() - 1]),
            ms(invokes[invokes.len() / 2]),
            binary_mb
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Starts the function once: (init, first invoke, its answer).
fn cold_start(
    path: &PathBuf,
    env: &std::collections::HashMap<String, String>,
    event: &[u8],
) -> (Duration, Duration, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    let event = event.to_vec();
    let given = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (tx, event, given) = (tx.clone(), event.clone(), given.clone());
            std::thread::spawn(move || serve(conn, &tx, &event, &given));
        }
    });
    let start = Instant::now();
    let mut child = Command::new(path)
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut init = None;
    let result = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Seen::Next(at)) if init.is_none() => init = Some((at - start, at)),
            Ok(Seen::Next(_)) => {}
            Ok(Seen::Answered(at, body)) => {
                let (init, handed) = init.expect("an answer after a next");
                break (init, at - handed, body);
            }
            Ok(Seen::Failed(why)) => panic!("{}: {why}", path.display()),
            Err(e) => panic!("{}: no answer: {e}", path.display()),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// One keep-alive connection of the runtime client: the first `next` gets
/// the event, later ones wait (the process is killed meanwhile).
fn serve(conn: TcpStream, tx: &mpsc::Sender<Seen>, event: &[u8], given: &AtomicBool) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let now = Instant::now();
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if path.ends_with("/invocation/next") {
            if tx.send(Seen::Next(now)).is_err() || given.swap(true, Ordering::SeqCst) {
                // One event per process: the next `next` waits for the kill.
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            let deadline = jiff::Timestamp::now().as_millisecond() + 30_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: bench-1\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\
                 content-length: {}\r\n\r\n",
                event.len()
            );
            if out.write_all(head.as_bytes()).is_err() || out.write_all(event).is_err() {
                return;
            }
        } else {
            let text = String::from_utf8_lossy(&body).to_string();
            let seen = if path.ends_with("/response") {
                Seen::Answered(now, text)
            } else {
                Seen::Failed(format!("{path}: {text}"))
            };
            let _ = tx.send(seen);
            let _ = out.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}");
        }
    }
}
