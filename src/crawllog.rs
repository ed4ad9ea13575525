//! `crawl.log`: one line per finished URL in Heritrix 3's format, so the field's tools and habits
//! (grep by status, awk by column, Heritrix log analysers) work on harvestd crawls unchanged.
//!
//! This module owns the line format and the file. Each line has twelve space-separated fields,
//! as Heritrix's `UriProcessingFormatter` writes them:
//!
//! | # | field | form |
//! |---|-------|------|
//! | 1 | time of logging | ISO 8601 UTC to the millisecond, `2011-06-23T17:12:08.802Z` |
//! | 2 | fetch status | HTTP status, or a negative Heritrix code; right-aligned in 5 columns |
//! | 3 | document size | payload bytes (headers excluded), `-` when none; right-aligned in 10 |
//! | 4 | URL | |
//! | 5 | hop path from the seed | `-` for a seed; over 50 hops: `N+` and the last 50 |
//! | 6 | via (referrer) | `-` when none |
//! | 7 | MIME type | the Content-Type cut at `;`, `,` or space; `no-type` when absent; `unknown` without a response |
//! | 8 | worker | `#` and the worker number in 3 digits |
//! | 9 | fetch start and duration | `yyyyMMddHHmmssSSS+ms`, `-` without a fetch |
//! | 10 | payload digest | `sha1:BASE32`, `-` when none |
//! | 11 | source tag | `-` (harvestd has none) |
//! | 12 | annotations | comma-separated, nothing at all when there are none |
//!
//! Non-HTTP outcomes map to Heritrix's `FetchStatusCodes` ([`heritrix_status`]). Annotations used:
//! `Nt` (tried N times, N > 1), `lenTrunc`, `timeTrunc`, `disconnectTrunc` (ours: Heritrix has no
//! name for a body cut by the server), `unparseable` (ours: material that is not HTTP, archived
//! as a resource record) and `trap:RULE` (ours: the crawl-trap rule that refused the URL, named by
//! its configuration key, e.g. `trap:max_path_depth`).
//!
//! The file is appended to, a line per URL once its outcome is committed to the state; lines
//! reach the disk when the commit task has drained its batch. It is a log: after a `kill -9` its
//! last lines may be missing, while the state and the WARC files stay the record of truth.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::frontier::Outcome;
use crate::scope::TrapRule;

/// Longest hop path written whole (Heritrix's `MAX_HOPS_DISPLAYED`).
pub const MAX_HOPS_DISPLAYED: usize = 50;

/// One crawl.log line's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When the line is logged.
    pub logged: DateTime<Utc>,
    /// HTTP status or Heritrix code ([`heritrix_status`]).
    pub status: i32,
    /// Payload size in bytes (transfer coding removed, content coding kept), if a response came.
    pub size: Option<u64>,
    /// The URL.
    pub url: String,
    /// Hop path from the seed (empty for a seed).
    pub hops: String,
    /// The URL it was found on.
    pub via: Option<String>,
    /// The response's Content-Type header value, as sent (`None`: no such header).
    pub content_type: Option<String>,
    /// Whether a response came at all (else the MIME field is `unknown`).
    pub responded: bool,
    /// Worker number.
    pub worker: usize,
    /// Fetch start and its duration in milliseconds.
    pub fetch: Option<(DateTime<Utc>, u64)>,
    /// Payload digest, `sha1:BASE32`.
    pub digest: Option<String>,
    /// Annotations, in order.
    pub annotations: Vec<String>,
}

/// Heritrix's fetch status for an outcome: the HTTP status, or its `FetchStatusCodes` value
/// (-1 DNS lookup failed, -2 connect failed, -3 connection broken before a response, -4 timeout,
/// -5 internal error, -7 unfetchable URL, -61 robots.txt prerequisite failed, -5000 out of scope:
/// refused by a crawl-trap rule, -5001 blocked by an operator's exclusion, -5002 refused by the
/// destination policy, -5003 over a quota: the per-host URL budget, -9998 precluded by robots.txt).
pub fn heritrix_status(outcome: &Outcome) -> i32 {
    match outcome {
        Outcome::Fetched(s) => i32::from(*s),
        Outcome::Dns(_) => -1,
        Outcome::Connect(_) | Outcome::Tls(_) => -2,
        Outcome::NoResponse(_) => -3,
        Outcome::Timeout(_) => -4,
        Outcome::InternalError(_) => -5,
        Outcome::InvalidUrl(_) => -7,
        Outcome::RobotsPrerequisiteFailed(_) => -61,
        Outcome::TrapRejected { rule: TrapRule::MaxUrlsPerHost, .. } => -5003,
        Outcome::TrapRejected { .. } => -5000,
        Outcome::Excluded(_) => -5001,
        Outcome::DestinationRefused(_) => -5002,
        Outcome::RobotsPrecluded => -9998,
    }
}

