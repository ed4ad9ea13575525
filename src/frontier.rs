//! The frontier: per-host queues ordered by due time, leases, the seen set and per-URL outcomes,
//! all in sled (see [`crate::store`] for the key layout).
//!
//! A host is in exactly one of three states: *due* (it has queued URLs and an entry in the `d:`
//! index at the wall-clock time it may be fetched again), *busy* (one of its URLs is leased; one
//! connection per host), or *idle* (nothing queued; its `next_allowed` time is remembered so a URL
//! queued later still waits out the politeness delay). [`Frontier::next`] leases the first URL of
//! the earliest due host; [`Frontier::release_host`] is called when the response ends and makes the
//! host due again after its delay; [`Frontier::finish`] is the commit task's single atomic write
//! per capture (outcome, lease removal, outlinks, counters). Time is read through the injected
//! [`Clock`]. Every operation runs under one mutex: they are short sled operations.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
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

/// A leased URL: taken off its host's queue, its host busy until [`Frontier::release_host`].
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

/// Per-host scheduling state under `h:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// URLs queued for the host.
    pub queued: u64,
    /// Its entry in the due index, if any.
    pub due_ms: Option<u64>,
    /// Earliest time of its next request (end of the last response + delay).
    pub next_allowed_ms: u64,
    /// A URL of the host is leased.
    pub busy: bool,
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

/// Everything one finished capture changes, applied by [`Frontier::finish`] in one batch.
#[derive(Debug)]
pub struct Completion<'a> {
    /// The URL's seen key.
    pub seen_key: &'a str,
    /// Whether it was leased (a robots.txt capture is not).
    pub leased: bool,
    /// Its result.
    pub result: Finished,
    /// Outlinks to queue (those already seen are skipped).
    pub outlinks: &'a [NewUri],
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

/// The frontier. Cheap to clone; all clones share the database and the mutex.
#[derive(Debug, Clone)]
pub struct Frontier {
    store: Store,
    clock: Arc<dyn Clock>,
    inner: Arc<Mutex<Counts>>,
}

/// A batch being built, with the host states and seen keys it touches.
struct Txn<'a> {
    tree: &'a sled::Tree,
    batch: sled::Batch,
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

    /// Puts the host in the due index at `at` if it has queued URLs, is not busy and is not due yet.
    fn schedule(&mut self, host: &str, at: u64) -> Result<(), StoreError> {
        let (queued, busy, due) = {
            let h = self.host(host)?;
            (h.queued, h.busy, h.due_ms)
        };
        if queued > 0 && !busy && due.is_none() {
            self.batch.insert(k_due(at, host), &[]);
            self.host(host)?.due_ms = Some(at);
        }
        Ok(())
    }

    /// Queues `n` unless its seen key is already known (or, with `again`, whatever it is: a retry).
    /// Returns whether it was queued.
    fn enqueue(&mut self, n: &NewUri, again: bool) -> Result<bool, StoreError> {
        if !again && (self.seen.contains(&n.seen_key) || self.tree.contains_key(k_url(&n.seen_key))?) {
            return Ok(false);
        }
        self.seen.insert(n.seen_key.clone());
        self.counts.seq += 1;
        let seq = self.counts.seq;
        self.batch.insert(k_queue(&n.host, seq), encode(&n.uri));
        self.batch.insert(k_url(&n.seen_key), encode(&UrlRecord { v: 1, state: UrlState::Queued }));
        self.counts.queued += 1;
        let h = self.host(&n.host)?;
        h.queued += 1;
        let at = h.next_allowed_ms.max(self.now);
        self.schedule(&n.host, at)?;
        Ok(true)
    }

    fn apply(mut self, inner: &mut Counts) -> Result<(), StoreError> {
        for (host, st) in &self.hosts {
            self.batch.insert(k_host(host), encode(st));
        }
        self.batch.insert(COUNTS_KEY, encode(&self.counts));
        self.tree.apply_batch(self.batch)?;
        *inner = self.counts;
        Ok(())
    }
}

