//! The crawl: the dispatcher, the task of each leased URL, the commit task, and drain / idle
//! detection.
//!
//! ```text
//! dispatcher: free fetch slot + frontier.next ─▶ a task per lease
//! lease task: robots (fetched + archived first) ─▶ fetch ─▶ release host and fetch slot at response end
//!                                                   └─▶ outlinks + records + gzip ─▶ WARC writer
//! writer thread: group-commit fsync ─▶ Durable ─▶ commit task
//! commit task:   frontier.finish_all (outcomes + outlinks + counters, one sled batch per group
//!                of up to 8) ─▶ per-URL log lines
//! ```
//!
//! A URL counts as done only after its records are fsynced *and* its commit landed; a crash before
//! that fetches it again (DESIGN §Durability order). The host's politeness slot is released when
//! its response ends, not when the commit lands. Failures of a URL (DNS, refused destination,
//! robots) are outcomes recorded on it, never errors that stop the crawl.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, info, warn};
use url::Url;

use crate::canon::{authority, host_key, robots_url, seen_key};
use crate::clock::Clock;
use crate::config::{Config, RobotsPolicy, ScopeKind, Seed, PRODUCT_TOKEN};
use crate::crawllog::{self, CrawlLog};
use crate::daemon;
use crate::extract;
use crate::fetch::{Exchange, FetchError, FetchSettings, Fetcher};
use crate::frontier::{
    Committed, Completion, CrawlUri, Finished, Frontier, Lease, NewUri, Next, Outcome, Refused, Release,
};
use crate::politeness::RateCaps;
use crate::robots::{self, RobotsEntry, RobotsRules};
use crate::scope::{Scope, MAX_SEED_REDIRECTS};
use crate::store::{encode, Store};
use crate::warc::{self, recover, writer, CaptureMetadata, CaptureOptions, Primary, RevisitKind};

mod control;
pub mod recrawl;
pub use control::{Control, ControlError, HostCounts, SeedsAdded, Status, UrlCounts};

/// Most outlinks taken from one capture.
const MAX_LINKS_PER_PAGE: usize = 10_000;
/// Robots decisions kept in memory before the cache is emptied (sled keeps them all).
const ROBOTS_MEMORY: usize = 10_000;

/// robots.txt files up to this size (bytes) are checked on the runtime thread (a few
/// microseconds); larger ones on the blocking pool.
const ROBOTS_INLINE_BYTES: usize = 4_096;

/// How the crawl ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stop when every URL has finished (`harvestd crawl`, `run --exit-when-done`).
    ExitWhenDone,
    /// Keep running idle until the shutdown signal (`harvestd run`).
    Daemon,
}

/// What a crawl did, for the closing summary line.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// URLs finished in this run.
    pub urls: u64,
    /// Of which with an archived response.
    pub fetched: u64,
    /// WARC records written in this run (warcinfo excluded).
    pub records: u64,
    /// Uncompressed bytes of those records' blocks.
    pub bytes: u64,
    /// Wall-clock duration.
    pub seconds: f64,
    /// URLs still queued or leased (non-zero after a signal).
    pub remaining: u64,
    /// WARC files closed in this run.
    pub files: Vec<String>,
    /// URLs already finished in the state directory before this run.
    pub already_done: u64,
    /// Why the crawl stopped early, when it failed (the WARC writer failed).
    pub failure: Option<String>,
    /// The crawl limit that ended it (`max_urls`, `max_bytes`, `max_duration`), if one did.
    pub limit: Option<String>,
    /// The WACZ package written at the end (`package_wacz`), if one was.
    pub package: Option<std::path::PathBuf>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |k: u64, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
        write!(
            f,
            "{} ({} fetched, {} failed or excluded), {}, {}, {:.1} seconds",
            n(self.urls, "URL"),
            self.fetched,
            self.urls - self.fetched,
            n(self.records, "record"),
            n(self.bytes, "byte"),
            self.seconds,
        )?;
        if self.already_done > 0 {
            write!(f, "; {} already done before this run", n(self.already_done, "URL"))?;
        }
        if self.remaining > 0 {
            write!(f, "; {} left for the next run", n(self.remaining, "URL"))?;
        }
        if let Some(why) = &self.failure {
            write!(f, "; stopped early: {why}")?;
        }
        if let Some(limit) = &self.limit {
            write!(f, "; ended by its limit: {limit}")?;
        }
        if let Some(p) = &self.package {
            write!(f, "; packaged as {}", p.display())?;
        }
        Ok(())
    }
}

