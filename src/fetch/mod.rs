//! One HTTP exchange, recorded byte for byte (DESIGN §Fetch).
//!
//! DNS (with `--resolve` overrides), the destination policy on every resolved address, TCP connect,
//! TLS (rustls with webpki roots, strict verification), then hyper's http1 client over a
//! [`record::Recorder`], so the request and response are kept exactly as they crossed the wire. The
//! [`framer`] cuts the final response out of the received bytes (1xx heads and surplus removed).
//! No redirects are followed and nothing is decompressed here: a 3xx is its own capture.
//!
//! A response hyper rejects is archived best-effort from the recorded bytes (a `response` when its
//! status line parses, otherwise a `resource` with `WARC-Truncated: unspecified`). Failures before
//! any response byte are [`FetchError`]s, which the crawler records as the URL's outcome.

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
    /// `From` value (the contact URL), omitted when empty.
    pub from: String,
    /// DNS + connect + TLS timeout.
    pub connect_timeout: Duration,
    /// Whole exchange timeout.
    pub fetch_timeout: Duration,
    /// Response bytes kept.
    pub max_record_size: usize,
    /// Opened private destinations.
    pub allow_private: AllowPrivate,
    /// DNS overrides.
    pub resolve: HashMap<(String, u16), IpAddr>,
}

impl FetchSettings {
    /// The fetch settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            user_agent: config.user_agent.clone(),
            from: config.contact_url.trim().to_string(),
            connect_timeout: config.connect_timeout,
            fetch_timeout: config.fetch_timeout,
            max_record_size: config.max_record_size.min(usize::MAX as u64) as usize,
            allow_private: config.allow_private.clone(),
            resolve: config.resolve.clone(),
        }
    }
}

/// The fetcher: cheap to clone, shared by all workers.
#[derive(Clone)]
pub struct Fetcher {
    settings: Arc<FetchSettings>,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("settings", &self.settings).finish()
    }
}

