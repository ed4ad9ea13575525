//! One HTTP exchange, recorded byte for byte (DESIGN §Fetch).
//!
//! DNS (hickory, honouring TTLs and `/etc/hosts`; `--resolve` overrides), the destination policy on
//! every resolved address (each tried in turn, IPv4 and IPv6), TCP connect,
//! TLS (rustls with webpki roots, strict verification), then hyper's http1 client over a
//! [`record::Recorder`], so the request and response are kept exactly as they crossed the wire. The
//! [`framer`] cuts the final response out of the received bytes (1xx heads and surplus removed).
//! No redirects are followed and nothing is decompressed here: a 3xx is its own capture. A host's
//! connection is kept for its next request (keep-alive, never pipelined) unless the response was
//! close-delimited, truncated, followed by surplus bytes or said `Connection: close`.
//!
//! A response hyper rejects is archived best-effort from the recorded bytes (a `response` when its
//! status line parses, otherwise a `resource` with `WARC-Truncated: unspecified`). Failures before
//! any response byte are [`FetchError`]s, which the crawler records as the URL's outcome.

pub mod cookies;
pub mod dest;
pub mod framer;
pub mod record;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::Url;

use crate::config::{AllowPrivate, Config};
use framer::{frame_response, FrameError, Framed};
use record::{Recorder, Tape};

/// Why a record is incomplete (WARC 1.1 §5.13 `WARC-Truncated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncation {
    /// The size cap (`max_record_size`) was reached.
    Length,
    /// The fetch timeout was reached.
    Time,
    /// The connection ended before the message did.
    Disconnect,
    /// Anything else (unparseable material archived best-effort).
    Unspecified,
}

impl Truncation {
    /// The field value written in `WARC-Truncated`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Truncation::Length => "length",
            Truncation::Time => "time",
            Truncation::Disconnect => "disconnect",
            Truncation::Unspecified => "unspecified",
        }
    }
}

/// A failure before any response byte arrived: recorded as the URL's outcome, nothing archived.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// The URL cannot be requested (no host, unsupported scheme, URI too long for HTTP/1.1).
    #[error("invalid URL for fetching: {0}")]
    InvalidUrl(String),
    /// The host name did not resolve.
    #[error("DNS lookup failed: {0}")]
    Dns(String),
    /// Every resolved address is refused by the destination policy.
    #[error(
        "destination {addr} refused: {reason}; pass --allow-private (or set allow_private in the config) to crawl it"
    )]
    Refused {
        /// The (first) refused address.
        addr: IpAddr,
        /// The range it belongs to.
        reason: String,
    },
    /// TCP connect failed or timed out.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The TLS handshake failed (certificate refused under strict verification, or protocol error).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// No response byte before the timeout.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// The connection failed before any response byte arrived.
    #[error("no response: {0}")]
    NoResponse(String),
}

/// What kind of record an exchange becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// A response whose status line parsed: a WARC `response` record (`application/http;msgtype=response`).
    Response(Box<Framed>),
    /// Bytes that are not a parseable HTTP response: a WARC `resource` record, `WARC-Truncated:
    /// unspecified`, with the reason.
    Unparseable(String),
}

/// One recorded exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The URL requested.
    pub url: Url,
    /// The address connected to (`WARC-IP-Address`).
    pub peer: SocketAddr,
    /// When the request started (the capture's `WARC-Date`).
    pub date: DateTime<Utc>,
    /// Request start to response end (or to the cut).
    pub duration: Duration,
    /// The request bytes as sent.
    pub request: Vec<u8>,
    /// The response block: the final message as received, cut at its end (or at the truncation).
    pub block: Vec<u8>,
    /// How `block` is to be read; for a response, ranges are relative to `block`.
    pub material: Material,
    /// Why the block is incomplete, if it is.
    pub truncated: Option<Truncation>,
    /// For https: the certificate verdict, `valid` or `invalid: why` (kept as data, never in the
    /// block).
    pub tls_verdict: Option<String>,
}

