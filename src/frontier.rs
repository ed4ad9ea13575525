//! The frontier: per-host queues ordered by due time, leases, the seen set and per-URL outcomes,
//! all in sled (see [`crate::store`] for the key layout).
//!
//! Each host has `connections_per_host` *slots* (default 1): a slot is either *active* (one of the
//! host's URLs is leased on it) or *free from* a wall-clock time (the end of its last response plus
//! the politeness delay). A host may also be *held* until a time (Retry-After, backoff, a robots.txt
//! retry, a request-rate cap): then no slot is used before it. A host with queued URLs and a free
//! slot has exactly one entry in the `d:` index, at the time its earliest slot may be used (never
//! before its hold); a host with nothing queued keeps its slot times, so a URL queued later still
//! waits out the politeness delay. [`Frontier::next`] leases the first URL of the earliest due
//! host; [`Frontier::release_host`] is called when the response ends and frees the slot after its
//! delay; [`Frontier::finish`] is the commit task's single atomic write per capture (outcome, the
//! URL's queue entry removed, outlinks, the links refused by a crawl-trap rule, counters).
//! Leases live in memory: a leased URL keeps its queue entry until its capture commits, so a crash
//! leaves it queued at its place. A lease and a release change only the host's slots and its
//! due-index entry, written key by key (a sled batch costs a log write; these changes are
//! repaired at start-up by [`Frontier::recover_leases`] if a crash splits them). Outlinks new to the crawl
//! count towards their host's budget (`max_urls_per_host`, kept in its `h:` state); those over it,
//! and the links the scope's trap rules refused, are recorded as finished URLs with the outcome
//! `trap_rejected`, at most `trap_records_per_rule` per rule and host (later ones are counted).
//! Time is read through the injected [`Clock`]. Every operation runs
//! under one mutex: they are short sled operations.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::scope::TrapRule;
use crate::store::{decode, encode, Store, StoreError};
use crate::warc::writer::Location;

/// A URL as it travels through the crawl (Heritrix's CrawlURI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlUri {
    /// The URL.
    pub url: String,
    /// The hop path from the seed: `L` link, `E` embed, `R` redirect, `P` prerequisite; empty for
    /// a seed.
    pub hops: String,
    /// The URL it was found on (none for a seed).
    pub via: Option<String>,
    /// The seed it descends from.
    pub seed: String,
    /// Tries already made (0 for a URL never fetched).
    #[serde(default)]
    pub attempts: u32,
    /// The recrawl round it belongs to (0: the first crawl). A URL of round `n` is queued again
    /// when it last finished in an earlier round (DESIGN §Recrawl).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A URL to queue: its keys and its crawl URI.
#[derive(Debug, Clone)]
pub struct NewUri {
    /// `canon::seen_key` of the URL.
    pub seen_key: String,
    /// `canon::host_key` of the URL.
    pub host: String,
    /// The crawl URI.
    pub uri: CrawlUri,
}

/// A leased URL: skipped in its host's queue until finished or returned, holding one of its host's
/// slots until [`Frontier::release_host`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The seen key.
    pub seen_key: String,
    /// The politeness host key.
    pub host: String,
    /// Queue sequence number (restores the URL's place if the lease returns).
    pub seq: u64,
    /// The crawl URI.
    pub uri: CrawlUri,
}

/// The typed outcome of a URL (Heritrix's numeric codes appear only in crawl.log, later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// Fetched and archived, with the HTTP status (0 when unparseable material was archived).
    Fetched(u16),
    /// robots.txt disallows it.
    RobotsPrecluded,
    /// robots.txt could not be fetched (5xx or network failure).
    RobotsPrerequisiteFailed(String),
    /// The destination policy refused every address.
    DestinationRefused(String),
    /// DNS failure.
    Dns(String),
    /// TCP connect failure.
    Connect(String),
    /// TLS failure.
    Tls(String),
    /// No response in time.
    Timeout(String),
    /// The connection ended before any response byte.
    NoResponse(String),
    /// The URL cannot be requested.
    InvalidUrl(String),
    /// Handling the URL hit a bug (a panic, caught): it is not tried again in this state.
    InternalError(String),
    /// An exclusion added while it was queued matches it (the pattern).
    Excluded(String),
    /// Refused, not queued, by a crawl-trap rule (see [`crate::scope::TrapRule`]): the rule and
    /// what was measured (`"23 path segments, over 20"`).
    TrapRejected {
        /// The rule.
        rule: TrapRule,
        /// What was measured against it.
        detail: String,
    },
}

impl Outcome {
    /// Whether a response was archived.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Fetched(_))
    }

    /// A short stable name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Fetched(_) => "fetched",
            Outcome::RobotsPrecluded => "robots_precluded",
            Outcome::RobotsPrerequisiteFailed(_) => "robots_prerequisite_failed",
            Outcome::DestinationRefused(_) => "destination_refused",
            Outcome::Dns(_) => "dns_failure",
            Outcome::Connect(_) => "connect_failure",
            Outcome::Tls(_) => "tls_failure",
            Outcome::Timeout(_) => "timeout",
            Outcome::NoResponse(_) => "no_response",
            Outcome::InvalidUrl(_) => "invalid_url",
            Outcome::InternalError(_) => "internal_error",
            Outcome::Excluded(_) => "excluded",
            Outcome::TrapRejected { rule, .. } => rule.outcome_name(),
        }
    }
}

/// What is kept about a finished URL (value version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finished {
    /// The outcome.
    pub outcome: Outcome,
    /// The primary record's `WARC-Record-ID`, when archived.
    pub record_id: Option<String>,
    /// Where that record is.
    pub location: Option<Location>,
    /// Its payload digest.
    pub payload_digest: Option<String>,
    /// Capture time, ms since the epoch.
    pub captured_ms: u64,
    /// The crawl URI as it was leased.
    pub uri: CrawlUri,
    /// For https: the certificate verdict (`valid`, or `invalid: why` when captured anyway).
    #[serde(default)]
    pub tls: Option<String>,
}

/// The per-URL value under `u:` (versioned so the layout can evolve).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlRecord {
    /// Value version (1).
    pub v: u32,
    /// Queued (or leased) vs finished.
    pub state: UrlState,
}

/// Where a URL stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlState {
    /// Queued or leased.
    Queued,
    /// Finished, with its result.
    Finished(Box<Finished>),
}

