//! Steering a running crawl: status, pause and resume, seeds and exclusions added at run time,
//! configuration reload, Prometheus metrics. The control API ([`crate::api`]) and SIGHUP call
//! these; each change is kept in the state, so it survives a restart (seeds under `s:`,
//! exclusions under `x:`, the pause under `m:paused`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};
use url::Url;

use super::{stored_exclusions, stored_seed_value, stored_seeds, Shared, PAUSED_KEY};
use crate::canon::host_key;
use crate::config::{Config, ScopeKind, Seed};
use crate::daemon;
use crate::frontier::{CrawlUri, NewUri};
use crate::politeness::RateCaps;
use crate::scope::Scope;

/// Why a control request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The request itself is wrong (a bad URL or pattern, an invalid configuration file): HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// The crawl could not do it (the state could not be written): HTTP 500.
    #[error("{0}")]
    Failed(String),
}

impl From<crate::store::StoreError> for ControlError {
    fn from(e: crate::store::StoreError) -> Self {
        ControlError::Failed(e.to_string())
    }
}

impl From<sled::Error> for ControlError {
    fn from(e: sled::Error) -> Self {
        ControlError::Failed(e.to_string())
    }
}

/// URL counts in a [`Status`].
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct UrlCounts {
    /// Waiting in host queues.
    pub queued: u64,
    /// Being fetched (leased).
    pub in_flight: u64,
    /// Finished: `fetched` + `failed`.
    pub done: u64,
    /// Finished with an archived response (any HTTP status).
    pub fetched: u64,
    /// Finished otherwise (robots.txt, network failures, exclusions, trap refusals…).
    pub failed: u64,
    /// Links refused by a crawl-trap rule or a host's budget (see `trap_records_per_rule`).
    #[serde(default)]
    pub trap_refused: u64,
}

/// Host counts in a [`Status`].
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct HostCounts {
    /// Hosts with a URL being fetched.
    pub active: usize,
    /// Hosts with queued URLs waiting out their politeness delay, Retry-After or backoff.
    pub snoozed: usize,
}

/// `GET /status`: what the crawl is doing (counts over the whole crawl, all runs).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Status {
    /// `crawling`, `paused` (by the operator), `waiting_for_disk` (free space below
    /// `min_free_disk`), `idle` (nothing queued or in flight) or `stopping`.
    pub state: String,
    /// URL counts.
    pub urls: UrlCounts,
    /// Host counts.
    pub hosts: HostCounts,
    /// URLs finished in the last 60 seconds.
    pub urls_last_minute: usize,
    /// WARC records written (warcinfo excluded).
    pub records: u64,
    /// Uncompressed bytes of those records' blocks.
    pub bytes: u64,
    /// The open WARC file the latest capture went to (`None` before the first, and once that file
    /// is closed, e.g. by `warc_idle_close`).
    pub current_warc: Option<String>,
    /// Seeds in scope (configured, added, and seeds' redirect targets).
    pub seeds: usize,
    /// The crawl limit that is ending it, if one is.
    pub limit: Option<String>,
    /// Seconds since this run started.
    pub uptime_seconds: f64,
}

/// What [`Control::add_seeds`] did.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SeedsAdded {
    /// Seeds queued now.
    pub queued: usize,
    /// Seeds already known to the crawl (queued or finished before): in scope, not queued again.
    pub known: usize,
}

/// A handle on the running crawl. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    pub(super) shared: Arc<Shared>,
    pub(super) stop_tx: watch::Sender<bool>,
    pub(super) started: Instant,
}

impl Control {
    /// The crawl's status now.
    pub fn status(&self) -> Result<Status, ControlError> {
        let s = &self.shared;
        let c = s.frontier.counts();
        let state = match s.state() {
            "crawling" if c.queued + c.leased == 0 => "idle",
            other => other,
        };
        let urls_last_minute = s.finished_last_minute(false);
        Ok(Status {
            state: state.into(),
            urls: UrlCounts {
                queued: c.queued,
                in_flight: c.leased,
                done: c.fetched + c.failed,
                fetched: c.fetched,
                failed: c.failed,
                trap_refused: c.trap_refused,
            },
            hosts: HostCounts { active: s.frontier.hosts_active()?, snoozed: s.frontier.hosts_snoozed()? },
            urls_last_minute,
            records: c.records,
            bytes: c.bytes,
            current_warc: s.current_warc.lock().ok().and_then(|w| w.clone()),
            seeds: s.scope.read().map(|sc| sc.seed_count()).unwrap_or(0),
            limit: s.limit.lock().ok().and_then(|l| l.clone()),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        })
    }