impl Exchange {
    /// The HTTP status, when the response parsed.
    pub fn status(&self) -> Option<u16> {
        match &self.material {
            Material::Response(f) => Some(f.status),
            Material::Unparseable(_) => None,
        }
    }

    /// The framing of the response, when it parsed.
    pub fn framed(&self) -> Option<&Framed> {
        match &self.material {
            Material::Response(f) => Some(f),
            Material::Unparseable(_) => None,
        }
    }

    /// The payload (entity body with the transfer coding removed, content coding kept), as slices
    /// of the block. Empty for unparseable material.
    pub fn payload_slices(&self) -> Vec<&[u8]> {
        match &self.material {
            Material::Response(f) => f.payload.iter().map(|r| &self.block[r.clone()]).collect(),
            Material::Unparseable(_) => vec![&self.block[..]],
        }
    }

    /// The payload as one owned buffer.
    pub fn payload(&self) -> Vec<u8> {
        self.payload_slices().concat()
    }
}

/// Settings of the fetcher, from [`Config`].
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// `User-Agent` value.
    pub user_agent: String,
    /// `From` value (contact e-mail, else the contact URL), omitted when empty.
    pub from: String,
    /// DNS + connect + TLS timeout.
    pub connect_timeout: Duration,
    /// Whole exchange timeout.
    pub fetch_timeout: Duration,
    /// Longest silence while waiting for the response head or the next body bytes.
    pub read_timeout: Duration,
    /// Response bytes kept.
    pub max_record_size: usize,
    /// Opened private destinations.
    pub allow_private: AllowPrivate,
    /// DNS overrides.
    pub resolve: HashMap<(String, u16), IpAddr>,
    /// Name servers to ask instead of the system's (empty: the system's).
    pub dns_servers: Vec<SocketAddr>,
    /// Extra trusted CA certificates.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Refuse certificates that do not verify (else capture anyway and report the verdict).
    pub tls_strict: bool,
    /// Keep a cookie jar for the crawl (cookies set by servers are sent back).
    pub cookies: bool,
    /// Cookies to start the jar with (imported from a Netscape `cookies.txt`).
    pub initial_cookies: Vec<cookies::ImportedCookie>,
    /// Reuse a host's connection for its next request.
    pub keep_alive: bool,
    /// How long an idle connection is kept for reuse.
    pub idle_timeout: Duration,
    /// Idle connections kept per authority (`connections_per_host`).
    pub idle_per_host: usize,
    /// Idle connections kept in all (`max_idle_connections`).
    pub max_idle: usize,
}

impl FetchSettings {
    /// The fetch settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            user_agent: config.user_agent.clone(),
            from: config.from.clone(),
            connect_timeout: config.connect_timeout,
            fetch_timeout: config.fetch_timeout,
            read_timeout: config.read_timeout,
            max_record_size: config.max_record_size.min(usize::MAX as u64) as usize,
            allow_private: config.allow_private.clone(),
            resolve: config.resolve.clone(),
            dns_servers: config.dns_servers.clone(),
            extra_roots: config.extra_roots.clone(),
            tls_strict: config.tls_strict,
            cookies: config.cookies,
            initial_cookies: config.initial_cookies.clone(),
            keep_alive: config.keep_alive,
            idle_timeout: config.idle_timeout,
            idle_per_host: config.connections_per_host.max(1) as usize,
            max_idle: config.max_idle_connections,
        }
    }
}

/// Idle keep-alive connections by authority, counted, and when the stale ones were last closed.
#[derive(Default)]
struct Pool {
    conns: HashMap<String, Vec<Conn>>,
    /// Connections in `conns`.
    idle: usize,
    /// The last sweep for stale connections; sweeps are at most [`POOL_SWEEP`] apart (a sweep
    /// walks every idle connection, under the lock every fetch takes: once per returned
    /// connection it was 4–7% of the CPU of a 500-host crawl, and lock contention).
    swept: Option<Instant>,
}

/// The least time between two sweeps of the idle pool for stale connections (a stale one is also
/// closed when met by [`Fetcher::take_idle`]).
const POOL_SWEEP: Duration = Duration::from_secs(1);