impl Frontier {
    /// The frontier over `store`, reading time from `clock`.
    pub fn open(store: Store, clock: Arc<dyn Clock>) -> Result<Frontier, StoreError> {
        let counts = match store.tree.get(COUNTS_KEY)? {
            Some(v) => decode(COUNTS_KEY, &v)?,
            None => Counts::default(),
        };
        Ok(Frontier { store, clock, inner: Arc::new(Mutex::new(counts)) })
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn txn(&self, counts: Counts) -> Txn<'_> {
        Txn {
            tree: &self.store.tree,
            batch: sled::Batch::default(),
            hosts: HashMap::new(),
            seen: HashSet::new(),
            counts,
            now: self.clock.now_ms(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current counters.
    pub fn counts(&self) -> Counts {
        *self.lock()
    }

    /// Queues the URLs not seen before (seeds, or runtime additions). Returns how many were new.
    pub fn add(&self, uris: &[NewUri]) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(*inner);
        let mut added = 0;
        for n in uris {
            if t.enqueue(n, false)? {
                added += 1;
            }
        }
        t.apply(&mut inner)?;
        Ok(added)
    }

    /// Start-up recovery: every lease left by a crash goes back to its queue at its old place,
    /// its host due now. Returns how many.
    pub fn recover_leases(&self) -> Result<usize, StoreError> {
        let leases: Vec<Lease> = self
            .store
            .tree
            .scan_prefix(b"l:")
            .map(|r| r.map_err(StoreError::from).and_then(|(k, v)| decode(&k, &v)))
            .collect::<Result<_, _>>()?;
        for l in &leases {
            self.return_lease(l, None)?;
        }
        // A host left busy without a lease (cannot happen by construction) would never be due
        // again: clear such flags so no queue is stranded.
        let stranded: Vec<(String, HostState)> = self
            .store
            .tree
            .scan_prefix(b"h:")
            .filter_map(|r| r.ok())
            .filter_map(|(k, v)| {
                let st: HostState = decode(&k, &v).ok()?;
                (st.busy || (st.queued > 0 && st.due_ms.is_none()))
                    .then(|| (String::from_utf8_lossy(&k[2..]).to_string(), st))
            })
            .collect();
        if !stranded.is_empty() {
            let mut inner = self.lock();
            let mut t = self.txn(*inner);
            for (host, mut st) in stranded {
                st.busy = false;
                t.hosts.insert(host.clone(), st);
                let now = t.now;
                t.schedule(&host, now)?;
            }
            t.apply(&mut inner)?;
        }
        Ok(leases.len())
    }

    /// Leases the first URL of the earliest due host, if one is due now.
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
            let mut t = self.txn(*inner);
            t.batch.remove(&dkey[..]);
            let q = self.store.tree.scan_prefix(k_queue_prefix(&host)).next();
            let Some(q) = q else {
                // Stale due entry: drop it and look again.
                let h = t.host(&host)?;
                h.due_ms = None;
                h.queued = 0;
                t.apply(&mut inner)?;
                continue;
            };
            let (qkey, qval) = q?;
            let uri: CrawlUri = decode(&qkey, &qval)?;
            let seq = u64::from_be_bytes(qkey[qkey.len() - 8..].try_into().expect("queue key layout"));
            let url = url::Url::parse(&uri.url).map_err(|e| StoreError::Decode {
                key: String::from_utf8_lossy(&qkey).to_string(),
                cause: e.to_string(),
            })?;
            let lease = Lease { seen_key: crate::canon::seen_key(&url), host: host.clone(), seq, uri };
            t.batch.remove(&qkey[..]);
            t.batch.insert(k_lease(&lease.seen_key), encode(&lease));
            let h = t.host(&host)?;
            h.due_ms = None;
            h.busy = true;
            h.queued = h.queued.saturating_sub(1);
            t.counts.queued = t.counts.queued.saturating_sub(1);
            t.counts.leased += 1;
            t.apply(&mut inner)?;
            return Ok(Next::Lease(lease));
        }
    }