/// A start-up failure (the process exits non-zero with this message).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state directory cannot be used.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The WARC directory cannot be created or written.
    #[error("the WARC directory {dir} cannot be used: {cause}")]
    WarcDir {
        /// The directory.
        dir: String,
        /// What is wrong.
        cause: String,
    },
    /// Recovering the WARC directory failed.
    #[error("recovering the WARC directory {dir}: {cause}")]
    Recovery {
        /// The directory.
        dir: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The control API's address cannot be bound.
    #[error("the control API cannot listen on {addr} (api_listen): {cause}")]
    Api {
        /// The address.
        addr: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The log directory cannot be used.
    #[error("the log directory {dir} cannot be used: {cause}")]
    LogDir {
        /// The directory.
        dir: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A seed resolves to an address the destination policy refuses.
    #[error("seed {seed}: {cause}")]
    SeedRefused {
        /// The seed.
        seed: String,
        /// The refusal, naming the switch.
        cause: FetchError,
    },
}

/// Creates `dir` if needed and checks that files can be created in it.
fn check_warc_dir(dir: &std::path::Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err("it exists and is not a directory".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let probe = dir.join(format!(".harvestd-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| format!("cannot create a file in it: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// What the commit task needs to finish a URL.
#[derive(Debug)]
struct Pending {
    seen_key: String,
    leased: bool,
    uri: CrawlUri,
    outcome: Outcome,
    record_id: Option<String>,
    payload_digest: Option<String>,
    captured_ms: u64,
    outlinks: Outlinks,
    extra: Vec<(Vec<u8>, Vec<u8>)>,
    /// The URL goes back to its queue for another try (this try's response, if any, is archived).
    retry: Option<NewUri>,
    /// The TLS certificate verdict, for https.
    tls: Option<String>,
    /// What crawl.log says of it besides the outcome.
    log: LogFacts,
    /// The revisit profile its primary record was written with, when a revisit.
    revisit: Option<RevisitKind>,
}

/// A capture's links that passed scope: those to queue, and those a trap rule refused (recorded).
#[derive(Debug, Default)]
struct Outlinks {
    queue: Vec<NewUri>,
    refused: Vec<Refused>,
}

tokio::task_local! {
    /// The number of the worker handling the current URL (crawl.log's `#NNN`).
    static WORKER: usize;
}

/// The current task's worker number (0 outside a worker).
fn current_worker() -> usize {
    WORKER.try_with(|w| *w).unwrap_or(0)
}

/// The facts of an exchange that crawl.log shows (see [`crate::crawllog`]).
#[derive(Debug, Clone, Default)]
struct LogFacts {
    worker: usize,
    /// Payload bytes, when a response came.
    size: Option<u64>,
    content_type: Option<String>,
    responded: bool,
    /// Fetch start and duration (ms).
    fetch: Option<(chrono::DateTime<chrono::Utc>, u64)>,
    truncated: Option<crate::fetch::Truncation>,
}

impl LogFacts {
    /// No exchange took place.
    fn none() -> LogFacts {
        LogFacts { worker: current_worker(), ..LogFacts::default() }
    }

    fn of(ex: &Exchange) -> LogFacts {
        LogFacts {
            worker: current_worker(),
            size: Some(ex.payload_slices().iter().map(|s| s.len() as u64).sum()),
            content_type: ex.framed().and_then(|f| f.header("content-type")),
            responded: true,
            fetch: Some((ex.date, ex.duration.as_millis() as u64)),
            truncated: ex.truncated,
        }
    }
}

/// Everything the workers share.
struct Shared {
    /// The configuration in force (replaced whole by a reload).
    config: std::sync::RwLock<Arc<Config>>,
    /// The configuration the run started with: what the keys read only at start are in force as.
    boot: Arc<Config>,
    frontier: Frontier,
    fetcher: Fetcher,
    /// The open WARC file's warcinfo record ID, published by the writer: captures are compressed
    /// for it before they are sent.
    current_warcinfo: writer::CurrentWarcinfo,
    /// The crawl's scope; written when a seed's redirect target becomes a seed.
    scope: std::sync::RwLock<Scope>,
    clock: Arc<dyn Clock>,
    /// Woken whenever a host may have become due (release, commit, new URLs).
    wake: Notify,
    /// Robots decisions by authority (memory copy of sled's `r:` entries).
    robots: Mutex<HashMap<String, RobotsEntry>>,
    /// Request-rate caps, checked before every request (replaced when a reload changes them).
    caps: std::sync::RwLock<Arc<RateCaps>>,
    /// Set by `pause`: no new lease until `resume` (kept in the state as `m:paused`).
    paused: std::sync::atomic::AtomicBool,
    /// Set while free disk space is below `min_free_disk`: no new lease until it returns.
    disk_low: std::sync::atomic::AtomicBool,
    /// Set once the run is stopping (for the service status line).
    stopping: std::sync::atomic::AtomicBool,
    /// The WARC file the last capture went to.
    current_warc: Mutex<Option<String>>,
    /// When URLs finished in the last minute (for the rate in `status`).
    recent: Mutex<std::collections::VecDeque<Instant>>,
    /// One robots.txt fetch per authority at a time: with several slots per host, the others wait
    /// for its verdict instead of fetching it again. Entries are removed when the fetch ends.
    robots_gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Permits for bulk CPU work on the blocking pool (link extraction, gzip), two per core: more
    /// would only add threads (each with its own allocator arena) and captures held in memory
    /// (measured on the Python docs: a quarter less peak RSS, the same speed; one per core was
    /// 5–8% slower).
    bulk: Arc<tokio::sync::Semaphore>,
    /// `crawl.log`, a line per finished URL.
    crawl_log: Mutex<CrawlLog>,
    /// The crawl limit reached, once one is.
    limit: Mutex<Option<String>>,
    /// URLs in flight by host (from their lease to their hand-over to the writer), for
    /// [`Shared::wait_host_backlog`]; notified whenever one ends.
    host_flight: Mutex<HashMap<String, usize>>,
    host_flight_done: Notify,
}

/// Runs a crawl of `seeds` (added to the frontier unless already seen) with `config`, until done
/// (by `mode`) or until `shutdown` resolves; then drains: in-flight fetches finish and are written,
/// the WARC file is closed, sled is flushed. `clock` is the frontier's time source.
pub async fn run(
    config: Config,
    seeds: Vec<Seed>,
    mode: Mode,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send,
    progress: Option<indicatif::ProgressBar>,
) -> Result<Summary, StartError> {
    let started = Instant::now();
    for w in config.warnings() {
        warn!("{w}");
    }
    // SIGHUP is caught from now on (its default action would end the process); it is acted upon
    // once the crawl runs.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    // Opening the state and recovering WARC files can take a while: systemd is asked for more
    // start time until the crawl is ready.
    let extender = tokio::spawn(async {
        loop {
            daemon::extend_timeout(Duration::from_secs(30));
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    });
    let result = start_and_crawl(config, seeds, mode, clock, shutdown, started, &extender, progress, hangup).await;
    extender.abort();
    result
}

/// [`run`] after its start-up timeout extender is in place.
#[allow(clippy::too_many_arguments)]
async fn start_and_crawl(
    config: Config,
    seeds: Vec<Seed>,
    mode: Mode,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send,
    started: Instant,
    extender: &tokio::task::JoinHandle<()>,
    progress: Option<indicatif::ProgressBar>,
    hangup: Option<tokio::signal::unix::Signal>,
) -> Result<Summary, StartError> {
    // 1. Open (and lock) the state directory, then check the WARC directory can be written.
    let (state_dir, cache) = (config.state_dir.clone(), config.state_cache);
    let keys = config.key_options.clone();
    let store =
        tokio::task::spawn_blocking(move || Store::open_checked(&state_dir, cache, &keys)).await.expect("open task")?;
    let warc_dir = config.warc_dir.clone();
    tokio::task::spawn_blocking(move || check_warc_dir(&warc_dir))
        .await
        .expect("check task")
        .map_err(|cause| StartError::WarcDir { dir: config.warc_dir.display().to_string(), cause })?;
    let log_dir = config.log_dir.clone();
    let crawl_log = tokio::task::spawn_blocking(move || CrawlLog::open(&log_dir))
        .await
        .expect("open task")
        .map_err(|cause| StartError::LogDir { dir: config.log_dir.display().to_string(), cause })?;
    // 2. Recover WARC files a crash left open (not those another live crawl holds locked).
    let warc_dir = config.warc_dir.clone();
    let recovered = tokio::task::spawn_blocking(move || recover::recover_dir(&warc_dir))
        .await
        .expect("recovery task")
        .map_err(|cause| StartError::Recovery { dir: config.warc_dir.display().to_string(), cause })?;
    for r in &recovered {
        info!(file = %r.path.display(), kept = r.kept, cut = r.cut, captures = r.captures, "WARC file recovered");
    }
    // Leases left by a crash go back to their queues.
    let frontier = Frontier::open(store.clone(), clock.clone())?;
    frontier.set_connections_per_host(config.connections_per_host);
    frontier.set_max_sitemap_urls(config.max_sitemap_urls);
    frontier.set_max_urls_per_host(config.max_urls_per_host);
    frontier.set_trap_records_per_rule(config.trap_records_per_rule);
    let returned = frontier.recover_leases()?;
    if returned > 0 {
        info!(leases = returned, "leased URLs from an interrupted run returned to their queues");
    }
    let fetcher = Fetcher::new(FetchSettings::from_config(&config));
    // 3. Seeds: refuse at start a seed the destination policy would refuse.
    for s in &seeds {
        match fetcher.resolve(&s.url).await {
            Err(e @ FetchError::Refused { .. }) => {
                return Err(StartError::SeedRefused { seed: s.url.to_string(), cause: e });
            }
            Err(e) => warn!(seed = %s.url, cause = %e, "seed does not resolve now; its outcome will be recorded"),
            Ok(_) => {}
        }
    }
    let seed_uris: Vec<NewUri> = seeds
        .iter()
        .map(|s| NewUri {
            seen_key: seen_key(&s.url, store.key_options()),
            host: host_key(&s.url),
            uri: CrawlUri {
                url: s.url.to_string(),
                hops: String::new(),
                via: None,
                seed: s.url.to_string(),
                attempts: 0,
                round: 0,
            },
        })
        .collect();
    let added = frontier.add(&seed_uris)?;
    let mut all_seeds: Vec<Seed> = config.seeds.iter().cloned().chain(seeds.iter().cloned()).collect();
    all_seeds.extend(stored_seeds(&store)?);
    let mut exclude = config.exclude.clone();
    exclude.extend(stored_exclusions(&store)?);
    let scope = Scope::new(all_seeds, config.max_hops, exclude).with_traps(config.traps);
    let before = frontier.counts();
    info!(seeds = scope.seed_count(), new = added, queued = before.queued, "crawl starting");

    // The control API's address is bound now, so a busy one stops the start.
    let api_listener = match (mode, config.api_listen) {
        (Mode::Daemon, Some(addr)) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|cause| StartError::Api { addr: addr.to_string(), cause })?,
        ),
        _ => None,
    };
    // 4. The WARC writer thread and the commit task.
    let first_serial = store.last_serial()?.max(writer::highest_serial_in(&config.warc_dir, &config.warc_prefix)) + 1;
    let (job_tx, job_rx) = mpsc::channel::<writer::Job<Pending>>(64);
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let (direct_tx, direct_rx) = mpsc::unbounded_channel::<Pending>();
    let serial_store = store.clone();
    let current_warcinfo = writer::CurrentWarcinfo::default();
    let writer_handle = writer::spawn(
        writer_settings(&config, current_warcinfo.clone()),
        first_serial,
        Box::new(move |s| {
            if let Err(e) = serial_store.record_serial(s) {
                warn!(cause = %e, "could not record the WARC serial in the state directory");
            }
        }),
        job_rx,
        event_tx,
        tokio::runtime::Handle::current(),
    );
    let shared = Arc::new(Shared {
        config: std::sync::RwLock::new(Arc::new(config.clone())),
        boot: Arc::new(config.clone()),
        frontier: frontier.clone(),
        fetcher,
        current_warcinfo,
        scope: std::sync::RwLock::new(scope),
        clock: clock.clone(),
        wake: Notify::new(),
        robots: Mutex::new(HashMap::new()),
        caps: std::sync::RwLock::new(Arc::new(RateCaps::new(
            config.max_requests_per_minute,
            config.max_requests_per_minute_total,
        ))),
        paused: std::sync::atomic::AtomicBool::new(
            store.tree.contains_key(PAUSED_KEY).map_err(crate::store::StoreError::from)?,
        ),
        disk_low: std::sync::atomic::AtomicBool::new(false),
        stopping: std::sync::atomic::AtomicBool::new(false),
        current_warc: Mutex::new(None),
        recent: Mutex::new(std::collections::VecDeque::new()),
        robots_gates: Mutex::new(HashMap::new()),
        bulk: Arc::new(tokio::sync::Semaphore::new(2 * std::thread::available_parallelism().map_or(2, |n| n.get()))),
        crawl_log: Mutex::new(crawl_log),
        limit: Mutex::new(None),
        host_flight: Mutex::new(HashMap::new()),
        host_flight_done: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let failure = Arc::new(Mutex::new(None));
    let commit = tokio::spawn(commit_task(shared.clone(), event_rx, direct_rx, stop_tx.clone(), failure.clone()));

    if shared.check_limits() {
        let _ = stop_tx.send(true); // reached in an earlier run
    }
    let s2 = shared.clone();
    let _ = tokio::task::spawn_blocking(move || s2.check_disk()).await;
    // 5. Workers; then the crawl is ready (recovery is over) and its heartbeat starts.
    let (abandon_tx, abandon_rx) = watch::channel(false);
    let slots = Slots::new(config.workers);
    let dispatcher = tokio::spawn(dispatcher(
        shared.clone(),
        slots.clone(),
        job_tx.clone(),
        direct_tx.clone(),
        stop_rx.clone(),
        stop_tx.clone(),
        abandon_rx.clone(),
        mode,
    ));
    drop((job_tx, direct_tx));
    extender.abort();
    let control = Control { shared: shared.clone(), stop_tx: stop_tx.clone(), started };
    let disk_watch = {
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let s2 = s.clone();
                let _ = tokio::task::spawn_blocking(move || s2.check_disk()).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let api = api_listener.map(|l| crate::api::serve(l, control.clone(), config.api_token.clone()));
    let hup = tokio::spawn(on_sighup(hangup, control.clone(), mode));
    // Seeds with a recrawl_interval come back when due (a daemon only: a one-shot crawl ends).
    let recrawls = (mode == Mode::Daemon).then(|| tokio::spawn(recrawl::recrawl_loop(shared.clone())));
    if shared.paused.load(std::sync::atomic::Ordering::SeqCst) {
        if api.is_some() {
            warn!("the crawl is paused (since an earlier run): `harvestd resume` to go on");
        } else {
            warn!(
                "the crawl was paused by `harvestd pause`; this run has no control API to resume it, so it resumes now"
            );
            if let Err(e) = control.resume() {
                warn!(cause = %e, "could not resume the crawl");
            }
        }
    }
    daemon::ready(&status_line(&shared, &frontier.counts()));
    let heartbeat = tokio::spawn(heartbeat(shared.clone(), daemon::watchdog_interval()));
    let ticker = progress.clone().map(|bar| tokio::spawn(show_progress(frontier.clone(), bar, before)));
    if let Some(ms) = std::env::var("HARVESTD_TEST_WEDGE_FRONTIER_AFTER_MS").ok().and_then(|v| v.parse().ok()) {
        let f = frontier.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            warn!("test fault: wedging the frontier");
            f.wedge_for_tests()
        });
    }
    // max_duration is read again each second, so a reload can set or change it.
    let limit_shared = shared.clone();
    let run_limit = async move {
        loop {
            let max = limit_shared.cfg().max_duration;
            if !max.is_zero() && started.elapsed() >= max {
                return max;
            }
            let wait = if max.is_zero() {
                Duration::from_secs(1)
            } else {
                max.saturating_sub(started.elapsed()).clamp(Duration::from_millis(1), Duration::from_secs(1))
            };
            tokio::time::sleep(wait).await;
        }
    };
    let mut stop_watch = stop_rx.clone();
    tokio::select! {
        max_duration = run_limit => {
            shared.limit_reached(format!("max_duration = {} reached", humantime::format_duration(max_duration)));
            shared.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            daemon::stopping("stopping: crawl limit reached");
            let _ = stop_tx.send(true);
        }
        _ = shutdown => {
            info!(grace = ?config.shutdown_grace, "stop requested: finishing in-flight fetches, then closing the WARC file");
            shared.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            daemon::stopping("stopping: finishing in-flight fetches");
            let _ = stop_tx.send(true);
        }
        _ = stop_watch.wait_for(|s| *s) => {
            let why = shared.limit.lock().ok().and_then(|l| l.clone()).unwrap_or_else(|| "crawl finished".into());
            shared.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            daemon::stopping(&format!("stopping: {why}"));
        }
    }
    shared.wake.notify_waiters();
    // In-flight fetches get `shutdown_grace`; those still running then are abandoned (their leases
    // stay in the state and go back to their queues at the next start).
    let in_flight = async {
        let _ = dispatcher.await;
        slots.drained().await;
    };
    tokio::pin!(in_flight);
    let grace = shared.cfg().shutdown_grace;
    if tokio::time::timeout(grace, &mut in_flight).await.is_err() {
        warn!(?grace, "fetches still running after the shutdown grace are abandoned; they will be fetched again after the next start");
        let _ = abandon_tx.send(true);
        in_flight.await;
    }
    heartbeat.abort();
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    hup.abort();
    disk_watch.abort();
    if let Some(r) = recrawls {
        r.abort();
    }
    if let Some(api) = api {
        api.abort();
    }
    // Every job sender is gone: the writer closes its file and ends; then the commit task drains.
    let files = tokio::task::spawn_blocking(move || writer_handle.join().unwrap_or_default()).await.unwrap_or_default();
    let _ = commit.await;
    let flush_store = store.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || flush_store.flush()).await.expect("flush task") {
        warn!(cause = %e, "flushing the state directory failed");
    }
    let after = frontier.counts();
    let limit = shared.limit.lock().ok().and_then(|l| l.clone());
    let failure = failure.lock().ok().and_then(|f| f.clone());
    // A finished crawl (done, or ended by a limit; not one stopped by a signal) is packaged.
    let finished = after.queued + after.leased == 0 || limit.is_some();
    let package = if config.package_wacz && finished && failure.is_none() {
        let (f, c) = (frontier.clone(), config.clone());
        tokio::task::spawn_blocking(move || package_crawl(&f, &c)).await.ok().flatten()
    } else {
        None
    };
    Ok(Summary {
        urls: (after.fetched + after.failed) - (before.fetched + before.failed),
        fetched: after.fetched - before.fetched,
        records: after.records - before.records,
        bytes: after.bytes - before.bytes,
        seconds: started.elapsed().as_secs_f64(),
        remaining: after.queued + after.leased,
        files,
        already_done: before.fetched + before.failed,
        failure,
        limit,
        package,
    })
}

/// Packages the crawl as `{warc_dir}/{prefix}-{yyyyMMddHHmmssSSS}.wacz`: every WARC file holding one
/// of its captures (all runs), plus those holding the originals its revisits cite.
fn package_crawl(frontier: &Frontier, config: &Config) -> Option<std::path::PathBuf> {
    let mut names = std::collections::BTreeSet::new();
    for r in frontier.finished() {
        match r {
            Ok((_, f)) => {
                if let Some(l) = f.location {
                    names.insert(l.file);
                }
            }
            Err(e) => {
                warn!(cause = %e, "cannot list the crawl's WARC files; no package written");
                return None;
            }
        }
    }
    let files: Vec<_> = names.iter().map(|n| config.warc_dir.join(n)).filter(|p| p.exists()).collect();
    if files.is_empty() {
        return None;
    }
    let name = format!("{}-{}.wacz", config.warc_prefix, chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));
    let out = config.warc_dir.join(name);
    let title =
        if config.crawl_name.trim().is_empty() { config.warc_prefix.clone() } else { config.crawl_name.clone() };
    match warc::wacz::write_wacz(&out, &files, &title) {
        Ok(s) => {
            info!(package = %out.display(), warcs = s.warcs.len(), pages = s.pages, bytes = s.bytes, "crawl packaged as WACZ");
            Some(out)
        }
        Err(e) => {
            warn!(cause = %e, "could not package the crawl as WACZ");
            None
        }
    }
}

/// Operator exclusions added at run time (`x:` keys).
fn stored_exclusions(store: &Store) -> Result<Vec<regex::Regex>, crate::store::StoreError> {
    let mut out = Vec::new();
    for kv in store.tree.scan_prefix(b"x:") {
        let (k, _) = kv?;
        match regex::Regex::new(&String::from_utf8_lossy(&k[2..])) {
            Ok(re) => out.push(re),
            Err(e) => warn!(cause = %e, "a stored exclusion no longer compiles; ignored"),
        }
    }
    Ok(out)
}

/// The progress line of `harvestd crawl` on a terminal: URLs done and queued, pages per second
/// over this run, bytes written; redrawn four times a second.
async fn show_progress(frontier: Frontier, bar: indicatif::ProgressBar, before: crate::frontier::Counts) {
    let started = Instant::now();
    loop {
        let c = frontier.counts();
        let done = c.fetched + c.failed;
        let rate = (done - (before.fetched + before.failed)) as f64 / started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "{done} done, {} queued, {} in flight | {rate:.1} pages/s | {} written",
            c.queued,
            c.leased,
            bytesize::ByteSize::b(c.bytes)
        ));
        bar.tick();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// SIGHUP: the daemon reloads its configuration (as `harvestd reload` does); `harvestd crawl`
/// has command-line settings a reload would lose, so it only logs the signal.
async fn on_sighup(hup: Option<tokio::signal::unix::Signal>, control: Control, mode: Mode) {
    let Some(mut hup) = hup else { return };
    while hup.recv().await.is_some() {
        if mode != Mode::Daemon {
            warn!("SIGHUP ignored: only `harvestd run` without --exit-when-done reloads its configuration");
            continue;
        }
        info!("SIGHUP: reloading the configuration");
        let c = control.clone();
        let _ = tokio::task::spawn_blocking(move || c.reload()).await;
    }
}

/// One line of service status: what the crawl is doing and its counts.
fn status_line(shared: &Shared, c: &crate::frontier::Counts) -> String {
    let state = shared.state();
    format!(
        "{state}: {} done ({} fetched, {} failed), {} queued, {} in flight, {} records, {} written",
        c.fetched + c.failed,
        c.fetched,
        c.failed,
        c.queued,
        c.leased,
        c.records,
        bytesize::ByteSize::b(c.bytes),
    )
}

/// The crawl's heartbeat (see [`crate::daemon`]): each iteration reads the frontier's counters
/// under its lock, then reports `STATUS=` and pings the watchdog, at least every half watchdog
/// interval. An iteration that cannot complete sends nothing, so systemd restarts a wedged daemon.
async fn heartbeat(shared: Arc<Shared>, watchdog: Option<Duration>) {
    let period = daemon::heartbeat_period(watchdog);
    loop {
        tokio::time::sleep(period).await;
        let f = shared.frontier.clone();
        let Ok(counts) = tokio::task::spawn_blocking(move || f.counts()).await else { return };
        daemon::status(&status_line(&shared, &counts));
        if watchdog.is_some() {
            daemon::watchdog();
        }
    }
}

/// Seeds found by following seeds' redirects in earlier runs (`s:` keys).
fn stored_seeds(store: &Store) -> Result<Vec<Seed>, crate::store::StoreError> {
    let mut out = Vec::new();
    for kv in store.tree.scan_prefix(b"s:") {
        let (k, v) = kv?;
        let url = String::from_utf8_lossy(&k[2..]).to_string();
        let (scope, recrawl) = match serde_json::from_slice::<StoredSeed>(&v) {
            Ok(st) => (
                ScopeKind::from_name(&st.scope),
                st.recrawl_interval_ms
                    .map(|ms| crate::config::Recrawl { interval: Duration::from_millis(ms), hops: st.recrawl_hops }),
            ),
            // Older states keep the scope's name alone.
            Err(_) => (ScopeKind::from_name(&String::from_utf8_lossy(&v)), None),
        };
        if let (Ok(url), Some(scope)) = (Url::parse(&url), scope) {
            out.push(Seed { url, scope, recrawl });
        }
    }
    Ok(out)
}

/// A seed added at run time, as kept under `s:` (older states hold the scope's name alone).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredSeed {
    scope: String,
    #[serde(default)]
    recrawl_interval_ms: Option<u64>,
    #[serde(default)]
    recrawl_hops: u32,
}

/// The `s:` value of a seed added at run time.
fn stored_seed_value(seed: &Seed) -> Vec<u8> {
    encode(&StoredSeed {
        scope: seed.scope.name().to_string(),
        recrawl_interval_ms: seed.recrawl.map(|r| r.interval.as_millis() as u64),
        recrawl_hops: seed.recrawl.map(|r| r.hops).unwrap_or(0),
    })
}

fn writer_settings(c: &Config, current_warcinfo: writer::CurrentWarcinfo) -> writer::WriterSettings {
    let hostname = writer::hostname();
    let mut info = vec![
        ("software".to_string(), format!("harvestd/{}", env!("CARGO_PKG_VERSION"))),
        (
            "format".into(),
            match c.warc_version {
                warc::WarcVersion::V1_0 => "WARC File Format 1.0".into(),
                warc::WarcVersion::V1_1 => "WARC File Format 1.1".into(),
            },
        ),
        (
            "conformsTo".into(),
            match c.warc_version {
                warc::WarcVersion::V1_0 => "http://bibnum.bnf.fr/WARC/WARC_ISO_28500_version1_latestdraft.pdf".into(),
                warc::WarcVersion::V1_1 => {
                    "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/".into()
                }
            },
        ),
        ("hostname".into(), hostname.clone()),
    ];
    for (k, v) in [("operator", &c.operator), ("isPartOf", &c.crawl_name), ("description", &c.description)] {
        if !v.trim().is_empty() {
            info.push((k.to_string(), v.trim().to_string()));
        }
    }
    info.push((
        "robots".into(),
        match c.robots {
            RobotsPolicy::Obey => "obey".into(),
            RobotsPolicy::Ignore => "ignore".into(),
        },
    ));
    info.push(("http-header-user-agent".into(), c.user_agent.clone()));
    if !c.from.is_empty() {
        info.push(("http-header-from".into(), c.from.clone()));
    }
    writer::WriterSettings {
        dir: c.warc_dir.clone(),
        prefix: c.warc_prefix.clone(),
        hostname,
        max_file_size: c.max_file_size,
        compression_level: c.compression_level,
        group_commit: c.group_commit,
        idle_close: c.warc_idle_close,
        warcinfo: info,
        version: c.warc_version,
        current_warcinfo,
    }
}

/// Applies finished captures to sled, in the order the writer made them durable, in batches of up
/// to [`COMMIT_GROUP`]. It runs on a runtime thread: handing each group to the blocking pool
/// measured slower on a single-host crawl (pages/s × 4.9–5.3 of wget's against × 5.1–5.4), whose
/// hosts often wait for a parent's commit to learn their next URLs.
async fn commit_task(
    shared: Arc<Shared>,
    mut events: mpsc::UnboundedReceiver<writer::WriterEvent<Pending>>,
    mut direct: mpsc::UnboundedReceiver<Pending>,
    stop: watch::Sender<bool>,
    failure: Arc<Mutex<Option<String>>>,
) {
    let (mut events_open, mut direct_open) = (true, true);
    while events_open || direct_open {
        let group: Vec<ToCommit> = tokio::select! {
            ev = events.recv(), if events_open => match ev {
                None => {
                    events_open = false;
                    continue;
                }
                Some(writer::WriterEvent::Durable(batch)) => {
                    batch.into_iter().map(|d| (d.payload, Some(d.location), d.records, d.bytes)).collect()
                }
                Some(writer::WriterEvent::Closed(name)) => {
                    // `status` names the file being written: none once it is closed.
                    if let Ok(mut w) = shared.current_warc.lock() {
                        if w.as_deref() == Some(name.as_str()) {
                            *w = None;
                        }
                    }
                    continue;
                }
                Some(writer::WriterEvent::Failed(msg)) => {
                    warn!(cause = %msg, "stopping the crawl: the WARC writer failed");
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(format!("WARC writing failed: {msg}"));
                    }
                    let _ = stop.send(true);
                    continue;
                }
            },
            p = direct.recv(), if direct_open => match p {
                None => {
                    direct_open = false;
                    continue;
                }
                Some(p) => {
                    // Those waiting too (a burst of failures, robots.txt exclusions) come along.
                    let mut group = vec![(p, None, 0, 0)];
                    while group.len() < 4 * COMMIT_GROUP {
                        let Ok(p) = direct.try_recv() else { break };
                        group.push((p, None, 0, 0));
                    }
                    group
                }
            },
        };
        let mut group = group.into_iter().peekable();
        while group.peek().is_some() {
            commit_group(&shared, group.by_ref().take(COMMIT_GROUP).collect());
            if group.peek().is_some() {
                // Fetches waiting on this runtime thread get their turn between two batches.
                tokio::task::yield_now().await;
            }
        }
        shared.flush_crawl_log();
        if shared.check_limits() {
            let _ = stop.send(true);
        }
        shared.wake.notify_waiters();
    }
}

/// Most URLs of one host in flight before it is released again ([`Shared::wait_host_backlog`]):
/// twice the blocking pool's bulk permits on two cores, so one host's pages still keep both cores
/// busy (a single-host crawl pipelines its fetches with their extraction and compression).
const HOST_FLIGHT: usize = 8;

/// Bulk work on at most this many bytes runs on the runtime's thread ([`Shared::bulk`]).
const INLINE_BULK_BYTES: usize = 16 << 10;

/// Most finished URLs committed in one frontier batch: enough to share sled's per-batch log
/// write among several, few enough that the frontier's lock, which every lease and release waits
/// for (on a runtime thread), is held briefly. Measured on 500 hosts, alternating: 4 and 8 gave
/// the same scheduler efficiency, 16 lost 2–5 points of it per host, 1 used a third more CPU.
const COMMIT_GROUP: usize = 8;

/// A finished URL on its way to sled: its pending result, where its records are (none: not
/// archived), how many records and uncompressed block bytes they hold.
type ToCommit = (Pending, Option<writer::Location>, u64, u64);

/// Commits finished URLs (those one WARC fsync made durable, or one not archived) in one frontier
/// batch ([`Frontier::finish_all`]), then logs each.
fn commit_group(shared: &Shared, mut group: Vec<ToCommit>) {
    let extras: Vec<_> = group.iter_mut().map(|(p, ..)| std::mem::take(&mut p.extra)).collect();
    let completions = group
        .iter()
        .zip(extras)
        .map(|((p, location, records, bytes), extra)| Completion {
            seen_key: &p.seen_key,
            leased: p.leased,
            result: Finished {
                outcome: p.outcome.clone(),
                record_id: p.record_id.clone(),
                location: location.clone(),
                payload_digest: p.payload_digest.clone(),
                captured_ms: p.captured_ms,
                uri: p.uri.clone(),
                tls: p.tls.clone(),
            },
            outlinks: &p.outlinks.queue,
            refused: &p.outlinks.refused,
            extra,
            records: *records,
            bytes: *bytes,
            retry: p.retry.clone(),
        })
        .collect();
    match shared.frontier.finish_all(completions) {
        Ok(done) => {
            for ((p, location, ..), committed) in group.into_iter().zip(done) {
                log_committed(shared, p, location, committed);
            }
        }
        Err(e) => {
            for (p, ..) in &group {
                warn!(url = %p.uri.url, cause = %e, "could not commit a finished URL; it will be fetched again");
            }
        }
    }
}

/// The log lines of a committed URL (a retry's, or its finished line and its refused links').
fn log_committed(shared: &Shared, p: Pending, location: Option<writer::Location>, committed: Committed) {
    if let Some(next) = &p.retry {
        info!(
            target: "harvestd::crawl",
            url = %p.uri.url,
            outcome = p.outcome.name(),
            status = match &p.outcome { Outcome::Fetched(s) => *s, _ => 0 },
            attempt = p.uri.attempts + 1,
            warc = location.as_ref().map(|l| l.file.as_str()).unwrap_or("-"),
            offset = location.as_ref().map(|l| l.offset).unwrap_or(0),
            next_attempt = next.uri.attempts + 1,
            "will retry"
        );
        return;
    }
    if let Some(l) = &location {
        if let Ok(mut w) = shared.current_warc.lock() {
            w.replace(l.file.clone());
        }
    }
    shared.finished_last_minute(true);
    log_finished_line(&p.uri, &p.outcome, location.as_ref(), committed.added, p.tls.as_deref());
    shared.log_finished(&p.uri, &p.outcome, p.payload_digest.as_deref(), &p.log, p.revisit);
    // Links refused by a trap rule are finished URLs too, in the same batch.
    let facts = LogFacts { worker: p.log.worker, ..LogFacts::default() };
    for r in &committed.refused {
        log_finished_line(&r.uri, &r.outcome, None, 0, None);
        shared.log_finished(&r.uri, &r.outcome, None, &facts, None);
    }
    for (host, rule) in &committed.muted {
        info!(
            host = %host,
            rule = rule.key(),
            records = shared.cfg().trap_records_per_rule,
            "trap_records_per_rule reached: this rule's later refusals on this host are only counted"
        );
    }
}

/// The structured `finished` line of a URL whose outcome was committed (`new_urls`: outlinks it
/// queued).
fn log_finished_line(
    uri: &CrawlUri,
    outcome: &Outcome,
    location: Option<&writer::Location>,
    new_urls: usize,
    tls: Option<&str>,
) {
    let status = match outcome {
        Outcome::Fetched(s) => *s,
        _ => 0,
    };
    let detail = match outcome {
        Outcome::Fetched(_) | Outcome::RobotsPrecluded => "",
        Outcome::RobotsPrerequisiteFailed(d)
        | Outcome::DestinationRefused(d)
        | Outcome::Dns(d)
        | Outcome::Connect(d)
        | Outcome::Tls(d)
        | Outcome::Timeout(d)
        | Outcome::NoResponse(d)
        | Outcome::InvalidUrl(d)
        | Outcome::InternalError(d)
        | Outcome::Excluded(d)
        | Outcome::TrapRejected { detail: d, .. } => d.as_str(),
    };
    info!(
        target: "harvestd::crawl",
        url = %uri.url,
        outcome = outcome.name(),
        status,
        hops = %uri.hops,
        via = uri.via.as_deref().unwrap_or("-"),
        warc = location.map(|l| l.file.as_str()).unwrap_or("-"),
        offset = location.map(|l| l.offset).unwrap_or(0),
        new_urls,
        tls = tls.unwrap_or("-"),
        detail = %detail,
        "finished"
    );
}

/// The crawl's bounds on work in flight: `workers` fetch slots, and twice that many URLs between
/// their lease and their hand-over to the WARC writer.
///
/// A URL holds a fetch slot from its lease until its response has ended (or it was decided
/// without a request), and a place in flight until its capture is handed to the writer. So
/// extraction and compression of one page run while the slot fetches the next, and captures
/// waiting for the CPU stay bounded (at most `2 × workers` exchanges in memory).
struct Slots {
    /// One permit per fetch slot (`workers`).
    fetch: Arc<tokio::sync::Semaphore>,
    /// One permit per URL in flight (`2 × workers`).
    flight: Arc<tokio::sync::Semaphore>,
    /// `2 × workers`, to wait for every URL in flight to end.
    flight_total: u32,
    /// Slot numbers not in use (crawl.log's `#NNN`, from 0), lowest first.
    free: Mutex<std::collections::BTreeSet<usize>>,
}

impl Slots {
    fn new(workers: usize) -> Arc<Slots> {
        let flight_total = (2 * workers).min(u32::MAX as usize).min(tokio::sync::Semaphore::MAX_PERMITS) as u32;
        Arc::new(Slots {
            fetch: Arc::new(tokio::sync::Semaphore::new(workers)),
            flight: Arc::new(tokio::sync::Semaphore::new(flight_total as usize)),
            flight_total,
            free: Mutex::new((0..workers).collect()),
        })
    }

    /// A fetch slot and a place in flight, when both are free.
    async fn acquire(self: &Arc<Slots>) -> (FetchSlot, tokio::sync::OwnedSemaphorePermit) {
        let flight = self.flight.clone().acquire_owned().await.expect("the flight semaphore is never closed");
        let permit = self.fetch.clone().acquire_owned().await.expect("the fetch semaphore is never closed");
        let id = self.free.lock().ok().and_then(|mut f| f.pop_first()).unwrap_or(0);
        (FetchSlot { slots: self.clone(), id, _permit: permit }, flight)
    }

    /// Waits until no URL is in flight.
    async fn drained(&self) {
        let _ = self.flight.acquire_many(self.flight_total).await;
    }
}

/// A fetch slot in use; dropping it frees the slot.
struct FetchSlot {
    slots: Arc<Slots>,
    /// Its number (crawl.log's `#NNN`).
    id: usize,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for FetchSlot {
    fn drop(&mut self) {
        if let Ok(mut f) = self.slots.free.lock() {
            f.insert(self.id);
        }
    }
}

/// The one caller of [`Frontier::next`]: whenever a fetch slot is free, leases the next due URL
/// and hands it to a task of its own ([`handle_lease`]); until stopped (or done, in
/// `ExitWhenDone` mode). It sleeps until the earliest host is due or [`Shared::wake`] is
/// notified (a release, a commit, new URLs), so a release wakes one task, not every worker.
#[allow(clippy::too_many_arguments)]
async fn dispatcher(
    shared: Arc<Shared>,
    slots: Arc<Slots>,
    jobs: mpsc::Sender<writer::Job<Pending>>,
    direct: mpsc::UnboundedSender<Pending>,
    mut stop: watch::Receiver<bool>,
    stop_tx: watch::Sender<bool>,
    abandon: watch::Receiver<bool>,
    mode: Mode,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let (slot, flight) = tokio::select! {
            got = slots.acquire() => got,
            _ = stop.changed() => continue,
        };
        let lease = loop {
            if *stop.borrow() {
                return;
            }
            let notified = shared.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = if shared.holding() {
                Duration::from_secs(5)
            } else {
                match shared.frontier.next() {
                    Ok(Next::Lease(lease)) => break lease,
                    Ok(Next::WaitUntil(t)) => {
                        Duration::from_millis(t.saturating_sub(shared.clock.now_ms())).min(Duration::from_secs(5))
                    }
                    Ok(Next::Empty) => {
                        let c = shared.frontier.counts();
                        if mode == Mode::ExitWhenDone && c.queued == 0 && c.leased == 0 {
                            let _ = stop_tx.send(true);
                            return;
                        }
                        Duration::from_secs(5)
                    }
                    Err(e) => {
                        warn!(cause = %e, "frontier error; stopping the crawl");
                        let _ = stop_tx.send(true);
                        return;
                    }
                }
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        };
        tokio::spawn(handle_lease(shared.clone(), lease, slot, flight, jobs.clone(), direct.clone(), abandon.clone()));
    }
}

/// Handles one leased URL in a task of its own. A panic while handling it (a bug) must not strand
/// its host's lease: it is caught, logged, and the URL finished as an internal error.
async fn handle_lease(
    shared: Arc<Shared>,
    lease: Lease,
    slot: FetchSlot,
    flight: tokio::sync::OwnedSemaphorePermit,
    jobs: mpsc::Sender<writer::Job<Pending>>,
    direct: mpsc::UnboundedSender<Pending>,
    mut abandon: watch::Receiver<bool>,
) {
    let id = slot.id;
    shared.host_flight(&lease.host, true);
    let (s2, d2, l2) = (shared.clone(), direct.clone(), lease.clone());
    let task = async move {
        let mut slot = Some(slot);
        tokio::select! {
            _ = process(&s2, l2, &jobs, &d2, &mut slot) => {}
            _ = abandon.wait_for(|a| *a) => {}
        }
    };
    if let Err(e) = tokio::spawn(WORKER.scope(id, task)).await {
        let why = if e.is_panic() { "panic while handling the URL" } else { "task cancelled" };
        tracing::error!(url = %lease.uri.url, cause = why, "internal error; the URL is finished as internal_error");
        let _ = shared.frontier.release_host(&lease.host, Release::NOW);
        WORKER.sync_scope(id, || {
            finish_direct(&shared, &direct, lease.clone(), Outcome::InternalError(why.into()), None)
        });
        shared.wake.notify_waiters();
    }
    shared.host_flight(&lease.host, false);
    drop(flight);
}

/// Failures that retrying will not change: the destination policy, an unusable URL, a certificate
/// refused under strict verification. Other TLS failures (a stalled or reset handshake) are
/// transient like any network failure.
fn is_permanent(e: &FetchError) -> bool {
    match e {
        FetchError::Refused { .. } | FetchError::InvalidUrl(_) => true,
        FetchError::Tls(msg) => msg.contains("certificate") || msg.contains("server name"),
        _ => false,
    }
}

fn fetch_outcome(e: &FetchError) -> Outcome {
    let d = e.to_string();
    match e {
        FetchError::InvalidUrl(_) => Outcome::InvalidUrl(d),
        FetchError::Dns(_) => Outcome::Dns(d),
        FetchError::Refused { .. } => Outcome::DestinationRefused(d),
        FetchError::Connect(_) => Outcome::Connect(d),
        FetchError::Tls(_) => Outcome::Tls(d),
        FetchError::Timeout(_) => Outcome::Timeout(d),
        FetchError::NoResponse(_) => Outcome::NoResponse(d),
    }
}

/// What robots.txt says about a URL now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RobotsVerdict {
    /// Fetch it.
    Allowed,
    /// robots.txt disallows it.
    Precluded,
    /// robots.txt stayed unreachable for `robots_retry_for`.
    PrerequisiteFailed(String),
    /// Fetch robots.txt first (none cached, too old, or a retry is due).
    FetchFirst,
    /// robots.txt is unreachable and not due for a retry before this time (ms): wait.
    WaitUntil(u64),
}

/// Present in the state while the crawl is paused.
const PAUSED_KEY: &[u8] = b"m:paused";

impl Shared {
    /// The configuration in force.
    fn cfg(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What the run is doing: `stopping`, `paused` (by the operator), `waiting_for_disk` (free
    /// space below `min_free_disk`) or `crawling`.
    fn state(&self) -> &'static str {
        use std::sync::atomic::Ordering::SeqCst;
        if self.stopping.load(SeqCst) {
            "stopping"
        } else if self.paused.load(SeqCst) {
            "paused"
        } else if self.disk_low.load(SeqCst) {
            "waiting_for_disk"
        } else {
            "crawling"
        }
    }

    /// URLs finished in the last 60 s (`add`: one more now).
    fn finished_last_minute(&self, add: bool) -> usize {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if add {
            recent.push_back(Instant::now());
        }
        while recent.front().is_some_and(|t| t.elapsed() > Duration::from_secs(60)) {
            recent.pop_front();
        }
        recent.len()
    }

    /// Whether leasing is held: paused by the operator, or too little free disk space.
    fn holding(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.paused.load(SeqCst) || self.disk_low.load(SeqCst)
    }

    /// Compares the free space of the WARC and state directories' file systems with
    /// `min_free_disk`; pauses or resumes crawling (with a log line) when that changes.
    fn check_disk(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let (cfg, boot) = (self.cfg(), &self.boot);
        let mut lowest: Option<(u64, &std::path::Path)> = None;
        for dir in [boot.warc_dir.as_path(), boot.state_dir.as_path()] {
            match fs4::available_space(dir) {
                Ok(free) if lowest.is_none_or(|(l, _)| free < l) => lowest = Some((free, dir)),
                Ok(_) => {}
                Err(e) => debug!(dir = %dir.display(), cause = %e, "free disk space unknown"),
            }
        }
        let Some((free, dir)) = lowest else { return };
        let low = free < cfg.min_free_disk;
        if low && !self.disk_low.swap(true, SeqCst) {
            warn!(
                dir = %dir.display(),
                free_bytes = free,
                min_free_disk = cfg.min_free_disk,
                "free disk space is below min_free_disk: crawling paused until space returns (fetches in flight finish)"
            );
            daemon::status(&format!("waiting for disk space: {free} bytes free on {}", dir.display()));
        } else if !low && self.disk_low.swap(false, SeqCst) {
            info!(dir = %dir.display(), free_bytes = free, "free disk space is back above min_free_disk: crawling resumes");
            self.wake.notify_waiters();
        }
    }

    /// Waits, before `host` is released, until at most [`HOST_FLIGHT`] of its URLs (this one
    /// included) are in flight. A host is otherwise released when its response ends, so a host
    /// whose pages take long to extract (huge, or inflating from a small compressed body) would be
    /// fetched again and again while its captures queue for the CPU, until they filled every place
    /// in flight and stalled the other hosts. The wait only delays the host: its delay runs from
    /// the release.
    async fn wait_host_backlog(&self, host: &str) {
        loop {
            let done = self.host_flight_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            let n = self.host_flight.lock().map(|m| m.get(host).copied().unwrap_or(0)).unwrap_or(0);
            if n <= HOST_FLIGHT {
                return;
            }
            done.await;
        }
    }

    /// Counts a URL of `host` in flight (`+1`) or no longer (`-1`).
    fn host_flight(&self, host: &str, up: bool) {
        if let Ok(mut m) = self.host_flight.lock() {
            if up {
                *m.entry(host.to_string()).or_default() += 1;
            } else if let Some(n) = m.get_mut(host) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(host);
                }
            }
        }
        if !up {
            self.host_flight_done.notify_waiters();
        }
    }

    /// Runs bulk CPU work (link extraction, gzip) on `size` bytes: on the blocking pool under a
    /// [`Shared::bulk`] permit, or here on the runtime's thread when `size` is at most
    /// [`INLINE_BULK_BYTES`], where it takes less time (tens of microseconds) than the hand-over
    /// to a pool thread, which under load waits for a permit and then for the CPU. `size` must
    /// bound what the work reads (a content-coded body counts as unbounded).
    async fn bulk<T: Send + 'static>(
        &self,
        size: usize,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        if size <= INLINE_BULK_BYTES {
            return Ok(work());
        }
        let permit = self.bulk.clone().acquire_owned().await.ok();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
    }

    /// The request-rate caps in force.
    fn caps(&self) -> Arc<RateCaps> {
        self.caps.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether a count limit (`max_urls`, `max_bytes`) is reached; the first time, records and logs
    /// which.
    fn check_limits(&self) -> bool {
        let c = self.frontier.counts();
        let (done, cfg) = (c.fetched + c.failed, self.cfg());
        let why = if cfg.max_urls > 0 && done >= cfg.max_urls {
            format!("max_urls = {} reached ({done} URLs finished)", cfg.max_urls)
        } else if cfg.max_bytes > 0 && c.bytes >= cfg.max_bytes {
            format!("max_bytes = {} bytes reached ({} bytes in records)", cfg.max_bytes, c.bytes)
        } else {
            return false;
        };
        self.limit_reached(why);
        true
    }

    /// Records `why` as the limit that ends the crawl (the first one wins) and logs it once.
    fn limit_reached(&self, why: String) {
        let mut limit = self.limit.lock().unwrap_or_else(|p| p.into_inner());
        if limit.is_none() {
            info!(limit = %why, "crawl limit reached: finishing in-flight fetches, then stopping");
            *limit = Some(why);
        }
    }

    /// Appends the crawl.log line of a finished URL (see [`crate::crawllog`]).
    fn log_finished(
        &self,
        uri: &CrawlUri,
        outcome: &Outcome,
        digest: Option<&str>,
        facts: &LogFacts,
        revisit: Option<RevisitKind>,
    ) {
        let mut annotations = Vec::new();
        match revisit {
            Some(RevisitKind::IdenticalPayload) => annotations.push("duplicate:digest".to_string()),
            Some(RevisitKind::NotModified) => annotations.push("duplicate:server-not-modified".to_string()),
            None => {}
        }
        if uri.attempts > 0 {
            annotations.push(format!("{}t", uri.attempts + 1));
        }
        if let Outcome::TrapRejected { rule, .. } = outcome {
            annotations.push(format!("trap:{}", rule.key()));
        }
        match facts.truncated {
            Some(crate::fetch::Truncation::Length) => annotations.push("lenTrunc".into()),
            Some(crate::fetch::Truncation::Time) => annotations.push("timeTrunc".into()),
            Some(crate::fetch::Truncation::Disconnect) => annotations.push("disconnectTrunc".into()),
            Some(crate::fetch::Truncation::Unspecified) => annotations.push("unparseable".into()),
            None => {}
        }
        let entry = crawllog::Entry {
            logged: chrono::Utc::now(),
            status: crawllog::heritrix_status(outcome),
            size: facts.size,
            url: uri.url.clone(),
            hops: uri.hops.clone(),
            via: uri.via.clone(),
            content_type: facts.content_type.clone(),
            responded: facts.responded,
            worker: facts.worker,
            fetch: facts.fetch,
            digest: digest.map(str::to_string),
            annotations,
        };
        let mut log = self.crawl_log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = log.append(&entry) {
            warn!(file = %log.path().display(), cause = %e, "could not write crawl.log");
        }
    }

    fn flush_crawl_log(&self) {
        let mut log = self.crawl_log.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = log.flush() {
            warn!(file = %log.path().display(), cause = %e, "could not write crawl.log");
        }
    }

    /// The gate that lets one robots.txt fetch per authority run at a time.
    fn robots_gate(&self, auth: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.robots_gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(auth.to_string()).or_default().clone()
    }

    /// The robots.txt fetch of `auth` ended: its gate is opened and forgotten (waiters hold their
    /// own handle to it).
    fn robots_fetched(&self, auth: &str, held: Option<tokio::sync::OwnedMutexGuard<()>>) {
        self.robots_gates.lock().unwrap_or_else(|p| p.into_inner()).remove(auth);
        drop(held);
    }

    /// The robots entry of `auth`, whatever its age: memory, else sled.
    fn robots_entry(&self, auth: &str) -> Option<RobotsEntry> {
        if let Some(e) = self.robots.lock().ok()?.get(auth) {
            return Some(e.clone());
        }
        let key = [b"r:", auth.as_bytes()].concat();
        let stored: RobotsEntry =
            self.frontier.store().tree.get(&key).ok().flatten().and_then(|v| serde_json::from_slice(&v).ok())?;
        self.remember_robots(auth, stored.clone());
        Some(stored)
    }

    fn remember_robots(&self, auth: &str, e: RobotsEntry) {
        if let Ok(mut m) = self.robots.lock() {
            if m.len() >= ROBOTS_MEMORY {
                m.clear();
            }
            m.insert(auth.to_string(), e);
        }
    }

    /// [`Shared::robots_verdict`] when it is cheap enough for a runtime thread: the entry is in
    /// memory and its rules are no file, or a file of at most [`ROBOTS_INLINE_BYTES`] (the
    /// robotstxt crate parses the file on each check). `None`: ask on the blocking pool.
    fn robots_verdict_inline(&self, auth: &str, url: &Url) -> Option<RobotsVerdict> {
        // Decided under the cache's lock (microseconds): the entry is not copied per URL.
        let cache = self.robots.lock().ok()?;
        let e = cache.get(auth)?;
        match &e.rules {
            RobotsRules::Rules(body) if body.len() > ROBOTS_INLINE_BYTES => None,
            _ => Some(self.verdict_of(e, url)),
        }
    }

    /// RFC 9309 §2.3.1 and §2.4 with our retry budget: see [`RobotsVerdict`].
    fn robots_verdict(&self, auth: &str, url: &Url) -> RobotsVerdict {
        match self.robots_entry(auth) {
            Some(e) => self.verdict_of(&e, url),
            None => RobotsVerdict::FetchFirst,
        }
    }

    fn verdict_of(&self, e: &RobotsEntry, url: &Url) -> RobotsVerdict {
        let decide = |rules: &RobotsRules| {
            if robots::allowed(rules, PRODUCT_TOKEN, url) {
                RobotsVerdict::Allowed
            } else {
                RobotsVerdict::Precluded
            }
        };
        let now = self.clock.now_ms();
        let age = Duration::from_millis(now.saturating_sub(e.fetched_ms));
        match &e.rules {
            RobotsRules::Unreachable(why) => {
                let since = e.failed_since_ms.unwrap_or(e.fetched_ms);
                let budget_spent = Duration::from_millis(now.saturating_sub(since)) >= self.cfg().robots_retry_for;
                let retry_at = e.fetched_ms + self.cfg().backoff.wait(e.failures.max(1)).as_millis() as u64;
                if budget_spent {
                    if age >= self.cfg().robots_max_age {
                        return RobotsVerdict::FetchFirst;
                    }
                    return match &e.previous {
                        Some(prev) => decide(prev),
                        None => RobotsVerdict::PrerequisiteFailed(why.clone()),
                    };
                }
                if now >= retry_at {
                    return RobotsVerdict::FetchFirst;
                }
                match &e.previous {
                    Some(prev) => decide(prev), // a cached copy is obeyed meanwhile (§2.4)
                    None => RobotsVerdict::WaitUntil(retry_at),
                }
            }
            RobotsRules::Blocked(why) if age < self.cfg().robots_max_age => {
                RobotsVerdict::PrerequisiteFailed(why.clone())
            }
            rules if age >= self.cfg().robots_max_age => {
                let _ = rules;
                RobotsVerdict::FetchFirst
            }
            rules => decide(rules),
        }
    }

    /// The Crawl-delay of the robots.txt of the URL just fetched, capped by `max_crawl_delay`.
    fn crawl_delay(&self, host: &str, result: &Result<Exchange, FetchError>) -> Duration {
        let Ok(ex) = result else { return Duration::ZERO };
        if !self.cfg().robots_applies(host) {
            return Duration::ZERO;
        }
        self.robots_entry(&authority(&ex.url))
            .and_then(|e| e.crawl_delay_ms)
            .map(|ms| Duration::from_millis(ms).min(self.cfg().max_crawl_delay))
            .unwrap_or_default()
    }

    /// A seed (or a seed's redirect target, up to [`MAX_SEED_REDIRECTS`] hops) that redirects makes
    /// its target a seed too, with the same kind of scope (DESIGN §Scope). Returns the `s:` entry
    /// to store with the capture.
    fn follow_seed_redirect(&self, uri: &CrawlUri, links: &[(Url, char)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        if uri.hops.len() >= MAX_SEED_REDIRECTS || !uri.hops.chars().all(|h| h == 'R') {
            return vec![];
        }
        let Some((target, _)) = links.iter().find(|(_, h)| *h == 'R') else {
            return vec![];
        };
        let Ok(mut scope) = self.scope.write() else {
            return vec![];
        };
        let kind = scope.kind_of(&uri.seed).unwrap_or(ScopeKind::Host);
        scope.add_seed(Seed { url: target.clone(), scope: kind, recrawl: None });
        info!(seed = %uri.seed, target = %target, "a seed redirects: its target becomes a seed");
        vec![([b"s:", target.as_str().as_bytes()].concat(), kind.name().as_bytes().to_vec())]
    }

    /// The `seen_key` of `url` under the state directory's key options.
    fn key(&self, url: &Url) -> String {
        seen_key(url, self.frontier.store().key_options())
    }

    /// The outlinks of a capture that pass scope: those to queue, and those a crawl-trap rule
    /// refuses (to be recorded). Links out of scope, over `max_hops` or excluded are only logged
    /// (at debug level).
    fn scoped_outlinks(&self, parent: &CrawlUri, links: Vec<(Url, char)>) -> Outlinks {
        let mut out = Outlinks::default();
        let mut keys = std::collections::HashSet::new();
        for (u, hop) in links {
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                continue;
            }
            let hops = format!("{}{}", parent.hops, hop);
            // The lock is not held past this line: `child_round` reads the scope too.
            let verdict = match self.scope.read() {
                Ok(scope) => scope.accept(&u, &hops).map(|()| scope.trap(&u)),
                Err(_) => Err(crate::scope::Rejection::OutOfScope),
            };
            let trap = match verdict {
                Ok(trap) => trap,
                Err(reason) => {
                    debug!(url = %u, via = %parent.url, hops = %hops, reason = %reason, "not queued");
                    continue;
                }
            };
            let key = self.key(&u);
            if !keys.insert(key.clone()) {
                continue;
            }
            let round = recrawl::child_round(self, parent, &hops);
            let link = NewUri {
                seen_key: key,
                host: host_key(&u),
                uri: CrawlUri {
                    url: u.to_string(),
                    hops,
                    via: Some(parent.url.clone()),
                    seed: parent.seed.clone(),
                    attempts: 0,
                    round,
                },
            };
            match trap {
                Ok(()) => out.queue.push(link),
                Err((rule, detail)) => out.refused.push(Refused { link, rule, detail }),
            }
        }
        out
    }
}

/// Handles one leased URL; frees its fetch slot (`slot`) once its response has ended.
async fn process(
    shared: &Arc<Shared>,
    lease: Lease,
    jobs: &mpsc::Sender<writer::Job<Pending>>,
    direct: &mpsc::UnboundedSender<Pending>,
    slot: &mut Option<FetchSlot>,
) {
    let url = match Url::parse(&lease.uri.url) {
        Ok(u) => u,
        Err(e) => {
            let _ = shared.frontier.release_host(&lease.host, Release::NOW);
            finish_direct(shared, direct, lease, Outcome::InvalidUrl(e.to_string()), None);
            return;
        }
    };
    // An exclusion added while the URL was queued.
    let excluded = shared.scope.read().ok().and_then(|s| s.excluded_by(&url).map(str::to_string));
    if let Some(pattern) = excluded {
        let _ = shared.frontier.release_host(&lease.host, Release::NOW);
        finish_direct(shared, direct, lease, Outcome::Excluded(pattern), None);
        return;
    }
    // Request-rate caps come before any request, robots.txt included.
    if let Err(wait) = shared.caps().check(&lease.host) {
        let at = shared.clock.now_ms() + wait.as_millis() as u64 + 1;
        if let Err(e) = shared.frontier.return_lease(&lease, Release::held(None, at)) {
            warn!(url = %url, cause = %e, "could not return a lease");
        }
        shared.wake.notify_waiters();
        return;
    }
    let auth = authority(&url);
    if shared.cfg().robots_applies(&lease.host) {
        // The robotstxt crate re-parses the body on every check (milliseconds for a large file):
        // off the runtime's worker threads, unless the file is small and cached in memory.
        let verdict_now = || {
            let (s, a, u) = (shared.clone(), auth.clone(), url.clone());
            async move {
                if let Some(v) = s.robots_verdict_inline(&a, &u) {
                    return v;
                }
                tokio::task::spawn_blocking(move || s.robots_verdict(&a, &u)).await.unwrap_or(RobotsVerdict::FetchFirst)
            }
        };
        let mut verdict = verdict_now().await;
        let mut gate = None;
        if verdict == RobotsVerdict::FetchFirst {
            // Another slot of this host may be fetching it: wait for that fetch, then decide again.
            let g = shared.robots_gate(&auth);
            let held = g.clone().lock_owned().await;
            verdict = verdict_now().await;
            if verdict == RobotsVerdict::FetchFirst {
                gate = Some(held); // this slot fetches it; the gate opens when it is decided
            }
        }
        if verdict == RobotsVerdict::Precluded && shared.cfg().robots_allow_requisites && lease.uri.hops.ends_with('E')
        {
            debug!(url = %url, "robots.txt disallows this page requisite; fetched (robots_allow_requisites)");
            verdict = RobotsVerdict::Allowed;
        }
        match verdict {
            RobotsVerdict::Allowed => {}
            RobotsVerdict::FetchFirst => {
                // robots.txt first (RFC 9309 §2.3), archived like any capture; the URL goes back to
                // its place and waits out the politeness delay.
                let release = fetch_robots(shared, &url, &lease.uri.seed, &auth, jobs, direct, slot).await;
                shared.robots_fetched(&auth, gate.take());
                if let Err(e) = shared.frontier.return_lease(&lease, release) {
                    warn!(url = %url, cause = %e, "could not return a lease");
                }
                shared.wake.notify_waiters();
                return;
            }
            RobotsVerdict::WaitUntil(t) => {
                debug!(url = %url, until_ms = t, "robots.txt unreachable; waiting for its next try");
                if let Err(e) = shared.frontier.return_lease(&lease, Release::held(None, t)) {
                    warn!(url = %url, cause = %e, "could not return a lease");
                }
                shared.wake.notify_waiters();
                return;
            }
            RobotsVerdict::Precluded => {
                let _ = shared.frontier.release_host(&lease.host, Release::NOW);
                finish_direct(shared, direct, lease, Outcome::RobotsPrecluded, None);
                return;
            }
            RobotsVerdict::PrerequisiteFailed(why) => {
                let _ = shared.frontier.release_host(&lease.host, Release::NOW);
                finish_direct(shared, direct, lease, Outcome::RobotsPrerequisiteFailed(why), None);
                return;
            }
        }
    }
    // A conditional recrawl sends the validators of the URL's previous full capture.
    // A page whose links the round needs is fetched unconditionally (a 304 has none).
    let asked = if shared.cfg().conditional_recrawl && recrawl::may_ask_conditionally(shared, &lease.uri) {
        recrawl::prior(shared, &lease.seen_key).filter(|p| !p.validators().is_empty())
    } else {
        None
    };
    let validators = asked.as_ref().map(|p| p.validators()).unwrap_or_default();
    let result = shared.fetcher.fetch_with(&url, &validators).await;
    let retry_wait = retry_wait(shared, lease.uri.attempts + 1, &result);
    if result.is_ok() {
        shared.wait_host_backlog(&lease.host).await;
    }
    release_after(shared, &lease.host, &result, retry_wait);
    slot.take();
    let retry = retry_wait.map(|_| NewUri {
        seen_key: lease.seen_key.clone(),
        host: lease.host.clone(),
        uri: CrawlUri { attempts: lease.uri.attempts + 1, ..lease.uri.clone() },
    });
    match result {
        Err(e) => finish_direct(shared, direct, lease, fetch_outcome(&e), retry),
        Ok(ex) => {
            let status = ex.status().unwrap_or(0);
            if retry.is_some() {
                // This try's response is archived; its links wait for the try that succeeds.
                let c = Capture::new(lease.seen_key.clone(), true, lease.uri.clone(), Outcome::Fetched(status));
                send_capture(shared, jobs, &ex, Capture { retry, ..c }).await;
                return;
            }
            let plan = recrawl::plan(shared, &lease.seen_key, &ex, asked.as_ref());
            let max_decoded = shared.cfg().max_decoded_size;
            let ex = Arc::new(ex);
            let ex2 = ex.clone();
            let sitemap = lease.uri.hops.ends_with('M');
            let obey_meta = shared.cfg().obey_meta_robots;
            // Inline only what stays small once decoded: a content-coded body (or a gzipped
            // sitemap) may inflate a thousandfold, and that must not run on the runtime.
            let size = extract::scan_bytes(&ex, sitemap).unwrap_or(usize::MAX);
            let mut links = shared
                .bulk(size, move || {
                    let mut page = extract::outlinks(&ex2, max_decoded, sitemap);
                    if obey_meta && page.nofollow {
                        page.links.retain(|(_, hop)| *hop != 'L');
                    }
                    page.links
                })
                .await
                .unwrap_or_default();
            links.dedup();
            if links.len() > MAX_LINKS_PER_PAGE {
                warn!(url = %url, links = links.len(), "page has more links than {MAX_LINKS_PER_PAGE}; the rest are not queued");
                links.truncate(MAX_LINKS_PER_PAGE);
            }
            let extra = shared.follow_seed_redirect(&lease.uri, &links);
            let listed: Vec<(String, char)> = links.iter().map(|(u, h)| (u.to_string(), *h)).collect();
            let outlinks = shared.scoped_outlinks(&lease.uri, links);
            let c = Capture::new(lease.seen_key.clone(), true, lease.uri.clone(), Outcome::Fetched(status));
            send_capture(shared, jobs, &ex, Capture { outlinks, extra, plan: Some(plan), links: listed, ..c }).await;
        }
    }
}

/// Whether try number `attempt` (1-based) is tried again, and after how long: network errors,
/// 5xx, 429 and 503 are, up to `max_retries` more times; `Retry-After` (capped by
/// `max_retry_after`) when the server sends it on a 429 or 503, else the exponential backoff.
fn retry_wait(shared: &Shared, attempt: u32, result: &Result<Exchange, FetchError>) -> Option<Duration> {
    if attempt > shared.cfg().max_retries {
        return None;
    }
    let backoff = shared.cfg().backoff;
    match result {
        Err(e) if is_permanent(e) => None,
        Err(_) => Some(backoff.wait(attempt)),
        Ok(ex) => {
            let status = ex.status()?;
            if status == 429 || status == 503 {
                let asked = ex
                    .framed()
                    .and_then(|f| f.header("retry-after"))
                    .and_then(|v| crate::politeness::retry_after(&v, std::time::SystemTime::now()));
                Some(asked.map(|d| d.min(backoff.max)).unwrap_or_else(|| backoff.wait(attempt)))
            } else if (500..600).contains(&status) {
                Some(backoff.wait(attempt))
            } else {
                None
            }
        }
    }
}

/// Releases the host's slot at the end of its response: the slot may be used again after the
/// politeness delay (adaptive or fixed); the whole host (every slot) waits out its robots.txt
/// Crawl-delay and any retry wait.
fn release_after(shared: &Shared, host: &str, result: &Result<Exchange, FetchError>, retry_wait: Option<Duration>) {
    let duration = match result {
        Ok(ex) => ex.duration,
        Err(_) => Duration::ZERO,
    };
    let now = shared.clock.now_ms();
    let slot = now + shared.cfg().pacing.delay_after(duration).as_millis() as u64;
    let hold = shared.crawl_delay(host, result).max(retry_wait.unwrap_or_default());
    let release =
        if hold.is_zero() { Release::slot(slot) } else { Release::held(Some(slot), now + hold.as_millis() as u64) };
    if let Err(e) = shared.frontier.release_host(host, release) {
        warn!(host, cause = %e, "could not release a host");
    }
    shared.wake.notify_waiters();
}

fn finish_direct(
    shared: &Shared,
    direct: &mpsc::UnboundedSender<Pending>,
    lease: Lease,
    outcome: Outcome,
    retry: Option<NewUri>,
) {
    let _ = direct.send(Pending {
        seen_key: lease.seen_key,
        leased: true,
        uri: lease.uri,
        outcome,
        record_id: None,
        payload_digest: None,
        captured_ms: shared.clock.now_ms(),
        outlinks: Outlinks::default(),
        extra: vec![],
        retry,
        tls: None,
        log: LogFacts::none(),
        revisit: None,
    });
}

/// A capture handed to the WARC writer, with what its commit needs.
struct Capture {
    seen: String,
    leased: bool,
    uri: CrawlUri,
    outcome: Outcome,
    outlinks: Outlinks,
    extra: Vec<(Vec<u8>, Vec<u8>)>,
    retry: Option<NewUri>,
    /// Full or revisit, and the index entries (`None`: a full response, not indexed).
    plan: Option<recrawl::CapturePlan>,
    /// The page's links for the metadata record (URL, hop type).
    links: Vec<(String, char)>,
}

impl Capture {
    fn new(seen: String, leased: bool, uri: CrawlUri, outcome: Outcome) -> Capture {
        let outlinks = Outlinks::default();
        Capture { seen, leased, uri, outcome, outlinks, extra: vec![], retry: None, plan: None, links: vec![] }
    }
}

/// Builds the capture's records (full or revisit, metadata when on) and hands them to the writer.
async fn send_capture(shared: &Shared, jobs: &mpsc::Sender<writer::Job<Pending>>, ex: &Exchange, c: Capture) {
    let cfg = shared.cfg();
    let metadata = cfg.metadata_records.then(|| CaptureMetadata {
        hops: c.uri.hops.clone(),
        via: c.uri.via.clone(),
        seed: c.uri.seed.clone(),
        fetch_ms: ex.duration.as_millis() as u64,
        outlinks: c.links,
    });
    let primary = c.plan.as_ref().map(|p| p.primary.clone()).unwrap_or(Primary::Full);
    let opts = CaptureOptions {
        version: cfg.warc_version,
        metadata,
        payload_digest: c.plan.as_ref().map(|p| p.digest.clone()),
    };
    let recs = warc::capture_records(ex, &primary, &opts);
    let mut extra = c.extra;
    if let Some(plan) = &c.plan {
        extra.extend(recrawl::index_entries(plan, &c.seen, ex, &recs.record_id, &recs.date));
    }
    let revisit = match &primary {
        Primary::Revisit(kind, _) => Some(*kind),
        Primary::Full => None,
    };
    let pending = Pending {
        seen_key: c.seen,
        leased: c.leased,
        uri: c.uri,
        outcome: c.outcome,
        record_id: Some(recs.record_id.clone()),
        payload_digest: Some(recs.payload_digest.clone()),
        captured_ms: ex.date.timestamp_millis().max(0) as u64,
        outlinks: c.outlinks,
        extra,
        retry: c.retry,
        tls: ex.tls_verdict.clone(),
        log: LogFacts::of(ex),
        revisit,
    };
    if let Some(v) = ex.tls_verdict.as_deref().filter(|v| *v != "valid") {
        warn!(url = %ex.url, verdict = v, "certificate did not verify; captured anyway (tls_verify = \"capture\")");
    }
    // gzip is most of a capture's CPU: done here, on the blocking pool, for the file the writer has
    // open, so captures are compressed in parallel and the writer thread only appends and fsyncs.
    let warcinfo_id = shared.current_warcinfo.read().map(|id| id.clone()).unwrap_or_default();
    let (records, packed) = if warcinfo_id.is_empty() {
        (recs.records, None)
    } else {
        let (level, version) = (cfg.compression_level, cfg.warc_version);
        let mut records = recs.records;
        let size = records.iter().map(|r| r.block.len()).sum();
        let packed = shared
            .bulk(size, move || {
                let packed = writer::pack(&mut records, &warcinfo_id, level, version);
                (records, Some(packed))
            })
            .await;
        match packed {
            Ok(done) => done,
            Err(e) => {
                warn!(url = %ex.url, cause = %e, "compressing a capture failed; it is fetched again at the next start");
                return;
            }
        }
    };
    if jobs.send(writer::Job { records, primary: recs.primary, payload: pending, packed }).await.is_err() {
        warn!(url = %ex.url, "the WARC writer has stopped; this capture is dropped and will be fetched again");
    }
}

/// Most redirects followed from a robots.txt URL (RFC 9309 §2.3.1.2: at least five).
const ROBOTS_REDIRECTS: usize = 5;

/// Fetches and archives the robots.txt of `url`'s authority (following up to five redirects,
/// across authorities, each hop archived), remembers its decision, and returns when the slot (the
/// politeness delay) and the host (a Crawl-delay) may be used again. Frees the fetch slot (`slot`)
/// after its last request, before the last capture is compressed and handed over.
async fn fetch_robots(
    shared: &Shared,
    url: &Url,
    seed: &str,
    auth: &str,
    jobs: &mpsc::Sender<writer::Job<Pending>>,
    direct: &mpsc::UnboundedSender<Pending>,
    slot: &mut Option<FetchSlot>,
) -> Release {
    let mut target = robots_url(url);
    let mut hops = String::from("P");
    let mut total = Duration::ZERO;
    loop {
        let result = shared.fetcher.fetch(&target).await;
        total += result.as_ref().map(|e| e.duration).unwrap_or_default();
        let redirect = match &result {
            Ok(ex) if hops.len() <= ROBOTS_REDIRECTS && matches!(ex.status(), Some(300..=399)) => ex
                .framed()
                .and_then(|f| f.header_url("location"))
                .and_then(|l| target.join(&l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https")),
            _ => None,
        };
        let uri = CrawlUri {
            url: target.to_string(),
            hops: hops.clone(),
            via: Some(url.to_string()),
            seed: url.to_string(),
            attempts: 0,
            round: 0,
        };
        if let (Ok(ex), Some(next)) = (&result, &redirect) {
            // A redirect hop: archived; the decision comes from where it leads.
            let status = ex.status().unwrap_or(0);
            let link = vec![(next.to_string(), 'R')];
            let c = Capture::new(shared.key(&target), false, uri, Outcome::Fetched(status));
            send_capture(shared, jobs, ex, Capture { links: link, ..c }).await;
            target = next.clone();
            hops.push('R');
            continue;
        }
        let rules = match &result {
            // A redirect chain longer than we follow: no robots.txt found, allow (§2.3.1.2).
            Ok(ex) if matches!(ex.status(), Some(300..=399)) => RobotsRules::AllowAll,
            Ok(ex) if ex.status().is_none() => {
                RobotsRules::Unreachable("robots.txt reply is not a parseable HTTP response".into())
            }
            // A robots.txt cut short is not obeyed as if complete: fetched again.
            Ok(ex) if ex.truncated.is_some() && ex.truncated != Some(crate::fetch::Truncation::Length) => {
                RobotsRules::Unreachable(format!(
                    "robots.txt incomplete ({})",
                    ex.truncated.map(|t| t.as_str()).unwrap_or("")
                ))
            }
            Ok(ex) => {
                let body = extract::decoded_body(ex, robots::MAX_ROBOTS_BYTES as u64).unwrap_or_default();
                robots::interpret(ex.status(), &body, "")
            }
            Err(e) if is_permanent(e) => RobotsRules::Blocked(e.to_string()),
            Err(e) => robots::interpret(None, b"", &e.to_string()),
        };
        let now = shared.clock.now_ms();
        let old = shared.robots_entry(auth);
        let entry = RobotsEntry::after_fetch(now, rules, old.as_ref());
        if let RobotsRules::Unreachable(why) = &entry.rules {
            warn!(authority = auth, failures = entry.failures, cause = %why, "robots.txt unreachable; the authority waits for it");
        }
        shared.remember_robots(auth, entry.clone());
        let extra = vec![([b"r:", auth.as_bytes()].concat(), encode(&entry))];
        // Its Sitemap lines enter the frontier as sitemap (`M`) hops from the seed.
        let sitemaps: Vec<(Url, char)> = match &entry.rules {
            RobotsRules::Rules(body) => {
                robots::sitemaps(body).iter().filter_map(|s| target.join(s).ok()).map(|u| (u, 'M')).collect()
            }
            _ => vec![],
        };
        let from = CrawlUri {
            url: target.to_string(),
            hops: String::new(),
            via: None,
            seed: seed.to_string(),
            attempts: 0,
            round: 0,
        };
        let sitemap_uris = shared.scoped_outlinks(&from, sitemaps);
        slot.take(); // the slot's requests are over: it may fetch for another URL while this is archived
        match result {
            Ok(ex) => {
                let status = ex.status().unwrap_or(0);
                let outcome = Outcome::Fetched(status);
                let listed = sitemap_uris.queue.iter().map(|n| (n.uri.url.clone(), 'M')).collect();
                let c = Capture::new(shared.key(&target), false, uri, outcome);
                send_capture(shared, jobs, &ex, Capture { outlinks: sitemap_uris, extra, links: listed, ..c }).await;
            }
            Err(e) => {
                let _ = direct.send(Pending {
                    seen_key: shared.key(&target),
                    leased: false,
                    uri,
                    outcome: fetch_outcome(&e),
                    record_id: None,
                    payload_digest: None,
                    captured_ms: now,
                    outlinks: Outlinks::default(),
                    extra,
                    retry: None,
                    tls: None,
                    log: LogFacts::none(),
                    revisit: None,
                });
            }
        }
        let slot = now + shared.cfg().pacing.delay_after(total).as_millis() as u64;
        let crawl_delay = entry
            .crawl_delay_ms
            .map(|ms| Duration::from_millis(ms).min(shared.cfg().max_crawl_delay))
            .unwrap_or_default();
        return if crawl_delay.is_zero() {
            Release::slot(slot)
        } else {
            Release::held(Some(slot), now + crawl_delay.as_millis() as u64)
        };
    }
}
