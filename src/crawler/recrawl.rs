//! Recrawl and deduplication: the per-URL prior capture (`p:`), the payload-digest index (`g:`),
//! the recrawl schedule of seeds (`c:`), and the choice between a full response and a revisit.
//!
//! DESIGN §Recrawl: a revisit always cites the *original full response* (never another revisit),
//! and what it cites is durable: the `g:` and `p:` entries of a capture are written in the same
//! sled batch as its outcome, after the WARC fsync, so a lookup can only find records on disk.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `p:` | seen_key | [`Prior`]: the URL's last full 2xx capture and its validators |
//! | `g:` | payload digest (+ `#chunked`) | [`OriginalRef`]: the first full capture with that payload |
//!
//! A revisit is only written when the response's transfer coding matches the original's (both
//! chunked or both not): a replay tool serves the original's stored body under the revisit's
//! header fields, so a chunked original under a revisit's `Content-Length` head would replay with
//! its chunk-size lines in the body. The digest index is therefore keyed by digest and framing.
//! | `c:` | seed URL | [`RecrawlState`]: the seed's round and when the next one is due |

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use url::Url;

use super::Shared;
use crate::canon::host_key;
use crate::config::Dedup;
use crate::fetch::{Exchange, Material};
use crate::frontier::{CrawlUri, NewUri, UrlState};
use crate::store::{decode, encode, StoreError};
use crate::warc::{OriginalRef, Primary, RevisitKind};

/// A URL's last full 2xx capture, with the validators a conditional recrawl sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prior {
    /// The full response record.
    pub original: OriginalRef,
    /// Its `ETag` header, as received.
    #[serde(default)]
    pub etag: Option<String>,
    /// Its `Last-Modified` header, as received.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// Whether its body was sent with `Transfer-Encoding: chunked`.
    #[serde(default)]
    pub chunked: bool,
}

impl Prior {
    /// The request header fields of a conditional request (RFC 9110 §13.1.2, §13.1.3).
    pub fn validators(&self) -> Vec<(http::HeaderName, String)> {
        let mut v = Vec::new();
        if let Some(e) = &self.etag {
            v.push((http::header::IF_NONE_MATCH, e.clone()));
        }
        if let Some(lm) = &self.last_modified {
            v.push((http::header::IF_MODIFIED_SINCE, lm.clone()));
        }
        v
    }
}

/// A seed's recrawl schedule, kept in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecrawlState {
    /// The last round started (0: the first crawl).
    pub round: u32,
    /// When the next round is due, ms since the epoch.
    pub due_ms: u64,
}

fn k_prior(seen: &str) -> Vec<u8> {
    [b"p:", seen.as_bytes()].concat()
}

fn k_digest(digest: &str, chunked: bool) -> Vec<u8> {
    let framing: &[u8] = if chunked { b"#chunked" } else { b"" };
    [b"g:", digest.as_bytes(), framing].concat()
}

/// Whether the response's body was sent chunked (its transfer coding, RFC 9112 §7).
fn is_chunked(ex: &Exchange) -> bool {
    ex.framed()
        .and_then(|f| f.header("transfer-encoding"))
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
}

fn k_schedule(seed: &str) -> Vec<u8> {
    [b"c:", seed.as_bytes()].concat()
}

/// The URL's prior full capture, if the state has one.
pub(super) fn prior(shared: &Shared, seen: &str) -> Option<Prior> {
    let k = k_prior(seen);
    let v = shared.frontier.store().tree.get(&k).ok()??;
    decode(&k, &v).ok()
}

/// How a capture is written and what it adds to the indexes.
#[derive(Debug, Clone)]
pub struct CapturePlan {
    /// Full response or revisit.
    pub primary: Primary,
    /// The payload digest, computed once.
    pub digest: String,
    /// Whether the capture becomes the URL's prior (a full, untruncated 2xx response).
    pub is_original: bool,
    /// Whether it also enters the payload-digest index (url-agnostic dedup, large enough, new).
    pub index_digest: bool,
    /// Whether its body was sent chunked (the framing its index entries carry).
    pub chunked: bool,
}

/// Whether a response may be a revisit's original or be deduplicated: a parsed, complete 2xx
/// response (never a truncated record: its digest is not the whole payload's).
fn full_2xx(ex: &Exchange) -> bool {
    matches!(&ex.material, Material::Response(f) if (200..300).contains(&f.status)) && ex.truncated.is_none()
}

/// Chooses how `ex` (the response to the URL `seen`) is written. `asked` is the prior whose
/// validators the request carried (a conditional recrawl): a 304 then becomes a
/// server-not-modified revisit citing it. Otherwise, with dedup on, a full 2xx response at least
/// `dedup_min_size` long whose payload digest is known becomes an identical-payload revisit.
pub(super) fn plan(shared: &Shared, seen: &str, ex: &Exchange, asked: Option<&Prior>) -> CapturePlan {
    let digest = crate::warc::sha1_digest(ex.payload_slices());
    let chunked = is_chunked(ex);
    let cfg = shared.cfg();
    let revisit = |kind, orig| CapturePlan {
        primary: Primary::Revisit(kind, orig),
        digest: digest.clone(),
        is_original: false,
        index_digest: false,
        chunked,
    };
    if let (Some(p), Some(304)) = (asked, ex.status()) {
        return revisit(RevisitKind::NotModified, p.original.clone());
    }
    let is_original = full_2xx(ex);
    let big = ex.payload_slices().iter().map(|s| s.len() as u64).sum::<u64>() >= cfg.dedup_min_size.max(1);
    let dedupable = is_original && big;
    let found = match cfg.dedup {
        Dedup::Off => None,
        _ if !dedupable => None,
        Dedup::SameUrl => prior(shared, seen)
            .filter(|p| p.chunked == chunked && p.original.payload_digest == digest)
            .map(|p| p.original),
        Dedup::UrlAgnostic => {
            let k = k_digest(&digest, chunked);
            shared.frontier.store().tree.get(&k).ok().flatten().and_then(|v| decode::<OriginalRef>(&k, &v).ok())
        }
    };
    match found {
        Some(orig) => revisit(RevisitKind::IdenticalPayload, orig),
        None => CapturePlan {
            primary: Primary::Full,
            index_digest: dedupable && cfg.dedup == Dedup::UrlAgnostic,
            digest,
            is_original,
            chunked,
        },
    }
}

