//! The tracking API driven by Segment's official Python library
//! (`segment-analytics-python` from PyPI) against the local server. The
//! library lives in a virtualenv under the cache (`scripts/test` makes it;
//! this test makes it too if absent). Without it the test fails: it never
//! passes without having talked to the real client.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use storeflow_core::model::event::EventKind;
use storeflow_ingest::Accepted;
use storeflow_tests::*;

fn python() -> PathBuf {
    python_with("segment.analytics", "segment-analytics-python==2.4.0")
}

const CLIENT: &str = r#"
import sys
from segment import analytics
analytics.host, analytics.write_key = sys.argv[1], sys.argv[2]
analytics.sync_mode = True
def fail(e, batch):
    print("segment client error:", e, file=sys.stderr)
    sys.exit(1)
analytics.on_error = fail
analytics.page(anonymous_id="anon-py", name="Linen shirt", properties={"url": "https://northwind.example.com/products/linen-shirt"})
analytics.track(anonymous_id="anon-py", event="Product Viewed", properties={"product_id": "linen-shirt", "name": "Linen shirt", "price": 65.0})
analytics.track(anonymous_id="anon-py", event="Product Added", properties={"product_id": "linen-shirt", "name": "Linen shirt", "price": 65.0, "quantity": 2})
analytics.identify(user_id="u-77", anonymous_id="anon-py", traits={"email": "py@example.com", "firstName": "Py"})
analytics.alias(previous_id="anon-py", user_id="u-77")
analytics.track(user_id="u-77", event="Order Completed", properties={"order_id": "py-1001", "total": 130.0, "currency": "USD",
    "products": [{"product_id": "linen-shirt", "name": "Linen shirt", "price": 65.0, "quantity": 2}]})
analytics.flush()
"#;

#[test]
fn the_official_segment_python_client_reaches_the_tracking_api() {
    let py = python();
    let got: Arc<Mutex<Vec<Accepted>>> = Arc::default();
    let sink = got.clone();
    let server = storeflow_server::spawn(
        "127.0.0.1:0",
        ingest_router(),
        Box::new(move |a| sink.lock().unwrap().extend(a)),
    )
    .expect("a free port");
    let host = format!("http://{}", server.addr);
    let run = |key: &str| {
        Command::new(&py)
            .args(["-c", CLIENT, &host, key])
            .output()
            .expect("python runs")
    };
    let out = run(WRITE_KEY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|a| a.event().map(|e| e.name().to_string()))
        .collect();
    assert_eq!(
        names,
        [
            "page_viewed",
            "product_viewed",
            "added_to_cart",
            "customer_updated",
            "customer_updated",
            "order_placed"
        ]
    );
    let events: Vec<_> = got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|a| a.event().cloned())
        .collect();
    assert_eq!(events[3].customer.email.as_deref(), Some("py@example.com"));
    assert_eq!(events[3].customer.anonymous_id.as_deref(), Some("anon-py"));
    let EventKind::OrderPlaced(o) = &events[5].kind else {
        panic!("{events:?}")
    };
    assert_eq!((o.order_id.as_str(), o.total), ("py-1001", 130.0));
    assert!(events[0].id.as_str().starts_with("segment:"));

    // A wrong write key: the client is told 401 and nothing more arrives.
    let before = got.lock().unwrap().len();
    let out = run("wrong-key");
    assert!(!out.status.success() || String::from_utf8_lossy(&out.stderr).contains("401"));
    assert_eq!(got.lock().unwrap().len(), before);
}
