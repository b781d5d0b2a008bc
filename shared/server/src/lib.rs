//! # storeflow-server
//!
//! The local HTTP server: every request goes to the ingest
//! [`Router`](storeflow_ingest::Router) with the raw body and headers, over
//! an in-memory delivery store; what is accepted goes to a sink (the local
//! runtime's engine, or a test). `storeflow ingest --listen ADDR` runs it.
//! Its [`request`] is the one conversion of an HTTP request into an ingest
//! request: `storeflow serve` and the ingest Lambda use it too.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use storeflow_ingest::{Accepted, Headers, MemoryStore, Request, Router};

/// Where accepted events and privacy requests go.
pub type Sink = Box<dyn FnMut(Vec<Accepted>) + Send>;

struct Shared {
    router: Router,
    store: MemoryStore,
    sink: Sink,
}

/// A running server; dropping it stops it.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Server {
    /// Blocks until the server stops (it stops when dropped elsewhere, or never).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds `addr` (port 0 for any free port) and serves on a thread of its own.
pub fn spawn(addr: &str, router: Router, sink: Sink) -> std::io::Result<Server> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let shared = Arc::new(Mutex::new(Shared {
        router,
        store: MemoryStore::new(),
        sink,
    }));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a tokio runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app =
                axum::Router::new().fallback(move |m, u, h, b| handle(shared.clone(), m, u, h, b));
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
    });
    Ok(Server {
        addr: local,
        stop: Some(tx),
        thread: Some(thread),
    })
}

/// The router's request from an axum request's parts (headers that are
/// not text are left out: no webhook or tracking header is binary).
pub fn request(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Request {
    Request {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect::<Headers>(),
        body: body.to_vec(),
    }
}

async fn handle(
    shared: Arc<Mutex<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let req = request(&method, &uri, &headers, &body);
    // The runtime's clock is read here, at the edge.
    let now = jiff::Timestamp::now();
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    let Shared {
        router,
        store,
        sink,
    } = &mut *s;
    let h = router.handle(&req, now, store);
    if !h.accepted.is_empty() {
        sink(h.accepted);
    }
    let status =
        StatusCode::from_u16(h.response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json")],
        h.response.body.to_string(),
    )
}