/// Per-host scheduling state under `h:` (times in ms since the Unix epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// URLs in the host's queue (`q:` entries), those leased now included: a leased URL's entry
    /// stays until its capture is committed.
    pub queued: u64,
    /// Its entry in the due index, if any.
    pub due_ms: Option<u64>,
    /// No request to the host before this time (Retry-After, backoff, robots.txt retry, rate cap).
    #[serde(default, alias = "next_allowed_ms")]
    pub hold_until_ms: u64,
    /// Slots with a URL of the host leased on them.
    #[serde(default)]
    pub active: u32,
    /// Free slots that may not be used before these times (end of their response + delay). Free
    /// slots not listed here may be used now.
    #[serde(default)]
    pub slots_free_ms: Vec<u64>,
    /// URLs ever queued for the host, each counted once (seeds included; retries and recrawl
    /// rounds not): what `max_urls_per_host` is checked against. Counted from the first run with
    /// this field.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub admitted: u64,
    /// Links to the host refused per trap rule (recorded or only counted).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub refusals: std::collections::BTreeMap<TrapRule, u64>,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl HostState {
    /// When the host may next be leased with `limit` slots, if it has a free slot and a queued URL
    /// not leased (`leased` of its URLs are).
    fn due_at(&self, limit: u32, now: u64, leased: u64) -> Option<u64> {
        if self.queued <= leased || self.active >= limit {
            return None;
        }
        let waiting = self.slots_free_ms.iter().filter(|t| **t > now).count() as u32;
        let slot = if self.active + waiting < limit {
            now
        } else {
            self.slots_free_ms.iter().copied().filter(|t| *t > now).min().unwrap_or(now)
        };
        Some(slot.max(self.hold_until_ms).max(now))
    }

    /// Uses a slot: a free-now one if any, else the earliest (the caller checked it is due).
    fn take_slot(&mut self, limit: u32, now: u64) {
        self.slots_free_ms.retain(|t| *t > now);
        if self.active + self.slots_free_ms.len() as u32 >= limit {
            if let Some(i) = (0..self.slots_free_ms.len()).min_by_key(|i| self.slots_free_ms[*i]) {
                self.slots_free_ms.swap_remove(i);
            }
        }
        self.active += 1;
    }

    /// Frees an active slot from `free_ms` on (`None`: at once, no request was made on it).
    fn free_slot(&mut self, free_ms: Option<u64>, limit: u32, now: u64) {
        self.active = self.active.saturating_sub(1);
        self.slots_free_ms.retain(|t| *t > now);
        if let Some(t) = free_ms.filter(|t| *t > now) {
            self.slots_free_ms.push(t);
        }
        // A smaller `connections_per_host` than when the times were written: keep the latest.
        let room = limit.saturating_sub(self.active) as usize;
        if self.slots_free_ms.len() > room {
            self.slots_free_ms.sort_unstable();
            self.slots_free_ms.drain(..self.slots_free_ms.len() - room);
        }
    }
}

/// When a released host may be used again (ms since the Unix epoch; `None`: no constraint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Release {
    /// The slot just used is free from this time: end of the response + the politeness delay.
    pub slot_free_ms: Option<u64>,
    /// No slot of the host is used before this time (Retry-After, backoff, robots.txt retry).
    pub hold_until_ms: Option<u64>,
}

impl Release {
    /// The slot was not used for a request: free at once, no hold.
    pub const NOW: Release = Release { slot_free_ms: None, hold_until_ms: None };

    /// The slot is free after `ms` (a request was made).
    pub fn slot(ms: u64) -> Release {
        Release { slot_free_ms: Some(ms), hold_until_ms: None }
    }

    /// The slot is free after `slot_ms` and the whole host is held until `hold_ms`.
    pub fn held(slot_ms: Option<u64>, hold_ms: u64) -> Release {
        Release { slot_free_ms: slot_ms, hold_until_ms: Some(hold_ms) }
    }
}

/// Counters kept beside the queues (sled's `len()` walks the tree).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// URLs in host queues.
    pub queued: u64,
    /// URLs leased.
    pub leased: u64,
    /// URLs finished with an archived response.
    pub fetched: u64,
    /// URLs finished otherwise.
    pub failed: u64,
    /// WARC records written (captures' groups, warcinfo excluded).
    pub records: u64,
    /// Uncompressed block bytes of those records.
    pub bytes: u64,
    /// Queue sequence counter.
    pub seq: u64,
    /// URLs queued from sitemaps (`M` hops), crawl-wide.
    #[serde(default)]
    pub sitemap_urls: u64,
    /// Links refused by a crawl-trap rule or a host's budget, crawl-wide (recorded or only
    /// counted; a link found again is counted again once its rule's records are used up).
    #[serde(default)]
    pub trap_refused: u64,
}

const COUNTS_KEY: &[u8] = b"m:counts";

fn k_url(seen: &str) -> Vec<u8> {
    [b"u:", seen.as_bytes()].concat()
}
fn k_queue_prefix(host: &str) -> Vec<u8> {
    [b"q:", host.as_bytes(), b"\0"].concat()
}
fn k_queue(host: &str, seq: u64) -> Vec<u8> {
    [&k_queue_prefix(host)[..], &seq.to_be_bytes()].concat()
}
fn k_due(due: u64, host: &str) -> Vec<u8> {
    [b"d:", &due.to_be_bytes()[..], host.as_bytes()].concat()
}
fn k_host(host: &str) -> Vec<u8> {
    [b"h:", host.as_bytes()].concat()
}
fn k_lease(seen: &str) -> Vec<u8> {
    [b"l:", seen.as_bytes()].concat()
}

/// A link refused by a trap rule: recorded as a finished URL by [`Frontier::finish`] (unless its
/// seen key is already known, or its host's records for the rule are used up).
#[derive(Debug, Clone)]
pub struct Refused {
    /// The link as it would have been queued.
    pub link: NewUri,
    /// The rule.
    pub rule: TrapRule,
    /// What was measured.
    pub detail: String,
}

/// What [`Frontier::finish`] wrote besides the URL's own result.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// Outlinks newly queued.
    pub added: usize,
    /// Refused links recorded as finished (trap rules, the per-host budget), for their log lines.
    pub refused: Vec<Finished>,
    /// (host, rule) whose refusals reached `trap_records_per_rule` in this batch: later ones are
    /// only counted.
    pub muted: Vec<(String, TrapRule)>,
}

/// How [`Txn::enqueue`] treated a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// Queued.
    Queued,
    /// Already seen, or over the sitemap cap: nothing written.
    Skipped,
    /// Its host's budget (`max_urls_per_host`) is used up.
    OverBudget(u64),
}

/// Everything one finished capture changes, applied by [`Frontier::finish`] in one batch.
#[derive(Debug)]
pub struct Completion<'a> {
    /// The URL's seen key.
    pub seen_key: &'a str,
    /// Whether it was leased (a robots.txt capture is not).
    pub leased: bool,
    /// Its result.
    pub result: Finished,
    /// Outlinks to queue (those already seen are skipped; those over their host's budget are
    /// refused as `refused` are).
    pub outlinks: &'a [NewUri],
    /// Links refused by a trap rule, recorded as finished URLs in the same batch.
    pub refused: &'a [Refused],
    /// Extra key/value pairs written in the same batch.
    pub extra: Vec<(Vec<u8>, Vec<u8>)>,
    /// WARC records written for it.
    pub records: u64,
    /// Uncompressed block bytes of those records.
    pub bytes: u64,
    /// When set, the URL is not finished: it goes back to its host's queue as this crawl URI for
    /// another try (the host's wait was set when its response ended).
    pub retry: Option<NewUri>,
}

/// What [`Frontier::next`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A URL to fetch now.
    Lease(Lease),
    /// Nothing due now; the earliest host is due at this time (ms since the epoch).
    WaitUntil(u64),
    /// No host is due or queued (URLs may still be leased).
    Empty,
}

/// What the frontier keeps in memory, under its mutex: the counters and the URLs leased now.
/// Leases are not written to sled: a leased URL's queue entry stays until its capture commits, so
/// a crash leaves it queued, at its place.
#[derive(Debug, Default)]
struct Inner {
    counts: Counts,
    /// Leased URLs: seen key → (host, queue seq).
    leases: HashMap<String, (String, u64)>,
    /// Per host with a URL leased, the queue seqs of its leased URLs.
    by_host: HashMap<String, Vec<u64>>,
}

