//! The packed forms of the frontier's two big sets: the seen set, as 64-bit fingerprints in
//! 65,536 buckets (`f:`), and the host queues, as segments of up to [`SEGMENT_URLS`] URLs (`e:`).
//!
//! sled 0.34 keeps about 60 bytes of page metadata in RAM for every key, cached or not (its leaves
//! split at a few entries), so one key per queued URL and one per seen URL put a crawl of 1 M
//! queued URLs above 140 MiB whatever the cache size. Packed, 1 M queued URLs over 10,000 hosts
//! are about 16,000 segment keys and 65,536 bucket keys (frontier benchmark: peak RSS 46–47 MiB
//! while queuing them, against 143 MiB with per-URL keys, both with an 8 MB cache). Heritrix's
//! `BdbUriUniqFilter` keeps its seen set as 64-bit fingerprints for the same reason.
//!
//! A fingerprint is the first 8 bytes of the SHA-1 of the seen key. Two seen keys with the same
//! fingerprint are one URL to the frontier, so the second is never queued: with `n` URLs seen the
//! chance of any such collision is about n² / 2⁶⁵ (3 in a million at 10 M URLs).

use sha1::{Digest, Sha1};

use super::CrawlUri;
use crate::store::StoreError;

/// URLs per queue segment: a new segment is started when the host's last one holds this many.
pub const SEGMENT_URLS: usize = 64;

/// Version byte leading a bucket value.
const BUCKET_VERSION: u8 = 1;

/// The fingerprint of a seen key: the first 8 bytes of its SHA-1, big-endian.
pub fn fingerprint(seen_key: &str) -> u64 {
    let d = Sha1::digest(seen_key.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("SHA-1 is 20 bytes"))
}

/// The number of the bucket holding `fp`: its first 16 bits.
pub fn bucket_of(fp: u64) -> u16 {
    (fp >> 48) as u16
}

/// The key of bucket `n`: `f:` and the number, big-endian.
pub fn k_bucket(n: u16) -> [u8; 4] {
    let b = n.to_be_bytes();
    [b'f', b':', b[0], b[1]]
}

/// The prefix of a host's queue segments: `e:` host `\0`.
pub fn k_segment_prefix(host: &str) -> Vec<u8> {
    [b"e:", host.as_bytes(), b"\0"].concat()
}

/// The key of the host's segment whose first URL has queue sequence `first_seq` (u64 BE): a
/// segment holds sequences from its key's on, below the next segment's.
pub fn k_segment(host: &str, first_seq: u64) -> Vec<u8> {
    [&k_segment_prefix(host)[..], &first_seq.to_be_bytes()].concat()
}

/// What the seen set knows of a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Queued or leased.
    Queued,
    /// Finished in recrawl round `round`; `trap` when a crawl-trap rule refused it.
    Finished {
        /// The round of its last finish.
        round: u32,
        /// Refused by a trap rule (never queued again by a recrawl round).
        trap: bool,
    },
}

/// One bucket of the seen set: entries sorted by fingerprint. Stored as a version byte, then per
/// entry the fingerprint's low 48 bits (big-endian; the key holds the high 16) and a varint of
/// `round << 2 | state` (state 0 queued, 1 finished, 2 refused by a trap rule): 7 bytes for a URL
/// of the first crawl.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    entries: Vec<(u64, Seen)>,
    /// Changed since it was read.
    pub dirty: bool,
}

impl Bucket {
    /// Bucket `n` as stored in `tree` (empty when it has no entry yet).
    pub fn read(tree: &sled::Tree, n: u16) -> Result<Bucket, StoreError> {
        let k = k_bucket(n);
        match tree.get(k)? {
            Some(v) => Bucket::decode(&k, &v),
            None => Ok(Bucket::default()),
        }
    }

