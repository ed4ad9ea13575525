//! harvestd: a polite, crash-safe web-archiving crawler that writes WARC files.
//!
//! ```text
//! config.toml / CLI ──seeds──▶ scope ──▶ frontier (sled: per-host queues by due time, seen set)
//!                                           │ next(): a URL whose host is due, leased
//!                                           ▼
//!                            robots (per authority; robots.txt fetched + archived first)
//!                                           ▼
//!                            fetch (hyper http1 over a recording stream) ──▶ exact request/response bytes
//!                                           │ response ended ⇒ host released, its delay starts
//!                                           ▼
//!                            warc writer thread (gzip member per record; .open → rename; group fsync)
//!                            extract (lol_html, CSS) ──▶ outlinks ──▶ scope
//!                                           ▼ after the fsync:
//!                            commit: outcome + outlinks + trap refusals + counters → one sled batch
//! ```
//!
//! Modules, one line each:
//! - [`cli`]: the command line (`run`, `crawl`, `check-config`, the control commands, `verify`,
//!   `index`, `wacz`).
//! - [`config`]: raw TOML → validated [`config::Config`].
//! - [`canon`]: `seen_key` (with session-id stripping), `cdx_key` (pywb's SURT), host key, robots
//!   authority.
//! - [`scope`]: accept or reject a discovered URL, and the crawl-trap rules on URL shape.
//! - [`frontier`]: per-host queues, due times, leases, seen set, outcomes, the per-host URL budget.
//! - [`politeness`]: request-rate caps (governor), Retry-After, backoff.
//! - [`store`]: the sled database and its key layout.
//! - [`robots`]: RFC 9309 interpretation over the `robotstxt` crate.
//! - [`fetch`]: DNS, destination policy, connect, TLS, the recorded HTTP/1.1 exchange and its framer.
//! - [`extract`]: outlinks from HTML and CSS.
//! - [`warc`]: record building, the writer thread, recovery, reading back, CDXJ indexes, WACZ
//!   packages and `verify`.
//! - [`crawler`]: workers, the commit task, drain and idle detection; its `Control` steers a run.
//! - [`api`]: the control API of `harvestd run` (axum): status, metrics, pause, seeds, reload;
//!   [`api::client`] is the command-line side (`harvestd status|pause|…`, reqwest).
//! - [`crawllog`]: `crawl.log`, a Heritrix-format line per finished URL.
//! - [`clock`]: wall-clock time behind a trait (manual in tests).
//! - [`progress`]: the terminal progress line of `harvestd crawl`, and log lines written around it.
//! - [`daemon`]: what systemd is told (`READY`, `STATUS`, `WATCHDOG`, `RELOADING`, `STOPPING`).

#![warn(missing_docs)]

/// The global allocator, for the binary, its tests and benchmarks alike: jemalloc. With glibc's
/// malloc, allocation (arena locks, `malloc_consolidate`, pages trimmed and faulted in again) was
/// about a quarter of the CPU of the 500-host politeness benchmark. Measured alternately there,
/// jemalloc and mimalloc both take 10–20% off harvestd's CPU; jemalloc kept the frontier
/// benchmark's peak RSS where glibc had it (1 M URLs queued: 50.7 MiB against 47.7 MiB), where
/// mimalloc needed 79 MiB (and 131 MiB with its transparent huge pages).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (its `malloc_conf` global; the environment's
/// `_RJEM_MALLOC_CONF` is applied after it, so a sysadmin can override them there).
/// `narenas:2`: two arenas instead of four per CPU (eight here). Measured alternately on the
/// two-core VM: the Python-docs crawl's peak RSS 52–58 MiB instead of 68–73 MiB at the same CPU,
/// the frontier fill's 50.4 MiB as with eight. One arena per CPU (`percpu_arena`) gave the crawls
/// the same but took the frontier fill to 70.6 MiB (its thread moves between CPUs, and so between
/// arenas). Threads keep per-thread caches, so two arenas are seldom contended.
#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: JemallocConf = JemallocConf(c"narenas:2".as_ptr());

/// A C string pointer that may live in a `static` (`const char *malloc_conf`).
#[repr(transparent)]
struct JemallocConf(*const std::ffi::c_char);

// SAFETY: the pointer is to a string literal, immutable for the life of the process.
unsafe impl Sync for JemallocConf {}

pub mod api;
pub mod canon;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crawler;
pub mod crawllog;
pub mod daemon;
pub mod extract;
pub mod fetch;
pub mod frontier;
pub mod politeness;
pub mod progress;
pub mod robots;
pub mod scope;
pub mod store;
pub mod warc;
