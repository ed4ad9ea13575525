//! The configuration file: raw TOML → validated [`Config`], checked once.
//!
//! Two stages (STYLE habit 7): [`RawConfig`] is plain serde with `deny_unknown_fields` and every
//! default filled in; [`Config::from_raw`] validates it once and builds typed values (durations,
//! byte sizes, compiled regexes, CIDRs, parsed URLs) so nothing downstream re-checks. Every error
//! names the file, the line and the key. `config.toml` at the top of the repository lists every key
//! with its default; a test parses it and another fails when a key is missing from it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use regex::Regex;
use serde::{Deserialize, Serialize};
use toml::Spanned;
use url::Url;

/// A configuration error: where it is (file, 1-based line when known, key) and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {}{message}", line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The configuration file's name as given.
    pub file: String,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// The key, when the error belongs to one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn d<T: Into<String>>(s: T) -> Spanned<String> {
    Spanned::new(0..0, s.into())
}

/// One `[[seeds]]` table as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeed {
    /// The seed URL (http or https).
    pub url: Spanned<String>,
    /// `"host"` (default), `"domain"` or `"prefix"`.
    #[serde(default = "default_scope")]
    pub scope: Spanned<String>,
    /// Recrawl the seed this often (e.g. `"1h"`); empty: crawl it once.
    #[serde(default = "dflt_empty_spanned")]
    pub recrawl_interval: Spanned<String>,
    /// Hops from the seed re-fetched on each recrawl (0: the seed alone).
    #[serde(default = "dflt_recrawl_hops")]
    pub recrawl_hops: u32,
}

fn dflt_recrawl_hops() -> u32 {
    1
}

fn default_scope() -> Spanned<String> {
    d("host")
}

macro_rules! raw_config {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty = $default:expr ; )*) => {
        /// The configuration file as written, with defaults filled in (stage one of two).
        #[derive(Debug, Clone, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawConfig {
            $( $(#[$doc])* #[serde(default = $default)] pub $field: $ty, )*
            /// The seeds, as `[[seeds]]` tables (written last so the TOML output stays valid).
            #[serde(default)]
            pub seeds: Vec<RawSeed>,
        }

        /// The names of every top-level key (the example-config test checks `config.toml` lists them).
        pub const CONFIG_KEYS: &[&str] = &[$(stringify!($field),)* "seeds"];
    };
}

