//! WARC output (ISO 28500, WARC/1.1): record building, the writer thread, recovery, reading back,
//! and the CDXJ index beside each closed file ([`cdxj`]).
//!
//! We write records ourselves (DESIGN §WARC): one gzip member per record, fields in a fixed order,
//! `Content-Length` computed from the block, digests `sha1:` + base32. The `warc` crate is used
//! only for reading: [`recover`] walks gzip members itself (it needs member offsets) and hands each
//! member's bytes to the crate to parse. [`verify`] checks finished files against WARC 1.1 itself
//! (grammar, framing, digests, references), for `harvestd verify`.
//!
//! A capture's records are written contiguously as a *group*: its primary record (`response` or
//! `resource`) first, then any records `WARC-Concurrent-To` it, and its `request` record last, so
//! a group is complete exactly when its request record is present (recovery relies on this).

pub mod cdxj;
pub mod recover;
pub mod verify;
pub mod wacz;
pub mod writer;

use chrono::{DateTime, Utc};
use data_encoding::BASE32;
use sha1::{Digest, Sha1};

use crate::fetch::{Exchange, Material};

/// The WARC version written by default.
pub const WARC_VERSION: &str = "WARC/1.1";

/// Which WARC version the files are written in (`warc_version` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WarcVersion {
    /// WARC/1.0 (ISO 28500:2009): `WARC-Date` in whole seconds, the 1.0 revisit profile URIs.
    V1_0,
    /// WARC/1.1 (ISO 28500:2017): microsecond `WARC-Date` (§5.4), the 1.1 profile URIs.
    #[default]
    V1_1,
}

impl WarcVersion {
    /// The version line, `WARC/1.0` or `WARC/1.1`.
    pub fn line(self) -> &'static str {
        match self {
            WarcVersion::V1_0 => "WARC/1.0",
            WarcVersion::V1_1 => WARC_VERSION,
        }
    }

    /// `WARC-Date` of `t` in this version: seconds only in 1.0 (WARC 1.0 §5.4 allows no fraction),
    /// microseconds in 1.1.
    pub fn date(self, t: &DateTime<Utc>) -> String {
        match self {
            WarcVersion::V1_0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            WarcVersion::V1_1 => warc_date(t),
        }
    }

    /// The `WARC-Profile` URI of a revisit of `kind` (WARC 1.1 §6.7.2, §6.7.3; the 1.0 URIs are
    /// those of WARC 1.0 §6.7.2).
    pub fn profile(self, kind: RevisitKind) -> &'static str {
        match (self, kind) {
            (WarcVersion::V1_0, RevisitKind::IdenticalPayload) => {
                "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"
            }
            (WarcVersion::V1_0, RevisitKind::NotModified) => {
                "http://netpreserve.org/warc/1.0/revisit/server-not-modified"
            }
            (WarcVersion::V1_1, RevisitKind::IdenticalPayload) => {
                "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
            }
            (WarcVersion::V1_1, RevisitKind::NotModified) => {
                "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
            }
        }
    }
}

/// The two revisit profiles written (WARC 1.1 §6.7.2, §6.7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisitKind {
    /// The payload is byte-identical to an earlier full capture's (same payload digest).
    IdenticalPayload,
    /// The server answered a conditional request with `304 Not Modified`.
    NotModified,
}

/// What a revisit record cites: the earlier *full* response (never another revisit; DESIGN
/// §Recrawl). Kept in the state (payload-digest index and per-URL prior capture).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OriginalRef {
    /// The original response's `WARC-Target-URI`.
    pub target_uri: String,
    /// Its `WARC-Date`, exactly as written.
    pub date: String,
    /// Its `WARC-Record-ID` (`<urn:uuid:…>`).
    pub record_id: String,
    /// Its `WARC-Payload-Digest` (`sha1:` + base32).
    pub payload_digest: String,
}

/// One WARC record: named fields in order (without `Content-Length`, which is computed) and a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Header fields in the order written.
    pub fields: Vec<(String, String)>,
    /// The record block.
    pub block: Vec<u8>,
}