    /// Stops leasing new URLs (fetches in flight finish); kept in the state until [`Control::resume`].
    pub fn pause(&self) -> Result<(), ControlError> {
        self.shared.frontier.store().tree.insert(PAUSED_KEY, &[])?;
        if !self.shared.paused.swap(true, Ordering::SeqCst) {
            info!("crawl paused: no new requests until resumed");
        }
        Ok(())
    }

    /// Leases again after [`Control::pause`].
    pub fn resume(&self) -> Result<(), ControlError> {
        self.shared.frontier.store().tree.remove(PAUSED_KEY)?;
        if self.shared.paused.swap(false, Ordering::SeqCst) {
            info!("crawl resumed");
        }
        self.shared.wake.notify_waiters();
        Ok(())
    }

    /// Adds seeds (http or https URLs) with `scope` and an optional recrawl schedule: they join the
    /// scope (kept in the state) and are queued unless the crawl has seen them. A bad URL rejects
    /// the whole request.
    pub fn add_seeds(
        &self,
        urls: &[String],
        scope: ScopeKind,
        recrawl: Option<crate::config::Recrawl>,
    ) -> Result<SeedsAdded, ControlError> {
        let mut parsed = Vec::new();
        for u in urls {
            let url = Url::parse(u.trim()).map_err(|e| ControlError::BadRequest(format!("{u:?} is not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ControlError::BadRequest(format!("{u:?}: only http(s) URLs with a host can be seeds")));
            }
            parsed.push(url);
        }
        let seeds: Vec<Seed> = parsed.into_iter().map(|url| Seed { url, scope, recrawl }).collect();
        let queued = self.queue_seeds(&seeds, true)?;
        info!(seeds = seeds.len(), queued, "seeds added");
        Ok(SeedsAdded { queued, known: seeds.len() - queued })
    }

    /// Puts `seeds` in scope and queues those not seen; with `keep`, records them in the state.
    fn queue_seeds(&self, seeds: &[Seed], keep: bool) -> Result<usize, ControlError> {
        let s = &self.shared;
        if keep {
            let mut batch = sled::Batch::default();
            for seed in seeds {
                batch.insert([b"s:", seed.url.as_str().as_bytes()].concat(), stored_seed_value(seed));
            }
            s.frontier.store().tree.apply_batch(batch)?;
        }
        if let Ok(mut scope) = s.scope.write() {
            for seed in seeds {
                scope.add_seed(seed.clone());
            }
        }
        let uris: Vec<NewUri> = seeds
            .iter()
            .map(|seed| NewUri {
                seen_key: s.key(&seed.url),
                host: host_key(&seed.url),
                uri: CrawlUri {
                    url: seed.url.to_string(),
                    hops: String::new(),
                    via: None,
                    seed: seed.url.to_string(),
                    attempts: 0,
                    round: 0,
                },
            })
            .collect();
        let queued = s.frontier.add(&uris)?;
        s.wake.notify_waiters();
        Ok(queued)
    }

    /// Adds exclusion patterns (regular expressions on the whole URL): no URL matching one is
    /// queued from now on, and queued URLs matching one end as `excluded` when their turn comes.
    /// Kept in the state. A bad pattern rejects the whole request. Returns how many were new.
    pub fn add_exclusions(&self, patterns: &[String]) -> Result<usize, ControlError> {
        let mut res = Vec::new();
        for p in patterns {
            let re = regex::Regex::new(p).map_err(|e| ControlError::BadRequest(format!("pattern {p:?}: {e}")))?;
            res.push(re);
        }
        let s = &self.shared;
        let mut batch = sled::Batch::default();
        let mut new = 0;
        for re in &res {
            let key = [b"x:", re.as_str().as_bytes()].concat();
            if !s.frontier.store().tree.contains_key(&key)? {
                new += 1;
            }
            batch.insert(key, &[]);
        }
        s.frontier.store().tree.apply_batch(batch)?;
        if let Ok(mut scope) = s.scope.write() {
            for re in res {
                scope.add_exclusion(re);
            }
        }
        info!(patterns = ?patterns, new, "exclusions added");
        Ok(new)
    }

    /// Re-reads the configuration file the daemon was started with and applies it: its new seeds
    /// are queued; scope, politeness, robots.txt policy, retries, limits and `connections_per_host`
    /// take effect at once. Keys read only at start (directories, WARC naming, User-Agent,
    /// timeouts, TLS, DNS, cookies, the API) are reported as needing a restart. An invalid file is
    /// rejected with its error and the running configuration is kept. Tells systemd
    /// `RELOADING=1` … `READY=1`.
    pub fn reload(&self) -> Result<String, ControlError> {
        let s = &self.shared;
        daemon::reloading();
        let result = self.reload_inner();
        let state = s.state();
        match &result {
            Ok(msg) => {
                info!("configuration reloaded: {msg}");
                daemon::ready(&format!("{state}; reloaded: {msg}"));
            }
            Err(e) => {
                warn!(cause = %e, "configuration reload rejected; the running configuration is kept");
                daemon::ready(&format!("{state}; reload rejected: {e}"));
            }
        }
        s.wake.notify_waiters();
        result
    }

    fn reload_inner(&self) -> Result<String, ControlError> {
        let s = &self.shared;
        let old = s.boot.clone();
        let Some(path) = old.source.clone() else {
            return Err(ControlError::BadRequest("this crawl was started without a configuration file".into()));
        };
        let new = Config::load(&path).map_err(|e| ControlError::BadRequest(e.to_string()))?;
        if &new.key_options != s.frontier.store().key_options() {
            return Err(ControlError::BadRequest(format!(
                "strip_session_ids / session_id_params cannot change on this state directory (it records {:?}, the file asks for {:?}): every URL key would change",
                s.frontier.store().key_options().recorded(),
                new.key_options.recorded()
            )));
        }
        let restart_only = restart_only_changes(&old, &new);
        let old = s.cfg();
        // Scope: the file's seeds and exclusions, plus those added at run time and seeds' redirect
        // targets (all kept in the state).
        let store = s.frontier.store();
        let mut seeds = new.seeds.clone();
        seeds.extend(stored_seeds(store)?);
        let mut exclude = new.exclude.clone();
        exclude.extend(stored_exclusions(store)?);
        let scope = Scope::new(seeds, new.max_hops, exclude).with_traps(new.traps);
        if let Ok(mut current) = s.scope.write() {
            *current = scope;
        }
        s.frontier.set_connections_per_host(new.connections_per_host);
        s.frontier.set_max_sitemap_urls(new.max_sitemap_urls);
        s.frontier.set_max_urls_per_host(new.max_urls_per_host);
        s.frontier.set_trap_records_per_rule(new.trap_records_per_rule);
        if (old.max_requests_per_minute, old.max_requests_per_minute_total)
            != (new.max_requests_per_minute, new.max_requests_per_minute_total)
        {
            let caps = RateCaps::new(new.max_requests_per_minute, new.max_requests_per_minute_total);
            *s.caps.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(caps);
        }
        let new_seeds = new.seeds.clone();
        *s.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        let queued = self.queue_seeds(&new_seeds, false)?;
        if s.check_limits() {
            let _ = self.stop_tx.send(true); // a limit lowered below what the crawl has done
        }
        let mut msg = format!("{} seeds, {queued} newly queued", new_seeds.len());
        if !restart_only.is_empty() {
            msg.push_str(&format!("; changed keys that take effect at the next restart: {}", restart_only.join(", ")));
        }
        Ok(msg)
    }

    /// Prometheus text exposition (format 0.0.4) of the crawl's counters and gauges.
    pub fn metrics(&self) -> Result<String, ControlError> {
        use prometheus_client::encoding::text::encode;
        use prometheus_client::metrics::counter::Counter;
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;
        use prometheus_client::registry::Registry;
        let st = self.status()?;
        let mut reg = Registry::with_prefix("harvestd");
        let finished = Family::<Vec<(String, String)>, Counter>::default();
        finished.get_or_create(&vec![("result".into(), "fetched".into())]).inc_by(st.urls.fetched);
        finished.get_or_create(&vec![("result".into(), "failed".into())]).inc_by(st.urls.failed);
        reg.register("urls_finished", "URLs finished over the crawl, by result", finished);
        let gauge = |v: i64| {
            let g = Gauge::<i64>::default();
            g.set(v);
            g
        };
        let counter = |v: u64| {
            let c = Counter::<u64>::default();
            c.inc_by(v);
            c
        };
        reg.register("urls_queued", "URLs waiting in host queues", gauge(st.urls.queued as i64));
        reg.register(
            "urls_trap_refused",
            "Links refused by a crawl-trap rule or a host's budget, over the crawl",
            counter(st.urls.trap_refused),
        );
        reg.register("urls_in_flight", "URLs being fetched", gauge(st.urls.in_flight as i64));
        reg.register("urls_last_minute", "URLs finished in the last 60 seconds", gauge(st.urls_last_minute as i64));
        reg.register("hosts_active", "Hosts with a URL being fetched", gauge(st.hosts.active as i64));
        reg.register(
            "hosts_snoozed",
            "Hosts waiting out a delay, Retry-After or backoff",
            gauge(st.hosts.snoozed as i64),
        );
        reg.register("records", "WARC records written (warcinfo excluded)", counter(st.records));
        reg.register("record_bytes", "Uncompressed bytes of WARC record blocks written", counter(st.bytes));
        reg.register("paused", "1 while the crawl is paused", gauge(i64::from(st.state == "paused")));
        reg.register("seeds", "Seeds in scope", gauge(st.seeds as i64));
        let mut out = String::new();
        encode(&mut out, &reg).map_err(|e| ControlError::Failed(e.to_string()))?;
        Ok(out)
    }
}

/// The keys read only at start (the fetcher's, the WARC writer's, the directories, the API) whose
/// values differ between the configuration the run started with (`boot`) and `new`.
fn restart_only_changes(boot: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, changed: bool| {
        if changed {
            out.push(name);
        }
    };
    let dbg = |v: &dyn std::fmt::Debug| format!("{v:?}");
    let sorted_resolve = |c: &Config| {
        let mut r: Vec<_> = c.resolve.iter().map(|(k, v)| format!("{k:?}={v}")).collect();
        r.sort();
        r
    };
    check("warc_dir", boot.warc_dir != new.warc_dir);
    check("state_dir", boot.state_dir != new.state_dir);
    check("log_dir", boot.log_dir != new.log_dir);
    check("warc_prefix", boot.warc_prefix != new.warc_prefix);
    check("max_file_size", boot.max_file_size != new.max_file_size);
    check("warc_idle_close", boot.warc_idle_close != new.warc_idle_close);
    check("compression_level", boot.compression_level != new.compression_level);
    check("operator", boot.operator != new.operator);
    check("crawl_name", boot.crawl_name != new.crawl_name);
    check("description", boot.description != new.description);
    check("group_commit", boot.group_commit != new.group_commit);
    check("state_cache", boot.state_cache != new.state_cache);
    check("user_agent / contact_url", boot.user_agent != new.user_agent);
    check("contact_email", boot.from != new.from);
    check("workers", boot.workers != new.workers);
    check("connect_timeout", boot.connect_timeout != new.connect_timeout);
    check("fetch_timeout", boot.fetch_timeout != new.fetch_timeout);
    check("read_timeout", boot.read_timeout != new.read_timeout);
    check("max_record_size", boot.max_record_size != new.max_record_size);
    check("allow_private", dbg(&boot.allow_private) != dbg(&new.allow_private));
    check("resolve", sorted_resolve(boot) != sorted_resolve(new));
    check("dns_servers", boot.dns_servers != new.dns_servers);
    check("tls_verify", boot.tls_strict != new.tls_strict);
    check("ca_file", boot.extra_roots != new.extra_roots);
    check("cookies", boot.cookies != new.cookies);
    check("cookies_file", dbg(&boot.initial_cookies) != dbg(&new.initial_cookies));
    check("keep_alive", boot.keep_alive != new.keep_alive);
    check("idle_timeout", boot.idle_timeout != new.idle_timeout);
    check("api_listen", boot.api_listen != new.api_listen);
    check("api_token", boot.api_token != new.api_token);
    out
}