raw_config! {
    /// Directory the WARC files are written to.
    warc_dir: String = "dflt_warc_dir";
    /// Directory of `crawl.log` (Heritrix format, a line per finished URL).
    log_dir: String = "dflt_log_dir";
    /// Crawling pauses while the WARC or state directory's file system has less free space.
    min_free_disk: Spanned<String> = "dflt_min_free_disk";
    /// Directory of the sled database (frontier, seen set, outcomes, robots cache, counters).
    state_dir: String = "dflt_state_dir";
    /// WARC file name prefix: `{prefix}-{yyyyMMddHHmmssSSS}-{serial:05}-{hostname}.warc.gz`.
    warc_prefix: String = "dflt_prefix";
    /// A WARC file is closed and a new one begun once it reaches this size.
    max_file_size: Spanned<String> = "dflt_max_file_size";
    /// An open WARC file that receives no capture for this long is closed.
    warc_idle_close: Spanned<String> = "dflt_idle_close";
    /// gzip level of each record's member, 0–9.
    compression_level: Spanned<u32> = "dflt_compression";
    /// `"1.1"` (default) or `"1.0"`: the WARC version written.
    warc_version: Spanned<String> = "dflt_warc_version";
    /// Write a `metadata` record beside each capture (hop path, via, seed, outlinks).
    metadata_records: bool = "dflt_true";
    /// Package a finished crawl (`harvestd crawl`, `run --exit-when-done`) as a WACZ file in
    /// `warc_dir`.
    package_wacz: bool = "dflt_false";
    /// `"url-agnostic"`, `"same-url"` or `"off"`: when a response's payload is identical to an
    /// earlier full capture's, write a `revisit` record instead.
    dedup: Spanned<String> = "dflt_dedup";
    /// Payloads smaller than this are always written in full.
    dedup_min_size: Spanned<String> = "dflt_dedup_min_size";
    /// On a recrawl, send `If-None-Match` / `If-Modified-Since` from the previous full capture and
    /// record a 304 as a `server-not-modified` revisit (replayed as a 304 by pywb).
    conditional_recrawl: bool = "dflt_false";
    /// Who runs the crawl; written into every warcinfo record.
    operator: String = "dflt_empty";
    /// A page describing the crawl and how to reach its operator; sent in User-Agent and From.
    contact_url: String = "dflt_empty";
    /// The operator's e-mail address, sent in `From` (RFC 9110 §10.1.2 wants a mailbox); when empty,
    /// `From` carries `contact_url`.
    contact_email: String = "dflt_empty";
    /// The whole User-Agent header; empty means `harvestd/VERSION (+contact_url)`.
    user_agent: String = "dflt_empty";
    /// Name of this crawl, written as `isPartOf` in every warcinfo record.
    crawl_name: String = "dflt_empty";
    /// What this crawl is for, written as `description` in every warcinfo record.
    description: String = "dflt_empty";
    /// Concurrent fetches across all hosts.
    workers: Spanned<u32> = "dflt_workers";
    /// Requests to one host in flight at once, at most (each on its own connection, each waiting
    /// the politeness delay after its own response).
    connections_per_host: Spanned<u32> = "dflt_one";
    /// URLs more hops than this from their seed are not queued.
    max_hops: u32 = "dflt_max_hops";
    /// Regular expressions; a URL matching any of them is never queued.
    exclude: Vec<Spanned<String>> = "Vec::new";
    /// Crawl trap: a URL with more path segments than this is refused (0: no limit).
    max_path_depth: u32 = "dflt_max_path_depth";
    /// Crawl trap: a URL whose path has a segment, or run of segments, more than this many times
    /// in a row (`/a/b/a/b/a/b`) is refused (0: no limit).
    max_path_repetitions: u32 = "dflt_max_path_repetitions";
    /// Crawl trap: a URL longer than this many bytes is refused.
    max_url_length: Spanned<u32> = "dflt_max_url_length";
    /// Crawl trap: a URL with more query parameters than this is refused (0: no limit).
    max_query_params: u32 = "dflt_max_query_params";
    /// Crawl trap: URLs queued per host over the whole crawl, at most; later ones are refused
    /// (0: no limit).
    max_urls_per_host: u64 = "dflt_zero_u64";
    /// Refusals by one trap rule on one host recorded as finished URLs (state, crawl.log); later
    /// ones are only counted (at least 1).
    trap_records_per_rule: Spanned<u32> = "dflt_trap_records_per_rule";
    /// Leave session-id parameters (`session_id_params`) out of the seen key, so a link that
    /// differs only by its session id is the same URL. Recorded in the state directory.
    strip_session_ids: bool = "dflt_true";
    /// Query and `;path` parameter names stripped by `strip_session_ids`: `name`, `prefix*`,
    /// `name:N` (only a value of N or more letters and digits). Recorded in the state directory.
    session_id_params: Vec<Spanned<String>> = "dflt_session_id_params";
    /// The crawl ends once this many URLs have finished, over all its runs (0: no limit).
    max_urls: u64 = "dflt_zero_u64";
    /// The crawl ends once its records hold this many bytes, over all its runs ("0": no limit).
    max_bytes: Spanned<String> = "dflt_zero_size";
    /// A run ends after this long ("0s": no limit).
    max_duration: Spanned<String> = "dflt_zero_duration";
    /// `"obey"` or `"ignore"` robots.txt.
    robots: Spanned<String> = "dflt_robots";
    /// Hosts whose robots.txt is not fetched or obeyed (the site owner gave permission): a name,
    /// or `.example.org` for it and its subdomains.
    robots_ignore_hosts: Vec<String> = "Vec::new";
    /// Fetch page requisites (embeds: images, stylesheets, scripts) even where robots.txt
    /// disallows them, so pages replay whole.
    robots_allow_requisites: bool = "dflt_false";
    /// Obey `<meta name="robots" content="nofollow">` and `X-Robots-Tag: nofollow` (links of such a
    /// page are not followed; its page requisites still are).
    obey_meta_robots: bool = "dflt_false";
    /// Fixed politeness delay; when set, the adaptive delay is off (`--delay SECS` sets this).
    delay: Spanned<String> = "dflt_empty_spanned";
    /// Adaptive delay = clamp(delay_factor × fetch duration, min_delay, max_delay).
    delay_factor: f64 = "dflt_delay_factor";
    /// Lower bound of the adaptive politeness delay.
    min_delay: Spanned<String> = "dflt_min_delay";
    /// Upper bound of the adaptive politeness delay.
    max_delay: Spanned<String> = "dflt_max_delay";
    /// Longest Crawl-delay of a robots.txt obeyed; a longer one is cut to this.
    max_crawl_delay: Spanned<String> = "dflt_max_crawl_delay";
    /// URLs queued from sitemaps (robots.txt `Sitemap:` lines, sitemap indexes) over the whole
    /// crawl, at most; further ones are not queued (0: sitemaps are not followed).
    max_sitemap_urls: u64 = "dflt_max_sitemap_urls";
    /// Requests per minute to one host at most (0 = no cap besides the delay), evenly spaced.
    max_requests_per_minute: u32 = "dflt_zero";
    /// Requests per minute over the whole crawl at most (0 = no cap).
    max_requests_per_minute_total: u32 = "dflt_zero";
    /// Tries after the first for a network error, 5xx, 429 or 503.
    max_retries: u32 = "dflt_max_retries";
    /// Wait before the first retry (and before re-fetching a failed robots.txt); doubles each try.
    retry_backoff: Spanned<String> = "dflt_retry_backoff";
    /// Longest wait a Retry-After header or the backoff may impose.
    max_retry_after: Spanned<String> = "dflt_max_retry_after";
    /// How long a robots.txt is used before it is fetched again.
    robots_max_age: Spanned<String> = "dflt_robots_max_age";
    /// How long an unreachable robots.txt is retried before its authority's URLs fail.
    robots_retry_for: Spanned<String> = "dflt_robots_retry_for";
    /// Time allowed for DNS and the TCP (and TLS) connection.
    connect_timeout: Spanned<String> = "dflt_connect_timeout";
    /// Time allowed for one whole exchange, request start to response end.
    fetch_timeout: Spanned<String> = "dflt_fetch_timeout";
    /// Longest silence while waiting for the response head or more of its body.
    read_timeout: Spanned<String> = "dflt_read_timeout";
    /// Bytes of one response kept; beyond it the record ends with `WARC-Truncated: length`.
    max_record_size: Spanned<String> = "dflt_max_record_size";
    /// Bytes of decoded (gunzipped) body that link extraction reads at most.
    max_decoded_size: Spanned<String> = "dflt_max_decoded_size";
    /// Non-public networks the crawler may connect to, as CIDRs; `["private"]` opens them all.
    allow_private: Vec<Spanned<String>> = "Vec::new";
    /// DNS overrides, `"HOST:PORT:ADDR"` as curl's `--resolve`.
    resolve: Vec<Spanned<String>> = "Vec::new";
    /// Name servers (`"IP"` or `"IP:PORT"`) asked instead of the system's; answers are cached for
    /// their TTL either way.
    dns_servers: Vec<Spanned<String>> = "Vec::new";
    /// Keep a cookie jar for the crawl: cookies servers set are sent back (RFC 6265).
    cookies: bool = "dflt_true";
    /// A Netscape `cookies.txt` whose cookies start the jar (e.g. exported from a browser).
    cookies_file: Spanned<String> = "dflt_empty_spanned";
    /// Reuse a host's connection for its next request (HTTP/1.1 keep-alive, never pipelined).
    keep_alive: bool = "dflt_true";
    /// How long an idle kept-alive connection stays open.
    idle_timeout: Spanned<String> = "dflt_idle_timeout";
    /// Idle kept-alive connections kept in all (over all hosts).
    max_idle_connections: u32 = "dflt_max_idle_connections";
    /// `"capture"` (default: a certificate that does not verify is still captured, its verdict
    /// logged and kept) or `"strict"` (refused).
    tls_verify: Spanned<String> = "dflt_tls_verify";
    /// A PEM file of extra CA certificates trusted besides the built-in (Mozilla) roots.
    ca_file: Spanned<String> = "dflt_empty_spanned";
    /// Longest time a finished capture waits for the WARC fsync (group commit).
    group_commit: Spanned<String> = "dflt_group_commit";
    /// Memory sled may use for its page cache.
    state_cache: Spanned<String> = "dflt_state_cache";
    /// On SIGTERM/SIGINT, how long in-flight fetches may run on; those still running then are
    /// abandoned and their URLs go back to the queue at the next start.
    shutdown_grace: Spanned<String> = "dflt_shutdown_grace";
    /// Where `harvestd run` serves its control API (`host:port`; "" for none). Loopback by default.
    api_listen: Spanned<String> = "dflt_api_listen";
    /// Bearer token the control API requires (required when `api_listen` is not loopback).
    api_token: String = "dflt_empty";
}

