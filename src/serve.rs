//! `hvxform serve`: the transform server.
//!
//! HTTP (axum on tokio) in front, conversions on plain threads behind: a
//! request is parsed and checked on the async side, then handed to a
//! bounded queue that a fixed set of worker threads drains. Each worker
//! owns one PostgreSQL connection (reconnected when it breaks), so a
//! conversion's session lookups and its commit run on one connection in
//! one transaction, and the queue's bound is the concurrency cap: a full
//! queue is a 503 at once, not a pile-up. The compiled mappings are shared
//! by all workers (compiled once per process).
//!
//! Instances keep no state of their own between requests (the tables live
//! in the database), so any number can run behind a load balancer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::engine::{self, Convert, ConvertError, Mappings};
use crate::exec::RunOptions;
use crate::platform::{self, Platform};
use crate::session::{self, pg, MemoryStore};

/// How the server runs (`hvxform serve` flags).
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `postgres://...`, or none: each request mints into a store of its own.
    pub session: Option<String>,
    pub mappings: Option<PathBuf>,
    /// The bearer token every endpoint but health checks needs.
    pub token: String,
    pub workers: usize,
    /// Requests waiting for a worker, beyond those running.
    pub queue: usize,
    pub max_body: usize,
    pub timeout: Duration,
    /// A connection that sends no complete request head for this long (a
    /// new one, or a kept-alive one between requests) is closed; a TLS
    /// handshake gets as long.
    pub idle_timeout: Duration,
    /// Connections open at once; beyond them the server accepts no more
    /// until one closes (they wait in the kernel's queue).
    pub max_connections: usize,
    /// PEM certificate chain and private key: serve HTTPS (rustls).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The API version in paths and the envelope.
pub const API: &str = "v1";

/// The OpenAPI description served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("serve/openapi.json");

type Work = Box<dyn FnOnce(&mut Worker) -> Reply + Send>;

struct Job {
    work: Work,
    reply: tokio::sync::oneshot::Sender<Reply>,
}

/// A worker's answer: a status and a body.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: StatusCode, v: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec_pretty(v).unwrap_or_default(),
        }
    }
}

/// An error answer: `{"error": {"status", "kind", "message", "location"?}}`.
fn error(status: StatusCode, kind: &str, message: &str) -> Reply {
    let mut e = json!({"status": status.as_u16(), "kind": kind, "message": message});
    if let Some(loc) = location(message) {
        e["location"] = loc;
    }
    Reply::json(status, &json!({ "error": e }))
}