impl Record {
    /// The value of the first field named `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Inserts `WARC-Warcinfo-ID` after `WARC-Date` (the writer knows the file's warcinfo).
    pub fn set_warcinfo_id(&mut self, id: &str) {
        self.fields.retain(|(n, _)| n != "WARC-Warcinfo-ID");
        let at = self.fields.iter().position(|(n, _)| n == "WARC-Date").map(|i| i + 1).unwrap_or(self.fields.len());
        self.fields.insert(at, ("WARC-Warcinfo-ID".into(), id.into()));
    }

    /// The record serialised as WARC/1.1: version line, fields, `Content-Length`, blank line,
    /// block, CRLF CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_as(WarcVersion::V1_1)
    }

    /// The record serialised with the version line of `version` (the fields are written as they
    /// are: build them for that version).
    pub fn to_bytes_as(&self, version: WarcVersion) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.block.len() + 512);
        out.extend_from_slice(version.line().as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.fields {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.block.len()).as_bytes());
        out.extend_from_slice(&self.block);
        out.extend_from_slice(b"\r\n\r\n");
        out
    }
}

/// A new record ID, `<urn:uuid:…>` (WARC 1.1 §5.2).
pub fn new_record_id() -> String {
    format!("<urn:uuid:{}>", uuid::Uuid::new_v4())
}

/// `WARC-Date` with microseconds, UTC (WARC 1.1 §5.4 allows fractions of a second).
pub fn warc_date(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `sha1:` + base32 of the SHA-1 of the concatenated `parts` (WARC 1.1 §5.8, §5.9).
pub fn sha1_digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    format!("sha1:{}", BASE32.encode(&h.finalize()))
}

/// A capture's records and what the crawler keeps about them.
#[derive(Debug, Clone)]
pub struct CaptureRecords {
    /// The group, in write order (primary first, request last).
    pub records: Vec<Record>,
    /// Index of the primary record in `records`.
    pub primary: usize,
    /// The primary record's ID.
    pub record_id: String,
    /// The primary record's payload digest (for a revisit: the original's, which is the same).
    pub payload_digest: String,
    /// The capture's `WARC-Date`, as written.
    pub date: String,
}

/// The primary record a capture gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Primary {
    /// A full `response` (or `resource` for unparseable material).
    Full,
    /// A `revisit` citing an earlier full response.
    Revisit(RevisitKind, OriginalRef),
}

/// What the `metadata` record of a capture says (as Heritrix writes it: `application/warc-fields`
/// with `via`, `hopsFromSeed`, `sourceTag`, `fetchTimeMs` and one `outlink` per link).
#[derive(Debug, Clone, Default)]
pub struct CaptureMetadata {
    /// The hop path from the seed (`LLE`; empty for a seed).
    pub hops: String,
    /// The URL it was found on.
    pub via: Option<String>,
    /// The seed it descends from.
    pub seed: String,
    /// Request start to response end, ms.
    pub fetch_ms: u64,
    /// Outlinks as (URL, hop type `L`/`E`/`R`/`M`), in document order.
    pub outlinks: Vec<(String, char)>,
}

/// How a capture's records are built.
#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    /// The WARC version written.
    pub version: WarcVersion,
    /// A `metadata` record, `WARC-Concurrent-To` the primary, when set.
    pub metadata: Option<CaptureMetadata>,
    /// The payload digest when already computed (`sha1:` + base32), to hash only once.
    pub payload_digest: Option<String>,
}