impl Inner {
    fn lease(&mut self, l: &Lease) {
        self.leases.insert(l.seen_key.clone(), (l.host.clone(), l.seq));
        self.by_host.entry(l.host.clone()).or_default().push(l.seq);
    }

    /// Forgets the lease of `seen_key`, returning its host and queue seq.
    fn unlease(&mut self, seen_key: &str) -> Option<(String, u64)> {
        let (host, seq) = self.leases.remove(seen_key)?;
        if let Some(seqs) = self.by_host.get_mut(&host) {
            seqs.retain(|s| *s != seq);
            if seqs.is_empty() {
                self.by_host.remove(&host);
            }
        }
        Some((host, seq))
    }

    fn leased_of(&self, host: &str) -> u64 {
        self.by_host.get(host).map_or(0, |v| v.len() as u64)
    }
}

/// Writes being gathered: applied as one sled batch ([`Txn::apply`]) or key by key
/// ([`Txn::apply_loose`]).
#[derive(Debug, Default)]
struct Ops(Vec<(Vec<u8>, Option<Vec<u8>>)>);

impl Ops {
    fn insert(&mut self, k: impl AsRef<[u8]>, v: impl AsRef<[u8]>) {
        self.0.push((k.as_ref().to_vec(), Some(v.as_ref().to_vec())));
    }
    fn remove(&mut self, k: impl AsRef<[u8]>) {
        self.0.push((k.as_ref().to_vec(), None));
    }
}

/// The frontier. Cheap to clone; all clones share the database and the mutex.
#[derive(Debug, Clone)]
pub struct Frontier {
    store: Store,
    clock: Arc<dyn Clock>,
    inner: Arc<Mutex<Inner>>,
    /// Slots per host (`connections_per_host`); changeable while running.
    slots: Arc<AtomicU32>,
    /// Crawl-wide cap on URLs queued from sitemaps (`max_sitemap_urls`).
    max_sitemap_urls: Arc<AtomicU64>,
    /// Per-host cap on URLs queued over the crawl (`max_urls_per_host`; 0: none).
    max_urls_per_host: Arc<AtomicU64>,
    /// Refusals recorded per trap rule and host (`trap_records_per_rule`).
    trap_records: Arc<AtomicU64>,
}

/// A batch being built, with the host states and seen keys it touches.
struct Txn<'a> {
    tree: &'a sled::Tree,
    mem: &'a mut Inner,
    limit: u32,
    max_sitemap_urls: u64,
    max_urls_per_host: u64,
    trap_records: u64,
    ops: Ops,
    hosts: HashMap<String, HostState>,
    seen: HashSet<String>,
    counts: Counts,
    now: u64,
}

impl Txn<'_> {
    fn host(&mut self, host: &str) -> Result<&mut HostState, StoreError> {
        if !self.hosts.contains_key(host) {
            let st = match self.tree.get(k_host(host))? {
                Some(v) => decode(&k_host(host), &v)?,
                None => HostState::default(),
            };
            self.hosts.insert(host.to_string(), st);
        }
        Ok(self.hosts.get_mut(host).expect("inserted above"))
    }

    /// Moves the host's entry in the due index to when it may next be leased (none when nothing is
    /// queued or every slot is active).
    fn reschedule(&mut self, host: &str) -> Result<(), StoreError> {
        let (limit, now, leased) = (self.limit, self.now, self.mem.leased_of(host));
        let (want, have) = {
            let h = self.host(host)?;
            (h.due_at(limit, now, leased), h.due_ms)
        };
        if want != have {
            if let Some(old) = have {
                self.ops.remove(k_due(old, host));
            }
            if let Some(at) = want {
                self.ops.insert(k_due(at, host), []);
            }
            self.host(host)?.due_ms = want;
        }
        Ok(())
    }

    /// Queues `n` unless its seen key is already known (or, with `again`, whatever it is: a retry).
    /// A URL of a recrawl round (`round > 0`) that last finished in an earlier round is queued
    /// again, unless a trap rule refused it. A URL new to the crawl counts in its host's
    /// `admitted`; with `budget`, one over `max_urls_per_host` is not queued ([`Admit::OverBudget`]).
    fn enqueue(&mut self, n: &NewUri, again: bool, budget: bool) -> Result<Admit, StoreError> {
        if !again && self.seen.contains(&n.seen_key) {
            return Ok(Admit::Skipped);
        }
        let mut new = !again;
        if !again {
            if let Some(v) = self.tree.get(k_url(&n.seen_key))? {
                let earlier_round = n.uri.round > 0
                    && match decode::<UrlRecord>(&k_url(&n.seen_key), &v)?.state {
                        UrlState::Finished(f) => {
                            f.uri.round < n.uri.round && !matches!(f.outcome, Outcome::TrapRejected { .. })
                        }
                        UrlState::Queued => false,
                    };
                if !earlier_round {
                    return Ok(Admit::Skipped);
                }
                new = false;
            }
        }
        let from_sitemap = !again && n.uri.hops.ends_with('M');
        if from_sitemap && self.counts.sitemap_urls >= self.max_sitemap_urls {
            return Ok(Admit::Skipped);
        }
        if new {
            let cap = self.max_urls_per_host;
            let h = self.host(&n.host)?;
            if budget && cap > 0 && h.admitted >= cap {
                return Ok(Admit::OverBudget(h.admitted));
            }
            h.admitted += 1;
        }
        if from_sitemap {
            self.counts.sitemap_urls += 1;
        }
        self.seen.insert(n.seen_key.clone());
        self.counts.seq += 1;
        let seq = self.counts.seq;
        self.ops.insert(k_queue(&n.host, seq), encode(&n.uri));
        self.ops.insert(k_url(&n.seen_key), encode(&UrlRecord { v: 1, state: UrlState::Queued }));
        self.counts.queued += 1;
        self.host(&n.host)?.queued += 1;
        self.reschedule(&n.host)?;
        Ok(Admit::Queued)
    }

    /// Records `r` as a finished URL with the outcome `trap_rejected`, unless its seen key is
    /// already known or its host has had `trap_records` refusals by the rule (then it is only
    /// counted). Returns the record written, and whether the rule's records on the host were
    /// used up by this refusal.
    fn refuse(&mut self, r: &Refused) -> Result<(Option<Finished>, bool), StoreError> {
        let key = &r.link.seen_key;
        if self.seen.contains(key) || self.tree.contains_key(k_url(key))? {
            return Ok((None, false));
        }
        let cap = self.trap_records;
        let count = {
            let c = self.host(&r.link.host)?.refusals.entry(r.rule).or_insert(0);
            *c += 1;
            *c
        };
        self.counts.trap_refused += 1;
        if count > cap {
            return Ok((None, false));
        }
        let f = Finished {
            outcome: Outcome::TrapRejected { rule: r.rule, detail: r.detail.clone() },
            record_id: None,
            location: None,
            payload_digest: None,
            captured_ms: self.now,
            uri: r.link.uri.clone(),
            tls: None,
        };
        self.seen.insert(key.clone());
        self.ops.insert(k_url(key), encode(&UrlRecord { v: 1, state: UrlState::Finished(Box::new(f.clone())) }));
        self.counts.failed += 1;
        Ok((Some(f), count == cap))
    }

    fn release(&mut self, host: &str, r: Release) -> Result<(), StoreError> {
        let (limit, now) = (self.limit, self.now);
        let h = self.host(host)?;
        h.free_slot(r.slot_free_ms, limit, now);
        if let Some(hold) = r.hold_until_ms {
            h.hold_until_ms = h.hold_until_ms.max(hold);
        }
        self.reschedule(host)
    }

    /// Writes everything, host states and counters included, as one atomic sled batch.
    fn apply(mut self) -> Result<(), StoreError> {
        for (host, st) in &self.hosts {
            self.ops.insert(k_host(host), encode(st));
        }
        self.ops.insert(COUNTS_KEY, encode(&self.counts));
        let writes = self.ops.0.len();
        let mut batch = sled::Batch::default();
        for (k, v) in self.ops.0 {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.tree.apply_batch(batch)?;
        self.mem.counts = self.counts;
        crate::store::collect_garbage(writes);
        Ok(())
    }

    /// Writes the ops and host states key by key, the counters only in memory: for the scheduling
    /// changes of a lease or a release (slots, due index), which start-up repairs after a crash
    /// ([`Frontier::recover_leases`]). Single-key writes cost sled no log flush; a batch seals
    /// and writes its log buffer.
    fn apply_loose(mut self) -> Result<(), StoreError> {
        for (host, st) in &self.hosts {
            self.ops.insert(k_host(host), encode(st));
        }
        let writes = self.ops.0.len();
        for (k, v) in self.ops.0 {
            match v {
                Some(v) => self.tree.insert(k, v)?,
                None => self.tree.remove(k)?,
            };
        }
        self.mem.counts = self.counts;
        crate::store::collect_garbage(writes);
        Ok(())
    }
}