/// `file:line:col: ...` at the start of a message, as a JSON object.
fn location(message: &str) -> Option<Value> {
    let mut parts = message.splitn(4, ':');
    let file = parts.next()?;
    let line: u64 = parts.next()?.trim().parse().ok()?;
    let column: u64 = parts.next()?.trim().parse().ok()?;
    parts.next()?;
    Some(json!({"file": file, "line": line, "column": column}))
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
struct Metrics {
    /// (endpoint, status) → requests.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// endpoint → (bucket counts, sum of seconds, count).
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    conversions_ok: AtomicU64,
    conversions_failed: AtomicU64,
    unmapped: AtomicU64,
    minted: AtomicU64,
    in_flight: AtomicU64,
    connections: AtomicU64,
}

/// Counts per bucket, sum of seconds, count.
type Histogram = ([u64; BUCKETS.len()], f64, u64);

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

impl Metrics {
    fn observe(&self, endpoint: &'static str, status: u16, secs: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((endpoint, status))
            .or_default() += 1;
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let e = l.entry(endpoint).or_insert(([0; BUCKETS.len()], 0.0, 0));
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                e.0[i] += 1;
            }
        }
        e.1 += secs;
        e.2 += 1;
    }

    fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        s.push_str("# HELP hvxform_http_requests_total HTTP requests by endpoint and status.\n# TYPE hvxform_http_requests_total counter\n");
        for ((ep, st), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "hvxform_http_requests_total{{endpoint=\"{ep}\",status=\"{st}\"}} {n}"
            );
        }
        s.push_str("# HELP hvxform_http_request_duration_seconds Request latency.\n# TYPE hvxform_http_request_duration_seconds histogram\n");
        for (ep, (b, sum, count)) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "hvxform_http_request_duration_seconds_bucket{{endpoint=\"{ep}\",le=\"{le}\"}} {}",
                    b[i]
                );
            }
            let _ = writeln!(
                s,
                "hvxform_http_request_duration_seconds_bucket{{endpoint=\"{ep}\",le=\"+Inf\"}} {count}\nhvxform_http_request_duration_seconds_sum{{endpoint=\"{ep}\"}} {sum}\nhvxform_http_request_duration_seconds_count{{endpoint=\"{ep}\"}} {count}"
            );
        }
        let counters = [
            (
                "hvxform_conversions_total{result=\"ok\"}",
                "Conversions.",
                self.conversions_ok.load(Ordering::Relaxed),
            ),
            (
                "hvxform_conversions_total{result=\"failed\"}",
                "",
                self.conversions_failed.load(Ordering::Relaxed),
            ),
            (
                "hvxform_unmapped_nodes_total",
                "Input nodes no mapping rule used.",
                self.unmapped.load(Ordering::Relaxed),
            ),
            (
                "hvxform_session_pairs_minted_total",
                "Session pairs minted and committed.",
                self.minted.load(Ordering::Relaxed),
            ),
            (
                "hvxform_session_round_trips_total",
                "Statements sent to the session database.",
                pg::ROUND_TRIPS.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let base = name.split('{').next().unwrap_or(name);
            if !help.is_empty() {
                let _ = writeln!(s, "# HELP {base} {help}\n# TYPE {base} counter");
            }
            let _ = writeln!(s, "{name} {v}");
        }
        let _ = writeln!(
            s,
            "# HELP hvxform_requests_in_flight Requests being served.\n# TYPE hvxform_requests_in_flight gauge\nhvxform_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP hvxform_connections_open Client connections open.\n# TYPE hvxform_connections_open gauge\nhvxform_connections_open {}",
            self.connections.load(Ordering::Relaxed)
        );
        s
    }
}

struct Shared {
    cfg: Config,
    mappings: Mappings,
    /// Taken (closed) at shutdown, which ends the workers.
    jobs: Mutex<Option<SyncSender<Job>>>,
    metrics: Metrics,
    next_id: AtomicU64,
}

/// A worker thread's own state: its database connection.
struct Worker {
    shared: Arc<Shared>,
    client: Option<postgres::Client>,
}

impl Worker {
    /// This worker's connection, or a new one when it has none or it broke.
    fn connection(&mut self, url: &str) -> Result<postgres::Client, String> {
        match self.client.take() {
            Some(c) if !c.is_closed() => Ok(c),
            _ => pg::connect(url),
        }
    }

    /// A transaction on this worker's connection (connecting, or
    /// reconnecting once when the old connection broke: after a database
    /// restart the first request succeeds).
    fn begin(&mut self, url: &str) -> Result<pg::PgSession, String> {
        for attempt in 0..2 {
            match pg::PgSession::begin(self.connection(url)?) {
                Ok(s) => return Ok(s),
                Err(m) if attempt == 1 => return Err(m),
                Err(_) => {}
            }
        }
        unreachable!("the loop returns")
    }
}