fn dflt_warc_version() -> Spanned<String> {
    d("1.1")
}
fn dflt_dedup() -> Spanned<String> {
    d("url-agnostic")
}
fn dflt_dedup_min_size() -> Spanned<String> {
    d("1KB")
}
fn dflt_zero_u64() -> u64 {
    0
}
fn dflt_zero_size() -> Spanned<String> {
    d("0")
}
fn dflt_zero_duration() -> Spanned<String> {
    d("0s")
}
fn dflt_min_free_disk() -> Spanned<String> {
    d("100MB")
}
fn dflt_log_dir() -> String {
    "logs".into()
}
fn dflt_warc_dir() -> String {
    "warcs".into()
}
fn dflt_state_dir() -> String {
    "harvestd-state".into()
}
fn dflt_prefix() -> String {
    "harvestd".into()
}
fn dflt_max_file_size() -> Spanned<String> {
    d("1GB")
}
fn dflt_compression() -> Spanned<u32> {
    Spanned::new(0..0, 6)
}
fn dflt_empty() -> String {
    String::new()
}
fn dflt_empty_spanned() -> Spanned<String> {
    d("")
}
fn dflt_max_sitemap_urls() -> u64 {
    100_000
}
fn dflt_one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn dflt_workers() -> Spanned<u32> {
    Spanned::new(0..0, 16)
}
fn dflt_max_hops() -> u32 {
    20
}
fn dflt_max_path_depth() -> u32 {
    20
}
fn dflt_max_path_repetitions() -> u32 {
    2
}
fn dflt_max_url_length() -> Spanned<u32> {
    Spanned::new(0..0, 8192)
}
fn dflt_max_query_params() -> u32 {
    32
}
fn dflt_trap_records_per_rule() -> Spanned<u32> {
    Spanned::new(0..0, 100)
}
fn dflt_session_id_params() -> Vec<Spanned<String>> {
    crate::canon::DEFAULT_SESSION_PARAMS.iter().map(|s| d(*s)).collect()
}
fn dflt_robots() -> Spanned<String> {
    d("obey")
}
fn dflt_delay_factor() -> f64 {
    2.0
}
fn dflt_min_delay() -> Spanned<String> {
    d("1s")
}
fn dflt_max_delay() -> Spanned<String> {
    d("30s")
}
fn dflt_connect_timeout() -> Spanned<String> {
    d("10s")
}
fn dflt_fetch_timeout() -> Spanned<String> {
    d("120s")
}
fn dflt_max_record_size() -> Spanned<String> {
    d("100MB")
}
fn dflt_max_decoded_size() -> Spanned<String> {
    d("20MB")
}
fn dflt_read_timeout() -> Spanned<String> {
    d("30s")
}
fn dflt_max_crawl_delay() -> Spanned<String> {
    d("60s")
}
fn dflt_zero() -> u32 {
    0
}
fn dflt_max_retries() -> u32 {
    3
}
fn dflt_retry_backoff() -> Spanned<String> {
    d("10s")
}
fn dflt_max_retry_after() -> Spanned<String> {
    d("1h")
}
fn dflt_robots_max_age() -> Spanned<String> {
    d("24h")
}
fn dflt_robots_retry_for() -> Spanned<String> {
    d("5m")
}
fn dflt_idle_close() -> Spanned<String> {
    d("60s")
}
fn dflt_tls_verify() -> Spanned<String> {
    d("capture")
}
fn dflt_false() -> bool {
    false
}
fn dflt_true() -> bool {
    true
}
fn dflt_max_idle_connections() -> u32 {
    1024
}
fn dflt_idle_timeout() -> Spanned<String> {
    d("30s")
}
fn dflt_group_commit() -> Spanned<String> {
    d("50ms")
}
fn dflt_api_listen() -> Spanned<String> {
    d("127.0.0.1:8427")
}
fn dflt_shutdown_grace() -> Spanned<String> {
    d("30s")
}
fn dflt_state_cache() -> Spanned<String> {
    d("8MB")
}

/// Which earlier captures a response may be deduplicated against (`dedup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedup {
    /// Any earlier full capture with the same payload digest, whatever its URL.
    UrlAgnostic,
    /// Only the same URL's previous full capture.
    SameUrl,
    /// Every response is written in full.
    Off,
}

/// How a seed is recrawled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recrawl {
    /// Time between the starts of two rounds.
    pub interval: Duration,
    /// Hops from the seed re-fetched each round (0: the seed alone).
    pub hops: u32,
}

/// How a seed's scope is drawn (DESIGN §Scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// The seed's host name exactly (any scheme and port).
    Host,
    /// The seed's host and every subdomain of it (`www.` stripped first).
    Domain,
    /// URLs whose string starts with the seed URL up to its last `/`.
    Prefix,
}

/// A validated seed.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The seed URL.
    pub url: Url,
    /// Its scope.
    pub scope: ScopeKind,
    /// Its recrawl schedule (`None`: crawled once).
    pub recrawl: Option<Recrawl>,
}

/// Whether robots.txt is obeyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RobotsPolicy {
    /// Fetch and obey robots.txt (RFC 9309).
    Obey,
    /// Fetch nothing, obey nothing (only with the site owner's permission).
    Ignore,
}

/// The politeness delay policy (DESIGN §Politeness), end of a response to the next request's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    /// A fixed delay; the adaptive fields are ignored when set.
    pub fixed: Option<Duration>,
    /// Multiplier of the last fetch's duration.
    pub factor: f64,
    /// Lower bound of the adaptive delay.
    pub min: Duration,
    /// Upper bound of the adaptive delay.
    pub max: Duration,
}

impl Pacing {
    /// The delay after a fetch that took `fetch`: the fixed delay, or
    /// clamp(factor × fetch, min, max).
    pub fn delay_after(&self, fetch: Duration) -> Duration {
        if let Some(f) = self.fixed {
            return f;
        }
        let scaled = fetch.mul_f64(self.factor.max(0.0));
        scaled.clamp(self.min, self.max.max(self.min))
    }
}

