//! WARC output (ISO 28500, WARC/1.1): record building, the writer thread, recovery, reading back,
//! and the CDXJ index beside each closed file ([`cdxj`]).
//!
//! We write records ourselves (DESIGN §WARC): one gzip member per record, fields in a fixed order,
//! `Content-Length` computed from the block, digests `sha1:` + base32. The `warc` crate is used
//! only for reading: [`recover`] walks gzip members itself (it needs member offsets) and hands each
//! member's bytes to the crate to parse.
//!
//! A capture's records are written contiguously as a *group*: its primary record (`response` or
//! `resource`) first, then any records `WARC-Concurrent-To` it, and its `request` record last, so
//! a group is complete exactly when its request record is present (recovery relies on this).

pub mod cdxj;
pub mod recover;
pub mod writer;

use chrono::{DateTime, Utc};
use data_encoding::BASE32;
use sha1::{Digest, Sha1};

use crate::fetch::{Exchange, Material};

/// The WARC version written.
pub const WARC_VERSION: &str = "WARC/1.1";

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

    /// The record serialised: version line, fields, `Content-Length`, blank line, block, CRLF CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.block.len() + 512);
        out.extend_from_slice(WARC_VERSION.as_bytes());
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
    /// The primary record's payload digest.
    pub payload_digest: String,
}

/// Builds the record group of an exchange: `response` (or `resource` for unparseable material)
/// then `request`, sharing one `WARC-Date` (WARC 1.1 §6.3.2, §6.5, §6.6).
pub fn capture_records(ex: &Exchange) -> CaptureRecords {
    let date = warc_date(&ex.date);
    let target = ex.url.as_str().to_string();
    let ip = ex.peer.ip().to_string();
    let primary_id = new_record_id();
    let payload_digest = sha1_digest(ex.payload_slices());
    let block_digest = sha1_digest([&ex.block[..]]);
    let (kind, content_type) = match &ex.material {
        Material::Response(_) => ("response", "application/http;msgtype=response".to_string()),
        Material::Unparseable(_) => ("resource", "application/octet-stream".to_string()),
    };
    let mut fields = vec![
        ("WARC-Type".to_string(), kind.to_string()),
        ("WARC-Record-ID".into(), primary_id.clone()),
        ("WARC-Date".into(), date.clone()),
        ("WARC-Target-URI".into(), target.clone()),
        ("WARC-IP-Address".into(), ip.clone()),
        ("WARC-Block-Digest".into(), block_digest),
        ("WARC-Payload-Digest".into(), payload_digest.clone()),
    ];
    if let Some(t) = ex.truncated {
        fields.push(("WARC-Truncated".into(), t.as_str().into()));
    }
    fields.push(("Content-Type".into(), content_type));
    let primary = Record { fields, block: ex.block.clone() };
    let request = Record {
        fields: vec![
            ("WARC-Type".into(), "request".into()),
            ("WARC-Record-ID".into(), new_record_id()),
            ("WARC-Date".into(), date),
            ("WARC-Target-URI".into(), target),
            ("WARC-IP-Address".into(), ip),
            ("WARC-Concurrent-To".into(), primary_id.clone()),
            ("WARC-Block-Digest".into(), sha1_digest([&ex.request[..]])),
            ("Content-Type".into(), "application/http;msgtype=request".into()),
        ],
        block: ex.request.clone(),
    };
    CaptureRecords { records: vec![primary, request], primary: 0, record_id: primary_id, payload_digest }
}

/// A `warcinfo` record (WARC 1.1 §6.2) for the file `filename` (its final name), with `fields`
/// (`software`, `operator`, …) as `application/warc-fields`.
pub fn warcinfo_record(filename: &str, fields: &[(String, String)]) -> Record {
    let mut block = Vec::new();
    for (k, v) in fields {
        block.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    Record {
        fields: vec![
            ("WARC-Type".into(), "warcinfo".into()),
            ("WARC-Record-ID".into(), new_record_id()),
            ("WARC-Date".into(), warc_date(&Utc::now())),
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

    #[test]
    fn warc_date_has_microseconds() {
        let t = DateTime::parse_from_rfc3339("2026-01-24T10:00:00.123456Z").unwrap().with_timezone(&Utc);
        assert_eq!(warc_date(&t), "2026-01-24T10:00:00.123456Z");
    }
}