impl Worker {
    /// Runs `f` with the session store: a store of its own when the server
    /// has no database, otherwise a transaction on this worker's
    /// connection, committed when `f` succeeds (before the answer is sent)
    /// and rolled back when it fails. `Err`: the store failed, a 503.
    fn with_store<T, E>(
        &mut self,
        f: impl FnOnce(&dyn session::SessionAccess) -> Result<T, E>,
    ) -> Result<Result<T, E>, Reply> {
        let Some(url) = self.shared.cfg.session.clone() else {
            return Ok(f(&MemoryStore::default()));
        };
        let unavailable = |m: &str| error(StatusCode::SERVICE_UNAVAILABLE, "store", m);
        let sess = self.begin(&url).map_err(|m| unavailable(&m))?;
        let r = f(&sess);
        if let Some(m) = sess.failure() {
            // The connection may be gone: the next request reconnects.
            drop(sess.rollback());
            return Err(unavailable(&m));
        }
        if r.is_err() {
            self.client = Some(sess.rollback());
            return Ok(r);
        }
        match sess.commit() {
            Ok((n, c)) => {
                self.shared.metrics.minted.fetch_add(n, Ordering::Relaxed);
                self.client = Some(c);
                Ok(r)
            }
            Err(m) => Err(unavailable(&format!("session store: cannot commit: {m}"))),
        }
    }
}

fn worker_loop(shared: Arc<Shared>, rx: Arc<Mutex<Receiver<Job>>>) {
    let mut w = Worker {
        shared,
        client: None,
    };
    loop {
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(j) => j,
            Err(_) => return,
        };
        // A panic in a conversion is a 500 for that request, not a lost worker.
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.work)(&mut w)))
            .unwrap_or_else(|_| {
                w.client = None;
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error while converting (a bug: please report it with the input)",
                )
            });
        let _ = job.reply.send(reply);
    }
}

/// Runs the server until SIGINT or SIGTERM; requests in flight finish.
pub fn run(cfg: Config, ready: impl FnOnce(SocketAddr)) -> Result<(), String> {
    let mappings = Mappings::new(cfg.mappings.clone());
    // Compile every shipped route now: a broken --mappings DIR is found at
    // start, not by the first request.
    for (name, _) in engine::EMBEDDED
        .iter()
        .filter(|(n, _)| !n.starts_with("lib/"))
    {
        if name.starts_with("commands/") {
            continue;
        }
        if let Err(e) = mappings.program(name) {
            let mut m = format!("mapping {} does not compile:", e.name);
            for d in &e.diagnostics.items {
                m.push('\n');
                m.push_str(&crate::render::human(d, false));
            }
            return Err(m);
        }
    }
    if let Some(url) = &cfg.session {
        // Migrations run once here, before any request.
        pg::connect(url)?;
    }
    let (tx, rx) = sync_channel::<Job>(cfg.queue);
    let rx = Arc::new(Mutex::new(rx));
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        mappings,
        jobs: Mutex::new(Some(tx)),
        metrics: Metrics::default(),
        next_id: AtomicU64::new(1),
    });
    let mut threads = Vec::new();
    for i in 0..cfg.workers.max(1) {
        let (s, r) = (shared.clone(), rx.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("hvx-worker-{i}"))
                // Programs recurse over input nesting (bounded by MAX_DEPTH).
                .stack_size(64 << 20)
                .spawn(move || worker_loop(s, r))
                .map_err(|e| format!("cannot start a worker thread: {e}"))?,
        );
    }
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls_config(cert, key)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let app = router(shared.clone());
    let held = shared.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        ready(addr);
        serve_connections(
            listener,
            tls.map(tokio_rustls::TlsAcceptor::from),
            app,
            held,
        )
        .await;
        Ok::<(), String>(())
    })?;
    // Closing the queue ends the workers once it is empty.
    shared.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// The rustls configuration from a PEM certificate chain and key.
fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect())
        .map_err(|e| format!("{}: cannot read the certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: cannot read the private key: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts connections until SIGINT or SIGTERM and serves each in a task
/// of its own, then lets the requests in flight finish (for at most the
/// request timeout and a grace period) while idle connections are closed.
///
/// At most `max_connections` are open at once: beyond them, no more are
/// accepted until one closes. Each is closed when it sends no complete
/// request head for `idle_timeout` (hyper's header read timeout, which runs
/// from the moment the connection waits for a request: a new connection,
/// a kept-alive one between requests, or one sending its head a byte at a
/// time), and a TLS handshake gets as long. So clients that connect and
/// send nothing cannot hold every connection (or file descriptor) and
/// keep the health checks out.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    shared: Arc<Shared>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let idle = shared.cfg.idle_timeout;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(idle)
        .keep_alive(true);
    let http = Arc::new(http);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(
        shared.cfg.max_connections.max(1),
    ));
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let tcp = tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    // Out of file descriptors and the like: back off.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = tcp.set_nodelay(true);
        let (http, watcher, tls, shared) = (
            http.clone(),
            graceful.watcher(),
            tls.clone(),
            shared.clone(),
        );
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            shared.metrics.connections.fetch_add(1, Ordering::Relaxed);
            match tls {
                None => {
                    let conn = http.serve_connection(TokioIo::new(tcp), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    if let Ok(Ok(stream)) = tokio::time::timeout(idle, acceptor.accept(tcp)).await {
                        let conn = http.serve_connection(TokioIo::new(stream), service);
                        let _ = watcher.watch(conn).await;
                    }
                }
            }
            shared.metrics.connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    let grace = shared.cfg.timeout + Duration::from_secs(5);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/convert", post(convert))
        .route("/v1/check", post(check))
        .route("/v1/command", post(command))
        .route("/v1/sessions", get(sessions_export).post(sessions_import))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            gatekeeper,
        ))
        .with_state(shared)
}

/// The endpoint's name for metrics and logs (a fixed set: no label explosion).
fn endpoint(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/v1/openapi.json" => "openapi",
        "/v1/convert" => "convert",
        "/v1/check" => "check",
        "/v1/command" => "command",
        "/v1/sessions" => "sessions",
        _ => "other",
    }
}

/// Constant-time comparison of the presented token with the configured one.
fn token_ok(headers: &HeaderMap, token: &str) -> bool {
    let Some(got) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (got.as_bytes(), token.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in b.iter().enumerate() {
        diff |= (a.get(i).copied().unwrap_or(0) ^ x) as usize;
    }
    diff == 0
}

/// Authentication, metrics and one JSON log line per request.
async fn gatekeeper(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let ep = endpoint(&path);
    let open = matches!(ep, "healthz" | "readyz");
    s.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let mut resp = if !open && !token_ok(req.headers(), &s.cfg.token) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token (Authorization: Bearer TOKEN)",
        )
        .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"hvxform\""),
        );
        r
    } else {
        next.run(req).await
    };
    s.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    s.metrics.observe(ep, status, secs);
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert("x-request-id", v);
    }
    eprintln!(
        "{}",
        json!({
            "request": id,
            "method": method.as_str(),
            "path": path,
            "status": status,
            "ms": (secs * 1e6).round() / 1e3,
        })
    );
    resp
}

async fn healthz() -> Reply {
    Reply::json(StatusCode::OK, &json!({"status": "ok"}))
}

async fn readyz(State(s): State<Arc<Shared>>) -> Reply {
    let Some(url) = s.cfg.session.clone() else {
        return Reply::json(
            StatusCode::OK,
            &json!({"status": "ready", "session": "memory"}),
        );
    };
    // Through the queue: ready means a worker can reach the database.
    dispatch(&s, move |w| {
        let r = w.begin(&url).map(|sess| sess.rollback());
        match r {
            Ok(c) => {
                w.client = Some(c);
                Reply::json(
                    StatusCode::OK,
                    &json!({"status": "ready", "session": "postgres"}),
                )
            }
            Err(m) => error(StatusCode::SERVICE_UNAVAILABLE, "store", &m),
        }
    })
    .await
}