/// The fetcher: cheap to clone, shared by all workers.
#[derive(Clone)]
pub struct Fetcher {
    settings: Arc<FetchSettings>,
    tls: tokio_rustls::TlsConnector,
    /// Idle keep-alive connections by authority (`scheme://host:port`); a connection is taken out
    /// while in use, so it is never shared (one request at a time, no pipelining).
    pool: Arc<Mutex<Pool>>,
    /// Verifies each TLS peer's chain after the handshake (the verdict of capture mode).
    verifier: Arc<rustls::client::WebPkiServerVerifier>,
    /// The crawl's cookie jar, shared by every worker (`None` when cookies are off).
    jar: Option<Arc<Mutex<cookie_store::CookieStore>>>,
    /// The DNS resolver: hickory with the system's configuration and hosts file, caching answers
    /// for their TTL (the system resolver reports none). `None` where no system configuration can
    /// be read: the system resolver is used then.
    resolver: Option<Arc<hickory_resolver::TokioResolver>>,
}

/// A short cause for a failed lookup: hickory's own text repeats the whole query.
fn dns_error_text(e: &hickory_resolver::net::NetError) -> String {
    if e.is_nx_domain() {
        "no such domain (NXDOMAIN)".into()
    } else if e.is_no_records_found() {
        "no address records".into()
    } else {
        e.to_string()
    }
}

/// The hickory resolver with the system's name servers (or `servers`, when given) and
/// `/etc/hosts`, A and AAAA queried in parallel (IPv4 first), answers cached for their TTL.
fn dns_resolver(servers: &[SocketAddr]) -> Option<Arc<hickory_resolver::TokioResolver>> {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    let mut b = if servers.is_empty() {
        hickory_resolver::TokioResolver::builder_tokio()
            .map_err(|e| tracing::warn!(cause = %e, "no system DNS configuration; using the system resolver without a cache"))
            .ok()?
    } else {
        let name_servers = servers
            .iter()
            .map(|sa| {
                let mut ns = NameServerConfig::udp_and_tcp(sa.ip());
                for c in &mut ns.connections {
                    c.port = sa.port();
                }
                ns
            })
            .collect();
        hickory_resolver::TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
        )
    };
    let opts = b.options_mut();
    opts.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
    opts.cache_size = 4096;
    b.build().ok().map(Arc::new)
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("settings", &self.settings).finish()
    }
}

fn roots(extra_roots: &[rustls::pki_types::CertificateDer<'static>]) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in extra_roots {
        if let Err(e) = roots.add(c.clone()) {
            tracing::warn!(cause = %e, "an extra CA certificate was not usable");
        }
    }
    roots
}

/// The rustls client configuration: ring provider chosen explicitly (DESIGN traps), webpki roots
/// plus `extra_roots`, ALPN `http/1.1` only. `strict` refuses a certificate that does not verify;
/// otherwise the handshake accepts any certificate (its signatures are still checked, so the
/// peer holds the key) and [`Fetcher`] takes the verdict after the handshake.
pub fn tls_config(extra_roots: &[rustls::pki_types::CertificateDer<'static>], strict: bool) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let mut cfg = if strict {
        builder.with_root_certificates(roots(extra_roots)).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CaptureVerifier { provider }))
            .with_no_client_auth()
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg
}

/// Accepts any certificate chain during the handshake, but checks the handshake signatures for
/// real (the peer must hold the certificate's key). The chain's verdict is taken separately.
#[derive(Debug)]
struct CaptureVerifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for CaptureVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The request target in origin form (RFC 9112 §3.2.1): path and query, never the fragment.
pub fn origin_form(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_string(),
    }
}

/// The `Host` header value: the (punycode) host, with the port when it is not the default.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

impl Fetcher {
    /// A fetcher with `settings` and the default (strict) TLS configuration.
    pub fn new(settings: FetchSettings) -> Self {
        let tls = tls_config(&settings.extra_roots, settings.tls_strict);
        Self::with_tls(settings, tls)
    }