    /// Decodes a stored bucket; [`StoreError::Decode`] names `key` when it is malformed.
    pub fn decode(key: &[u8], v: &[u8]) -> Result<Bucket, StoreError> {
        let bad = |cause: String| StoreError::Decode { key: String::from_utf8_lossy(key).to_string(), cause };
        let high = match key {
            [b'f', b':', a, b] => u64::from(u16::from_be_bytes([*a, *b])) << 48,
            _ => return Err(bad("not a seen bucket key".into())),
        };
        let Some((&BUCKET_VERSION, body)) = v.split_first() else {
            return Err(bad("seen bucket of an unknown version".into()));
        };
        let mut r = Reader { v: body, at: 0 };
        let mut entries = Vec::with_capacity(body.len() / 7);
        while r.at < body.len() {
            let low = body.get(r.at..r.at + 6).ok_or_else(|| bad("seen bucket ends inside an entry".into()))?;
            r.at += 6;
            let fp = high | low.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
            let tag = r.varint().map_err(bad)?;
            let round = u32::try_from(tag >> 2).map_err(|_| bad("seen bucket round overflows".into()))?;
            let seen = match tag & 3 {
                0 => Seen::Queued,
                1 => Seen::Finished { round, trap: false },
                2 => Seen::Finished { round, trap: true },
                _ => return Err(bad("seen bucket entry of an unknown state".into())),
            };
            if entries.last().is_some_and(|(last, _)| *last >= fp) {
                return Err(bad("seen bucket entries out of order".into()));
            }
            entries.push((fp, seen));
        }
        Ok(Bucket { entries, dirty: false })
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + self.entries.len() * 7);
        v.push(BUCKET_VERSION);
        for (fp, seen) in &self.entries {
            v.extend_from_slice(&fp.to_be_bytes()[2..]);
            let tag = match seen {
                Seen::Queued => 0,
                Seen::Finished { round, trap: false } => u64::from(*round) << 2 | 1,
                Seen::Finished { round, trap: true } => u64::from(*round) << 2 | 2,
            };
            put_varint(&mut v, tag);
        }
        v
    }

    /// What the bucket knows of `fp`.
    pub fn get(&self, fp: u64) -> Option<Seen> {
        self.entries.binary_search_by_key(&fp, |e| e.0).ok().map(|i| self.entries[i].1)
    }

    /// Records `fp` as `seen`.
    pub fn set(&mut self, fp: u64, seen: Seen) {
        match self.entries.binary_search_by_key(&fp, |e| e.0) {
            Ok(i) => self.entries[i].1 = seen,
            Err(i) => self.entries.insert(i, (fp, seen)),
        }
        self.dirty = true;
    }
}

/// One queue segment: up to [`SEGMENT_URLS`] (sequence, crawl URI) pairs in queue order.
///
/// Stored compactly (segments are rewritten as URLs are queued and finished, and sled copies the
/// node holding a value on every write): a version byte, the `via` and `seed` strings once each,
/// then per entry the sequence (as a difference from the previous one), the URL and the hop path
/// front-coded against the previous entry's (length shared, then the rest), the `via` and `seed`
/// as string numbers, the attempts and the round; integers are LEB128 varints. A URL of a crawl
/// like the benchmark's takes about 30 bytes (against ~75 as JSON).
#[derive(Debug, Clone, Default)]
pub struct Segment {
    /// The URLs, by queue sequence.
    pub entries: Vec<(u64, CrawlUri)>,
    /// Changed since it was read.
    pub dirty: bool,
}

/// Version byte leading a segment value stored plain.
const SEGMENT_VERSION: u8 = 1;
/// Version byte leading a segment value stored deflated (RFC 1951; the same layout inside).
const SEGMENT_DEFLATED: u8 = 2;
/// Segments of at least this many bytes are deflated.
const DEFLATE_FROM: usize = 256;
/// The most an inflated segment may hold (64 URLs of the longest `max_url_length` fit many times).
const SEGMENT_MAX_BYTES: u64 = 16 << 20;

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Bytes `a` and `b` share at their start, cut back to a UTF-8 character boundary of `b`.
fn shared_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

thread_local! {
    /// One raw-deflate compressor per thread, reset for each segment: a new one per segment
    /// costs a few hundred KB of tables, and allocating and freeing those at every write left
    /// glibc's heap fragmented (RSS 340 MiB in the frontier benchmark instead of ~60).
    static DEFLATE: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::fast(), false));
    /// Its inflating counterpart.
    static INFLATE: std::cell::RefCell<flate2::Decompress> = std::cell::RefCell::new(flate2::Decompress::new(false));
}