async fn metrics(State(s): State<Arc<Shared>>) -> Reply {
    Reply {
        status: StatusCode::OK,
        content_type: "text/plain; version=0.0.4",
        body: s.metrics.render().into_bytes(),
    }
}

async fn openapi() -> Reply {
    Reply {
        status: StatusCode::OK,
        content_type: "application/json",
        body: OPENAPI.as_bytes().to_vec(),
    }
}

async fn not_found() -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint (see /v1/openapi.json)",
    )
}

/// Hands work to the workers and waits for the answer, within the limits.
async fn dispatch(
    s: &Arc<Shared>,
    work: impl FnOnce(&mut Worker) -> Reply + Send + 'static,
) -> Reply {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job = Job {
        work: Box::new(work),
        reply: tx,
    };
    let jobs = s.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(jobs) = jobs else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutdown",
            "the server is stopping",
        );
    };
    match jobs.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                &format!(
                    "the server is at its concurrency limit ({} running, {} waiting); retry",
                    s.cfg.workers, s.cfg.queue
                ),
            )
        }
        Err(TrySendError::Disconnected(_)) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutdown",
                "the server is stopping",
            )
        }
    }
    match tokio::time::timeout(s.cfg.timeout, rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the worker stopped without an answer",
        ),
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            &format!(
                "the request took longer than {} s",
                s.cfg.timeout.as_secs_f64()
            ),
        ),
    }
}

/// The request body as UTF-8 text within `--max-body`.
async fn read_body(
    s: &Shared,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<String, Reply> {
    let too_big = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!("{what}: the body is larger than {} bytes", s.cfg.max_body),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > s.cfg.max_body as u64) {
        return Err(too_big());
    }
    // A body that stops coming gets 408, one that grows past the limit
    // 413, and one whose connection closes before its end 400: each its
    // own status, in the metrics too.
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, s.cfg.max_body);
    let bytes = match tokio::time::timeout(s.cfg.timeout, limited.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(too_big()),
        Ok(Err(e)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "incomplete_body",
                &format!("{what}: the body ended before its declared length: {e}"),
            ))
        }
        Err(_) => {
            return Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                &format!(
                    "{what}: the body did not arrive within {} s (--timeout)",
                    s.cfg.timeout.as_secs_f64()
                ),
            ))
        }
    };
    crate::platform::input::decode(&bytes)
        .map_err(|m| error(StatusCode::BAD_REQUEST, "input", &format!("{what}: {m}")))
}

/// A message written for the command line, in the words of this API: its
/// flags are query parameters here (`--from xen` is `from=xen`, `--param
/// N=V` is `param=N=V`).
fn query_words(message: &str) -> String {
    let mut m = message.replace("--param ", "param=");
    for p in platform::PLATFORMS {
        m = m.replace(&format!("--from {}", p.name), &format!("from={}", p.name));
    }
    m.replace("--from", "from=")
}

/// Does the request's Accept header name one of `types`?
fn accepts(headers: &HeaderMap, types: &[&str]) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| types.iter().any(|t| a.contains(t)))
}

/// The query's pairs, in order (`to` may repeat).
fn query_pairs(q: Option<String>) -> Result<Vec<(String, String)>, Reply> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""))
        .map_err(|e| error(StatusCode::BAD_REQUEST, "usage", &format!("query: {e}")))
}

fn bad(m: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, "usage", m)
}

/// The media type of an output document.
fn media_type(p: &engine::Produced) -> &'static str {
    if p.json {
        "application/json"
    } else if p.ext.ends_with("xml") || p.ext == "ovf" {
        "application/xml"
    } else {
        "text/plain; charset=utf-8"
    }
}