/// Which non-public destinations are opened (DESIGN §Destinations).
#[derive(Debug, Clone, Default)]
pub struct AllowPrivate {
    /// `--allow-private` or `allow_private = ["private"]`: every private range (not 0.0.0.0/8, `::`,
    /// multicast, broadcast or the cloud metadata addresses).
    pub all: bool,
    /// Explicit CIDRs; these may name the metadata addresses.
    pub cidrs: Vec<IpNet>,
}

/// The validated configuration (stage two of two).
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (`None`: defaults, as for `harvestd crawl` without `--config`).
    pub source: Option<PathBuf>,
    /// Seeds with their scopes.
    pub seeds: Vec<Seed>,
    /// WARC output directory.
    pub warc_dir: PathBuf,
    /// Directory of `crawl.log`.
    pub log_dir: PathBuf,
    /// Free bytes below which crawling pauses (on the WARC and state directories' file systems).
    pub min_free_disk: u64,
    /// sled state directory.
    pub state_dir: PathBuf,
    /// WARC file name prefix.
    pub warc_prefix: String,
    /// Rotation size in bytes.
    pub max_file_size: u64,
    /// Idle time after which the open WARC file is closed.
    pub warc_idle_close: Duration,
    /// gzip level 0–9.
    pub compression_level: u32,
    /// WARC version written.
    pub warc_version: crate::warc::WarcVersion,
    /// Write `metadata` records.
    pub metadata_records: bool,
    /// Package a finished crawl as WACZ.
    pub package_wacz: bool,
    /// Deduplication of identical payloads.
    pub dedup: Dedup,
    /// Smallest payload deduplicated, bytes.
    pub dedup_min_size: u64,
    /// Conditional requests on recrawls.
    pub conditional_recrawl: bool,
    /// Operator, for warcinfo.
    pub operator: String,
    /// Contact URL (may be empty: a warning at start).
    pub contact_url: String,
    /// The `From` header value (contact e-mail, else the contact URL; may be empty).
    pub from: String,
    /// `isPartOf` for warcinfo (may be empty).
    pub crawl_name: String,
    /// `description` for warcinfo (may be empty).
    pub description: String,
    /// The User-Agent header value.
    pub user_agent: String,
    /// Concurrent fetches over all hosts (the crawl-wide limit).
    pub workers: usize,
    /// Requests in flight to one host at most (slots per host; each waits its own politeness delay).
    pub connections_per_host: u32,
    /// URLs queued from sitemaps over the whole crawl, at most.
    pub max_sitemap_urls: u64,
    /// Largest hop count from a seed.
    pub max_hops: usize,
    /// Exclusion regexes.
    pub exclude: Vec<Regex>,
    /// The URL-shape crawl-trap rules (`max_path_depth`, `max_path_repetitions`, `max_url_length`,
    /// `max_query_params`).
    pub traps: crate::scope::TrapRules,
    /// URLs queued per host over the crawl, at most (0: no limit).
    pub max_urls_per_host: u64,
    /// Refusals recorded per trap rule and host (at least 1).
    pub trap_records_per_rule: u64,
    /// The `seen_key` options (`strip_session_ids`, `session_id_params`), checked against the
    /// state directory at start.
    pub key_options: crate::canon::KeyOptions,
    /// robots.txt policy.
    pub robots: RobotsPolicy,
    /// Hosts exempt from robots.txt (exact names; a leading dot also covers subdomains).
    pub robots_ignore_hosts: Vec<String>,
    /// Fetch embeds even where robots.txt disallows them.
    pub robots_allow_requisites: bool,
    /// Obey meta robots / X-Robots-Tag nofollow.
    pub obey_meta_robots: bool,
    /// Politeness delay policy.
    pub pacing: Pacing,
    /// Cap on an obeyed Crawl-delay.
    pub max_crawl_delay: Duration,
    /// Per-host request-rate cap, per minute (0 = none).
    pub max_requests_per_minute: u32,
    /// Crawl-wide request-rate cap, per minute (0 = none).
    pub max_requests_per_minute_total: u32,
    /// Retries after the first try of a transient failure.
    pub max_retries: u32,
    /// Backoff of retries (and of robots.txt re-fetches).
    pub backoff: crate::politeness::Backoff,
    /// How long a robots.txt is used.
    pub robots_max_age: Duration,
    /// How long an unreachable robots.txt is retried.
    pub robots_retry_for: Duration,
    /// DNS + connect (+ TLS) timeout.
    pub connect_timeout: Duration,
    /// Whole-exchange timeout.
    pub fetch_timeout: Duration,
    /// Silence timeout while reading a response.
    pub read_timeout: Duration,
    /// Response bytes kept per capture.
    pub max_record_size: u64,
    /// Decoded bytes read by extraction.
    pub max_decoded_size: u64,
    /// Opened private destinations.
    pub allow_private: AllowPrivate,
    /// DNS overrides: (host, port) → address.
    pub resolve: HashMap<(String, u16), IpAddr>,
    /// Name servers to use instead of the system's.
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// Refuse certificates that do not verify.
    pub tls_strict: bool,
    /// The crawl's cookie jar is on.
    pub cookies: bool,
    /// Cookies imported from `cookies_file`.
    pub initial_cookies: Vec<crate::fetch::cookies::ImportedCookie>,
    /// HTTP/1.1 keep-alive.
    pub keep_alive: bool,
    /// Idle time after which a kept-alive connection is closed.
    pub idle_timeout: Duration,
    /// Idle kept-alive connections kept over all hosts; at the cap a returned connection is
    /// closed instead of pooled.
    pub max_idle_connections: usize,
    /// Extra trusted CA certificates (from `ca_file`).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Group-commit window: the longest a written capture waits for its fsync (the writer fsyncs
    /// sooner when it is idle, at most every tenth of this).
    pub group_commit: Duration,
    /// sled cache capacity in bytes (`state_cache`, default 8 MB; sled's RAM is about twice it).
    pub state_cache: u64,
    /// Time in-flight fetches get to finish after a stop is asked for.
    pub shutdown_grace: Duration,
    /// Control API address (`None`: no API).
    pub api_listen: Option<SocketAddr>,
    /// Control API bearer token (`None`: none required; only allowed on loopback).
    pub api_token: Option<String>,
    /// URLs finished over the crawl after which it ends (0: none).
    pub max_urls: u64,
    /// Record bytes over the crawl after which it ends (0: none).
    pub max_bytes: u64,
    /// Length of a run after which it ends (zero: none).
    pub max_duration: Duration,
}

