//! A function through the real Lambda runtime API: `cargo lambda watch`
//! runs the ingest function's binary behind the runtime API emulator, with
//! the environment the template gives it, and `cargo lambda invoke` sends
//! it the sample Function URL event `events/shopify/checkouts_create.lambda.json`
//! (a signed Shopify delivery). The answer comes back through the runtime,
//! and the event lands on the stack's events queue.
//!
//! `cargo lambda watch` builds the function with cargo, which cannot share
//! the target directory `cargo test` holds locked: it builds in
//! `STOREFLOW_LAMBDA_TARGET_DIR` (`scripts/emulators` sets a cached one;
//! default `target/lambda-watch`). The first run on a machine builds the
//! function's dependencies there, some minutes.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use storeflow_aws::handlers::Queued;
use storeflow_tests::aws::{sdk_config, Stack};
use storeflow_tests::{free_port, repo_root, temp_dir};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cmd` without the `CARGO_*` variables `cargo test` sets for this test
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, …; `CARGO_HOME` kept) and
/// `OUT_DIR`. Build
/// scripts of the function's dependencies (ring's) ask to run again when
/// those change, and `CARGO_MANIFEST_DIR` is the clone's path: left in, every
/// fresh clone rebuilt the AWS SDK in the shared target directory.
fn without_test_env(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars() {
        if (k.starts_with("CARGO_") && k != "CARGO_HOME") || k == "OUT_DIR" {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_function_answers_through_the_lambda_runtime_api() {
    let cargo_lambda = std::env::var("STOREFLOW_CARGO_LAMBDA").unwrap_or_else(|_| {
        panic!(
            "STOREFLOW_CARGO_LAMBDA is not set: run this test through scripts/test, or \
             `source scripts/emulators` first (it installs cargo-lambda)"
        )
    });
    let aws = sdk_config().await;
    let stack = Stack::create(&aws).await;
    stack.put_secrets(&aws).await;
    let mut env = stack.function_env("IngestFunction");
    env.insert(
        "STOREFLOW_CONFIG_DIR".into(),
        repo_root().join("examples/starter").display().to_string(),
    );
    // The emulators' endpoints and credentials, as the SDK reads them.
    for (k, v) in std::env::vars() {
        if k.starts_with("AWS_") {
            env.insert(k, v);
        }
    }
    let dir = temp_dir("lambda-runtime");
    let env_file = dir.join("ingest.env");
    let mut f = std::fs::File::create(&env_file).unwrap();
    for (k, v) in &env {
        writeln!(f, "{k}={v}").unwrap();
    }

    // Build the function first, with no deadline: the runtime emulator
    // counts a build that happens on the first invocation against the
    // function's timeout, and a cold build on a busy machine can take longer.
    // `cargo lambda watch` then finds it built.
    let target = std::env::var("STOREFLOW_LAMBDA_TARGET_DIR").unwrap_or_else(|_| {
        repo_root()
            .join("target/lambda-watch")
            .display()
            .to_string()
    });
    let built = without_test_env(Command::new(
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
    ))
    .args(["build", "-p", "storeflow-fn-ingest", "--bin", "ingest"])
    .current_dir(repo_root())
    .env("CARGO_TARGET_DIR", &target)
    .status()
    .expect("cargo build of the ingest function");
    assert!(built.success(), "the ingest function did not build");

    let port = free_port();
    let _watch = Killed(
        without_test_env(Command::new(&cargo_lambda))
            .args(["lambda", "watch", "--ignore-changes", "--quiet"])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .args(["--timeout", "900", "--env-file"])
            .arg(&env_file)
            .args(["-p", "storeflow-fn-ingest", "--bin", "ingest"])
            .current_dir(repo_root())
            .env("CARGO_TARGET_DIR", &target)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cargo lambda watch"),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "cargo lambda watch did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Built above: the first invocation only starts it.
    let out = Command::new(&cargo_lambda)
        .args(["lambda", "invoke", "ingest", "--output-format", "json"])
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .arg("--data-file")
        .arg(repo_root().join("events/shopify/checkouts_create.lambda.json"))
        .output()
        .expect("cargo lambda invoke");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "invoke failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON response");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "accepted", "{body}");

    let got = aws_sdk_sqs::Client::new(&aws)
        .receive_message()
        .queue_url(&stack.queue("EventsQueue").url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let events: Vec<Queued> = got
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|q| matches!(q, Queued::Event(e) if e.name() == "checkout_started")),
        "{events:?}"
    );
}