async fn convert(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Reply {
    let pairs = match query_pairs(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut name = "input.xml".to_string();
    let mut from: Option<&'static Platform> = None;
    let mut targets: Vec<&'static Platform> = Vec::new();
    let mut params = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "name" => name = v,
            "from" => match platform::by_name(&v) {
                Ok(p) => from = Some(p),
                Err(m) => return bad(&m),
            },
            "to" => {
                for t in v.split(',') {
                    match platform::by_name(t.trim()) {
                        Ok(p) if !p.implemented => {
                            return bad(&format!("writing {} is not implemented yet", p.name))
                        }
                        Ok(p) if !targets.contains(&p) => targets.push(p),
                        Ok(_) => {}
                        Err(m) => return bad(&m),
                    }
                }
            }
            "param" => match crate::cli::parse_param(&v) {
                Ok(p) => params.push(p),
                Err(m) => return bad(&format!("param: {m}")),
            },
            _ => {
                return bad(&format!(
                    "unknown query parameter `{k}` (name, from, to, param)"
                ))
            }
        }
    }
    if targets.is_empty() {
        return bad("no target: add `to=PLATFORM` (kvm, vsphere, ovf, ...) to the query");
    }
    // The name only labels messages and outputs: it never becomes a path.
    let stem = engine::stem(Path::new(&name));
    if let Err(m) = engine::safe_name_part(&stem) {
        return bad(&format!("name: {m}"));
    }
    let raw = accepts(&headers, &["application/xml", "text/xml"]);
    let text = match read_body(&s, &headers, body, &name).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    dispatch(&s, move |w| {
        let shared = w.shared.clone();
        let run = |store: &dyn session::SessionAccess| {
            Convert {
                mappings: &shared.mappings,
                params: params.clone(),
                sessions: store,
                run: RunOptions {
                    detail: true,
                    ..Default::default()
                },
            }
            .convert(&name, &text, from, &targets)
        };
        let result = match w.with_store(run) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let m = &shared.metrics;
        let (docs, findings) = match result {
            Ok(x) => x,
            Err(e) => {
                m.conversions_failed.fetch_add(1, Ordering::Relaxed);
                let (status, kind) = match &e {
                    ConvertError::Input(_) => (StatusCode::BAD_REQUEST, "input"),
                    ConvertError::Route(_) => (StatusCode::BAD_REQUEST, "route"),
                    ConvertError::Mapping(_) => (StatusCode::INTERNAL_SERVER_ERROR, "mapping"),
                    ConvertError::Run { .. } | ConvertError::Output(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "conversion")
                    }
                };
                return error(status, kind, &query_words(&e.to_string()));
            }
        };
        m.conversions_ok.fetch_add(1, Ordering::Relaxed);
        m.unmapped
            .fetch_add(findings.unmapped_count as u64, Ordering::Relaxed);
        if raw {
            if docs.len() != 1 || docs[0].json || media_type(&docs[0]) != "application/xml" {
                return error(
                    StatusCode::NOT_ACCEPTABLE,
                    "usage",
                    &format!(
                        "Accept: application/xml asks for one XML document; this conversion writes {} document(s){}: ask for the JSON envelope",
                        docs.len(),
                        if docs.iter().any(|d| d.json) { ", some JSON" } else { "" }
                    ),
                );
            }
            return Reply {
                status: StatusCode::OK,
                content_type: "application/xml",
                body: docs.into_iter().next().map(|d| d.xml).unwrap_or_default().into_bytes(),
            };
        }
        let names = match engine::output_names(&stem, &docs) {
            Ok(n) => n,
            Err(m) => return error(StatusCode::UNPROCESSABLE_ENTITY, "output", &m),
        };
        let mut outputs = Vec::new();
        for (d, file) in docs.iter().zip(names) {
            outputs.push(json!({
                "target": d.target,
                "name": file,
                "media_type": media_type(d),
                "content": d.xml,
            }));
        }
        Reply::json(
            StatusCode::OK,
            &json!({
                "version": 1,
                "input": name,
                "outputs": outputs,
                "report": findings.to_json(),
            }),
        )
    })
    .await
}