impl Config {
    /// Whether robots.txt applies to `host` (policy `obey` and the host not exempt).
    pub fn robots_applies(&self, host: &str) -> bool {
        self.robots == RobotsPolicy::Obey
            && !self.robots_ignore_hosts.iter().any(|h| match h.strip_prefix('.') {
                Some(domain) => host == domain || host.ends_with(h.as_str()),
                None => host == h,
            })
    }
}

/// The product token robots.txt groups are matched against (RFC 9309 §2.2.1).
pub const PRODUCT_TOKEN: &str = "harvestd";

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, span: std::ops::Range<usize>) -> Option<usize> {
        if span.start == 0 && span.end == 0 {
            return None; // a default, not from the file
        }
        Some(self.text[..span.start.min(self.text.len())].matches('\n').count() + 1)
    }

    fn err<T>(&self, key: &str, span: std::ops::Range<usize>, message: impl Into<String>) -> Result<T, ConfigError> {
        Err(ConfigError {
            file: self.file.to_string(),
            line: self.line_of(span),
            key: Some(key.to_string()),
            message: message.into(),
        })
    }

    fn duration(&self, key: &str, v: &Spanned<String>) -> Result<Duration, ConfigError> {
        humantime::parse_duration(v.get_ref().trim()).or_else(|e| {
            self.err(
                key,
                v.span(),
                format!("invalid duration {:?} ({e}); write e.g. \"500ms\", \"2s\", \"1h\"", v.get_ref()),
            )
        })
    }

    fn size(&self, key: &str, v: &Spanned<String>) -> Result<u64, ConfigError> {
        v.get_ref().trim().parse::<bytesize::ByteSize>().map(|b| b.as_u64()).or_else(|e| {
            self.err(key, v.span(), format!("invalid size {:?} ({e}); write e.g. \"64MB\", \"1GiB\"", v.get_ref()))
        })
    }
}