impl Frontier {
    /// The frontier over `store`, reading time from `clock`, with one slot per host.
    pub fn open(store: Store, clock: Arc<dyn Clock>) -> Result<Frontier, StoreError> {
        let counts = match store.tree.get(COUNTS_KEY)? {
            Some(v) => decode(COUNTS_KEY, &v)?,
            None => Counts::default(),
        };
        Ok(Frontier {
            store,
            clock,
            inner: Arc::new(Mutex::new(Inner { counts, ..Inner::default() })),
            slots: Arc::new(AtomicU32::new(1)),
            max_sitemap_urls: Arc::new(AtomicU64::new(u64::MAX)),
            max_urls_per_host: Arc::new(AtomicU64::new(0)),
            trap_records: Arc::new(AtomicU64::new(u64::MAX)),
        })
    }

    /// Sets the per-host cap on URLs queued over the crawl (`max_urls_per_host`; 0: none): an
    /// outlink new to the crawl whose host has had that many is refused and recorded as
    /// `trap_rejected` (rule `max_urls_per_host`). Seeds count, but are never refused.
    pub fn set_max_urls_per_host(&self, n: u64) {
        self.max_urls_per_host.store(n, Ordering::Relaxed);
    }

    /// Sets how many refusals by one trap rule on one host are recorded as finished URLs
    /// (`trap_records_per_rule`, at least 1); later ones are only counted in the host's state.
    pub fn set_trap_records_per_rule(&self, n: u64) {
        self.trap_records.store(n.max(1), Ordering::Relaxed);
    }

    /// Sets the crawl-wide cap on URLs queued from sitemaps (`M` hops, sitemaps of sitemap indexes
    /// included): once that many were queued, further ones are not (counted across restarts).
    pub fn set_max_sitemap_urls(&self, n: u64) {
        self.max_sitemap_urls.store(n, Ordering::Relaxed);
    }