/// Inflates a deflated segment body, at most [`SEGMENT_MAX_BYTES`].
fn inflate(packed: &[u8]) -> Result<Vec<u8>, String> {
    INFLATE.with_borrow_mut(|z| {
        z.reset(false);
        let mut out = Vec::with_capacity(packed.len() * 4);
        loop {
            out.reserve(packed.len() * 2 + 256);
            let at = z.total_in() as usize;
            let status = z
                .decompress_vec(&packed[at..], &mut out, flate2::FlushDecompress::Finish)
                .map_err(|e| format!("queue segment does not inflate: {e}"))?;
            match status {
                flate2::Status::StreamEnd => return Ok(out),
                _ if out.len() as u64 > SEGMENT_MAX_BYTES => return Err("queue segment inflates too large".into()),
                _ if z.total_in() as usize == packed.len() && out.len() < out.capacity() => {
                    return Err("queue segment ends inside its deflated data".into())
                }
                _ => {}
            }
        }
    })
}

/// Reads a stored segment, failing with a message on a malformed one.
struct Reader<'a> {
    v: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.v.get(self.at).ok_or("queue segment ends inside a number")?;
            self.at += 1;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err("queue segment holds an over-long number".into())
    }

    fn small(&mut self) -> Result<usize, String> {
        usize::try_from(self.varint()?)
            .ok()
            .filter(|n| *n <= self.v.len())
            .ok_or_else(|| "queue segment holds an impossible length".into())
    }

    fn text(&mut self) -> Result<&str, String> {
        let n = self.small()?;
        let b = self.v.get(self.at..self.at + n).ok_or("queue segment ends inside a string")?;
        self.at += n;
        std::str::from_utf8(b).map_err(|_| "queue segment holds a string that is not UTF-8".into())
    }

    /// Reads a string front-coded against `s` into `s`.
    fn front_coded(&mut self, s: &mut String) -> Result<(), String> {
        let shared = self.small()?;
        if shared > s.len() || !s.is_char_boundary(shared) {
            return Err("queue segment shares more than the previous string holds".into());
        }
        s.truncate(shared);
        s.push_str(self.text()?);
        Ok(())
    }

    fn number<T: TryFrom<u64>>(&mut self, what: &str) -> Result<T, String> {
        T::try_from(self.varint()?).map_err(|_| format!("queue segment {what} overflows"))
    }
}

/// One entry as read: sequence, URL, hop path, `via` string number, `seed` string number,
/// attempts, round.
type RawEntry<'a> = (u64, &'a str, &'a str, Option<usize>, usize, u32, u32);

/// The plain (inflated) bytes of a stored segment.
fn plain_of(v: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    match v.split_first() {
        Some((&SEGMENT_VERSION, plain)) => Ok(plain.into()),
        Some((&SEGMENT_DEFLATED, packed)) => Ok(inflate(packed)?.into()),
        other => Err(format!("queue segment of unknown version {:?}", other.map(|o| o.0))),
    }
}