/// Builds the record group of an exchange: the primary record (`response`, `resource` for
/// unparseable material, or a `revisit`), an optional `metadata` record, then `request`, sharing
/// one `WARC-Date` (WARC 1.1 §6.3.2, §6.5, §6.6, §6.7).
///
/// A revisit of [`RevisitKind::IdenticalPayload`] holds the response head only (status line and
/// header fields through the blank line) with `WARC-Truncated: length`; one of
/// [`RevisitKind::NotModified`] holds the 304 as received. Both carry `WARC-Profile`,
/// `WARC-Refers-To`, `WARC-Refers-To-Target-URI` and `WARC-Refers-To-Date` (written in WARC/1.0
/// too, as Heritrix does: pywb needs them to find the original).
pub fn capture_records(ex: &Exchange, primary: &Primary, opts: &CaptureOptions) -> CaptureRecords {
    let v = opts.version;
    let date = v.date(&ex.date);
    let target = ex.url.as_str().to_string();
    let ip = ex.peer.ip().to_string();
    let primary_id = new_record_id();
    let payload_digest = opts.payload_digest.clone().unwrap_or_else(|| sha1_digest(ex.payload_slices()));
    let mut fields = vec![
        ("WARC-Type".to_string(), String::new()),
        ("WARC-Record-ID".into(), primary_id.clone()),
        ("WARC-Date".into(), date.clone()),
        ("WARC-Target-URI".into(), target.clone()),
        ("WARC-IP-Address".into(), ip.clone()),
    ];
    let (kind, block) = match (primary, &ex.material) {
        (Primary::Revisit(rk, orig), Material::Response(f)) => {
            let block = match rk {
                RevisitKind::IdenticalPayload => ex.block[..f.head_end.min(ex.block.len())].to_vec(),
                RevisitKind::NotModified => ex.block.clone(),
            };
            fields.push(("WARC-Profile".into(), v.profile(*rk).into()));
            fields.push(("WARC-Refers-To".into(), orig.record_id.clone()));
            fields.push(("WARC-Refers-To-Target-URI".into(), orig.target_uri.clone()));
            fields.push(("WARC-Refers-To-Date".into(), orig.date.clone()));
            fields.push(("WARC-Block-Digest".into(), sha1_digest([&block[..]])));
            if *rk == RevisitKind::IdenticalPayload {
                fields.push(("WARC-Payload-Digest".into(), payload_digest.clone()));
                fields.push(("WARC-Truncated".into(), "length".into()));
            } else if let Some(t) = ex.truncated {
                fields.push(("WARC-Truncated".into(), t.as_str().into()));
            }
            fields.push(("Content-Type".into(), "application/http;msgtype=response".into()));
            ("revisit", block)
        }
        (_, material) => {
            fields.push(("WARC-Block-Digest".into(), sha1_digest([&ex.block[..]])));
            fields.push(("WARC-Payload-Digest".into(), payload_digest.clone()));
            if let Some(t) = ex.truncated {
                fields.push(("WARC-Truncated".into(), t.as_str().into()));
            }
            let (kind, ct) = match material {
                Material::Response(_) => ("response", "application/http;msgtype=response"),
                Material::Unparseable(_) => ("resource", "application/octet-stream"),
            };
            fields.push(("Content-Type".into(), ct.into()));
            (kind, ex.block.clone())
        }
    };
    fields[0].1 = kind.into();
    let mut records = vec![Record { fields, block }];
    if let Some(m) = &opts.metadata {
        records.push(metadata_record(&target, &date, &primary_id, m));
    }
    records.push(Record {
        fields: vec![
            ("WARC-Type".into(), "request".into()),
            ("WARC-Record-ID".into(), new_record_id()),
            ("WARC-Date".into(), date.clone()),
            ("WARC-Target-URI".into(), target),
            ("WARC-IP-Address".into(), ip),
            ("WARC-Concurrent-To".into(), primary_id.clone()),
            ("WARC-Block-Digest".into(), sha1_digest([&ex.request[..]])),
            ("Content-Type".into(), "application/http;msgtype=request".into()),
        ],
        block: ex.request.clone(),
    });
    CaptureRecords { records, primary: 0, record_id: primary_id, payload_digest, date }
}