/// The `p:` and `g:` entries of a capture written as a full response (empty for a revisit),
/// for the commit batch.
pub(super) fn index_entries(
    plan: &CapturePlan,
    seen: &str,
    ex: &Exchange,
    record_id: &str,
    date: &str,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    if !plan.is_original {
        return vec![];
    }
    let original = OriginalRef {
        target_uri: ex.url.to_string(),
        date: date.to_string(),
        record_id: record_id.to_string(),
        payload_digest: plan.digest.clone(),
    };
    let header = |n: &str| ex.framed().and_then(|f| f.header(n)).filter(|v| !v.is_empty());
    let mut out = Vec::new();
    if plan.index_digest {
        out.push((k_digest(&plan.digest, plan.chunked), encode(&original)));
    }
    let prior = Prior { original, etag: header("etag"), last_modified: header("last-modified"), chunked: plan.chunked };
    out.push((k_prior(seen), encode(&prior)));
    out
}

/// Whether a URL of a recrawl round may be fetched conditionally: only when its links are not
/// needed in the round (its hop count is at least its seed's `recrawl_hops`), since a 304 carries
/// no links to follow.
pub(super) fn may_ask_conditionally(shared: &Shared, uri: &CrawlUri) -> bool {
    uri.round > 0
        && shared
            .scope
            .read()
            .ok()
            .and_then(|s| s.recrawl_of(&uri.seed))
            .is_none_or(|r| uri.hops.len() as u64 >= r.hops as u64)
}

/// The recrawl round a discovered URL belongs to: its parent's, when the parent is in a recrawl
/// round and the URL is within its seed's `recrawl_hops`; else 0 (queued only if never seen).
pub(super) fn child_round(shared: &Shared, parent: &CrawlUri, hops: &str) -> u32 {
    if parent.round == 0 {
        return 0;
    }
    let within = shared
        .scope
        .read()
        .ok()
        .and_then(|s| s.recrawl_of(&parent.seed))
        .is_some_and(|r| hops.len() as u64 <= r.hops as u64);
    if within {
        parent.round
    } else {
        0
    }
}

/// Starts the rounds that are due: each seed with a recrawl schedule is queued again (as a URL of
/// the next round) once its interval has passed since its last round began. A seed still queued
/// from an earlier round skips this one. Returns how many seeds were queued.
pub(super) fn start_due_rounds(shared: &Shared) -> Result<usize, StoreError> {
    let seeds = shared.scope.read().map(|s| s.recrawl_seeds()).unwrap_or_default();
    let now = shared.clock.now_ms();
    let tree = &shared.frontier.store().tree;
    let mut started = 0;
    for (seed, rc) in seeds {
        let key = k_schedule(&seed);
        let interval_ms = rc.interval.as_millis() as u64;
        let state: Option<RecrawlState> = tree.get(&key)?.map(|v| decode(&key, &v)).transpose()?;
        let Some(state) = state else {
            // First sight: the seed's first crawl is the normal one; round 1 is an interval away.
            tree.insert(key, encode(&RecrawlState { round: 0, due_ms: now + interval_ms }))?;
            continue;
        };
        if now < state.due_ms {
            // A shorter interval (a reload, or the seed added again) takes effect at once.
            if state.due_ms > now + interval_ms {
                tree.insert(&key, encode(&RecrawlState { due_ms: now + interval_ms, ..state }))?;
            }
            continue;
        }
        let Ok(url) = Url::parse(&seed) else { continue };
        let round = state.round + 1;
        let uri = NewUri {
            seen_key: shared.key(&url),
            host: host_key(&url),
            uri: CrawlUri { url: seed.clone(), hops: String::new(), via: None, seed: seed.clone(), attempts: 0, round },
        };
        let due_ms = now + interval_ms;
        if matches!(shared.frontier.url_record(&uri.seen_key)?.map(|r| r.state), Some(UrlState::Queued)) {
            warn!(seed = %seed, "recrawl due, but the seed is still queued from its last round: this round is skipped");
            tree.insert(&key, encode(&RecrawlState { due_ms, ..state }))?;
            continue;
        }
        let next = RecrawlState { round, due_ms };
        if shared.frontier.requeue(std::slice::from_ref(&uri), vec![(key, encode(&next))])? > 0 {
            info!(seed = %seed, round, "recrawl round started");
            started += 1;
        }
    }
    Ok(started)
}

/// Checks the recrawl schedules every second (on a blocking thread: sled reads) and wakes the
/// workers when a round starts. Runs for the life of the crawl.
pub(super) async fn recrawl_loop(shared: Arc<Shared>) {
    loop {
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || start_due_rounds(&s)).await {
            Ok(Ok(n)) if n > 0 => shared.wake.notify_waiters(),
            Ok(Err(e)) => warn!(cause = %e, "could not check the recrawl schedule"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