/// Reads a plain segment: its strings, then each entry handed to `each`. Returns the strings,
/// the count of entries, where they start, and the last entry's sequence, URL and hop path.
#[allow(clippy::type_complexity)]
fn walk(
    plain: &[u8],
    mut each: impl FnMut(&[String], RawEntry<'_>),
) -> Result<(Vec<String>, usize, usize, (u64, String, String)), String> {
    let mut r = Reader { v: plain, at: 0 };
    let strings = (0..r.small()?).map(|_| r.text().map(str::to_string)).collect::<Result<Vec<String>, String>>()?;
    let index = |i: u64| {
        usize::try_from(i).ok().filter(|i| *i < strings.len()).ok_or_else(|| format!("queue segment has no string {i}"))
    };
    let n = r.small()?;
    let body = r.at;
    let (mut seq, mut url, mut hops) = (0u64, String::new(), String::new());
    for _ in 0..n {
        seq = seq.checked_add(r.varint()?).ok_or("queue segment sequence overflows")?;
        r.front_coded(&mut url)?;
        r.front_coded(&mut hops)?;
        let via = match r.varint()? {
            0 => None,
            i => Some(index(i - 1)?),
        };
        let seed = index(r.varint()?)?;
        let attempts = r.number("attempts")?;
        let round = r.number("round")?;
        each(&strings, (seq, &url, &hops, via, seed, attempts, round));
    }
    if r.at != plain.len() {
        return Err("queue segment has bytes after its last entry".into());
    }
    Ok((strings, n, body, (seq, url, hops)))
}

/// Deflates a plain segment of at least [`DEFLATE_FROM`] bytes, and puts its version byte first.
fn pack_plain(plain: &[u8]) -> Vec<u8> {
    if plain.len() < DEFLATE_FROM {
        return [&[SEGMENT_VERSION][..], plain].concat();
    }
    DEFLATE.with_borrow_mut(|z| {
        z.reset();
        let mut out = Vec::with_capacity(plain.len() / 2 + 64);
        out.push(SEGMENT_DEFLATED);
        loop {
            out.reserve(plain.len() / 2 + 64);
            let at = z.total_in() as usize;
            match z.compress_vec(&plain[at..], &mut out, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => return out,
                Ok(_) => {}
                Err(e) => unreachable!("deflating into memory cannot fail: {e}"),
            }
        }
    })
}

/// A queue segment kept encoded, for queuing URLs at its end: appending needs only the strings
/// and the last entry, not every entry decoded into a [`CrawlUri`] (a batch queuing URLs for
/// 1,000 hosts held 14 MB of decoded segments, a fifth of the frontier benchmark's peak RSS).
#[derive(Debug, Clone, Default)]
pub struct Tail {
    strings: Vec<String>,
    count: usize,
    body: Vec<u8>,
    last: (u64, String, String),
    /// Changed since it was read.
    pub dirty: bool,
}

impl Tail {
    /// Decodes a stored segment for appending; [`StoreError::Decode`] names `key` when it is
    /// malformed.
    pub fn decode(key: &[u8], v: &[u8]) -> Result<Tail, StoreError> {
        let read = || {
            let plain = plain_of(v)?;
            let (strings, count, body, last) = walk(&plain, |_, _| {})?;
            Ok(Tail { strings, count, body: plain[body..].to_vec(), last, dirty: false })
        };
        read().map_err(|cause| StoreError::Decode { key: String::from_utf8_lossy(key).to_string(), cause })
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// The last entry's sequence, if any.
    pub fn last_seq(&self) -> Option<u64> {
        (self.count > 0).then_some(self.last.0)
    }

    fn intern(&mut self, s: &str) -> u64 {
        match self.strings.iter().position(|x| x == s) {
            Some(i) => i as u64,
            None => {
                self.strings.push(s.to_string());
                (self.strings.len() - 1) as u64
            }
        }
    }

    /// Appends `uri` at sequence `seq`, which must follow the last entry's.
    pub fn push(&mut self, seq: u64, uri: &CrawlUri) {
        debug_assert!(self.last_seq().is_none_or(|l| l < seq), "appended out of order");
        let via = uri.via.as_deref().map_or(0, |v| self.intern(v) + 1);
        let seed = self.intern(&uri.seed);
        let (last_seq, last_url, last_hops) = &mut self.last;
        let b = &mut self.body;
        put_varint(b, seq - *last_seq);
        for (prev, now) in [(last_url, &uri.url), (last_hops, &uri.hops)] {
            let n = shared_prefix(prev, now);
            put_varint(b, n as u64);
            put_bytes(b, &now.as_bytes()[n..]);
            prev.clear();
            prev.push_str(now);
        }
        *last_seq = seq;
        for n in [via, seed, u64::from(uri.attempts), u64::from(uri.round)] {
            put_varint(b, n);
        }
        self.count += 1;
        self.dirty = true;
    }

    fn plain(&self) -> Vec<u8> {
        let mut plain = Vec::with_capacity(self.body.len() + 64);
        put_varint(&mut plain, self.strings.len() as u64);
        for s in &self.strings {
            put_bytes(&mut plain, s.as_bytes());
        }
        put_varint(&mut plain, self.count as u64);
        plain.extend_from_slice(&self.body);
        plain
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        pack_plain(&self.plain())
    }
}

impl Segment {
    /// Decodes a stored segment; [`StoreError::Decode`] names `key` when it is malformed.
    pub fn decode(key: &[u8], v: &[u8]) -> Result<Segment, StoreError> {
        plain_of(v)
            .and_then(|plain| Self::read_plain(&plain))
            .map_err(|cause| StoreError::Decode { key: String::from_utf8_lossy(key).to_string(), cause })
    }

    fn read_plain(plain: &[u8]) -> Result<Segment, String> {
        let mut entries = Vec::new();
        walk(plain, |strings, (seq, url, hops, via, seed, attempts, round)| {
            let uri = CrawlUri {
                url: url.to_string(),
                hops: hops.to_string(),
                via: via.map(|i| strings[i].clone()),
                seed: strings[seed].clone(),
                attempts,
                round,
            };
            entries.push((seq, uri));
        })?;
        Ok(Segment { entries, dirty: false })
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut t = Tail::default();
        for (seq, uri) in &self.entries {
            t.push(*seq, uri);
        }
        t.encode()
    }
}

/// A segment as a batch holds it: encoded while URLs are only appended to it, decoded once an
/// entry must be found, removed or put in the middle.
#[derive(Debug, Clone)]
pub enum Cached {
    /// Decoded.
    Entries(Segment),
    /// Encoded, for appending.
    Appending(Tail),
}

impl Cached {
    /// Entries held.
    pub fn len(&self) -> usize {
        match self {
            Cached::Entries(s) => s.entries.len(),
            Cached::Appending(t) => t.len(),
        }
    }

    /// The last entry's sequence, if any.
    pub fn last_seq(&self) -> Option<u64> {
        match self {
            Cached::Entries(s) => s.entries.last().map(|e| e.0),
            Cached::Appending(t) => t.last_seq(),
        }
    }

    /// Changed since it was read.
    pub fn dirty(&self) -> bool {
        match self {
            Cached::Entries(s) => s.dirty,
            Cached::Appending(t) => t.dirty,
        }
    }

    /// Appends `uri` at sequence `seq`, which must follow the last entry's.
    pub fn push(&mut self, seq: u64, uri: CrawlUri) {
        match self {
            Cached::Entries(s) => {
                s.entries.push((seq, uri));
                s.dirty = true;
            }
            Cached::Appending(t) => t.push(seq, &uri),
        }
    }

    /// The decoded segment (decoding it now if it was held encoded).
    pub fn entries(&mut self) -> &mut Segment {
        if let Cached::Appending(t) = self {
            let mut s = Segment::read_plain(&t.plain()).expect("a segment this build encoded decodes");
            s.dirty = t.dirty;
            *self = Cached::Entries(s);
        }
        match self {
            Cached::Entries(s) => s,
            Cached::Appending(_) => unreachable!("decoded above"),
        }
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Cached::Entries(s) => s.encode(),
            Cached::Appending(t) => t.encode(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_the_first_8_bytes_of_sha1_and_pick_their_bucket() {
        // SHA-1("") = da39a3ee5e6b4b0d 3255bfef...: the stored sets depend on this staying fixed.
        assert_eq!(fingerprint(""), 0xda39_a3ee_5e6b_4b0d);
        assert_eq!(k_bucket(bucket_of(0xda39_a3ee_5e6b_4b0d)), *b"f:\xda\x39");
    }

    #[test]
    fn buckets_keep_entries_sorted_and_round_trip() {
        let high = 0x7878u64 << 48; // the bucket of key `f:xx`
        let mut b = Bucket::default();
        b.set(high | 9, Seen::Queued);
        b.set(high | 3, Seen::Finished { round: 2, trap: false });
        b.set(high | 0xffff_ffff_ffff, Seen::Finished { round: 70_000, trap: true });
        b.set(high | 9, Seen::Finished { round: 1, trap: false });
        let bytes = b.encode();
        assert_eq!(bytes.len(), 1 + 7 + 7 + 6 + 3, "a round above 31 takes more bytes");
        let back = Bucket::decode(b"f:xx", &bytes).unwrap();
        assert_eq!(back.entries, b.entries);
        assert_eq!(back.get(high | 9), Some(Seen::Finished { round: 1, trap: false }));
        assert_eq!(back.get(high | 4), None);
        assert_eq!(back.entries.iter().map(|e| e.0 & 0xffff_ffff_ffff).collect::<Vec<_>>(), [3, 9, 0xffff_ffff_ffff]);
        let err = Bucket::decode(b"f:xx", &bytes[..bytes.len() - 3]).unwrap_err();
        assert!(err.to_string().contains("f:xx"), "{err}");
        assert!(Bucket::decode(b"f:xx", &[2]).is_err(), "another version is an error");
        let swapped = [&bytes[..1], &bytes[8..15], &bytes[1..8]].concat();
        assert!(Bucket::decode(b"f:xx", &swapped).is_err(), "entries out of order are an error");
    }

    #[test]
    fn segments_store_via_and_seed_once_and_round_trip() {
        let uri = |url: &str, via: Option<&str>| CrawlUri {
            url: url.into(),
            hops: "L".into(),
            via: via.map(Into::into),
            seed: "http://a.example/".into(),
            attempts: 0,
            round: 1,
        };
        let seg = Segment {
            entries: vec![
                (1, CrawlUri { hops: String::new(), ..uri("http://a.example/", None) }),
                (2, uri("http://a.example/x", Some("http://a.example/"))),
                (5, uri("http://a.example/y", Some("http://a.example/x"))),
                // Front coding stops at a character boundary: é and è share their first byte.
                (6, uri("http://a.example/é", Some("http://a.example/x"))),
                (300, CrawlUri { attempts: 3, round: 0, ..uri("http://a.example/è", None) }),
            ],
            dirty: true,
        };
        let bytes = seg.encode();
        let seed_copies = bytes.windows(b"http://a.example/".len()).filter(|w| w == b"http://a.example/").count();
        // The first URL in full, and the strings table's `http://a.example/` and
        // `http://a.example/x`: seeds and vias once each, later URLs front-coded.
        assert_eq!(seed_copies, 3);
        let back = Segment::decode(b"e:a\0", &bytes).unwrap();
        assert_eq!(back.entries, seg.entries);
        assert!(!back.dirty);
        for cut in 0..bytes.len() {
            assert!(Segment::decode(b"e:a\0", &bytes[..cut]).is_err(), "a segment cut at {cut} is an error");
        }
        // A bigger segment is stored deflated, and fails as clearly when cut.
        let many = Segment {
            entries: (0..64)
                .map(|i| (i * 7, uri(&format!("http://a.example/p/{i}.html"), Some("http://a.example/"))))
                .collect(),
            dirty: true,
        };
        let bytes = many.encode();
        assert_eq!(bytes[0], SEGMENT_DEFLATED);
        assert!(bytes.len() < 64 * 8, "{} bytes", bytes.len());
        assert_eq!(Segment::decode(b"e:a\0", &bytes).unwrap().entries, many.entries);
        for cut in 0..bytes.len() {
            assert!(Segment::decode(b"e:a\0", &bytes[..cut]).is_err(), "a deflated segment cut at {cut} is an error");
        }
        let err = Segment::decode(b"e:a\0", &[9]).unwrap_err();
        assert!(err.to_string().contains("e:a") && err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn a_tail_appends_to_a_stored_segment_as_a_decoded_one_would() {
        let uri = |i: u32| CrawlUri {
            url: format!("http://a.example/p/{i}"),
            hops: "L".repeat(1 + i as usize % 3),
            via: i.is_multiple_of(2).then(|| format!("http://a.example/v/{}", i / 10)),
            seed: "http://a.example/".into(),
            attempts: i % 4,
            round: i / 30,
        };
        let all: Vec<(u64, CrawlUri)> = (0..60).map(|i| (u64::from(i) * 3 + 1, uri(i))).collect();
        let first = Segment { entries: all[..25].to_vec(), dirty: true }.encode();
        let mut tail = Tail::decode(b"e:a\0", &first).unwrap();
        assert_eq!((tail.len(), tail.last_seq(), tail.dirty), (25, Some(73), false));
        for (seq, u) in &all[25..] {
            tail.push(*seq, u);
        }
        assert!(tail.dirty);
        let whole = Segment { entries: all.clone(), dirty: true };
        assert_eq!(tail.encode(), whole.encode(), "the same bytes either way");
        assert_eq!(Segment::decode(b"e:a\0", &tail.encode()).unwrap().entries, all);
        // Held encoded, then decoded for a removal: the pending appends and the dirty mark stay.
        let mut cached = Cached::Appending(tail);
        assert_eq!(cached.entries().entries, all);
        assert!(cached.dirty() && cached.len() == 60);
    }
}