    /// A fetcher with a given TLS configuration (tests use a private CA).
    pub fn with_tls(settings: FetchSettings, tls: rustls::ClientConfig) -> Self {
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots(&settings.extra_roots)),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("the webpki roots are usable");
        let jar = settings.cookies.then(|| Arc::new(Mutex::new(cookies::jar_with(&settings.initial_cookies))));
        Self {
            jar,
            verifier,
            resolver: dns_resolver(&settings.dns_servers),
            settings: Arc::new(settings),
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            pool: Arc::new(Mutex::new(Pool::default())),
        }
    }

    /// The addresses `url`'s host resolves to (after overrides), each checked against the
    /// destination policy: `Ok` with the allowed ones (in resolver order), or the first refusal.
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, FetchError> {
        let port = url.port_or_known_default().ok_or_else(|| FetchError::InvalidUrl(url.to_string()))?;
        let addrs: Vec<SocketAddr> = match url.host() {
            None => return Err(FetchError::InvalidUrl(format!("{url}: no host"))),
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => {
                let key = (name.to_ascii_lowercase(), port);
                if let Some(ip) = self.settings.resolve.get(&key) {
                    vec![SocketAddr::new(*ip, port)]
                } else if let Some(resolver) = &self.resolver {
                    match tokio::time::timeout(self.settings.connect_timeout, resolver.lookup_ip(name)).await {
                        Ok(Ok(found)) => found.iter().map(|ip| SocketAddr::new(ip, port)).collect(),
                        Ok(Err(e)) => return Err(FetchError::Dns(format!("{name}: {}", dns_error_text(&e)))),
                        Err(_) => return Err(FetchError::Dns(format!("{name}: timed out"))),
                    }
                } else {
                    let lookup = tokio::net::lookup_host((name, port));
                    match tokio::time::timeout(self.settings.connect_timeout, lookup).await {
                        Ok(Ok(it)) => it.collect(),
                        Ok(Err(e)) => return Err(FetchError::Dns(format!("{name}: {e}"))),
                        Err(_) => return Err(FetchError::Dns(format!("{name}: timed out"))),
                    }
                }
            }
        };
        if addrs.is_empty() {
            return Err(FetchError::Dns(format!("{}: no addresses", url.host_str().unwrap_or(""))));
        }
        let mut allowed = Vec::new();
        let mut first_refusal = None;
        for a in addrs {
            match dest::check(a.ip(), &self.settings.allow_private) {
                Ok(()) => allowed.push(a),
                Err(r) => {
                    first_refusal.get_or_insert((a.ip(), r));
                }
            }
        }
        if allowed.is_empty() {
            let (addr, r) = first_refusal.expect("some address was refused");
            return Err(FetchError::Refused { addr, reason: r.to_string() });
        }
        Ok(allowed)
    }

    /// Fetches `url` with GET and records the exchange. With keep-alive on, an idle connection to
    /// the same authority is reused when it is still open; a request that fails on a reused
    /// connection before any response byte is retried once on a fresh one (DESIGN traps).
    pub async fn fetch(&self, url: &Url) -> Result<Exchange, FetchError> {
        self.fetch_with(url, &[]).await
    }

    /// [`Fetcher::fetch`] with extra request header fields after the standard ones (the
    /// validators of a conditional recrawl: `If-None-Match`, `If-Modified-Since`; RFC 9110 §13.1).
    pub async fn fetch_with(&self, url: &Url, extra: &[(http::HeaderName, String)]) -> Result<Exchange, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl(format!("unsupported scheme {:?}", url.scheme())));
        }
        let target = origin_form(url);
        if target.len() > 65_000 {
            return Err(FetchError::InvalidUrl(format!("request target is {} bytes, over 65000", target.len())));
        }
        let key = crate::canon::authority(url);
        if let Some(conn) = self.take_idle(&key) {
            match self.exchange(conn, url, &target, extra).await {
                Err(FetchError::NoResponse(why)) => {
                    tracing::debug!(url = %url, cause = %why, "reused connection was stale; retrying on a fresh one");
                }
                other => return self.finish(key, other),
            }
        }
        let conn = self.connect(url).await?;
        let result = self.exchange(conn, url, &target, extra).await;
        self.finish(key, result)
    }

    /// Returns the exchange, and pools its connection when it can carry another request.
    fn finish(
        &self,
        key: String,
        result: Result<(Exchange, Option<Conn>), FetchError>,
    ) -> Result<Exchange, FetchError> {
        let (ex, conn) = result?;
        if let Some(conn) = conn {
            self.put_idle(key, conn);
        }
        Ok(ex)
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle, still open connection to `key`'s authority, if one is pooled (the most recently
    /// used first; stale ones met on the way are closed).
    fn take_idle(&self, key: &str) -> Option<Conn> {
        if !self.settings.keep_alive {
            return None;
        }
        let mut guard = self.pool();
        let pool = &mut *guard;
        let conns = pool.conns.get_mut(key)?;
        let mut found = None;
        while let Some(conn) = conns.pop() {
            pool.idle -= 1;
            let fresh = conn.idle_since.elapsed() < self.settings.idle_timeout;
            let quiet = conn.tape.lock().map(|t| t.received.is_empty() && !t.eof).unwrap_or(false);
            if fresh && quiet && conn.sender.is_ready() && !conn.task.is_finished() {
                found = Some(conn);
                break;
            }
            conn.task.abort();
        }
        if conns.is_empty() {
            pool.conns.remove(key);
        }
        found
    }

    fn put_idle(&self, key: String, mut conn: Conn) {
        if !self.settings.keep_alive {
            conn.task.abort();
            return;
        }
        let now = Instant::now();
        conn.idle_since = now;
        let mut guard = self.pool();
        let pool = &mut *guard;
        let timeout = self.settings.idle_timeout;
        if pool.swept.is_none_or(|t| now.duration_since(t) >= POOL_SWEEP) {
            pool.swept = Some(now);
            let mut closed = 0;
            pool.conns.retain(|_, conns| {
                conns.retain(|c| {
                    let keep = now.duration_since(c.idle_since) < timeout && !c.task.is_finished();
                    if !keep {
                        c.task.abort();
                        closed += 1;
                    }
                    keep
                });
                !conns.is_empty()
            });
            pool.idle -= closed;
        }
        if pool.idle >= self.settings.max_idle {
            // At the cap the returned connection is closed, not the oldest idle one: a crawl
            // cycling through more hosts than the cap would otherwise close each host's connection
            // just before its next turn (none reused); this way the pooled ones still are. Those
            // of hosts done with are closed by `idle_timeout`.
            conn.task.abort();
            return;
        }
        let conns = pool.conns.entry(key).or_default();
        conns.push(conn);
        pool.idle += 1;
        if conns.len() > self.settings.idle_per_host {
            conns.remove(0).task.abort();
            pool.idle -= 1;
        }
    }

    /// Resolves, checks the destination policy, connects (TCP, then TLS for https) and performs
    /// the HTTP/1.1 handshake over a recorder.
    async fn connect(&self, url: &Url) -> Result<Conn, FetchError> {
        let connect_deadline = tokio::time::Instant::now() + self.settings.connect_timeout;
        let addrs = self.resolve(url).await?;
        let mut last_err = String::new();
        let mut stream = None;
        for a in &addrs {
            match tokio::time::timeout_at(connect_deadline, TcpStream::connect(a)).await {
                Ok(Ok(s)) => {
                    stream = Some((s, *a));
                    break;
                }
                Ok(Err(e)) => last_err = format!("{a}: {e}"),
                Err(_) => {
                    last_err = format!("{a}: timed out after {:?}", self.settings.connect_timeout);
                    break;
                }
            }
        }
        let Some((tcp, peer)) = stream else {
            return Err(FetchError::Connect(last_err));
        };
        let _ = tcp.set_nodelay(true);
        if url.scheme() == "https" {
            let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| FetchError::Tls(format!("server name {host:?}: {e}")))?;
            let tls = match tokio::time::timeout_at(connect_deadline, self.tls.connect(name.clone(), tcp)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => return Err(FetchError::Tls(e.to_string())),
                Err(_) => return Err(FetchError::Tls("handshake timed out".into())),
            };
            // The certificate verdict, taken per connection from the peer's chain (a resumed
            // session skips the handshake callback, so it is never relied upon).
            let verdict = match tls.get_ref().1.peer_certificates() {
                Some([end, rest @ ..]) => {
                    match rustls::client::danger::ServerCertVerifier::verify_server_cert(
                        &*self.verifier,
                        end,
                        rest,
                        &name,
                        &[],
                        rustls::pki_types::UnixTime::now(),
                    ) {
                        Ok(_) => "valid".to_string(),
                        Err(e) => format!("invalid: {e}"),
                    }
                }
                _ => "invalid: no certificate".to_string(),
            };
            let mut conn = self.handshake(tls, peer).await?;
            conn.tls_verdict = Some(verdict);
            Ok(conn)
        } else {
            self.handshake(tcp, peer).await
        }
    }

    async fn handshake<S>(&self, stream: S, peer: SocketAddr) -> Result<Conn, FetchError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let tape = Arc::new(Mutex::new(Tape::default()));
        let cap = self.settings.max_record_size;
        let io = TokioIo::new(Recorder::new(stream, tape.clone(), cap.saturating_add(1)));
        let mut builder = hyper::client::conn::http1::Builder::new();
        builder
            .title_case_headers(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .allow_spaces_after_header_name_in_responses(true)
            .ignore_invalid_headers_in_responses(true)
            .max_headers(1000);
        let (sender, conn) =
            builder.handshake::<_, Empty<Bytes>>(io).await.map_err(|e| FetchError::NoResponse(e.to_string()))?;
        // The connection task drives the socket; its handle is kept so a timeout or a cap really
        // closes the socket (DESIGN traps).
        let task = tokio::spawn(conn);
        Ok(Conn { sender, task, tape, peer, idle_since: Instant::now(), tls_verdict: None })
    }

    /// Runs one GET exchange on `conn`, recording it. Returns the exchange and the connection when
    /// it may carry another request (complete, length-framed, no surplus, no `Connection: close`).
    async fn exchange(
        &self,
        mut conn: Conn,
        url: &Url,
        target: &str,
        extra: &[(http::HeaderName, String)],
    ) -> Result<(Exchange, Option<Conn>), FetchError> {
        let tape = conn.tape.clone();
        let cap = self.settings.max_record_size;
        let date = Utc::now();
        let t0 = Instant::now();
        let deadline = tokio::time::Instant::now() + self.settings.fetch_timeout;

        let mut req = http::Request::builder()
            .method(http::Method::GET)
            .uri(target)
            .header(http::header::HOST, host_header(url))
            .header(http::header::USER_AGENT, &self.settings.user_agent)
            .header(http::header::ACCEPT, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
            .header(http::header::ACCEPT_ENCODING, "gzip");
        if !self.settings.from.is_empty() {
            req = req.header(http::header::FROM, &self.settings.from);
        }
        if let Some(cookie) = self.jar.as_ref().and_then(|j| cookies::request_header(j, url)) {
            req = req.header(http::header::COOKIE, cookie);
        }
        for (name, value) in extra {
            req = req.header(name, value);
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| FetchError::InvalidUrl(format!("{url}: {e}")))?;

        enum End {
            Complete,
            Capped,
            Idle,
            BodyError(String),
            HeadError(String),
        }
        let tape_for_loop = tape.clone();
        let sender = &mut conn.sender;
        let idle = self.settings.read_timeout;
        let run = async move {
            let resp = match tokio::time::timeout(idle, sender.send_request(req)).await {
                Err(_) => return End::Idle,
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return End::HeadError(e.to_string()),
            };
            let mut body = resp.into_body();
            loop {
                match tokio::time::timeout(idle, body.frame()).await {
                    Err(_) => return End::Idle,
                    Ok(None) => return End::Complete,
                    Ok(Some(Ok(_))) => {
                        if tape_for_loop.lock().map(|t| t.received.len() > cap).unwrap_or(false) {
                            return End::Capped;
                        }
                    }
                    Ok(Some(Err(e))) => return End::BodyError(e.to_string()),
                }
            }
        };
        let end = tokio::time::timeout_at(deadline, run).await;
        let duration = t0.elapsed();
        let (request, mut received, dropped, eof) = {
            let mut t = tape.lock().unwrap_or_else(|p| p.into_inner());
            (std::mem::take(&mut t.sent), std::mem::take(&mut t.received), std::mem::take(&mut t.dropped), t.eof)
        };
        let timed_out = matches!(end, Err(_) | Ok(End::Idle));
        let went_idle = matches!(end, Ok(End::Idle));
        let (hyper_done, failure) = match end {
            Ok(End::Complete) => (true, None),
            Ok(End::Capped) => (false, None),
            Ok(End::Idle) => (false, Some(format!("no bytes for {:?}", self.settings.read_timeout))),
            Ok(End::BodyError(e)) => (false, Some(e)),
            Ok(End::HeadError(e)) => (false, Some(e)),
            Err(_) => (false, Some("timeout".to_string())),
        };
        let mut truncated = None;
        if received.len() > cap || dropped > 0 {
            received.truncate(cap);
            truncated = Some(Truncation::Length);
        }
        if received.is_empty() {
            conn.task.abort();
            return Err(if timed_out {
                FetchError::Timeout(if went_idle { self.settings.read_timeout } else { self.settings.fetch_timeout })
            } else {
                FetchError::NoResponse(failure.unwrap_or_else(|| "connection closed".into()))
            });
        }
        let at_end = hyper_done || eof;
        let mut reusable = hyper_done && truncated.is_none();
        let material = match frame_response(&received, false, at_end) {
            Ok(mut f) => {
                reusable = reusable
                    && f.complete
                    && !f.close_delimited
                    && !f.has_surplus(received.len())
                    && received[f.start..].starts_with(b"HTTP/1.1")
                    && !f.header("connection").is_some_and(|c| c.to_ascii_lowercase().contains("close"));
                // Cut to the final message and rebase the ranges on the block.
                let start = f.start;
                let block = received[start..f.end].to_vec();
                f.head_end -= start;
                f.end -= start;
                for r in &mut f.payload {
                    *r = (r.start - start)..(r.end - start);
                }
                f.start = 0;
                if !f.complete && truncated.is_none() {
                    truncated = Some(if timed_out { Truncation::Time } else { Truncation::Disconnect });
                }
                received = block;
                Material::Response(Box::new(f))
            }
            Err(FrameError::Incomplete) if timed_out => {
                truncated.get_or_insert(Truncation::Time);
                Material::Unparseable("response head incomplete at timeout".into())
            }
            Err(e) => {
                truncated = Some(Truncation::Unspecified);
                Material::Unparseable(format!("{e}{}", failure.map(|f| format!(" ({f})")).unwrap_or_default()))
            }
        };
        if let (Some(jar), Material::Response(f)) = (&self.jar, &material) {
            cookies::store_response(jar, url, f);
        }
        let ex = Exchange {
            url: url.clone(),
            peer: conn.peer,
            date,
            duration,
            request,
            block: received,
            material,
            truncated,
            tls_verdict: conn.tls_verdict.clone(),
        };
        if reusable {
            Ok((ex, Some(conn)))
        } else {
            conn.task.abort();
            Ok((ex, None))
        }
    }
}

/// An open HTTP/1.1 connection: hyper's request sender, its connection task, its tape.
struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    /// Drives the socket; aborted to close it (timeout, cap, surplus, eviction).
    task: tokio::task::JoinHandle<Result<(), hyper::Error>>,
    /// The traffic recorded since the last exchange ended (taken by each exchange).
    tape: Arc<Mutex<Tape>>,
    peer: SocketAddr,
    idle_since: Instant,
    /// For TLS: `valid`, or `invalid: why`.
    tls_verdict: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_drops_fragment_keeps_query() {
        let u = Url::parse("http://example.com/a/b?x=1&y=2#frag").unwrap();
        assert_eq!(origin_form(&u), "/a/b?x=1&y=2");
        assert_eq!(host_header(&u), "example.com");
        let u = Url::parse("http://bücher.example:8080/").unwrap();
        assert_eq!(host_header(&u), "xn--bcher-kva.example:8080");
    }
}