/// The MIME field: the type cut at the first `;`, `,` or whitespace (Heritrix's
/// `MimetypeUtils.truncate`), `no-type` when absent or empty.
pub fn mime_field(content_type: Option<&str>) -> String {
    let t = content_type.unwrap_or("").trim_start();
    let cut = t.split(|c: char| c == ';' || c == ',' || c.is_whitespace()).next().unwrap_or("");
    if cut.is_empty() {
        "no-type".into()
    } else {
        cut.to_string()
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// The hop path as Heritrix shows it: `-` when empty; over [`MAX_HOPS_DISPLAYED`] hops, the count
/// of hops left out, `+`, and the last 50.
pub fn hops_field(hops: &str) -> String {
    let n = hops.chars().count();
    if n > MAX_HOPS_DISPLAYED {
        let tail: String = hops.chars().skip(n - MAX_HOPS_DISPLAYED).collect();
        format!("{}+{tail}", n - MAX_HOPS_DISPLAYED)
    } else {
        or_dash(hops).to_string()
    }
}

/// Formats one line, newline included.
pub fn format_line(e: &Entry) -> String {
    let size = e.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
    let mime = if e.responded { mime_field(e.content_type.as_deref()) } else { "unknown".into() };
    let fetch = match &e.fetch {
        Some((began, ms)) => format!("{}+{ms}", began.format("%Y%m%d%H%M%S%3f")),
        None => "-".into(),
    };
    format!(
        "{} {:>5} {:>10} {} {} {} {} #{:03} {} {} - {}\n",
        e.logged.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        e.status,
        size,
        e.url,
        hops_field(&e.hops),
        or_dash(e.via.as_deref().unwrap_or("")),
        mime,
        e.worker,
        fetch,
        or_dash(e.digest.as_deref().unwrap_or("")),
        e.annotations.join(","),
    )
}

/// The open `crawl.log`, appended to.
#[derive(Debug)]
pub struct CrawlLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl CrawlLog {
    /// Opens (creating it and its directory if needed) `dir/crawl.log` for appending.
    pub fn open(dir: &Path) -> std::io::Result<CrawlLog> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("crawl.log");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(CrawlLog { path, out: BufWriter::new(file) })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Buffers one line.
    pub fn append(&mut self, e: &Entry) -> std::io::Result<()> {
        self.out.write_all(format_line(e).as_bytes())
    }

    /// Hands the buffered lines to the OS.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Two lines from the Heritrix 3 wiki's "Logs" page (crawl.log section), with the facts they
    /// record; ours must match them byte for byte, field by field and width by width. The wiki
    /// lines end in `- -` (source tag, then `-` for no annotations); Heritrix's current
    /// `UriProcessingFormatter` writes nothing at all for no annotations, and so do we: the
    /// golden line's last `-` is dropped before comparing.
    const GOLDEN: [&str; 2] = [
        "2011-06-23T17:12:08.802Z   200       1299 http://content-5.powells.com/robots.txt LREP http://content-5.powells.com/cgi-bin/imageDB.cgi?isbn=9780385518635 text/plain #014 20110623171208574+225 sha1:YIUOKDGOLGI5JYHDTXRFFQ5FF4N2EJRV - -",
        "2011-06-23T17:12:09.591Z   200      15829 http://www.identitytheory.com/etexts/poetics.html L http://www.identitytheory.com/ text/html #025 20110623171208546+922 sha1:7AJUMSDTOMT4FN7MBFGGNJU3Z56MLCMW - -",
    ];

    fn golden_entries() -> [Entry; 2] {
        [
            Entry {
                logged: at("2011-06-23T17:12:08.802Z"),
                status: 200,
                size: Some(1299),
                url: "http://content-5.powells.com/robots.txt".into(),
                hops: "LREP".into(),
                via: Some("http://content-5.powells.com/cgi-bin/imageDB.cgi?isbn=9780385518635".into()),
                content_type: Some("text/plain; charset=ISO-8859-1".into()),
                responded: true,
                worker: 14,
                fetch: Some((
                    Utc.with_ymd_and_hms(2011, 6, 23, 17, 12, 8).unwrap() + chrono::Duration::milliseconds(574),
                    225,
                )),
                digest: Some("sha1:YIUOKDGOLGI5JYHDTXRFFQ5FF4N2EJRV".into()),
                annotations: vec![],
            },
            Entry {
                logged: at("2011-06-23T17:12:09.591Z"),
                status: 200,
                size: Some(15829),
                url: "http://www.identitytheory.com/etexts/poetics.html".into(),
                hops: "L".into(),
                via: Some("http://www.identitytheory.com/".into()),
                content_type: Some("text/html".into()),
                responded: true,
                worker: 25,
                fetch: Some((at("2011-06-23T17:12:08.546Z"), 922)),
                digest: Some("sha1:7AJUMSDTOMT4FN7MBFGGNJU3Z56MLCMW".into()),
                annotations: vec![],
            },
        ]
    }

    /// Fields with their column spans: (text, start offset).
    fn fields(line: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in line.char_indices() {
            match (c == ' ', start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    out.push((line[s..i].to_string(), s));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push((line[s..].to_string(), s));
        }
        out
    }

    #[test]
    fn lines_match_published_heritrix_lines_field_by_field_and_width_by_width() {
        for (want, e) in GOLDEN.iter().zip(golden_entries()) {
            let ours = format_line(&e);
            let ours = ours.trim_end_matches('\n');
            // Heritrix 3.1+: no annotations is nothing after the source tag's space.
            let want_now = want.strip_suffix(" -").unwrap().to_string() + " ";
            let (w, o) = (fields(&want_now), fields(ours));
            assert_eq!(w.len(), 11, "{want_now}");
            assert_eq!(o.len(), 11, "{ours}");
            for (i, (wf, of)) in w.iter().zip(&o).enumerate() {
                assert_eq!(wf, of, "field {} of\n{want_now}\n{ours}", i + 1);
            }
            assert_eq!(ours, want_now, "byte for byte");
        }
    }

    #[test]
    fn status_and_size_are_right_aligned_and_failures_use_heritrix_codes() {
        let mut e = golden_entries()[1].clone();
        e.status = heritrix_status(&Outcome::RobotsPrecluded);
        e.size = None;
        e.responded = false;
        e.fetch = None;
        e.digest = None;
        e.hops = String::new();
        e.via = None;
        e.worker = 3;
        e.annotations = vec!["3t".into(), "lenTrunc".into()];
        let line = format_line(&e);
        assert_eq!(
            line,
            "2011-06-23T17:12:09.591Z -9998          - http://www.identitytheory.com/etexts/poetics.html - - unknown #003 - - - 3t,lenTrunc\n"
        );
        assert_eq!(&line[25..30], "-9998", "status in columns 26-30");
        assert_eq!(&line[31..41], "         -", "size in the next 10 columns");
        for (o, code) in [
            (Outcome::Dns(String::new()), -1),
            (Outcome::Connect(String::new()), -2),
            (Outcome::NoResponse(String::new()), -3),
            (Outcome::Timeout(String::new()), -4),
            (Outcome::InternalError(String::new()), -5),
            (Outcome::InvalidUrl(String::new()), -7),
            (Outcome::RobotsPrerequisiteFailed(String::new()), -61),
            (Outcome::Excluded(String::new()), -5001),
            (Outcome::TrapRejected { rule: TrapRule::MaxPathDepth, detail: String::new() }, -5000),
            (Outcome::TrapRejected { rule: TrapRule::MaxUrlsPerHost, detail: String::new() }, -5003),
            (Outcome::DestinationRefused(String::new()), -5002),
            (Outcome::Fetched(404), 404),
        ] {
            assert_eq!(heritrix_status(&o), code, "{o:?}");
        }
    }

    #[test]
    fn mime_and_hop_fields() {
        assert_eq!(mime_field(Some("text/html; charset=utf-8")), "text/html");
        assert_eq!(mime_field(Some("text/html,text/plain")), "text/html");
        assert_eq!(mime_field(Some("")), "no-type");
        assert_eq!(mime_field(None), "no-type");
        assert_eq!(hops_field(""), "-");
        assert_eq!(hops_field("LLE"), "LLE");
        let long = "L".repeat(60) + "E";
        assert_eq!(hops_field(&long), format!("11+{}E", "L".repeat(49)));
    }
}