/// The `metadata` record of a capture (WARC 1.1 §6.8), `application/warc-fields` as Heritrix's
/// `WARCWriterProcessor` writes it: `via`, `hopsFromSeed`, `sourceTag`, `fetchTimeMs`, then
/// `outlink: URL HOP CONTEXT` per link (the context is `-`: our extractor does not keep the
/// element and attribute).
pub fn metadata_record(target: &str, date: &str, concurrent_to: &str, m: &CaptureMetadata) -> Record {
    let mut block = String::new();
    if let Some(via) = &m.via {
        block.push_str(&format!("via: {via}\r\n"));
    }
    block.push_str(&format!("hopsFromSeed: {}\r\n", m.hops));
    block.push_str(&format!("sourceTag: {}\r\n", m.seed));
    block.push_str(&format!("fetchTimeMs: {}\r\n", m.fetch_ms));
    for (url, hop) in &m.outlinks {
        block.push_str(&format!("outlink: {url} {hop} -\r\n"));
    }
    let block = block.into_bytes();
    Record {
        fields: vec![
            ("WARC-Type".into(), "metadata".into()),
            ("WARC-Record-ID".into(), new_record_id()),
            ("WARC-Date".into(), date.into()),
            ("WARC-Target-URI".into(), target.into()),
            ("WARC-Concurrent-To".into(), concurrent_to.into()),
            ("WARC-Block-Digest".into(), sha1_digest([&block[..]])),
            ("Content-Type".into(), "application/warc-fields".into()),
        ],
        block,
    }
}

/// A `warcinfo` record (WARC 1.1 §6.2) for the file `filename` (its final name), with `fields`
/// (`software`, `operator`, …) as `application/warc-fields`.
pub fn warcinfo_record(filename: &str, fields: &[(String, String)]) -> Record {
    warcinfo_record_as(filename, fields, WarcVersion::V1_1)
}

