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
    /// A request that takes longer gets 503.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub timeout: f64,
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
        if !(self.timeout > 0.0 && self.timeout.is_finite()) {
            return fail("--timeout must be a positive number of seconds");
        }
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