impl Config {
    /// Reads and validates the file at `path`. Errors name the file, line and key.
    /// Relative `warc_dir`, `log_dir`, `state_dir` and `ca_file` are taken relative to the file's directory
    /// (a service's working directory is `/`).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (raw, text) = RawConfig::load(path)?;
        let mut c = Config::from_raw(&raw, &path.display().to_string(), &text)?;
        c.source = Some(path.to_path_buf());
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        for p in [&mut c.warc_dir, &mut c.log_dir, &mut c.state_dir] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// Validates `raw`, parsed from `text` (used for line numbers) of the file named `file`.
    pub fn from_raw(raw: &RawConfig, file: &str, text: &str) -> Result<Config, ConfigError> {
        let cx = Ctx { file, text };
        let mut seeds = Vec::new();
        for s in &raw.seeds {
            let url = match Url::parse(s.url.get_ref().trim()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
                Ok(_) => {
                    return cx.err(
                        "seeds.url",
                        s.url.span(),
                        format!("{:?} is not an http or https URL", s.url.get_ref()),
                    )
                }
                Err(e) => {
                    return cx.err("seeds.url", s.url.span(), format!("{:?} is not a URL ({e})", s.url.get_ref()))
                }
            };
            let scope = match s.scope.get_ref().as_str() {
                "host" => ScopeKind::Host,
                "domain" => ScopeKind::Domain,
                "prefix" => ScopeKind::Prefix,
                other => {
                    return cx.err(
                        "seeds.scope",
                        s.scope.span(),
                        format!("{other:?} is not one of \"host\", \"domain\", \"prefix\""),
                    )
                }
            };
            let recrawl = if s.recrawl_interval.get_ref().trim().is_empty() {
                None
            } else {
                let interval = cx.duration("seeds.recrawl_interval", &s.recrawl_interval)?;
                if interval < Duration::from_secs(1) {
                    return cx.err("seeds.recrawl_interval", s.recrawl_interval.span(), "must be at least 1s");
                }
                Some(Recrawl { interval, hops: s.recrawl_hops })
            };
            seeds.push(Seed { url, scope, recrawl });
        }
        let mut exclude = Vec::new();
        for r in &raw.exclude {
            match Regex::new(r.get_ref()) {
                Ok(re) => exclude.push(re),
                Err(e) => return cx.err("exclude", r.span(), format!("invalid regular expression: {e}")),
            }
        }
        let robots = match raw.robots.get_ref().as_str() {
            "obey" => RobotsPolicy::Obey,
            "ignore" => RobotsPolicy::Ignore,
            other => return cx.err("robots", raw.robots.span(), format!("{other:?} is not \"obey\" or \"ignore\"")),
        };
        let fixed = if raw.delay.get_ref().trim().is_empty() { None } else { Some(cx.duration("delay", &raw.delay)?) };
        if !(raw.delay_factor.is_finite() && raw.delay_factor >= 0.0) {
            return cx.err("delay_factor", 0..0, "must be a number ≥ 0");
        }
        let pacing = Pacing {
            fixed,
            factor: raw.delay_factor,
            min: cx.duration("min_delay", &raw.min_delay)?,
            max: cx.duration("max_delay", &raw.max_delay)?,
        };
        if pacing.max < pacing.min {
            return cx.err("max_delay", raw.max_delay.span(), "is smaller than min_delay");
        }
        let mut allow_private = AllowPrivate::default();
        for c in &raw.allow_private {
            let v = c.get_ref().trim();
            if v == "private" {
                allow_private.all = true;
            } else {
                let net = v.parse::<IpNet>().or_else(|_| v.parse::<IpAddr>().map(IpNet::from)).or_else(|e| {
                    cx.err(
                        "allow_private",
                        c.span(),
                        format!("{v:?} is not a CIDR such as \"10.0.0.0/8\" or \"private\" ({e})"),
                    )
                })?;
                allow_private.cidrs.push(net);
            }
        }
        let mut resolve = HashMap::new();
        for r in &raw.resolve {
            let (host, port, addr) = parse_resolve(r.get_ref()).or_else(|e| cx.err("resolve", r.span(), e))?;
            resolve.insert((host, port), addr);
        }
        let mut dns_servers = Vec::new();
        for d in &raw.dns_servers {
            let v = d.get_ref().trim();
            let sa = v
                .parse::<std::net::SocketAddr>()
                .or_else(|_| v.parse::<IpAddr>().map(|ip| std::net::SocketAddr::new(ip, 53)))
                .or_else(|_| cx.err("dns_servers", d.span(), format!("{v:?} is not an IP address or IP:PORT")))?;
            dns_servers.push(sa);
        }
        let mut extra_roots = Vec::new();
        let ca_path = Path::new(file)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(raw.ca_file.get_ref().trim());
        let ca = ca_path.to_str().unwrap_or_default();
        if !raw.ca_file.get_ref().trim().is_empty() {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .or_else(|e| {
                    cx.err("ca_file", raw.ca_file.span(), format!("cannot read PEM certificates from {ca:?}: {e}"))
                })?;
            if certs.is_empty() {
                return cx.err("ca_file", raw.ca_file.span(), format!("{ca:?} holds no PEM certificate"));
            }
            extra_roots = certs;
        }
        let mut initial_cookies = Vec::new();
        if !raw.cookies_file.get_ref().trim().is_empty() {
            let path = Path::new(file)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join(raw.cookies_file.get_ref().trim());
            let text = std::fs::read_to_string(&path).or_else(|e| {
                cx.err("cookies_file", raw.cookies_file.span(), format!("cannot read {}: {e}", path.display()))
            })?;
            initial_cookies = crate::fetch::cookies::parse_cookies_txt(&text)
                .or_else(|e| cx.err("cookies_file", raw.cookies_file.span(), format!("{}: {e}", path.display())))?;
        }
        let level = *raw.compression_level.get_ref();
        if level > 9 {
            return cx.err("compression_level", raw.compression_level.span(), "must be 0 to 9");
        }
        let workers = *raw.workers.get_ref();
        if workers == 0 {
            return cx.err("workers", raw.workers.span(), "must be at least 1");
        }
        let api_listen = match raw.api_listen.get_ref().trim() {
            "" => None,
            a => Some(a.parse::<SocketAddr>().or_else(|e| {
                cx.err("api_listen", raw.api_listen.span(), format!("{a:?} is not an address:port ({e})"))
            })?),
        };
        let api_token = Some(raw.api_token.trim().to_string()).filter(|t| !t.is_empty());
        if api_listen.is_some_and(|a| !a.ip().is_loopback()) && api_token.is_none() {
            return cx.err(
                "api_listen",
                raw.api_listen.span(),
                "listens beyond loopback: set api_token, which every request must then carry",
            );
        }
        let connections_per_host = *raw.connections_per_host.get_ref();
        if !(1..=64).contains(&connections_per_host) {
            return cx.err("connections_per_host", raw.connections_per_host.span(), "must be 1 to 64");
        }
        let max_file_size = cx.size("max_file_size", &raw.max_file_size)?;
        let max_url_length = *raw.max_url_length.get_ref();
        if !(256..=65_000).contains(&max_url_length) {
            return cx.err("max_url_length", raw.max_url_length.span(), "must be 256 to 65000 (bytes)");
        }
        let trap_records_per_rule = *raw.trap_records_per_rule.get_ref();
        if trap_records_per_rule == 0 {
            return cx.err(
                "trap_records_per_rule",
                raw.trap_records_per_rule.span(),
                "must be at least 1 (the first refusal of each rule on each host is always recorded)",
            );
        }
        let mut session_params = Vec::new();
        for p in &raw.session_id_params {
            session_params.push(
                crate::canon::SessionParam::parse(p.get_ref()).or_else(|e| cx.err("session_id_params", p.span(), e))?,
            );
        }
        let key_options = if raw.strip_session_ids {
            crate::canon::KeyOptions::stripping(session_params)
        } else {
            crate::canon::KeyOptions::none()
        };
        let user_agent = if raw.user_agent.trim().is_empty() {
            default_user_agent(&raw.contact_url)
        } else {
            raw.user_agent.clone()
        };
        if raw.warc_prefix.is_empty() || raw.warc_prefix.contains('/') {
            return cx.err("warc_prefix", 0..0, "must be non-empty and contain no '/'");
        }
        Ok(Config {
            source: None,
            seeds,
            warc_dir: PathBuf::from(&raw.warc_dir),
            log_dir: PathBuf::from(&raw.log_dir),
            min_free_disk: cx.size("min_free_disk", &raw.min_free_disk)?,
            state_dir: PathBuf::from(&raw.state_dir),
            warc_prefix: raw.warc_prefix.clone(),
            max_file_size,
            warc_idle_close: cx.duration("warc_idle_close", &raw.warc_idle_close)?,
            compression_level: level,
            warc_version: match raw.warc_version.get_ref().trim() {
                "1.1" => crate::warc::WarcVersion::V1_1,
                "1.0" => crate::warc::WarcVersion::V1_0,
                other => {
                    return cx.err(
                        "warc_version",
                        raw.warc_version.span(),
                        format!("{other:?} is not \"1.1\" or \"1.0\""),
                    )
                }
            },
            metadata_records: raw.metadata_records,
            package_wacz: raw.package_wacz,
            dedup: match raw.dedup.get_ref().trim() {
                "url-agnostic" => Dedup::UrlAgnostic,
                "same-url" => Dedup::SameUrl,
                "off" => Dedup::Off,
                other => {
                    return cx.err(
                        "dedup",
                        raw.dedup.span(),
                        format!("{other:?} is not \"url-agnostic\", \"same-url\" or \"off\""),
                    )
                }
            },
            dedup_min_size: cx.size("dedup_min_size", &raw.dedup_min_size)?,
            conditional_recrawl: raw.conditional_recrawl,
            operator: raw.operator.clone(),
            contact_url: raw.contact_url.clone(),
            from: if raw.contact_email.trim().is_empty() {
                raw.contact_url.trim().to_string()
            } else {
                raw.contact_email.trim().to_string()
            },
            crawl_name: raw.crawl_name.clone(),
            description: raw.description.clone(),
            user_agent,
            workers: workers as usize,
            connections_per_host,
            max_sitemap_urls: raw.max_sitemap_urls,
            max_hops: raw.max_hops as usize,
            exclude,
            traps: crate::scope::TrapRules {
                max_path_depth: raw.max_path_depth as usize,
                max_path_repetitions: raw.max_path_repetitions as usize,
                max_url_length: max_url_length as usize,
                max_query_params: raw.max_query_params as usize,
            },
            max_urls_per_host: raw.max_urls_per_host,
            trap_records_per_rule: u64::from(trap_records_per_rule),
            key_options,
            robots,
            robots_ignore_hosts: raw.robots_ignore_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
            robots_allow_requisites: raw.robots_allow_requisites,
            obey_meta_robots: raw.obey_meta_robots,
            pacing,
            max_crawl_delay: cx.duration("max_crawl_delay", &raw.max_crawl_delay)?,
            max_requests_per_minute: raw.max_requests_per_minute,
            max_requests_per_minute_total: raw.max_requests_per_minute_total,
            max_retries: raw.max_retries,
            backoff: crate::politeness::Backoff {
                first: cx.duration("retry_backoff", &raw.retry_backoff)?,
                max: cx.duration("max_retry_after", &raw.max_retry_after)?,
            },
            robots_max_age: cx.duration("robots_max_age", &raw.robots_max_age)?,
            robots_retry_for: cx.duration("robots_retry_for", &raw.robots_retry_for)?,
            connect_timeout: cx.duration("connect_timeout", &raw.connect_timeout)?,
            fetch_timeout: cx.duration("fetch_timeout", &raw.fetch_timeout)?,
            read_timeout: cx.duration("read_timeout", &raw.read_timeout)?,
            max_record_size: cx.size("max_record_size", &raw.max_record_size)?,
            max_decoded_size: cx.size("max_decoded_size", &raw.max_decoded_size)?,
            allow_private,
            resolve,
            dns_servers,
            extra_roots,
            tls_strict: match raw.tls_verify.get_ref().as_str() {
                "capture" => false,
                "strict" => true,
                other => {
                    return cx.err(
                        "tls_verify",
                        raw.tls_verify.span(),
                        format!("{other:?} is not \"capture\" or \"strict\""),
                    )
                }
            },
            cookies: raw.cookies,
            initial_cookies,
            keep_alive: raw.keep_alive,
            idle_timeout: cx.duration("idle_timeout", &raw.idle_timeout)?,
            max_idle_connections: raw.max_idle_connections as usize,
            group_commit: cx.duration("group_commit", &raw.group_commit)?,
            shutdown_grace: cx.duration("shutdown_grace", &raw.shutdown_grace)?,
            api_listen,
            api_token,
            max_urls: raw.max_urls,
            max_bytes: cx.size("max_bytes", &raw.max_bytes)?,
            max_duration: cx.duration("max_duration", &raw.max_duration)?,
            state_cache: cx.size("state_cache", &raw.state_cache)?,
        })
    }