    /// Sets how many URLs of one host may be leased at once (`connections_per_host`, at least 1).
    /// Hosts already in the due index pick the new value up at their next lease or release.
    pub fn set_connections_per_host(&self, n: u32) {
        self.slots.store(n.max(1), Ordering::Relaxed);
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn txn<'a>(&'a self, mem: &'a mut Inner) -> Txn<'a> {
        Txn {
            tree: &self.store.tree,
            counts: mem.counts,
            mem,
            limit: self.slots.load(Ordering::Relaxed),
            max_sitemap_urls: self.max_sitemap_urls.load(Ordering::Relaxed),
            max_urls_per_host: self.max_urls_per_host.load(Ordering::Relaxed),
            trap_records: self.trap_records.load(Ordering::Relaxed),
            ops: Ops::default(),
            hosts: HashMap::new(),
            seen: HashSet::new(),
            now: self.clock.now_ms(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fault for tests of the service watchdog: takes the frontier's lock and never gives it back,
    /// as a wedged sled write would. Blocks the calling thread forever.
    #[doc(hidden)]
    pub fn wedge_for_tests(&self) -> ! {
        let _held = self.lock();
        loop {
            std::thread::park();
        }
    }

    /// Current counters.
    pub fn counts(&self) -> Counts {
        self.lock().counts
    }

    /// Queues the URLs not seen before (seeds, or runtime additions). Returns how many were new.
    pub fn add(&self, uris: &[NewUri]) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(&mut inner);
        let mut added = 0;
        for n in uris {
            if t.enqueue(n, false, false)? == Admit::Queued {
                added += 1;
            }
        }
        t.apply()?;
        Ok(added)
    }

    /// Start-up recovery after a crash or a stop: the URLs leased then are queued again at their
    /// place (their queue entries were never removed), every slot is freed, and the due index is
    /// made to match the host states (lease and release write them key by key, so a crash can
    /// leave them apart). A state directory written by an older build, with `l:` lease entries,
    /// has them put back in their queues. Returns how many leases the interrupted run left.
    pub fn recover_leases(&self) -> Result<usize, StoreError> {
        let legacy: Vec<Lease> = self
            .store
            .tree
            .scan_prefix(b"l:")
            .map(|r| r.map_err(StoreError::from).and_then(|(k, v)| decode(&k, &v)))
            .collect::<Result<_, _>>()?;
        let mut dues: HashMap<String, Vec<u64>> = HashMap::new();
        for kv in self.store.tree.scan_prefix(b"d:") {
            let (k, _) = kv?;
            let due = u64::from_be_bytes(k[2..10].try_into().expect("due key layout"));
            dues.entry(String::from_utf8_lossy(&k[10..]).to_string()).or_default().push(due);
        }
        let mut inner = self.lock();
        let mut t = self.txn(&mut inner);
        for l in &legacy {
            t.ops.remove(k_lease(&l.seen_key));
            t.ops.insert(k_queue(&l.host, l.seq), encode(&l.uri));
            t.host(&l.host)?.queued += 1;
        }
        let mut interrupted = 0u64;
        for kv in t.tree.scan_prefix(b"h:") {
            let (k, v) = kv?;
            let host = String::from_utf8_lossy(&k[2..]).to_string();
            let st: HostState = match t.hosts.get(&host) {
                Some(st) => st.clone(),
                None => decode(&k, &v)?,
            };
            let indexed = dues.remove(&host).unwrap_or_default();
            let consistent = st.active == 0
                && match st.due_ms {
                    Some(d) => st.queued > 0 && indexed == [d],
                    None => st.queued == 0 && indexed.is_empty(),
                };
            if consistent && !t.hosts.contains_key(&host) {
                continue;
            }
            interrupted += u64::from(st.active);
            for d in indexed {
                t.ops.remove(k_due(d, &host));
            }
            t.hosts.insert(host.clone(), HostState { active: 0, due_ms: None, ..st });
            t.reschedule(&host)?;
        }
        // Due entries of hosts without a state: nothing to lease there.
        for (host, indexed) in dues {
            for d in indexed {
                t.ops.remove(k_due(d, &host));
            }
        }
        // The stored counters count leased URLs apart; they are queued again.
        t.counts.queued += t.counts.leased;
        t.counts.leased = 0;
        t.apply()?;
        Ok(legacy.len().max(interrupted as usize))
    }

    /// Leases the first URL of the earliest due host, if one is due now, on one of its free slots.
    /// The URL's queue entry stays (skipped while leased) until [`Frontier::finish`] or
    /// [`Frontier::return_lease`]; the slot and due-index changes are written key by key.
    pub fn next(&self) -> Result<Next, StoreError> {
        let mut inner = self.lock();
        let now = self.clock.now_ms();
        loop {
            let Some(first) = self.store.tree.scan_prefix(b"d:").next() else {
                return Ok(Next::Empty);
            };
            let (dkey, _) = first?;
            let due = u64::from_be_bytes(dkey[2..10].try_into().expect("due key layout"));
            if due > now {
                return Ok(Next::WaitUntil(due));
            }
            let host = String::from_utf8_lossy(&dkey[10..]).to_string();
            let leased: Vec<u64> = inner.by_host.get(&host).cloned().unwrap_or_default();
            let mut found = None;
            for q in self.store.tree.scan_prefix(k_queue_prefix(&host)) {
                let (qkey, qval) = q?;
                let seq = u64::from_be_bytes(qkey[qkey.len() - 8..].try_into().expect("queue key layout"));
                if !leased.contains(&seq) {
                    found = Some((qkey, qval, seq));
                    break;
                }
            }
            let mut t = self.txn(&mut inner);
            t.ops.remove(&dkey[..]);
            let Some((qkey, qval, seq)) = found else {
                // Stale due entry: every URL left is leased (or none is): drop it and look again.
                let h = t.host(&host)?;
                h.due_ms = None;
                if leased.is_empty() {
                    h.queued = 0;
                }
                t.apply_loose()?;
                continue;
            };
            let uri: CrawlUri = decode(&qkey, &qval)?;
            let url = url::Url::parse(&uri.url).map_err(|e| StoreError::Decode {
                key: String::from_utf8_lossy(&qkey).to_string(),
                cause: e.to_string(),
            })?;
            let lease = Lease {
                seen_key: crate::canon::seen_key(&url, self.store.key_options()),
                host: host.clone(),
                seq,
                uri,
            };
            let (limit, now) = (t.limit, t.now);
            let h = t.host(&host)?;
            h.due_ms = None;
            h.take_slot(limit, now);
            t.counts.queued = t.counts.queued.saturating_sub(1);
            t.counts.leased += 1;
            t.mem.lease(&lease);
            let written = match t.reschedule(&host) {
                Ok(()) => t.apply_loose(),
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                inner.unlease(&lease.seen_key);
                return Err(e);
            }
            return Ok(Next::Lease(lease));
        }
    }

    /// The host's response ended (or no request was made): its slot is freed as `release` says.
    pub fn release_host(&self, host: &str, release: Release) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(&mut inner);
        t.release(host, release)?;
        t.apply_loose()
    }

    /// Puts a leased URL back at its place in its queue (its robots.txt had to be fetched first,
    /// or a rate cap waits) and releases the host as [`Frontier::release_host`] does.
    pub fn return_lease(&self, lease: &Lease, release: Release) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(&mut inner);
        if t.mem.unlease(&lease.seen_key).is_some() {
            t.counts.leased = t.counts.leased.saturating_sub(1);
            t.counts.queued += 1;
        }
        t.release(&lease.host, release)?;
        t.apply_loose()
    }

    /// The commit task's one atomic write for a finished capture: the URL's result (under its
    /// seen key), the lease removed (if it was leased), the outlinks not seen before queued, the
    /// counters, the refused links recorded (trap rules, and outlinks over their host's budget),
    /// and extra key/value pairs (e.g. a robots cache entry). Returns what it queued and recorded.
    pub fn finish(&self, c: Completion<'_>) -> Result<Committed, StoreError> {
        let Completion { seen_key, leased, result, outlinks, refused, extra, records, bytes, retry } = c;
        let mut inner = self.lock();
        let mut t = self.txn(&mut inner);
        if leased {
            if let Some((host, seq)) = t.mem.unlease(seen_key) {
                t.ops.remove(k_queue(&host, seq));
                let h = t.host(&host)?;
                h.queued = h.queued.saturating_sub(1);
                t.reschedule(&host)?;
            }
            t.counts.leased = t.counts.leased.saturating_sub(1);
        }
        t.counts.records += records;
        t.counts.bytes += bytes;
        t.seen.insert(seen_key.to_string());
        // A URL finished again (robots.txt is fetched again when its copy ages or fails) is still
        // one URL in the counters.
        let again_finished = !leased
            && retry.is_none()
            && match t.tree.get(k_url(seen_key))? {
                Some(v) => matches!(decode::<UrlRecord>(&k_url(seen_key), &v)?.state, UrlState::Finished(_)),
                None => false,
            };
        if let Some(again) = &retry {
            t.enqueue(again, true, false)?;
        } else if again_finished {
            t.ops.insert(k_url(seen_key), encode(&UrlRecord { v: 1, state: UrlState::Finished(Box::new(result)) }));
        } else {
            if result.outcome.is_success() {
                t.counts.fetched += 1;
            } else {
                t.counts.failed += 1;
            }
            t.ops.insert(k_url(seen_key), encode(&UrlRecord { v: 1, state: UrlState::Finished(Box::new(result)) }));
        }
        let mut out = Committed::default();
        let mut over_budget = Vec::new();
        for n in outlinks {
            match t.enqueue(n, false, true)? {
                Admit::Queued => out.added += 1,
                Admit::Skipped => {}
                Admit::OverBudget(had) => over_budget.push(Refused {
                    link: n.clone(),
                    rule: TrapRule::MaxUrlsPerHost,
                    detail: format!("host {} has had {had} URLs queued, the most max_urls_per_host allows", n.host),
                }),
            }
        }
        for r in refused.iter().chain(&over_budget) {
            let (recorded, used_up) = t.refuse(r)?;
            out.refused.extend(recorded);
            if used_up {
                out.muted.push((r.link.host.clone(), r.rule));
            }
        }
        for (k, v) in extra {
            t.ops.insert(k, v);
        }
        t.apply()?;
        Ok(out)
    }

    /// Queues `uris` again for a recrawl round, whatever they are, except those queued or leased
    /// now; writes `extra` (the recrawl schedule) in the same batch. Returns how many were queued.
    pub fn requeue(&self, uris: &[NewUri], extra: Vec<(Vec<u8>, Vec<u8>)>) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(&mut inner);
        let mut added = 0;
        for n in uris {
            let queued = match t.tree.get(k_url(&n.seen_key))? {
                Some(v) => matches!(decode::<UrlRecord>(&k_url(&n.seen_key), &v)?.state, UrlState::Queued),
                None => false,
            };
            if !queued && t.enqueue(n, true, false)? == Admit::Queued {
                added += 1;
            }
        }
        for (k, v) in extra {
            t.ops.insert(k, v);
        }
        t.apply()?;
        Ok(added)
    }