async fn check(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Reply {
    let pairs = match query_pairs(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut name = "mapping.hvx".to_string();
    let mut pedantic = false;
    for (k, v) in pairs {
        match k.as_str() {
            "name" => name = v,
            "pedantic" => pedantic = v != "false" && v != "0",
            _ => return bad(&format!("unknown query parameter `{k}` (name, pedantic)")),
        }
    }
    let text = match read_body(&s, &headers, body, &name).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    dispatch(&s, move |_| {
        let source = Arc::new(crate::diag::Source {
            name: name.clone(),
            path: None,
            text,
        });
        let resolver = crate::compile::FsResolver {
            embedded: engine::EMBEDDED,
        };
        let diags = if crate::compile::is_library(&source) {
            crate::compile::check_library_with(source, &resolver, pedantic)
        } else {
            crate::compile::compile_with(source, &resolver, pedantic).1
        };
        let report = crate::render::json_report(std::slice::from_ref(&name), &diags.items);
        let status = if diags.has_errors() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        Reply::json(status, &report)
    })
    .await
}

/// The body of `/v1/command` when it carries contexts.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    command: String,
    #[serde(default)]
    contexts: Vec<NamedText>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedText {
    name: String,
    content: String,
}

async fn command(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Reply {
    let pairs = match query_pairs(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut name = "command.xml".to_string();
    let mut target = None;
    let mut params = Vec::new();
    let mut script: Option<String> = None;
    for (k, v) in pairs {
        match k.as_str() {
            "name" => name = v,
            "to" => match platform::by_name(&v) {
                Ok(p) => target = Some(p),
                Err(m) => return bad(&m),
            },
            "param" => match crate::cli::parse_param(&v) {
                Ok(p) => params.push(p),
                Err(m) => return bad(&format!("param: {m}")),
            },
            "script" => script = Some(v),
            _ => {
                return bad(&format!(
                    "unknown query parameter `{k}` (name, to, param, script)"
                ))
            }
        }
    }
    let Some(target) = target else {
        return bad("no target: add `to=PLATFORM` (kvm, vsphere, hyperv, ec2, hvx) to the query");
    };
    if script.is_some() && target.name != "kvm" {
        return bad("script=URI gives virsh calls: use it with to=kvm");
    }
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let text = match read_body(&s, &headers, body, &name).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let (text, contexts) = if json_body {
        match serde_json::from_str::<CommandBody>(&text) {
            Ok(b) => (
                b.command,
                b.contexts
                    .into_iter()
                    .map(|c| (c.name, c.content))
                    .collect::<Vec<_>>(),
            ),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "input",
                    &format!(
                        "request body:{}:{}: {e} (expected {{\"command\": XML, \"contexts\": [{{\"name\", \"content\"}}]}})",
                        e.line(),
                        e.column()
                    ),
                )
            }
        }
    } else {
        (text, Vec::new())
    };
    let raw = accepts(&headers, &["application/xml", "text/plain"]);
    dispatch(&s, move |w| {
        let shared = w.shared.clone();
        let run = |store: &dyn session::SessionAccess| {
            crate::command::translate_text(
                &shared.mappings,
                &name,
                &text,
                &contexts,
                target,
                &params,
                store,
            )
        };
        let result = match w.with_store(run) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let done = match result {
            Ok(d) => d,
            Err(crate::command::TranslateError::Mapping(e)) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "mapping",
                    &format!("mapping {} does not compile", e.name),
                )
            }
            Err(crate::command::TranslateError::Usage(m)) => return bad(&m),
            Err(crate::command::TranslateError::Invalid(m)) => {
                // A document that cannot be read is located; one that
                // reads but cannot be translated is not.
                let status = if location(&m).is_some() {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                return error(status, "input", &m);
            }
        };
        let t = done.translation;
        let (output, media_type) = match &script {
            Some(uri) => match crate::command::virsh_script(&t.output, uri) {
                Ok(o) => (o, "text/plain; charset=utf-8"),
                Err(m) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &m),
            },
            None => (t.output, "application/xml"),
        };
        if raw {
            return Reply {
                status: StatusCode::OK,
                content_type: media_type,
                body: output.into_bytes(),
            };
        }
        let warnings: Vec<Value> = t
            .warnings
            .iter()
            .map(|w| json!({"message": w.message, "action": w.action, "mapping": w.mapping}))
            .collect();
        let paths: Vec<Value> = t
            .paths
            .iter()
            .map(|(file, p)| {
                json!({
                    "mapping": file,
                    "rule": p.mapping,
                    "line": p.input.line,
                    "column": p.input.col,
                    "direct": p.needs.is_none(),
                    "needs": p.needs,
                })
            })
            .collect();
        Reply::json(
            StatusCode::OK,
            &json!({
                "version": 1,
                "input": name,
                "source": done.source.name,
                "target": target.name,
                "media_type": media_type,
                "output": output,
                "warnings": warnings,
                "paths": paths,
            }),
        )
    })
    .await
}