    /// The configuration with every default and no seeds (what `harvestd crawl` starts from
    /// without `--config`).
    pub fn defaults() -> Config {
        let raw: RawConfig = toml::from_str("").expect("empty TOML parses");
        Config::from_raw(&raw, "<defaults>", "").expect("defaults are valid")
    }

    /// A warning when the file has no seeds (for `run` and `check-config`; `crawl` takes its seeds
    /// from the command line).
    pub fn seed_warning(&self) -> Option<String> {
        self.seeds
            .is_empty()
            .then(|| "no [[seeds]] in the configuration: `harvestd run` has nothing to crawl".to_string())
    }

    /// Warnings an operator should see at start (and from `check-config`).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.contact_url.trim().is_empty() {
            w.push(
                "contact_url is empty: site owners cannot tell who is crawling them; set it to a page \
                 describing the crawl (it is sent in User-Agent and From)"
                    .to_string(),
            );
        }
        w
    }
}

/// `harvestd/VERSION (+contact_url)`, or without the parenthesis when there is no contact URL.
pub fn default_user_agent(contact_url: &str) -> String {
    let v = env!("CARGO_PKG_VERSION");
    if contact_url.trim().is_empty() {
        format!("{PRODUCT_TOKEN}/{v}")
    } else {
        format!("{PRODUCT_TOKEN}/{v} (+{})", contact_url.trim())
    }
}

/// Parses curl's `--resolve` form `HOST:PORT:ADDR` (ADDR may be a bracketed IPv6 address).
pub fn parse_resolve(s: &str) -> Result<(String, u16, IpAddr), String> {
    let mut it = s.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(format!("{s:?} is not HOST:PORT:ADDR"));
    };
    let port: u16 = port.parse().map_err(|_| format!("{s:?}: {port:?} is not a port"))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let addr: IpAddr = addr.parse().map_err(|_| format!("{s:?}: {addr:?} is not an IP address"))?;
    Ok((host.to_ascii_lowercase(), port, addr))
}

impl RawConfig {
    /// `api_listen` as written (for the control commands, which must find the daemon even when
    /// another key of the file is invalid).
    pub fn api_listen_text(&self) -> String {
        self.api_listen.get_ref().clone()
    }

    /// `api_token` as written.
    pub fn api_token_text(&self) -> String {
        self.api_token.trim().to_string()
    }