/// The rustls client configuration: ring provider chosen explicitly (DESIGN traps), webpki roots,
/// strict verification, ALPN `http/1.1` only.
pub fn tls_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg
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
        Self::with_tls(settings, tls_config())
    }

    /// A fetcher with a given TLS configuration (tests use a private CA).
    pub fn with_tls(settings: FetchSettings, tls: rustls::ClientConfig) -> Self {
        Self {
            settings: Arc::new(settings),
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        }
    }

    /// The addresses `url`'s host resolves to (after overrides), each checked against the
    /// destination policy: `Ok` with the allowed ones (in resolver order), or the first refusal.
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, FetchError> {
        let port = url
            .port_or_known_default()
            .ok_or_else(|| FetchError::InvalidUrl(url.to_string()))?;
        let addrs: Vec<SocketAddr> = match url.host() {
            None => return Err(FetchError::InvalidUrl(format!("{url}: no host"))),
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => {
                let key = (name.to_ascii_lowercase(), port);
                if let Some(ip) = self.settings.resolve.get(&key) {
                    vec![SocketAddr::new(*ip, port)]
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
            return Err(FetchError::Dns(format!(
                "{}: no addresses",
                url.host_str().unwrap_or("")
            )));
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
            return Err(FetchError::Refused {
                addr,
                reason: r.to_string(),
            });
        }
        Ok(allowed)
    }

    /// Fetches `url` with GET and records the exchange.
    pub async fn fetch(&self, url: &Url) -> Result<Exchange, FetchError> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            s => return Err(FetchError::InvalidUrl(format!("unsupported scheme {s:?}"))),
        };
        let target = origin_form(url);
        if target.len() > 65_000 {
            return Err(FetchError::InvalidUrl(format!(
                "request target is {} bytes, over 65000",
                target.len()
            )));
        }
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
        if https {
            let host = url
                .host_str()
                .unwrap_or("")
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| FetchError::Tls(format!("server name {host:?}: {e}")))?;
            let tls = match tokio::time::timeout_at(connect_deadline, self.tls.connect(name, tcp)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => return Err(FetchError::Tls(e.to_string())),
                Err(_) => return Err(FetchError::Tls("handshake timed out".into())),
            };
            self.exchange(tls, url, &target, peer).await
        } else {
            self.exchange(tcp, url, &target, peer).await
        }
    }

    /// Runs one GET exchange over `stream` (plain or TLS), recording it.
    async fn exchange<S>(&self, stream: S, url: &Url, target: &str, peer: SocketAddr) -> Result<Exchange, FetchError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let tape = Arc::new(Mutex::new(Tape::default()));
        let cap = self.settings.max_record_size;
        let io = TokioIo::new(Recorder::new(stream, tape.clone(), cap.saturating_add(1)));
        let date = Utc::now();
        let t0 = Instant::now();
        let deadline = tokio::time::Instant::now() + self.settings.fetch_timeout;

        let mut builder = hyper::client::conn::http1::Builder::new();
        builder
            .title_case_headers(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .allow_spaces_after_header_name_in_responses(true)
            .ignore_invalid_headers_in_responses(true)
            .max_headers(1000);
        let (mut sender, conn) = builder
            .handshake::<_, Empty<Bytes>>(io)
            .await
            .map_err(|e| FetchError::NoResponse(e.to_string()))?;
        // The connection task drives the socket; its handle is kept so a timeout or a cap really
        // closes the socket (DESIGN traps).
        let conn_task = tokio::spawn(conn);

        let mut req = http::Request::builder()
            .method(http::Method::GET)
            .uri(target)
            .header(http::header::HOST, host_header(url))
            .header(http::header::USER_AGENT, &self.settings.user_agent)
            .header(
                http::header::ACCEPT,
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            )
            .header(http::header::ACCEPT_ENCODING, "gzip");
        if !self.settings.from.is_empty() {
            req = req.header(http::header::FROM, &self.settings.from);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::InvalidUrl(format!("{url}: {e}")))?;

        enum End {
            Complete,
            Capped,
            BodyError(String),
            HeadError(String),
        }
        let tape_for_loop = tape.clone();
        let run = async move {
            let resp = match sender.send_request(req).await {
                Ok(r) => r,
                Err(e) => return End::HeadError(e.to_string()),
            };
            let mut body = resp.into_body();
            loop {
                match body.frame().await {
                    None => return End::Complete,
                    Some(Ok(_)) => {
                        if tape_for_loop.lock().map(|t| t.received.len() > cap).unwrap_or(false) {
                            return End::Capped;
                        }
                    }
                    Some(Err(e)) => return End::BodyError(e.to_string()),
                }
            }
        };
        let end = tokio::time::timeout_at(deadline, run).await;
        conn_task.abort();
        let duration = t0.elapsed();
        let (request, mut received, dropped, eof) = {
            let mut t = tape.lock().unwrap_or_else(|p| p.into_inner());
            (
                std::mem::take(&mut t.sent),
                std::mem::take(&mut t.received),
                t.dropped,
                t.eof,
            )
        };
        let mut truncated = None;
        if received.len() > cap || dropped > 0 {
            received.truncate(cap);
            truncated = Some(Truncation::Length);
        }
        let timed_out = end.is_err();
        let (hyper_done, failure) = match end {
            Ok(End::Complete) => (true, None),
            Ok(End::Capped) => (false, None),
            Ok(End::BodyError(e)) => (false, Some(e)),
            Ok(End::HeadError(e)) => (false, Some(e)),
            Err(_) => (false, Some("timeout".to_string())),
        };
        if received.is_empty() {
            return Err(if timed_out {
                FetchError::Timeout(self.settings.fetch_timeout)
            } else {
                FetchError::NoResponse(failure.unwrap_or_else(|| "connection closed".into()))
            });
        }
        let at_end = hyper_done || eof;
        let material = match frame_response(&received, false, at_end) {
            Ok(mut f) => {
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
                    truncated = Some(if timed_out {
                        Truncation::Time
                    } else {
                        Truncation::Disconnect
                    });
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
        Ok(Exchange {
            url: url.clone(),
            peer,
            date,
            duration,
            request,
            block: received,
            material,
            truncated,
        })
    }
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
