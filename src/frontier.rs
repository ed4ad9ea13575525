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
//!
//! The seen set and the queues are packed (module `packed`): 64-bit fingerprints of seen keys in
//! 65,536 buckets, and per-host queue segments of up to 64 URLs, so that memory does not grow with
//! the frontier (sled 0.34 keeps ~60 bytes of RAM per key). A finished URL's outcome keeps its
//! own `u:` key. A state directory of layout 1 (a key per URL) is converted at open.

mod packed;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::scope::TrapRule;
use crate::store::{decode, encode, Store, StoreError};
use crate::warc::writer::Location;
use packed::{bucket_of, fingerprint, k_bucket, k_segment, k_segment_prefix, Bucket, Cached, Seen, Segment, Tail};

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
    /// URLs in the host's queue (its segments' entries), those leased now included: a leased
    /// URL's entry stays until its capture is committed.
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
/// Where the frontier's layout version is recorded.
const LAYOUT_KEY: &[u8] = b"m:frontier_layout";
/// This build's layout: 2, the seen set in fingerprint buckets (`f:`) and the queues in segments
/// (`e:`); `u:` holds finished URLs only. Layout 1 (no `m:frontier_layout`) had a `u:` key per
/// seen URL and a `q:` key per queued URL; [`Frontier::open`] converts it.
const LAYOUT: u32 = 2;
/// Keys converted per batch when converting layout 1.
const CONVERT_CHUNK: usize = 20_000;
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
    /// Leased URLs: seen key → (host, queue seq, key of the queue segment holding it).
    leases: HashMap<String, (String, u64, Vec<u8>)>,
    /// Per host with a URL leased, the queue seqs of its leased URLs.
    by_host: HashMap<String, Vec<u64>>,
    /// Queue segments of hosts with a URL leased, decoded, as last written (at most
    /// [`SEGMENT_CACHE`]): a host's head segment is read at its lease and changed at its commit,
    /// and decoding it each time was a fifth of the frontier's CPU in the throughput benchmark.
    segments: HashMap<Vec<u8>, Segment>,
}

/// Decoded queue segments kept in memory (up to ~20 KB each; one or two per leased host).
const SEGMENT_CACHE: usize = 1_024;

impl Inner {
    fn cache_segment(&mut self, key: Vec<u8>, mut seg: Segment) {
        if self.segments.len() >= SEGMENT_CACHE {
            self.segments.clear();
        }
        seg.dirty = false;
        self.segments.insert(key, seg);
    }

    /// Records the lease `l`, whose entry is in the queue segment under `segment`.
    fn lease(&mut self, l: &Lease, segment: Vec<u8>) {
        self.leases.insert(l.seen_key.clone(), (l.host.clone(), l.seq, segment));
        self.by_host.entry(l.host.clone()).or_default().push(l.seq);
    }