    /// Reads `path` and parses it (stage one). Returns the raw config and the file's text.
    pub fn load(path: &Path) -> Result<(RawConfig, String), ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        let raw = RawConfig::parse(&text, &file)?;
        Ok((raw, text))
    }

    /// Parses TOML `text` of the file named `file`; a syntax or unknown-key error names the line.
    pub fn parse(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str::<RawConfig>(text).map_err(|e| {
            let at = e.span().map(|s| s.start.min(text.len()));
            let line = at.map(|a| text[..a].matches('\n').count() + 1);
            let line_text = line.and_then(|l| text.lines().nth(l - 1)).unwrap_or("").trim();
            let column = at.map(|a| a - text[..a].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1);
            // The key whose value is at fault, when the line is `key = value`.
            let key = line_text
                .split_once('=')
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
                .map(str::to_string);
            let mut message = e.message().trim().to_string();
            if let Some(c) = column {
                message = format!("column {c}: {message}");
            }
            if !line_text.is_empty() {
                message = format!("{message} (in `{line_text}`)");
            }
            ConfigError { file: file.to_string(), line, key, message }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw = RawConfig::parse(text, "test.toml")?;
        Config::from_raw(&raw, "test.toml", text)
    }

    #[test]
    fn dedup_version_and_recrawl_keys() {
        let c = parse("dedup = \"same-url\"\nwarc_version = \"1.0\"\ndedup_min_size = \"2KB\"\n[[seeds]]\nurl = \"http://example.com/\"\nrecrawl_interval = \"1h\"\nrecrawl_hops = 2\n").unwrap();
        assert_eq!(c.dedup, Dedup::SameUrl);
        assert_eq!(c.warc_version, crate::warc::WarcVersion::V1_0);
        assert_eq!(c.dedup_min_size, 2000);
        assert_eq!(c.seeds[0].recrawl, Some(Recrawl { interval: Duration::from_secs(3600), hops: 2 }));
        let c = parse("[[seeds]]\nurl = \"http://example.com/\"\n").unwrap();
        assert_eq!(
            (c.dedup, c.warc_version, c.seeds[0].recrawl),
            (Dedup::UrlAgnostic, crate::warc::WarcVersion::V1_1, None)
        );
        let e = parse("workers = 2\ndedup = \"yes\"\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("dedup"), Some(2)), "{e}");
        let e = parse("warc_version = \"1.2\"\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("warc_version"), Some(1)), "{e}");
        let e = parse("[[seeds]]\nurl = \"http://example.com/\"\nrecrawl_interval = \"often\"\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("seeds.recrawl_interval"), Some(3)), "{e}");
    }

    #[test]
    fn trap_and_session_keys() {
        let c = parse("").unwrap();
        assert_eq!(
            c.traps,
            crate::scope::TrapRules {
                max_path_depth: 20,
                max_path_repetitions: 2,
                max_url_length: 8192,
                max_query_params: 32
            }
        );
        assert_eq!((c.max_urls_per_host, c.trap_records_per_rule), (0, 100));
        assert_eq!(c.key_options.session_params.len(), crate::canon::DEFAULT_SESSION_PARAMS.len());
        let c = parse("strip_session_ids = false\nmax_urls_per_host = 50\n").unwrap();
        assert_eq!((c.key_options.recorded(), c.max_urls_per_host), (vec!["strip_session_ids=off".to_string()], 50));
        let c = parse("session_id_params = [\"SID\", \"sess*\"]\n").unwrap();
        assert_eq!(c.key_options.recorded(), vec!["strip_session_ids=sess*,sid".to_string()]);
        let e = parse("workers = 2\nsession_id_params = [\n  \"ok\",\n  \"no way\",\n]\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("session_id_params"), Some(4)), "{e}");
        let e = parse("max_url_length = 10\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("max_url_length"), Some(1)), "{e}");
        let e = parse("\ntrap_records_per_rule = 0\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("trap_records_per_rule"), Some(2)), "{e}");
    }

    #[test]
    fn unknown_key_names_line() {
        let e = parse("workers = 2\nwrokers = 3\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("wrokers"), "{e}");
    }

    #[test]
    fn bad_duration_names_key_and_line() {
        let e = parse("workers = 2\n\nmin_delay = \"soon\"\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("min_delay"));
        assert!(e.to_string().starts_with("test.toml:3: key `min_delay`"), "{e}");
    }

    #[test]
    fn bad_regex_names_key_and_line() {
        let e = parse("exclude = [\n  \"ok\",\n  \"(unclosed\",\n]\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("exclude"), Some(3)), "{e}");
    }

    #[test]
    fn bad_seed_url_names_line() {
        let e = parse("[[seeds]]\nurl = \"ftp://example.com/\"\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("seeds.url"), Some(2)), "{e}");
    }

    #[test]
    fn type_error_names_key_and_line() {
        let e = parse("max_hops = 3\nworkers = \"16\"\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("workers"), Some(2)), "{e}");
        assert!(e.to_string().contains("workers = \"16\""), "{e}");
    }

    #[test]
    fn syntax_error_names_line() {
        let e = parse("workers = 2\nmax_hops = = 3\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn fixed_delay_overrides_adaptive() {
        let c = parse("delay = \"0s\"\n").unwrap();
        assert_eq!(c.pacing.delay_after(Duration::from_secs(5)), Duration::ZERO);
        let c = parse("min_delay = \"1s\"\nmax_delay = \"10s\"\ndelay_factor = 2.0\n").unwrap();
        assert_eq!(c.pacing.delay_after(Duration::from_millis(100)), Duration::from_secs(1));
        assert_eq!(c.pacing.delay_after(Duration::from_secs(2)), Duration::from_secs(4));
        assert_eq!(c.pacing.delay_after(Duration::from_secs(60)), Duration::from_secs(10));
    }

    #[test]
    fn allow_private_and_resolve() {
        let c = parse("allow_private = [\"10.0.0.0/8\", \"private\"]\nresolve = [\"example.com:443:127.0.0.1\"]\n")
            .unwrap();
        assert!(c.allow_private.all);
        assert_eq!(c.allow_private.cidrs.len(), 1);
        assert_eq!(c.resolve.get(&("example.com".into(), 443)), Some(&"127.0.0.1".parse().unwrap()));
        let e = parse("allow_private = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("allow_private"));
    }

    #[test]
    fn robots_exemptions_by_host_and_domain() {
        let c = parse("robots_ignore_hosts = [\"Permitted.example\", \".friends.example\"]\n").unwrap();
        assert!(!c.robots_applies("permitted.example"));
        assert!(c.robots_applies("www.permitted.example"));
        assert!(!c.robots_applies("friends.example"));
        assert!(!c.robots_applies("a.friends.example"));
        assert!(c.robots_applies("notfriends.example"));
        assert!(!parse("robots = \"ignore\"\n").unwrap().robots_applies("any.example"));
    }

    #[test]
    fn no_seeds_warns() {
        assert!(parse("").unwrap().seed_warning().is_some());
        assert!(parse("[[seeds]]\nurl = \"http://a.example/\"\n").unwrap().seed_warning().is_none());
    }

    #[test]
    fn contact_email_goes_to_from() {
        let c = parse("contact_url = \"https://a.example/crawl\"\ncontact_email = \"archive@a.example\"\n").unwrap();
        assert_eq!(c.from, "archive@a.example");
        assert_eq!(parse("contact_url = \"https://a.example/crawl\"\n").unwrap().from, "https://a.example/crawl");
    }

    #[test]
    fn empty_contact_url_warns() {
        assert!(parse("").unwrap().warnings().iter().any(|w| w.starts_with("contact_url is empty")));
        let c = parse("contact_url = \"https://archive.example/crawl\"\n").unwrap();
        assert!(!c.warnings().iter().any(|w| w.starts_with("contact_url")));
        assert!(c.user_agent.contains("+https://archive.example/crawl"));
    }
}
