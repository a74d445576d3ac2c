//! `hvxform serve`: the transform server (see [`crate::serve`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{exit, Ctx};
use crate::session::pg;

/// Run the transform server: convert and check over HTTP, with session
/// tables in PostgreSQL shared by every instance.
///
/// Every endpoint but /healthz and /readyz needs `Authorization: Bearer
/// TOKEN`; the token comes from --token-file or HVXFORM_TOKEN, never from
/// the command line. With --tls-cert and --tls-key it serves HTTPS on any
/// address; without, it listens on loopback only. Stops on SIGINT or
/// SIGTERM after the requests in flight. The API: /v1/openapi.json and the
/// book chapter "The transform server".
#[derive(Debug, Args)]
pub struct Serve {
    /// Address to listen on (loopback only without TLS).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Session tables: a PostgreSQL database (`postgres://USER@HOST[:PORT]/DB`;
    /// the password from PGPASSWORD). Without it, each request mints into
    /// a store of its own that is discarded.
    #[arg(long, value_name = "URL")]
    pub session: Option<String>,
    /// Directory of mappings that add to or override the shipped ones.
    #[arg(long, value_name = "DIR", value_parser = super::parse_mappings_dir)]
    pub mappings: Option<PathBuf>,
    /// File holding the bearer token (one line). Default: HVXFORM_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Conversion threads (each with its own database connection). Default:
    /// the number of cores.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Requests that may wait for a thread; more get 503 at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub queue: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 8 << 20, value_name = "BYTES")]
    pub max_body: usize,
    /// A request that takes longer gets 503 (408 when its body has not
    /// arrived by then).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// A connection that sends no complete request head for this long (a
    /// new one, a kept-alive one between requests, or one sending its head
    /// slowly) is closed; a TLS handshake gets as long.
    #[arg(long, default_value_t = 15.0, value_name = "SECONDS")]
    pub idle_timeout: f64,
    /// Client connections open at once; more wait until one closes.
    /// Default: 4096, or fewer when this process may not open that many
    /// files (the soft limit is raised to the hard one first).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Serve HTTPS with this PEM certificate chain (and --tls-key); then
    /// any address may be given to --listen.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Serve {
    pub fn run(self, ctx: &Ctx) -> u8 {
        let fail = |m: &str| {
            super::error(ctx, m);
            exit::CANNOT_RUN
        };
        if !self.listen.ip().is_loopback() && self.tls_cert.is_none() {
            return fail(&format!(
                "--listen {}: without TLS the server listens on loopback only (127.0.0.1 or ::1); give --tls-cert and --tls-key, or put a TLS-terminating proxy in front",
                self.listen
            ));
        }
        let token = match &self.token_file {
            Some(f) => match std::fs::read_to_string(f) {
                Ok(t) => t.trim().to_string(),
                Err(e) => return fail(&format!("{}: cannot read the token: {e}", f.display())),
            },
            None => std::env::var("HVXFORM_TOKEN").unwrap_or_default(),
        };
        if token.len() < 16 {
            return fail(
                "a bearer token of at least 16 characters is needed: --token-file FILE or HVXFORM_TOKEN",
            );
        }
        if let Some(s) = &self.session {
            if !pg::is_url(s) {
                return fail(&format!(
                    "--session {s}: the server keeps its tables in PostgreSQL (postgres://...); a YAML store serves one process (hvxform transform --session FILE)"
                ));
            }
        }
        for (flag, v) in [
            ("--timeout", self.timeout),
            ("--idle-timeout", self.idle_timeout),
        ] {
            if !(v > 0.0 && v.is_finite() && v < 1e9) {
                return fail(&format!("{flag} must be a positive number of seconds"));
            }
        }
        let max_connections = match connection_limit(self.max_connections) {
            Ok(n) => n,
            Err(m) => return fail(&m),
        };
        let workers = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        let cfg = crate::serve::Config {
            listen: self.listen,
            session: self.session,
            mappings: self.mappings,
            token,
            workers: workers.max(1),
            queue: self.queue,
            max_body: self.max_body,
            timeout: Duration::from_secs_f64(self.timeout),
            idle_timeout: Duration::from_secs_f64(self.idle_timeout),
            max_connections,
            tls: self.tls_cert.zip(self.tls_key),
        };
        let quiet = ctx.quiet;
        let scheme = if cfg.tls.is_some() { "https" } else { "http" };
        match crate::serve::run(cfg, |addr| {
            if !quiet {
                eprintln!("hvxform serve: listening on {scheme}://{addr}");
            }
        }) {
            Ok(()) => exit::OK,
            Err(m) => fail(&m),
        }
    }
}

/// File descriptors kept for everything but client connections: the
/// listener, database connections, mapping files, standard streams.
const RESERVED_FILES: u64 = 64;

/// How many connections the server may hold open: `asked` (default 4096),
/// within the files this process may open. The soft limit is raised to the
/// hard one first (as Go's runtime and most servers do); asking for more
/// than that allows is an error, not a server that stops accepting when
/// the descriptors run out.
fn connection_limit(asked: Option<usize>) -> Result<usize, String> {
    if asked == Some(0) {
        return Err("--max-connections must be at least 1".to_string());
    }
    let files = open_files_limit();
    let room = files.saturating_sub(RESERVED_FILES).max(1);
    match asked {
        Some(n) if n as u64 > room => Err(format!(
            "--max-connections {n}: this process may open {files} files (ulimit -n), of which {RESERVED_FILES} are kept for the server itself; raise the limit or ask for at most {room}"
        )),
        Some(n) => Ok(n),
        None => Ok(room.min(4096) as usize),
    }
}

/// The open-files limit, after raising the soft limit to the hard one.
#[cfg(target_os = "linux")]
fn open_files_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 1024;
        }
        if r.rlim_cur < r.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every target
    let n = r.rlim_cur as u64;
    n
}

#[cfg(not(target_os = "linux"))]
fn open_files_limit() -> u64 {
    1024
}