/// [`warcinfo_record`] with the `WARC-Date` form of `version`.
pub fn warcinfo_record_as(filename: &str, fields: &[(String, String)], version: WarcVersion) -> Record {
    let mut block = Vec::new();
    for (k, v) in fields {
        block.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    Record {
        fields: vec![
            ("WARC-Type".into(), "warcinfo".into()),
            ("WARC-Record-ID".into(), new_record_id()),
            ("WARC-Date".into(), version.date(&Utc::now())),
            ("WARC-Filename".into(), filename.into()),
            ("WARC-Block-Digest".into(), sha1_digest([&block[..]])),
            ("Content-Type".into(), "application/warc-fields".into()),
        ],
        block,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha1_base32() {
        // SHA-1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d
        assert_eq!(sha1_digest([&b"abc"[..]]), "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5");
        assert_eq!(sha1_digest([&b"a"[..], &b"bc"[..]]), sha1_digest([&b"abc"[..]]));
    }

    #[test]
    fn record_serialises_with_content_length() {
        let mut r = Record {
            fields: vec![("WARC-Type".into(), "resource".into()), ("WARC-Date".into(), "d".into())],
            block: b"hello".to_vec(),
        };
        r.set_warcinfo_id("<urn:uuid:x>");
        let s = String::from_utf8(r.to_bytes()).unwrap();
        assert_eq!(
            s,
            "WARC/1.1\r\nWARC-Type: resource\r\nWARC-Date: d\r\nWARC-Warcinfo-ID: <urn:uuid:x>\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n"
        );
    }

    fn exchange(response: &[u8]) -> Exchange {
        let framed = crate::fetch::framer::frame_response(response, false, true).unwrap();
        Exchange {
            url: url::Url::parse("http://example.com/a").unwrap(),
            peer: "127.0.0.1:80".parse().unwrap(),
            date: DateTime::parse_from_rfc3339("2026-01-24T10:00:00.123456Z").unwrap().with_timezone(&Utc),
            duration: std::time::Duration::from_millis(12),
            request: b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec(),
            block: response.to_vec(),
            material: Material::Response(Box::new(framed)),
            truncated: None,
            tls_verdict: None,
        }
    }

    fn original() -> OriginalRef {
        OriginalRef {
            target_uri: "http://example.com/z".into(),
            date: "2026-01-01T00:00:00.000001Z".into(),
            record_id: "<urn:uuid:orig>".into(),
            payload_digest: sha1_digest([&b"hello"[..]]),
        }
    }

    #[test]
    fn identical_payload_revisit_holds_the_head_and_cites_the_original() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let ex = exchange(resp);
        let opts = CaptureOptions::default();
        let c = capture_records(&ex, &Primary::Revisit(RevisitKind::IdenticalPayload, original()), &opts);
        let r = &c.records[0];
        assert_eq!(r.field("WARC-Type"), Some("revisit"));
        assert_eq!(r.block, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(r.field("WARC-Block-Digest"), Some(sha1_digest([&r.block[..]]).as_str()));
        assert_eq!(r.field("WARC-Payload-Digest"), Some(sha1_digest([&b"hello"[..]]).as_str()));
        assert_eq!(r.field("WARC-Truncated"), Some("length"));
        assert_eq!(r.field("WARC-Refers-To"), Some("<urn:uuid:orig>"));
        assert_eq!(r.field("WARC-Refers-To-Target-URI"), Some("http://example.com/z"));
        assert_eq!(r.field("WARC-Refers-To-Date"), Some("2026-01-01T00:00:00.000001Z"));
        assert_eq!(r.field("WARC-Profile"), Some("http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"));
        assert_eq!(c.records.len(), 2, "revisit and request, no metadata unless asked");
        assert_eq!(c.records[1].field("WARC-Concurrent-To"), Some(c.record_id.as_str()));
    }

    #[test]
    fn not_modified_revisit_holds_the_304_as_received_in_warc_1_0() {
        let resp = b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
        let ex = exchange(resp);
        let opts = CaptureOptions { version: WarcVersion::V1_0, ..CaptureOptions::default() };
        let c = capture_records(&ex, &Primary::Revisit(RevisitKind::NotModified, original()), &opts);
        let r = &c.records[0];
        assert_eq!(r.block, resp);
        assert_eq!(r.field("WARC-Profile"), Some("http://netpreserve.org/warc/1.0/revisit/server-not-modified"));
        assert_eq!(r.field("WARC-Truncated"), None);
        assert_eq!(r.field("WARC-Date"), Some("2026-01-24T10:00:00Z"), "whole seconds in WARC/1.0");
        assert!(r.to_bytes_as(WarcVersion::V1_0).starts_with(b"WARC/1.0\r\n"));
    }

    #[test]
    fn metadata_record_sits_between_primary_and_request() {
        let ex = exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        let metadata = Some(CaptureMetadata {
            hops: "LE".into(),
            via: Some("http://example.com/".into()),
            seed: "http://example.com/".into(),
            fetch_ms: 12,
            outlinks: vec![("http://example.com/b".into(), 'L')],
        });
        let c = capture_records(&ex, &Primary::Full, &CaptureOptions { metadata, ..CaptureOptions::default() });
        let kinds: Vec<_> = c.records.iter().map(|r| r.field("WARC-Type").unwrap()).collect();
        assert_eq!(kinds, ["response", "metadata", "request"]);
        let m = &c.records[1];
        assert_eq!(m.field("WARC-Concurrent-To"), Some(c.record_id.as_str()));
        assert_eq!(m.field("WARC-Date"), c.records[0].field("WARC-Date"));
        assert_eq!(
            String::from_utf8(m.block.clone()).unwrap(),
            "via: http://example.com/\r\nhopsFromSeed: LE\r\nsourceTag: http://example.com/\r\nfetchTimeMs: 12\r\n\
             outlink: http://example.com/b L -\r\n"
        );
    }

    #[test]
    fn warc_date_has_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-01-24T10:00:00.123456Z").unwrap().with_timezone(&Utc);
        assert_eq!(warc_date(&t), "2026-01-24T10:00:00.123456Z");
    }
}