fn no_database() -> Reply {
    error(
        StatusCode::CONFLICT,
        "store",
        "this server has no session database (start it with --session postgres://...)",
    )
}

async fn sessions_export(State(s): State<Arc<Shared>>) -> Reply {
    let Some(url) = s.cfg.session.clone() else {
        return no_database();
    };
    dispatch(&s, move |w| {
        let mut client = match w.connection(&url) {
            Ok(c) => c,
            Err(m) => return error(StatusCode::SERVICE_UNAVAILABLE, "store", &m),
        };
        let r = pg::export(&mut client);
        w.client = Some(client);
        match r {
            Ok(t) => Reply::json(StatusCode::OK, &session::format::to_json(t.iter())),
            Err(m) => error(StatusCode::SERVICE_UNAVAILABLE, "store", &m),
        }
    })
    .await
}

async fn sessions_import(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Reply {
    let Some(url) = s.cfg.session.clone() else {
        return no_database();
    };
    let text = match read_body(&s, &headers, body, "store.yaml").await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let tables = match session::format::parse(&text) {
        Ok(t) => t,
        Err(problems) => {
            let m: Vec<String> = problems.iter().map(|p| format!("store.yaml:{p}")).collect();
            return error(StatusCode::BAD_REQUEST, "input", &m.join("\n"));
        }
    };
    dispatch(&s, move |w| {
        let mut client = match w.connection(&url) {
            Ok(c) => c,
            Err(m) => return error(StatusCode::SERVICE_UNAVAILABLE, "store", &m),
        };
        let r = pg::import(&mut client, &tables);
        w.client = Some(client);
        match r {
            Ok(d) => Reply::json(
                StatusCode::OK,
                &json!({"tables": d.tables, "new_pairs": d.new_pairs, "existing_pairs": d.existing_pairs}),
            ),
            Err(m) => error(StatusCode::CONFLICT, "conflict", &m),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_from_messages() {
        assert_eq!(
            location("web.xml:3:14: unexpected end"),
            Some(json!({"file": "web.xml", "line": 3, "column": 14}))
        );
        assert_eq!(location("no location here"), None);
        assert_eq!(location("web.xml: not a VM"), None);
    }

    #[test]
    fn messages_name_query_parameters() {
        assert_eq!(
            super::query_words("use --from to say which it is; --from vmware or --from xen reads it; --param image_dir: bad"),
            "use from= to say which it is; from=vmware or from=xen reads it; param=image_dir: bad"
        );
    }

    #[test]
    fn tokens_compare_whole() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert!(token_ok(&h, "abc"));
        assert!(!token_ok(&h, "abcd"));
        assert!(!token_ok(&h, "ab"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(!token_ok(&h, "abc"));
        assert!(!token_ok(&HeaderMap::new(), "abc"));
    }
}