    /// The host's response ended: it is no longer busy, and may be fetched again from
    /// `next_allowed_ms` (`None`: no request was made, keep its previous time).
    pub fn release_host(&self, host: &str, next_allowed_ms: Option<u64>) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(*inner);
        let h = t.host(host)?;
        h.busy = false;
        if let Some(n) = next_allowed_ms {
            h.next_allowed_ms = n;
        }
        let at = h.next_allowed_ms.max(t.now);
        t.schedule(host, at)?;
        t.apply(&mut inner)
    }

    /// Puts a leased URL back at its place in its queue (its robots.txt had to be fetched first,
    /// or a crash interrupted it) and releases the host as [`Frontier::release_host`] does.
    pub fn return_lease(&self, lease: &Lease, next_allowed_ms: Option<u64>) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let mut t = self.txn(*inner);
        t.batch.remove(k_lease(&lease.seen_key));
        t.counts.leased = t.counts.leased.saturating_sub(1);
        t.batch.insert(k_queue(&lease.host, lease.seq), encode(&lease.uri));
        t.counts.queued += 1;
        let h = t.host(&lease.host)?;
        h.queued += 1;
        h.busy = false;
        if let Some(n) = next_allowed_ms {
            h.next_allowed_ms = n;
        }
        let at = h.next_allowed_ms.max(t.now);
        t.schedule(&lease.host, at)?;
        t.apply(&mut inner)
    }

    /// The commit task's one atomic write for a finished capture: the URL's result (under its
    /// seen key), the lease removed (if it was leased), the outlinks not seen before queued, the
    /// counters, and extra key/value pairs (e.g. a robots cache entry). Returns how many outlinks
    /// were new.
    pub fn finish(&self, c: Completion<'_>) -> Result<usize, StoreError> {
        let Completion { seen_key, leased, result, outlinks, extra, records, bytes, retry } = c;
        let mut inner = self.lock();
        let mut t = self.txn(*inner);
        if leased {
            t.batch.remove(k_lease(seen_key));
            t.counts.leased = t.counts.leased.saturating_sub(1);
        }
        t.counts.records += records;
        t.counts.bytes += bytes;
        t.seen.insert(seen_key.to_string());
        if let Some(again) = &retry {
            t.enqueue(again, true)?;
        } else {
            if result.outcome.is_success() {
                t.counts.fetched += 1;
            } else {
                t.counts.failed += 1;
            }
            t.batch.insert(k_url(seen_key), encode(&UrlRecord { v: 1, state: UrlState::Finished(Box::new(result)) }));
        }
        let mut added = 0;
        for n in outlinks {
            if t.enqueue(n, false)? {
                added += 1;
            }
        }
        for (k, v) in extra {
            t.batch.insert(k, v);
        }
        t.apply(&mut inner)?;
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
            seen_key: crate::canon::seen_key(&u),
            host: crate::canon::host_key(&u),
            uri: CrawlUri { url: url.into(), hops: String::new(), via: None, seed: url.into(), attempts: 0 },
        }
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

    fn lease(f: &Frontier) -> Lease {
        match f.next().unwrap() {
            Next::Lease(l) => l,
            other => panic!("expected a lease, got {other:?}"),
        }
    }

    #[test]
    fn one_lease_per_host_and_delay_after_release() {
        let (_d, f, clock) = setup();
        f.add(&[new_uri("http://a.example/1"), new_uri("http://a.example/2"), new_uri("http://b.example/1")]).unwrap();
        let l1 = lease(&f);
        let l2 = lease(&f);
        assert_ne!(l1.host, l2.host, "two leases on one host");
        assert_eq!(f.next().unwrap(), Next::Empty, "both hosts busy");
        // a.example's response ends now; its delay is 500 ms.
        let a = if l1.host == "a.example" { &l1 } else { &l2 };
        f.release_host("a.example", Some(clock.now_ms() + 500)).unwrap();
        assert_eq!(f.next().unwrap(), Next::WaitUntil(clock.now_ms() + 500));
        clock.advance(499);
        assert!(matches!(f.next().unwrap(), Next::WaitUntil(_)));
        clock.advance(1);
        let l3 = lease(&f);
        assert_eq!(l3.uri.url, "http://a.example/2");
        f.finish(Completion {
            seen_key: &a.seen_key,
            leased: true,
            result: done(a),
            outlinks: &[],
            extra: vec![],
            records: 2,
            bytes: 10,
            retry: None,
        })
        .unwrap();
        assert_eq!(f.counts().leased, 2);
        assert_eq!(f.counts().fetched, 1);
    }

    #[test]
    fn idle_host_reinserted_at_its_next_allowed_time() {
        let (_d, f, clock) = setup();
        f.add(&[new_uri("http://a.example/1")]).unwrap();
        let l = lease(&f);
        f.release_host("a.example", Some(clock.now_ms() + 2_000)).unwrap();
        assert_eq!(f.next().unwrap(), Next::Empty, "idle host has no due entry");
        // The commit lands 100 ms later with an outlink to the same host: due at the delay's end.
        clock.advance(100);
        f.finish(Completion {
            seen_key: &l.seen_key,
            leased: true,
            result: done(&l),
            outlinks: &[new_uri("http://a.example/2")],
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
        f.release_host("a.example", Some(clock.now_ms() + 1_000)).unwrap();
        clock.advance(3_000);
        f.finish(Completion {
            seen_key: &l2.seen_key,
            leased: true,
            result: done(&l2),
            outlinks: &[new_uri("http://a.example/3")],
            extra: vec![],
            records: 0,
            bytes: 0,
            retry: None,
        })
        .unwrap();
        assert!(matches!(f.next().unwrap(), Next::Lease(_)));
    }

    #[test]
    fn seen_urls_are_not_queued_twice() {
        let (_d, f, _c) = setup();
        assert_eq!(f.add(&[new_uri("http://a.example/x"), new_uri("http://A.example:80/x#f")]).unwrap(), 1);
        let l = lease(&f);
        f.release_host(&l.host, None).unwrap();
        let n = f
            .finish(Completion {
                seen_key: &l.seen_key,
                leased: true,
                result: done(&l),
                outlinks: &[new_uri("http://a.example/x")],
                extra: vec![],
                records: 0,
                bytes: 0,
                retry: None,
            })
            .unwrap();
        assert_eq!(n, 0);
        assert_eq!(f.counts().queued, 0);
    }

    #[test]
    fn leases_return_to_their_place_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(5_000));
        {
            let f = Frontier::open(Store::open(dir.path(), 1 << 20).unwrap(), clock.clone()).unwrap();
            f.add(&[new_uri("http://a.example/1"), new_uri("http://a.example/2")]).unwrap();
            let _l = lease(&f);
            f.store().flush().unwrap();
        } // "crash": the lease is never finished
        let f = Frontier::open(Store::open(dir.path(), 1 << 20).unwrap(), clock.clone()).unwrap();
        assert_eq!(f.counts().leased, 1);
        assert_eq!(f.recover_leases().unwrap(), 1);
        assert_eq!(f.counts().leased, 0);
        assert_eq!(f.counts().queued, 2);
        assert_eq!(lease(&f).uri.url, "http://a.example/1", "the returned URL keeps its place");
    }

    #[test]
    fn return_lease_waits_for_delay() {
        let (_d, f, clock) = setup();
        f.add(&[new_uri("http://a.example/1")]).unwrap();
        let l = lease(&f);
        f.return_lease(&l, Some(clock.now_ms() + 750)).unwrap();
        assert_eq!(f.next().unwrap(), Next::WaitUntil(clock.now_ms() + 750));
        clock.advance(750);
        assert_eq!(lease(&f), l);
    }
}