    /// Forgets the lease of `seen_key`, returning its host, queue seq and segment key.
    fn unlease(&mut self, seen_key: &str) -> Option<(String, u64, Vec<u8>)> {
        let (host, seq, segment) = self.leases.remove(seen_key)?;
        if let Some(seqs) = self.by_host.get_mut(&host) {
            seqs.retain(|s| *s != seq);
            if seqs.is_empty() {
                self.by_host.remove(&host);
            }
        }
        Some((host, seq, segment))
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
    /// Seen-set buckets read or changed, by their 16-bit number.
    buckets: HashMap<u16, Bucket>,
    /// Queue segments read or changed, by key.
    segments: BTreeMap<Vec<u8>, Cached>,
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

    /// The seen-set bucket holding `fp` (read from sled the first time).
    fn bucket(&mut self, fp: u64) -> Result<&mut Bucket, StoreError> {
        let n = bucket_of(fp);
        if !self.buckets.contains_key(&n) {
            self.buckets.insert(n, Bucket::read(self.tree, n)?);
        }
        Ok(self.buckets.get_mut(&n).expect("inserted above"))
    }

    /// What the seen set knows of `seen_key` (this batch's changes included).
    fn seen(&mut self, seen_key: &str) -> Result<Option<Seen>, StoreError> {
        let fp = fingerprint(seen_key);
        Ok(self.bucket(fp)?.get(fp))
    }

    /// Records `seen_key` in the seen set as `state`.
    fn set_seen(&mut self, seen_key: &str, state: Seen) -> Result<(), StoreError> {
        let fp = fingerprint(seen_key);
        self.bucket(fp)?.set(fp, state);
        Ok(())
    }

    /// The queue segment under `key` (read from sled the first time; empty if there is none),
    /// decoded when `decoded`, else as it is held.
    fn segment(&mut self, key: Vec<u8>, decoded: bool) -> Result<&mut Cached, StoreError> {
        if let Some(seg) = self.mem.segments.remove(&key) {
            self.segments.entry(key.clone()).or_insert(Cached::Entries(seg));
        }
        if !self.segments.contains_key(&key) {
            let stored = self.tree.get(&key)?;
            let seg = match (stored, decoded) {
                (Some(v), true) => Cached::Entries(Segment::decode(&key, &v)?),
                (Some(v), false) => Cached::Appending(Tail::decode(&key, &v)?),
                (None, true) => Cached::Entries(Segment::default()),
                (None, false) => Cached::Appending(Tail::default()),
            };
            self.segments.insert(key.clone(), seg);
        }
        let seg = self.segments.get_mut(&key).expect("inserted above");
        if decoded {
            seg.entries();
        }
        Ok(seg)
    }

    /// The key of the host's segment that holds (or would hold) queue sequence `seq`: the last
    /// whose first sequence is not above it.
    fn segment_key_at(&self, host: &str, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let (from, to) = (k_segment_prefix(host), k_segment(host, seq));
        let stored = self.tree.range(from.clone()..=to.clone()).next_back().transpose()?.map(|(k, _)| k.to_vec());
        let cached = self.segments.range(from..=to).next_back().map(|(k, _)| k.clone());
        Ok(stored.max(cached))
    }

    /// Puts `uri` in the host's queue at sequence `seq`: in the segment holding that sequence,
    /// or in a new one when that is the host's full last segment (or there is none). Queuing at
    /// the end (every sequence but those of leases written by older builds) keeps the segment
    /// encoded.
    fn insert_entry(&mut self, host: &str, seq: u64, uri: CrawlUri) -> Result<(), StoreError> {
        let key = match self.segment_key_at(host, seq)? {
            Some(k) => {
                let s = self.segment(k.clone(), false)?;
                if s.last_seq().is_some_and(|l| l >= seq) {
                    let s = s.entries();
                    let i = s.entries.partition_point(|e| e.0 < seq);
                    s.entries.insert(i, (seq, uri));
                    s.dirty = true;
                    return Ok(());
                }
                if s.len() >= packed::SEGMENT_URLS {
                    k_segment(host, seq)
                } else {
                    k
                }
            }
            None => k_segment(host, seq),
        };
        self.segment(key, false)?.push(seq, uri);
        Ok(())
    }

    /// Takes sequence `seq` out of the queue segment under `key` (an entry never moves between
    /// segments); false if it is not there.
    fn remove_entry(&mut self, key: Vec<u8>, seq: u64) -> Result<bool, StoreError> {
        let s = self.segment(key, true)?.entries();
        match s.entries.iter().position(|e| e.0 == seq) {
            Some(i) => {
                s.entries.remove(i);
                s.dirty = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Adds the changed buckets and segments to the writes (an emptied segment is removed).
    /// Returns the decoded segments, to keep in memory once the writes are applied.
    fn write_packed(&mut self) -> Vec<(Vec<u8>, Segment)> {
        for (n, b) in &self.buckets {
            if b.dirty {
                self.ops.insert(k_bucket(*n), b.encode());
            }
        }
        let mut decoded = Vec::new();
        for (k, seg) in std::mem::take(&mut self.segments) {
            match (seg.dirty(), seg.len() == 0) {
                (false, _) => {}
                (true, true) => self.ops.remove(&k),
                (true, false) => self.ops.insert(&k, seg.encode()),
            }
            match seg {
                Cached::Entries(s) if !s.entries.is_empty() => decoded.push((k, s)),
                _ => {}
            }
        }
        decoded
    }

    /// Keeps the segments this batch wrote or read, of hosts with a URL leased, decoded in memory once its writes are
    /// applied; after a failed write, forgets every one (they may not match the store).
    fn keep_segments(
        mem: &mut Inner,
        written: Result<(), StoreError>,
        decoded: Vec<(Vec<u8>, Segment)>,
    ) -> Result<(), StoreError> {
        match written {
            Ok(()) => {
                for (k, s) in decoded {
                    // `e:` host `\0` seq: kept while the host has a URL leased.
                    let host = k.get(2..k.len().saturating_sub(9)).and_then(|h| std::str::from_utf8(h).ok());
                    if host.is_some_and(|h| mem.by_host.contains_key(h)) {
                        mem.cache_segment(k, s);
                    }
                }
                Ok(())
            }
            Err(e) => {
                mem.segments.clear();
                Err(e)
            }
        }
    }

    /// Moves the host's entry in the due index to when it may next be leased (none when nothing is
    /// queued or every slot is active).
    fn reschedule(&mut self, host: &str) -> Result<(), StoreError> {
        let (limit, now, leased) = (self.limit, self.now, self.mem.leased_of(host));
        let (want, have) = {
            let h = self.host(host)?;
            (h.due_at(limit, now, leased), h.due_ms)
        };
        // A host already due stays at its place: moving it to now would reorder the due hosts for
        // nothing and churn the due index (every batch that queues URLs for a due host would
        // move it; sled keeps the emptied leaves).
        let still_due = matches!((want, have), (Some(w), Some(h)) if w <= now && h <= now);
        if want != have && !still_due {
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
        let mut new = !again;
        if !again {
            if let Some(seen) = self.seen(&n.seen_key)? {
                let earlier_round =
                    n.uri.round > 0 && matches!(seen, Seen::Finished { round, trap: false } if round < n.uri.round);
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
        self.set_seen(&n.seen_key, Seen::Queued)?;
        self.counts.seq += 1;
        let seq = self.counts.seq;
        self.insert_entry(&n.host, seq, n.uri.clone())?;
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
        if self.seen(key)?.is_some() {
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
        self.set_seen(key, Seen::Finished { round: r.link.uri.round, trap: true })?;
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

    /// One completion's changes (see [`Frontier::finish`]), into this batch.
    fn finish(&mut self, c: Completion<'_>) -> Result<Committed, StoreError> {
        let Completion { seen_key, leased, result, outlinks, refused, extra, records, bytes, retry } = c;
        if leased {
            if let Some((host, seq, segment)) = self.mem.unlease(seen_key) {
                self.remove_entry(segment, seq)?;
                let h = self.host(&host)?;
                h.queued = h.queued.saturating_sub(1);
                self.reschedule(&host)?;
            }
            self.counts.leased = self.counts.leased.saturating_sub(1);
        }
        self.counts.records += records;
        self.counts.bytes += bytes;
        // A URL finished again (robots.txt is fetched again when its copy ages or fails) is still
        // one URL in the counters.
        let again_finished = !leased && retry.is_none() && matches!(self.seen(seen_key)?, Some(Seen::Finished { .. }));
        if let Some(again) = &retry {
            self.enqueue(again, true, false)?;
        } else {
            if !again_finished {
                if result.outcome.is_success() {
                    self.counts.fetched += 1;
                } else {
                    self.counts.failed += 1;
                }
            }
            let trap = matches!(result.outcome, Outcome::TrapRejected { .. });
            self.set_seen(seen_key, Seen::Finished { round: result.uri.round, trap })?;
            self.ops.insert(k_url(seen_key), encode(&UrlRecord { v: 1, state: UrlState::Finished(Box::new(result)) }));
        }
        let mut out = Committed::default();
        let mut over_budget = Vec::new();
        for n in outlinks {
            match self.enqueue(n, false, true)? {
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
            let (recorded, used_up) = self.refuse(r)?;
            out.refused.extend(recorded);
            if used_up {
                out.muted.push((r.link.host.clone(), r.rule));
            }
        }
        for (k, v) in extra {
            self.ops.insert(k, v);
        }
        Ok(out)
    }

    /// Writes everything, host states and counters included, as one atomic sled batch.
    fn apply(mut self) -> Result<(), StoreError> {
        let decoded = self.write_packed();
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
        let written = self.tree.apply_batch(batch).map_err(StoreError::from);
        Self::keep_segments(self.mem, written, decoded)?;
        self.mem.counts = self.counts;
        crate::store::collect_garbage(writes);
        Ok(())
    }

    /// Writes the ops and host states key by key, the counters only in memory: for the scheduling
    /// changes of a lease or a release (slots, due index), which start-up repairs after a crash
    /// ([`Frontier::recover_leases`]). Single-key writes cost sled no log flush; a batch seals
    /// and writes its log buffer.
    fn apply_loose(mut self) -> Result<(), StoreError> {
        let decoded = self.write_packed();
        for (host, st) in &self.hosts {
            self.ops.insert(k_host(host), encode(st));
        }
        let writes = self.ops.0.len();
        let written = self.ops.0.into_iter().try_for_each(|(k, v)| {
            match v {
                Some(v) => self.tree.insert(k, v)?,
                None => self.tree.remove(k)?,
            };
            Ok(())
        });
        Self::keep_segments(self.mem, written, decoded)?;
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
        let f = Frontier {
            store,
            clock,
            inner: Arc::new(Mutex::new(Inner { counts, ..Inner::default() })),
            slots: Arc::new(AtomicU32::new(1)),
            max_sitemap_urls: Arc::new(AtomicU64::new(u64::MAX)),
            max_urls_per_host: Arc::new(AtomicU64::new(0)),
            trap_records: Arc::new(AtomicU64::new(u64::MAX)),
        };
        f.convert_layout()?;
        Ok(f)
    }

    /// Brings a state directory of layout 1 to this build's layout ([`LAYOUT`]), in batches of
    /// [`CONVERT_CHUNK`] keys, each atomic and each safe to run again after a crash: a queued
    /// URL's `u:` key is replaced by its seen-set entry, a finished URL's gets one beside it, and
    /// each `q:` entry moves to its host's segments at its sequence. A directory of a newer layout
    /// is [`StoreError::Decode`] on `m:frontier_layout`.
    fn convert_layout(&self) -> Result<(), StoreError> {
        let tree = &self.store.tree;
        if let Some(v) = tree.get(LAYOUT_KEY)? {
            let found: u32 = decode(LAYOUT_KEY, &v)?;
            if found > LAYOUT {
                return Err(StoreError::Decode {
                    key: String::from_utf8_lossy(LAYOUT_KEY).to_string(),
                    cause: format!(
                        "frontier layout {found} is newer than this build's {LAYOUT}: use the build that wrote it"
                    ),
                });
            }
            if found == LAYOUT {
                return Ok(());
            }
        }
        let (mut urls, mut queued) = (0usize, 0usize);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let from = after.clone().unwrap_or_else(|| b"u:".to_vec());
            let chunk: Vec<(sled::IVec, sled::IVec)> = tree
                .range(from..)
                .filter(|r| !matches!(r, Ok((k, _)) if Some(&k[..]) == after.as_deref()))
                .take_while(|r| !matches!(r, Ok((k, _)) if !k.starts_with(b"u:")))
                .take(CONVERT_CHUNK)
                .collect::<Result<_, _>>()?;
            let Some((last, _)) = chunk.last() else { break };
            after = Some(last.to_vec());
            let mut inner = self.lock();
            let mut t = self.txn(&mut inner);
            for (k, v) in &chunk {
                let seen_key = String::from_utf8_lossy(&k[2..]).to_string();
                match decode::<UrlRecord>(k, v)?.state {
                    UrlState::Queued => {
                        t.set_seen(&seen_key, Seen::Queued)?;
                        t.ops.remove(k);
                    }
                    UrlState::Finished(f) => {
                        let trap = matches!(f.outcome, Outcome::TrapRejected { .. });
                        t.set_seen(&seen_key, Seen::Finished { round: f.uri.round, trap })?;
                    }
                }
            }
            urls += chunk.len();
            t.apply()?;
        }
        loop {
            let chunk: Vec<(sled::IVec, sled::IVec)> =
                tree.scan_prefix(b"q:").take(CONVERT_CHUNK).collect::<Result<_, _>>()?;
            if chunk.is_empty() {
                break;
            }
            let mut inner = self.lock();
            let mut t = self.txn(&mut inner);
            for (k, v) in &chunk {
                if k.len() < 2 + 1 + 8 || k[k.len() - 9] != 0 {
                    return Err(StoreError::Decode {
                        key: String::from_utf8_lossy(k).to_string(),
                        cause: "not a layout-1 queue key".into(),
                    });
                }
                let host = String::from_utf8_lossy(&k[2..k.len() - 9]).to_string();
                let seq = u64::from_be_bytes(k[k.len() - 8..].try_into().expect("8 bytes"));
                t.insert_entry(&host, seq, decode(k, v)?)?;
                t.ops.remove(k);
            }
            queued += chunk.len();
            t.apply()?;
        }
        tree.insert(LAYOUT_KEY, encode(&LAYOUT))?;
        if urls + queued > 0 {
            tracing::info!(
                urls,
                queued,
                "state directory converted to frontier layout {LAYOUT} (packed seen set and queues)"
            );
        }
        Ok(())
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
            buckets: HashMap::new(),
            segments: BTreeMap::new(),
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
            t.insert_entry(&l.host, l.seq, l.uri.clone())?;
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
            'segments: for kv in self.store.tree.scan_prefix(k_segment_prefix(&host)) {
                let (k, v) = kv?;
                let key = k.to_vec();
                if !inner.segments.contains_key(&key) {
                    let seg = Segment::decode(&k, &v)?;
                    inner.cache_segment(key.clone(), seg);
                }
                if let Some((seq, uri)) = inner.segments[&key].entries.iter().find(|(seq, _)| !leased.contains(seq)) {
                    found = Some((*seq, uri.clone(), key));
                    break 'segments;
                }
            }
            let mut t = self.txn(&mut inner);
            t.ops.remove(&dkey[..]);
            let Some((seq, uri, segment)) = found else {
                // Stale due entry: every URL left is leased (or none is): drop it and look again.
                let h = t.host(&host)?;
                h.due_ms = None;
                if leased.is_empty() {
                    h.queued = 0;
                }
                t.apply_loose()?;
                continue;
            };
            let url = url::Url::parse(&uri.url).map_err(|e| StoreError::Decode {
                key: String::from_utf8_lossy(&segment).to_string(),
                cause: format!("queued URL {}: {e}", uri.url),
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
            t.mem.lease(&lease, segment);
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
        Ok(self.finish_all(vec![c])?.pop().expect("one completion, one result"))
    }

    /// [`Frontier::finish`] for several captures (those one WARC fsync made durable) in one sled
    /// batch, in order: a later completion sees what an earlier one changed, as if finished one
    /// after the other. One batch is one log write for sled, and a host's queue segment, state and
    /// seen-set bucket touched by several of them are written once. All or none are applied; on an
    /// error none is, and their leased URLs are fetched again at the next start (as after a crash).
    /// Returns one [`Committed`] per completion, in their order.
    pub fn finish_all(&self, cs: Vec<Completion<'_>>) -> Result<Vec<Committed>, StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(&mut inner);
        let mut done = Vec::with_capacity(cs.len());
        for c in cs {
            done.push(t.finish(c)?);
        }
        t.apply()?;
        Ok(done)
    }

    /// Queues `uris` again for a recrawl round, whatever they are, except those queued or leased
    /// now; writes `extra` (the recrawl schedule) in the same batch. Returns how many were queued.
    pub fn requeue(&self, uris: &[NewUri], extra: Vec<(Vec<u8>, Vec<u8>)>) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(&mut inner);
        let mut added = 0;
        for n in uris {
            if t.seen(&n.seen_key)? != Some(Seen::Queued) && t.enqueue(n, true, false)? == Admit::Queued {
                added += 1;
            }
        }
        for (k, v) in extra {
            t.ops.insert(k, v);
        }
        t.apply()?;
        Ok(added)
    }

    /// What the seen set records of a URL (none: never seen).
    fn seen_state(&self, seen_key: &str) -> Result<Option<Seen>, StoreError> {
        let fp = fingerprint(seen_key);
        Ok(Bucket::read(&self.store.tree, bucket_of(fp))?.get(fp))
    }

    /// Where a URL stands: `Queued` while queued or leased (a recrawl round included), its last
    /// result once finished, none if never seen.
    pub fn url_record(&self, seen_key: &str) -> Result<Option<UrlRecord>, StoreError> {
        match self.seen_state(seen_key)? {
            None => Ok(None),
            Some(Seen::Queued) => Ok(Some(UrlRecord { v: 1, state: UrlState::Queued })),
            Some(Seen::Finished { .. }) => {
                let k = k_url(seen_key);
                self.store.tree.get(&k)?.map(|v| decode(&k, &v)).transpose()
            }
        }
    }

    /// Every finished URL with its result, those queued again for a recrawl round left out
    /// (streamed from sled; for tests, `status` and packaging).
    pub fn finished(&self) -> impl Iterator<Item = Result<(String, Finished), StoreError>> + '_ {
        self.store.tree.scan_prefix(b"u:").filter_map(|r| {
            let row = || -> Result<Option<(String, Finished)>, StoreError> {
                let (k, v) = r?;
                let seen_key = String::from_utf8_lossy(&k[2..]).to_string();
                match decode::<UrlRecord>(&k, &v)?.state {
                    UrlState::Finished(f) if self.seen_state(&seen_key)? != Some(Seen::Queued) => {
                        Ok(Some((seen_key, *f)))
                    }
                    _ => Ok(None),
                }
            };
            row().transpose()
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
    fn finish_all_applies_completions_in_order_in_one_batch() {
        let (dir, f, clock) = setup();
        f.set_connections_per_host(2);
        f.add(&[new_uri("http://a.example/1"), new_uri("http://a.example/2"), new_uri("http://b.example/1")]).unwrap();
        let leases: Vec<Lease> = (0..3).map(|_| lease(&f)).collect();
        for l in &leases {
            f.release_host(&l.host, Release::NOW).unwrap();
        }
        let by_url = |u: &str| leases.iter().find(|l| l.uri.url == u).unwrap();
        let (a1, a2, b1) = (by_url("http://a.example/1"), by_url("http://a.example/2"), by_url("http://b.example/1"));
        let first = [new_uri("http://a.example/3"), new_uri("http://b.example/2")];
        // a.example/3 again: queued by the first completion, so only a.example/4 is new here.
        let second = [new_uri("http://a.example/3"), new_uri("http://a.example/4")];
        fn completion<'a>(l: &'a Lease, outlinks: &'a [NewUri]) -> Completion<'a> {
            Completion {
                seen_key: &l.seen_key,
                leased: true,
                result: done(l),
                outlinks,
                refused: &[],
                extra: vec![],
                records: 2,
                bytes: 10,
                retry: None,
            }
        }
        let committed =
            f.finish_all(vec![completion(a1, &first), completion(a2, &second), completion(b1, &[])]).unwrap();
        assert_eq!(committed.iter().map(|c| c.added).collect::<Vec<_>>(), [2, 1, 0]);
        let c = f.counts();
        assert_eq!((c.fetched, c.leased, c.queued, c.records, c.bytes), (3, 0, 3, 6, 30));
        for l in [a1, a2, b1] {
            assert!(matches!(f.url_record(&l.seen_key).unwrap().unwrap().state, UrlState::Finished(_)));
        }
        // All of it is in sled: a reopened frontier leases exactly the three new URLs.
        drop(f);
        let f = reopen(&dir, &clock);
        assert_eq!(f.counts().queued, 3);
        let mut got = Vec::new();
        while let Next::Lease(l) = f.next().unwrap() {
            f.release_host(&l.host, Release::NOW).unwrap();
            got.push(l.uri.url.clone());
        }
        got.sort();
        assert_eq!(got, ["http://a.example/3", "http://a.example/4", "http://b.example/2"]);
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

    /// Writes, in a new directory, what frontier layout 1 kept for `queued` URLs (a `u:` and a
    /// `q:` key each; the first `leased` of them under `l:` instead of `q:`, as builds before
    /// in-memory leases wrote a lease) and `fetched` ones, with their host state and counters.
    fn layout1(queued: &[&str], leased: usize, fetched: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let tree = &store.tree;
        let mut hosts: HashMap<String, HostState> = HashMap::new();
        for (i, url) in queued.iter().enumerate() {
            let n = new_uri(url);
            let seq = i as u64 + 1;
            tree.insert(k_url(&n.seen_key), encode(&UrlRecord { v: 1, state: UrlState::Queued })).unwrap();
            if i < leased {
                let l = Lease { seen_key: n.seen_key.clone(), host: n.host.clone(), seq, uri: n.uri.clone() };
                tree.insert(k_lease(&n.seen_key), encode(&l)).unwrap();
            } else {
                let key = [b"q:", n.host.as_bytes(), b"\0", &seq.to_be_bytes()[..]].concat();
                tree.insert(key, encode(&n.uri)).unwrap();
                let h = hosts.entry(n.host.clone()).or_default();
                h.queued += 1;
                h.due_ms = Some(0);
            }
        }
        for url in fetched {
            let n = new_uri(url);
            let f = Finished {
                outcome: Outcome::Fetched(200),
                record_id: Some("<urn:uuid:x>".into()),
                location: None,
                payload_digest: None,
                captured_ms: 7,
                uri: n.uri,
                tls: None,
            };
            tree.insert(k_url(&n.seen_key), encode(&UrlRecord { v: 1, state: UrlState::Finished(Box::new(f)) }))
                .unwrap();
        }
        for (host, st) in &hosts {
            tree.insert(k_host(host), encode(st)).unwrap();
            tree.insert(k_due(0, host), &[][..]).unwrap();
        }
        let n = queued.len() as u64;
        let counts = Counts {
            queued: n - leased as u64,
            leased: leased as u64,
            fetched: fetched.len() as u64,
            seq: n,
            ..Counts::default()
        };
        tree.insert(COUNTS_KEY, encode(&counts)).unwrap();
        store.flush().unwrap();
        dir
    }

    #[test]
    fn a_layout_1_state_directory_is_converted_and_crawls_on_in_order() {
        let urls: Vec<String> = (1..=150).map(|i| format!("http://a.example/{i}")).collect();
        let queued: Vec<&str> = urls.iter().map(String::as_str).collect();
        let dir = layout1(&queued, 0, &["http://a.example/0"]);
        let clock = Arc::new(ManualClock::new(5_000));
        let f = reopen(&dir, &clock);
        f.recover_leases().unwrap();
        let tree = &f.store().tree;
        assert_eq!(tree.scan_prefix(b"q:").count(), 0, "every queue key moved to a segment");
        assert_eq!(tree.scan_prefix(b"u:").count(), 1, "only the finished URL keeps a u: key");
        assert_eq!(tree.scan_prefix(b"e:").count(), 3, "150 URLs in segments of 64");
        assert_eq!(tree.get(LAYOUT_KEY).unwrap().as_deref(), Some(&b"2"[..]));
        let fin = f.url_record(&new_uri("http://a.example/0").seen_key).unwrap().unwrap();
        assert!(matches!(fin.state, UrlState::Finished(ref x) if x.record_id.as_deref() == Some("<urn:uuid:x>")));
        assert_eq!(f.url_record(&new_uri("http://a.example/7").seen_key).unwrap().unwrap().state, UrlState::Queued);
        assert_eq!(f.add(&[new_uri("http://a.example/0"), new_uri("http://a.example/9")]).unwrap(), 0);
        assert_eq!(f.add(&[new_uri("http://a.example/151")]).unwrap(), 1);
        assert_eq!((f.counts().queued, f.counts().fetched, f.counts().seq), (151, 1, 151));
        let mut order = Vec::new();
        for _ in 0..151 {
            let l = lease(&f);
            order.push(l.uri.url.clone());
            finish_fetched(&f, &l);
            f.release_host(&l.host, Release::NOW).unwrap();
        }
        let want: Vec<String> = (1..=151).map(|i| format!("http://a.example/{i}")).collect();
        assert_eq!(order, want);
        assert_eq!(f.next().unwrap(), Next::Empty);
        assert_eq!(tree.scan_prefix(b"e:").count(), 0, "emptied segments are removed");
        assert_eq!(f.finished().count(), 152);
        // Opening again does not convert again.
        drop(f);
        let f = reopen(&dir, &clock);
        assert_eq!(f.finished().count(), 152);
    }

    #[test]
    fn lease_entries_of_an_older_build_go_back_to_their_queues() {
        let dir = layout1(&["http://a.example/1", "http://a.example/2"], 1, &[]);
        let clock = Arc::new(ManualClock::new(5_000));
        let f = reopen(&dir, &clock);
        assert_eq!(f.recover_leases().unwrap(), 1);
        assert_eq!(f.store().tree.scan_prefix(b"l:").count(), 0);
        assert_eq!((f.counts().queued, f.counts().leased), (2, 0));
        assert_eq!(f.host_state("a.example").unwrap().queued, 2);
        assert_eq!(lease(&f).uri.url, "http://a.example/1", "the lease is back at its place");
    }

    #[test]
    fn a_state_directory_of_a_newer_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), 1 << 20).unwrap().tree.insert(LAYOUT_KEY, &b"3"[..]).unwrap();
        let clock = Arc::new(ManualClock::new(5_000));
        let err = Frontier::open(Store::open(dir.path(), 1 << 20).unwrap(), clock).unwrap_err();
        assert!(err.to_string().contains("frontier layout 3 is newer"), "{err}");
    }

    #[test]
    fn segments_keep_queue_order_through_retries_and_leases_in_the_middle() {
        let (_d, f, _clock) = setup();
        f.set_connections_per_host(3);
        let uris: Vec<NewUri> = (0..130).map(|i| new_uri(&format!("http://a.example/{i}"))).collect();
        assert_eq!(f.add(&uris).unwrap(), 130);
        assert_eq!(f.store().tree.scan_prefix(b"e:").count(), 3);
        let (a, b, c) = (lease(&f), lease(&f), lease(&f));
        // The second goes back for another try: it is queued again at the end.
        let again = NewUri {
            seen_key: b.seen_key.clone(),
            host: b.host.clone(),
            uri: CrawlUri { attempts: 1, ..b.uri.clone() },
        };
        f.finish(Completion {
            seen_key: &b.seen_key,
            leased: true,
            result: done(&b),
            outlinks: &[],
            refused: &[],
            extra: vec![],
            records: 0,
            bytes: 0,
            retry: Some(again),
        })
        .unwrap();
        finish_fetched(&f, &a);
        for l in [&a, &b, &c] {
            f.release_host(&l.host, Release::NOW).unwrap();
        }
        f.return_lease(&c, Release::NOW).unwrap();
        let mut order = Vec::new();
        while let Next::Lease(l) = f.next().unwrap() {
            order.push((l.uri.url.clone(), l.uri.attempts));
            finish_fetched(&f, &l);
            f.release_host(&l.host, Release::NOW).unwrap();
        }
        let mut want: Vec<(String, u32)> = (2..130).map(|i| (format!("http://a.example/{i}"), 0)).collect();
        want.push(("http://a.example/1".into(), 1));
        assert_eq!(order, want);
        assert_eq!(f.counts().fetched, 130);
        assert_eq!(f.store().tree.scan_prefix(b"e:").count(), 0);
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