    /// The stored record of a URL.
    pub fn url_record(&self, seen_key: &str) -> Result<Option<UrlRecord>, StoreError> {
        let k = k_url(seen_key);
        self.store.tree.get(&k)?.map(|v| decode(&k, &v)).transpose()
    }

    /// Every finished URL with its result (streamed from sled; for tests and `status`).
    pub fn finished(&self) -> impl Iterator<Item = Result<(String, Finished), StoreError>> + '_ {
        self.store.tree.scan_prefix(b"u:").filter_map(|r| match r {
            Err(e) => Some(Err(e.into())),
            Ok((k, v)) => match decode::<UrlRecord>(&k, &v) {
                Err(e) => Some(Err(e)),
                Ok(UrlRecord { state: UrlState::Finished(f), .. }) => {
                    Some(Ok((String::from_utf8_lossy(&k[2..]).to_string(), *f)))
                }
                Ok(_) => None,
            },
        })
    }

    /// Hosts with a URL leased now (distinct hosts among the leases; at most `workers` of them).
    pub fn hosts_active(&self) -> Result<usize, StoreError> {
        Ok(self.lock().by_host.len())
    }

    /// Hosts with queued URLs waiting out a delay, a hold or a backoff (due later than now).
    /// Walks the due index: for status reports, not for the hot path.
    pub fn hosts_snoozed(&self) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let mut n = 0;
        for kv in self.store.tree.scan_prefix(b"d:").rev() {
            let (k, _) = kv?;
            let due = u64::from_be_bytes(k[2..10].try_into().expect("due key layout"));
            if due <= now {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// The stored state of `host`.
    pub fn host_state(&self, host: &str) -> Result<HostState, StoreError> {
        let k = k_host(host);
        Ok(self.store.tree.get(&k)?.map(|v| decode(&k, &v)).transpose()?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn new_uri(url: &str) -> NewUri {
        let u = url::Url::parse(url).unwrap();
        NewUri {
            seen_key: crate::canon::seen_key(&u, &crate::canon::KeyOptions::none()),
            host: crate::canon::host_key(&u),
            uri: CrawlUri { url: url.into(), hops: String::new(), via: None, seed: url.into(), attempts: 0, round: 0 },
        }
    }

    /// The frontier over the state in `dir` (opened again after a "crash"), 1 MB cache.
    fn reopen(dir: &tempfile::TempDir, clock: &Arc<ManualClock>) -> Frontier {
        Frontier::open(Store::open(dir.path(), 1 << 20).unwrap(), clock.clone()).unwrap()
    }

    fn setup() -> (tempfile::TempDir, Frontier, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let f = Frontier::open(store, clock.clone()).unwrap();
        (dir, f, clock)
    }

    fn done(l: &Lease) -> Finished {
        Finished {
            outcome: Outcome::Fetched(200),
            record_id: None,
            location: None,
            payload_digest: None,
            captured_ms: 0,
            uri: l.uri.clone(),
            tls: None,
        }
    }

    /// Commits a leased URL as fetched (2 records, 10 bytes), no outlinks.
    fn finish_fetched(f: &Frontier, l: &Lease) {
        f.finish(Completion {
            seen_key: &l.seen_key,
            leased: true,
            result: done(l),
            outlinks: &[],
            refused: &[],
            extra: vec![],
            records: 2,
            bytes: 10,
            retry: None,
        })
        .unwrap();
    }

    fn lease(f: &Frontier) -> Lease {
        match f.next().unwrap() {
            Next::Lease(l) => l,
            other => panic!("expected a lease, got {other:?}"),
        }
    }

    #[test]
    fn one_lease_per_host_by_default_and_delay_after_release() {
        let (_d, f, clock) = setup();
        f.add(&[new_uri("http://a.example/1"), new_uri("http://a.example/2"), new_uri("http://b.example/1")]).unwrap();
        let l1 = lease(&f);
        let l2 = lease(&f);
        assert_ne!(l1.host, l2.host, "two leases on one host");
        assert_eq!(f.next().unwrap(), Next::Empty, "both hosts have their one slot active");
        // a.example's response ends now; its delay is 500 ms.
        let a = if l1.host == "a.example" { &l1 } else { &l2 };
        f.release_host("a.example", Release::slot(clock.now_ms() + 500)).unwrap();
        assert_eq!(f.next().unwrap(), Next::WaitUntil(clock.now_ms() + 500));
        clock.advance(499);
        assert!(matches!(f.next().unwrap(), Next::WaitUntil(_)));
        clock.advance(1);
        let l3 = lease(&f);
        assert_eq!(l3.uri.url, "http://a.example/2");
        finish_fetched(&f, a);
        assert_eq!(f.counts().leased, 2);
        assert_eq!(f.counts().fetched, 1);
    }

    #[test]
    fn idle_host_reinserted_at_its_next_allowed_time() {
        let (_d, f, clock) = setup();
        f.add(&[new_uri("http://a.example/1")]).unwrap();
        let l = lease(&f);
        f.release_host("a.example", Release::slot(clock.now_ms() + 2_000)).unwrap();
        assert_eq!(f.next().unwrap(), Next::Empty, "idle host has no due entry");
        // The commit lands 100 ms later with an outlink to the same host: due at the delay's end.
        clock.advance(100);
        f.finish(Completion {
            seen_key: &l.seen_key,
            leased: true,
            result: done(&l),
            outlinks: &[new_uri("http://a.example/2")],
            refused: &[],
            extra: vec![],
            records: 0,
            bytes: 0,
            retry: None,
        })
        .unwrap();
        assert_eq!(f.next().unwrap(), Next::WaitUntil(1_002_000));
        // An outlink arriving after the delay has passed is due at once.
        clock.advance(5_000);
        let l2 = lease(&f);
        f.release_host("a.example", Release::slot(clock.now_ms() + 1_000)).unwrap();
        clock.advance(3_000);
        f.finish(Completion {
            seen_key: &l2.seen_key,
            leased: true,
            result: done(&l2),
            outlinks: &[new_uri("http://a.example/3")],
            refused: &[],
            extra: vec![],
            records: 0,
            bytes: 0,
            retry: None,
        })
        .unwrap();
        assert!(matches!(f.next().unwrap(), Next::Lease(_)));
    }

    fn finish_with(f: &Frontier, l: &Lease, outlinks: &[NewUri]) -> usize {
        finish_refusing(f, l, outlinks, &[]).added
    }

    #[test]
    fn a_recrawl_round_queues_urls_finished_in_earlier_rounds_once() {
        let (_d, f, _c) = setup();
        f.add(&[new_uri("http://a.example/")]).unwrap();
        let l = lease(&f);
        assert_eq!(finish_with(&f, &l, &[new_uri("http://a.example/child")]), 1);
        let child = lease(&f);
        assert_eq!(finish_with(&f, &child, &[]), 0);
        // Round 1: the seed again (it is finished), with its extra state in the same batch.
        let mut seed = new_uri("http://a.example/");
        seed.uri.round = 1;
        assert_eq!(f.requeue(std::slice::from_ref(&seed), vec![(b"c:x".to_vec(), b"1".to_vec())]).unwrap(), 1);
        assert_eq!(f.store().tree.get(b"c:x").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(f.requeue(std::slice::from_ref(&seed), vec![]).unwrap(), 0, "already queued");
        let l = lease(&f);
        assert_eq!(l.uri.round, 1);
        // Its child, finished in round 0, comes back as a round-1 URL; a round-0 link does not.
        let mut child1 = new_uri("http://a.example/child");
        child1.uri.round = 1;
        assert_eq!(finish_with(&f, &l, &[new_uri("http://a.example/child"), child1.clone()]), 1);
        let c = lease(&f);
        assert_eq!(c.uri.round, 1);
        // Finished in round 1, it is not queued again by another round-1 link.
        assert_eq!(finish_with(&f, &c, &[child1]), 0);
        assert_eq!(f.counts().queued, 0);
    }

    #[test]
    fn seen_urls_are_not_queued_twice() {
        let (_d, f, _c) = setup();
        assert_eq!(f.add(&[new_uri("http://a.example/x"), new_uri("http://A.example:80/x#f")]).unwrap(), 1);
        let l = lease(&f);
        f.release_host(&l.host, Release::NOW).unwrap();
        let n = f
            .finish(Completion {
                seen_key: &l.seen_key,
                leased: true,
                result: done(&l),
                outlinks: &[new_uri("http://a.example/x")],
                refused: &[],
                extra: vec![],
                records: 0,
                bytes: 0,
                retry: None,
            })
            .unwrap()
            .added;
        assert_eq!(n, 0);
        assert_eq!(f.counts().queued, 0);
    }

    #[test]
    fn leases_return_to_their_place_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(5_000));
        {
            let f = reopen(&dir, &clock);
            f.add(&[new_uri("http://a.example/1"), new_uri("http://a.example/2")]).unwrap();
            let _l = lease(&f);
            f.store().flush().unwrap();
        } // "crash": the lease is never finished
        let f = reopen(&dir, &clock);
        assert_eq!(f.recover_leases().unwrap(), 1, "the slot the lease held");
        assert_eq!(f.counts().leased, 0);
        assert_eq!(f.counts().queued, 2);
        assert_eq!(f.host_state("a.example").unwrap().active, 0);
        assert_eq!(lease(&f).uri.url, "http://a.example/1", "the returned URL keeps its place");
        assert_eq!(f.next().unwrap(), Next::Empty, "one slot");
    }

    #[test]
    fn a_lease_committed_after_other_commits_is_queued_again_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(5_000));
        {
            let f = reopen(&dir, &clock);
            f.set_connections_per_host(2);
            f.add(&[new_uri("http://a.example/1"), new_uri("http://a.example/2"), new_uri("http://a.example/3")])
                .unwrap();
            let (l1, l2) = (lease(&f), lease(&f));
            f.release_host(&l1.host, Release::NOW).unwrap();
            // The second lease's commit stores the counters while the first is still leased.
            finish_fetched(&f, &l2);
            f.store().flush().unwrap();
        }
        let f = reopen(&dir, &clock);
        f.set_connections_per_host(2);
        f.recover_leases().unwrap();
        let c = f.counts();
        assert_eq!((c.queued, c.leased, c.fetched), (2, 0, 1));
        assert_eq!(f.host_state("a.example").unwrap().queued, 2);
        let urls: Vec<String> = (0..2).map(|_| lease(&f).uri.url).collect();
        assert_eq!(urls, ["http://a.example/1", "http://a.example/3"]);
    }

    #[test]
    fn lease_entries_of_an_older_build_go_back_to_their_queues() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(5_000));
        {
            let f = reopen(&dir, &clock);
            f.add(&[new_uri("http://a.example/1"), new_uri("http://a.example/2")]).unwrap();
            let l = lease(&f);
            // What the older build wrote for a lease: its queue entry moved under `l:`.
            let tree = &f.store().tree;
            tree.remove(k_queue(&l.host, l.seq)).unwrap();
            tree.insert(k_lease(&l.seen_key), encode(&l)).unwrap();
            let mut h = f.host_state(&l.host).unwrap();
            h.queued -= 1;
            tree.insert(k_host(&l.host), encode(&h)).unwrap();
            let counts = Counts { queued: 1, leased: 1, seq: 2, ..Counts::default() };
            tree.insert(COUNTS_KEY, encode(&counts)).unwrap();
            f.store().flush().unwrap();
        }
        let f = reopen(&dir, &clock);
        assert_eq!(f.recover_leases().unwrap(), 1);
        assert_eq!(f.store().tree.scan_prefix(b"l:").count(), 0);
        assert_eq!((f.counts().queued, f.counts().leased), (2, 0));
        assert_eq!(lease(&f).uri.url, "http://a.example/1");
    }

    #[test]
    fn return_lease_waits_for_delay() {
        let (_d, f, clock) = setup();
        f.add(&[new_uri("http://a.example/1")]).unwrap();
        let l = lease(&f);
        f.return_lease(&l, Release::slot(clock.now_ms() + 750)).unwrap();
        assert_eq!(f.next().unwrap(), Next::WaitUntil(clock.now_ms() + 750));
        clock.advance(750);
        assert_eq!(lease(&f), l);
    }

    #[test]
    fn two_slots_each_wait_their_own_delay_and_a_hold_stops_both() {
        let (_d, f, clock) = setup();
        f.set_connections_per_host(2);
        let urls: Vec<NewUri> = (1..=6).map(|i| new_uri(&format!("http://a.example/{i}"))).collect();
        f.add(&urls).unwrap();
        let l1 = lease(&f);
        let l2 = lease(&f);
        assert_eq!((l1.uri.url.as_str(), l2.uri.url.as_str()), ("http://a.example/1", "http://a.example/2"));
        assert_eq!(f.next().unwrap(), Next::Empty, "both slots active");
        // Slot 1 ends now with a 500 ms delay; slot 2 ends 200 ms later with a 500 ms delay.
        let t0 = clock.now_ms();
        f.release_host("a.example", Release::slot(t0 + 500)).unwrap();
        assert_eq!(f.next().unwrap(), Next::WaitUntil(t0 + 500));
        clock.advance(200);
        f.release_host("a.example", Release::slot(t0 + 700)).unwrap();
        assert_eq!(f.next().unwrap(), Next::WaitUntil(t0 + 500), "the earliest slot decides");
        clock.advance(300);
        let l3 = lease(&f);
        assert_eq!(f.next().unwrap(), Next::WaitUntil(t0 + 700), "the second slot still waits its delay");
        clock.advance(200);
        let _l4 = lease(&f);
        assert_eq!(f.next().unwrap(), Next::Empty);
        // A Retry-After on one slot holds the whole host, the other slot included.
        let t1 = clock.now_ms();
        f.release_host("a.example", Release::held(Some(t1 + 100), t1 + 5_000)).unwrap();
        f.release_host("a.example", Release::slot(t1 + 100)).unwrap();
        assert_eq!(f.next().unwrap(), Next::WaitUntil(t1 + 5_000));
        clock.advance(5_000);
        let _l5 = lease(&f);
        let _l6 = lease(&f);
        assert_eq!(f.host_state("a.example").unwrap().active, 2);
        let _ = l3;
    }

    #[test]
    fn fewer_slots_after_a_restart_are_respected() {
        let (_d, f, clock) = setup();
        f.set_connections_per_host(3);
        let urls: Vec<NewUri> = (1..=5).map(|i| new_uri(&format!("http://a.example/{i}"))).collect();
        f.add(&urls).unwrap();
        let (_a, _b, _c) = (lease(&f), lease(&f), lease(&f));
        f.set_connections_per_host(1);
        let t0 = clock.now_ms();
        for d in [100, 200, 300] {
            f.release_host("a.example", Release::slot(t0 + d)).unwrap();
        }
        assert_eq!(f.host_state("a.example").unwrap().slots_free_ms, vec![t0 + 300], "only the latest is kept");
        assert_eq!(f.next().unwrap(), Next::WaitUntil(t0 + 300));
        clock.advance(300);
        let _d1 = lease(&f);
        assert_eq!(f.next().unwrap(), Next::Empty, "one slot now");
    }

    #[test]
    fn sitemap_urls_are_capped_crawl_wide() {
        let (_d, f, _c) = setup();
        f.set_max_sitemap_urls(3);
        let from_sitemap = |i: usize| {
            let mut n = new_uri(&format!("http://h{i}.example/listed"));
            n.uri.hops = "M".into();
            n
        };
        assert_eq!(f.add(&[from_sitemap(1), from_sitemap(2)]).unwrap(), 2);
        assert_eq!(f.add(&[from_sitemap(3), from_sitemap(4), new_uri("http://h5.example/linked")]).unwrap(), 2);
        assert_eq!(f.counts().sitemap_urls, 3);
        assert_eq!(f.counts().queued, 4, "the fourth sitemap URL is dropped; ordinary links are not capped");
    }

    fn finish_refusing(f: &Frontier, l: &Lease, outlinks: &[NewUri], refused: &[Refused]) -> Committed {
        f.release_host(&l.host, Release::NOW).unwrap();
        f.finish(Completion {
            seen_key: &l.seen_key,
            leased: true,
            result: done(l),
            outlinks,
            refused,
            extra: vec![],
            records: 0,
            bytes: 0,
            retry: None,
        })
        .unwrap()
    }

    fn rule_of(f: &Frontier, url: &str) -> Option<TrapRule> {
        match f.url_record(&new_uri(url).seen_key).unwrap()?.state {
            UrlState::Finished(done) => match done.outcome {
                Outcome::TrapRejected { rule, .. } => Some(rule),
                _ => None,
            },
            UrlState::Queued => None,
        }
    }

    #[test]
    fn the_host_budget_refuses_and_records_urls_over_it_and_seeds_count_but_pass() {
        let (_d, f, _c) = setup();
        f.set_max_urls_per_host(3);
        f.add(&[new_uri("http://a.example/")]).unwrap();
        let l = lease(&f);
        let mut links: Vec<NewUri> = (1..=4).map(|i| new_uri(&format!("http://a.example/{i}"))).collect();
        links.push(new_uri("http://b.example/1"));
        let c = finish_refusing(&f, &l, &links, &[]);
        assert_eq!(c.added, 3, "the seed and /1, /2 fill a.example's budget of 3; b.example has its own");
        let urls: Vec<&str> = c.refused.iter().map(|r| r.uri.url.as_str()).collect();
        assert_eq!(urls, ["http://a.example/3", "http://a.example/4"]);
        assert_eq!(rule_of(&f, "http://a.example/3"), Some(TrapRule::MaxUrlsPerHost));
        assert_eq!(rule_of(&f, "http://a.example/2"), None, "queued");
        assert_eq!((f.counts().queued, f.counts().failed), (3, 2));
        assert_eq!(f.host_state("a.example").unwrap().admitted, 3);
        // Seeds are counted, never refused.
        assert_eq!(f.add(&[new_uri("http://a.example/seed")]).unwrap(), 1);
        assert_eq!(f.host_state("a.example").unwrap().admitted, 4);
    }

    #[test]
    fn trap_refusals_are_recorded_once_per_url_and_at_most_n_per_rule_and_host() {
        let (_d, f, _c) = setup();
        f.set_trap_records_per_rule(2);
        f.add(&[new_uri("http://a.example/"), new_uri("http://a.example/next")]).unwrap();
        let refuse = |url: &str, rule| Refused { link: new_uri(url), rule, detail: "measured".into() };
        let first = [
            refuse("http://a.example/d/1", TrapRule::MaxPathDepth),
            refuse("http://a.example/d/1", TrapRule::MaxPathDepth),
            refuse("http://a.example/d/2", TrapRule::MaxPathDepth),
            refuse("http://a.example/d/3", TrapRule::MaxPathDepth),
            refuse("http://a.example/?q", TrapRule::MaxQueryParams),
        ];
        let l = lease(&f);
        let c = finish_refusing(&f, &l, &[], &first);
        let urls: Vec<&str> = c.refused.iter().map(|r| r.uri.url.as_str()).collect();
        assert_eq!(urls, ["http://a.example/d/1", "http://a.example/d/2", "http://a.example/?q"]);
        assert_eq!(c.muted, vec![("a.example".to_string(), TrapRule::MaxPathDepth)]);
        assert_eq!(rule_of(&f, "http://a.example/d/3"), None, "counted, not recorded");
        let st = f.host_state("a.example").unwrap();
        assert_eq!((st.refusals[&TrapRule::MaxPathDepth], st.refusals[&TrapRule::MaxQueryParams]), (3, 1));
        // A recorded refusal is judged once: found again, it is neither recorded nor counted.
        let l = lease(&f);
        let c = finish_refusing(
            &f,
            &l,
            &[new_uri("http://a.example/d/1")],
            &[refuse("http://a.example/?q", TrapRule::MaxQueryParams)],
        );
        assert_eq!((c.added, c.refused.len()), (0, 0));
        assert_eq!(f.host_state("a.example").unwrap().refusals[&TrapRule::MaxQueryParams], 1);
        assert_eq!(f.counts().failed, 3);
        assert_eq!(f.counts().trap_refused, 4, "every refusal counted crawl-wide, recorded or not");
    }

    #[test]
    fn outcomes_keep_their_stored_form_and_trap_rejections_add_one() {
        let old: Outcome = serde_json::from_str(r#"{"kind":"excluded","detail":"/cal/"}"#).unwrap();
        assert_eq!(old, Outcome::Excluded("/cal/".into()));
        let trap = Outcome::TrapRejected { rule: TrapRule::MaxPathDepth, detail: "21 path segments, over 20".into() };
        let json = serde_json::to_string(&trap).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"trap_rejected","detail":{"rule":"max_path_depth","detail":"21 path segments, over 20"}}"#
        );
        assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), trap);
        assert_eq!(trap.name(), "trap_max_path_depth");
        // A host state written before the trap counters decodes with them at zero.
        let st: HostState = serde_json::from_str(r#"{"queued":2,"due_ms":null}"#).unwrap();
        assert_eq!((st.admitted, st.refusals.len()), (0, 0));
    }
}
