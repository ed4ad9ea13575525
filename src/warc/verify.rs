//! `harvestd verify`: checks WARC files record by record, against the standard rather than
//! against what our writer happens to do. It owns the checks, the problem list and its summary;
//! reading gzip members is [`super::recover::MemberWalker`]'s, HTTP framing is
//! [`crate::fetch::framer`]'s.
//!
//! Per record (ISO 28500, WARC 1.1):
//! - the header grammar (§4): a `WARC/1.1` or `WARC/1.0` version line, `name: value` fields
//!   (token names, UTF-8 values, folded continuation lines), CRLF line ends, a blank line; the
//!   mandatory fields `WARC-Record-ID`, `Content-Length`, `WARC-Date`, `WARC-Type` exactly once
//!   (§5.2–§5.5), `WARC-Target-URI` where §6 requires it, `WARC-Profile` on revisits (§6.7);
//! - the framing: the block is exactly `Content-Length` bytes followed by CRLF CRLF (§4), so a
//!   `Content-Length` that lies is an error; in a `.warc.gz` each gzip member holds one record
//!   (Annex D: indexes address members);
//! - `WARC-Block-Digest` over the whole block (§5.8) and `WARC-Payload-Digest` (§5.9): for
//!   `application/http` blocks the payload is the entity body with the transfer coding removed
//!   and the content coding kept (§6.3.2, IIPC warc-specifications issue #22); for other blocks it
//!   is the block. A revisit's payload digest names the original's payload and is not recomputed.
//!   Digests are `sha1` or `sha256`, base32 or base16; another algorithm is a warning;
//! - `application/http` blocks parse as HTTP messages and their body framing (Content-Length,
//!   chunked, close-delimited) ends exactly at the block's end; a record with `WARC-Truncated`
//!   may end early (its payload is "truncated at the same position", §6.3.2); an empty body
//!   under a head that announces one is accepted only when the record answers a `HEAD` request;
//! - across all the files given: record IDs are unique, and every `WARC-Concurrent-To`,
//!   `WARC-Warcinfo-ID` and `WARC-Refers-To` names one of them.
//!
//! Severities, decided here: the spec is the reference, so anything that breaks it is an error —
//! except a payload digest computed over the still-chunked body (the convention of warcio, wpull
//! and Heritrix's FetchHTTP; warcio issues #74/#75, heritrix3 #769): the record is intact and
//! self-consistent, only its digest follows another reading of §5.9, so it is a warning that names
//! the convention (our writer uses the spec form). A `WARC-Refers-To` outside the files given is
//! a warning (a revisit usually refers to an earlier crawl's file); a payload digest that does not
//! match a truncated record's partial payload is a warning (it may describe the whole payload).
//!
//! Speed: one pass per record, files streamed one member at a time (memory is bounded by a few of
//! the largest records, never a whole file); in a `.warc.gz` one thread inflates while another
//! checks, and files are checked side by side when there are more than two cores.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use data_encoding::{BASE32, BASE32_NOPAD, HEXLOWER_PERMISSIVE};
use sha1::{Digest, Sha1};

use super::recover::{Member, MemberWalker, WalkError};
use crate::fetch::framer::{frame_request, frame_response, FrameError, Framed};

/// How bad a problem is: any error makes `harvestd verify` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Readable and intact, but off the spec's recommendations or its reading of a field.
    Warning,
    /// Breaks WARC 1.1 (grammar, framing, digests, references) or cannot be read.
    Error,
}

impl Severity {
    /// `warning` or `error`, as printed.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Index of the file in the list given to [`verify`].
    pub file: usize,
    /// Byte offset in the file of the gzip member (or, uncompressed, the record) concerned.
    pub offset: u64,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, naming the field and the spec section where it helps.
    pub message: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The files checked, in the order given.
    pub files: Vec<PathBuf>,
    /// Records parsed.
    pub records: u64,
    /// Bytes of the files read (compressed size for `.warc.gz`).
    pub bytes: u64,
    /// Bytes of WARC data after decompression.
    pub content_bytes: u64,
    /// Every problem, ordered by file (as given) and offset.
    pub problems: Vec<Problem>,
    /// Wall-clock time taken.
    pub elapsed: Duration,
}

impl Report {
    /// How many problems have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.problems.iter().filter(|p| p.severity == severity).count()
    }

    /// A problem as printed: `FILE:OFFSET: error|warning: message`.
    pub fn line(&self, p: &Problem) -> String {
        format!("{}:{}: {}: {}", self.files[p.file].display(), p.offset, p.severity.as_str(), p.message)
    }

    /// File bytes read per second, in MB (10⁶ bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The summary line: files, records, bytes, errors, warnings, elapsed seconds, MB/s.
    pub fn summary(&self) -> String {
        format!(
            "harvestd verify: {} files, {} records, {} bytes ({} uncompressed), {} errors, {} warnings, {:.2} s, {:.1} MB/s",
            self.files.len(),
            self.records,
            self.bytes,
            self.content_bytes,
            self.count(Severity::Error),
            self.count(Severity::Warning),
            self.elapsed.as_secs_f64(),
            self.mb_per_s()
        )
    }
}

/// Checks `files` (gzip-compressed or uncompressed WARC, told apart by their first bytes) and
/// everything across them (unique IDs, references). An unreadable file is an error problem at
/// offset 0, not a panic.
pub fn verify(files: &[PathBuf]) -> Report {
    let start = Instant::now();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // Each `.warc.gz` already keeps two threads busy (inflate, check).
    let workers = (cores / 2).clamp(1, files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileCheck>>> = Mutex::new(files.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let ck = check_file(i, path);
                results.lock().expect("a checker panicked")[i] = Some(ck);
            });
        }
    });
    let checks: Vec<FileCheck> =
        results.into_inner().expect("a checker panicked").into_iter().map(|c| c.expect("every file checked")).collect();
    let mut report = cross_check(files, checks);
    report.elapsed = start.elapsed();
    report
}

/// What one file contributed: its own problems, and what the cross-file checks need.
#[derive(Debug, Default)]
struct FileCheck {
    file: usize,
    problems: Vec<Problem>,
    /// (record ID, offset) in file order.
    ids: Vec<(String, u64)>,
    refs: Vec<Ref>,
    /// IDs of responses concurrent to a `HEAD` request (a body-less response is then right).
    head_answers: Vec<String>,
    /// Response ID → "body absent" problem, dropped if the response answers a HEAD request.
    bodiless: Vec<(String, Problem)>,
    records: u64,
    bytes: u64,
    content_bytes: u64,
}

/// A field that cites another record.
#[derive(Debug)]
struct Ref {
    field: &'static str,
    target: String,
    offset: u64,
}

impl FileCheck {
    fn push(&mut self, offset: u64, severity: Severity, message: impl Into<String>) {
        self.problems.push(Problem { file: self.file, offset, severity, message: message.into() });
    }
    fn error(&mut self, offset: u64, message: impl Into<String>) {
        self.push(offset, Severity::Error, message);
    }
    fn warning(&mut self, offset: u64, message: impl Into<String>) {
        self.push(offset, Severity::Warning, message);
    }
}

fn cross_check(files: &[PathBuf], checks: Vec<FileCheck>) -> Report {
    let mut report = Report {
        files: files.to_vec(),
        records: 0,
        bytes: 0,
        content_bytes: 0,
        problems: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut ids: HashMap<&str, (usize, u64)> = HashMap::new();
    let mut head_answers: HashSet<&str> = HashSet::new();
    for ck in &checks {
        for (id, offset) in &ck.ids {
            if let Some(&(f, o)) = ids.get(id.as_str()) {
                report.problems.push(Problem {
                    file: ck.file,
                    offset: *offset,
                    severity: Severity::Error,
                    message: format!(
                        "duplicate WARC-Record-ID {id}: also at {}:{o} (record IDs are globally unique, WARC 1.1 §5.2)",
                        files[f].display()
                    ),
                });
            } else {
                ids.insert(id, (ck.file, *offset));
            }
        }
        head_answers.extend(ck.head_answers.iter().map(String::as_str));
    }
    for ck in &checks {
        for r in &ck.refs {
            if !ids.contains_key(r.target.as_str()) {
                let (severity, why) = if r.field == "WARC-Refers-To" {
                    (Severity::Warning, "; pass the file holding it (a revisit may cite an earlier crawl)")
                } else {
                    (Severity::Error, "")
                };
                report.problems.push(Problem {
                    file: ck.file,
                    offset: r.offset,
                    severity,
                    message: format!("{} {} names no record in the files given{why}", r.field, r.target),
                });
            }
        }
        for (id, p) in &ck.bodiless {
            if !head_answers.contains(id.as_str()) {
                report.problems.push(p.clone());
            }
        }
    }
    for ck in checks {
        report.records += ck.records;
        report.bytes += ck.bytes;
        report.content_bytes += ck.content_bytes;
        report.problems.extend(ck.problems);
    }
    report.problems.sort_by_key(|p| (p.file, p.offset));
    report
}

/// Checks one file, whichever its compression.
fn check_file(index: usize, path: &Path) -> FileCheck {
    let mut ck = FileCheck { file: index, ..Default::default() };
    let mut magic = [0u8; 5];
    let read = File::open(path).and_then(|mut f| {
        let len = f.metadata()?.len();
        let n = f.read(&mut magic)?;
        Ok((len, n))
    });
    let (len, n) = match read {
        Ok(r) => r,
        Err(e) => {
            ck.error(0, format!("cannot read the file: {e}"));
            return ck;
        }
    };
    ck.bytes = len;
    let gz_name = path.to_string_lossy().ends_with(".gz");
    let res = if n == 0 {
        ck.warning(0, "empty file: no records");
        Ok(())
    } else if magic[..2] == [0x1f, 0x8b] {
        walk_gzip(path, &mut ck)
    } else if magic.starts_with(b"WARC/") {
        if gz_name {
            ck.warning(0, "named .gz but not gzip-compressed (an uncompressed WARC)");
        }
        walk_plain(path, len, &mut ck)
    } else {
        ck.error(0, format!("neither gzip nor WARC: the file starts with {}", show(&magic[..n])));
        Ok(())
    };
    if let Err(e) = res {
        ck.error(0, format!("reading the file failed: {e}"));
    }
    ck
}

/// A `.warc.gz`: one thread inflates members (keep-going walker), this one checks them.
fn walk_gzip(path: &Path, ck: &mut FileCheck) -> std::io::Result<()> {
    let walker = MemberWalker::open(path)?.keep_going();
    // Bounded: at most a few inflated members wait, so memory stays a few records.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Member, WalkError>>(4);
    std::thread::scope(|s| {
        s.spawn(move || {
            for m in walker {
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        for m in rx {
            match m {
                Ok(m) => {
                    ck.content_bytes += m.data.len() as u64;
                    check_member(ck, m.offset, &m.data);
                }
                Err(e) => ck.error(e.offset, e.message),
            }
        }
    });
    Ok(())
}

/// The records in one gzip member's data (one expected).
fn check_member(ck: &mut FileCheck, offset: u64, data: &[u8]) {
    if data.is_empty() {
        return ck.error(offset, "the gzip member holds no record");
    }
    let mut p = 0;
    let mut n = 0;
    while p < data.len() {
        let rest = &data[p..];
        if n > 0 {
            if rest.iter().all(u8::is_ascii_whitespace) {
                ck.warning(offset, format!("{} stray bytes after the record's closing CRLF CRLF", rest.len()));
                return;
            }
            if n == 1 {
                ck.error(
                    offset,
                    "more than one record in one gzip member (WARC 1.1 Annex D: one record per member, which indexes address)",
                );
            }
        }
        n += 1;
        let (head, hlen) = match parse_head(rest) {
            Ok(h) => h,
            Err(e) => return ck.error(offset, e),
        };
        let body = &rest[hlen..];
        match frame_block(&head, body) {
            Ok(cl) => {
                check_record(ck, offset, &head, Some(&body[..cl]));
                p += hlen + cl + 4;
            }
            Err(e) => {
                ck.error(offset, e);
                return check_record(ck, offset, &head, None);
            }
        }
    }
}

/// The longest header an uncompressed record may have before it is called unterminated.
const MAX_HEAD: u64 = 1 << 20;

/// An uncompressed `.warc`: records back to back, read one at a time.
fn walk_plain(path: &Path, len: u64, ck: &mut FileCheck) -> std::io::Result<()> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    ck.content_bytes = len;
    let mut pos = 0u64;
    let mut head_buf = Vec::new();
    let mut block = Vec::new();
    while pos < len {
        head_buf.clear();
        // Header lines up to the blank line that ends them.
        loop {
            let n = r.by_ref().take(MAX_HEAD).read_until(b'\n', &mut head_buf)?;
            let last_blank = head_buf.ends_with(b"\n\r\n") || head_buf.ends_with(b"\n\n");
            if n == 0 || last_blank || head_buf.len() as u64 >= MAX_HEAD {
                break;
            }
            if head_buf == b"\r\n" || head_buf == b"\n" {
                ck.warning(pos, "a blank line between records");
                pos += head_buf.len() as u64;
                head_buf.clear();
            }
        }
        if head_buf.is_empty() {
            break;
        }
        let (head, hlen) = match parse_head(&head_buf) {
            Ok(h) => h,
            Err(e) => {
                ck.error(pos, e);
                match resync(&mut r, pos + 1)? {
                    Some(next) => {
                        pos = next;
                        continue;
                    }
                    None => break,
                }
            }
        };
        let want = head.content_length().map(|cl| (cl as u64).saturating_add(4)).unwrap_or(0);
        block.clear();
        r.by_ref().take(want).read_to_end(&mut block)?;
        match frame_block(&head, &block) {
            Ok(cl) => {
                check_record(ck, pos, &head, Some(&block[..cl]));
                pos += (hlen + cl + 4) as u64;
            }
            Err(e) => {
                ck.error(pos, e);
                check_record(ck, pos, &head, None);
                match resync(&mut r, pos + hlen as u64)? {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    Ok(())
}

/// After a framing error in an uncompressed file: the offset of the next line that starts a WARC
/// record (`WARC/1.`) at or after `from`, with the reader placed there.
fn resync(r: &mut BufReader<File>, from: u64) -> std::io::Result<Option<u64>> {
    const START: &[u8] = b"\nWARC/1.";
    r.seek(SeekFrom::Start(from - 1))?;
    let mut at = from - 1;
    let mut window: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        let base = at - window.len() as u64;
        window.extend_from_slice(&chunk[..n]);
        if let Some(i) = window.windows(START.len()).position(|w| w == START) {
            let found = base + i as u64 + 1;
            r.seek(SeekFrom::Start(found))?;
            return Ok(Some(found));
        }
        at += n as u64;
        window.drain(..window.len().saturating_sub(START.len() - 1));
    }
}

/// A record's header, parsed by the WARC 1.1 §4 grammar.
#[derive(Debug)]
struct Head {
    version: String,
    /// Fields in order, repeats kept (`WARC-Concurrent-To` may repeat).
    fields: Vec<(String, String)>,
}

impl Head {
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn one(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `Content-Length` as a number (digits only, §5.5).
    fn content_length(&self) -> Result<usize, String> {
        let v = self.one("Content-Length").ok_or("missing mandatory field Content-Length (WARC 1.1 §5.5)")?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("Content-Length {v:?} is not a number of bytes (WARC 1.1 §5.5)"));
        }
        v.parse().map_err(|_| format!("Content-Length {v} is out of range"))
    }
}

/// A few bytes for a message, lossily decoded and cut.
fn show(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(60)];
    let s = format!("\"{}\"", cut.escape_ascii());
    if bytes.len() > cut.len() {
        format!("{s}…")
    } else {
        s
    }
}

/// The next line at `at`: (its content without CRLF, the offset after it). A line must end in
/// CRLF (§4); a bare LF is a grammar error.
fn next_line(buf: &[u8], at: usize) -> Result<(&[u8], usize), String> {
    let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') else {
        return Err("the record header is not terminated by a blank line (WARC 1.1 §4)".into());
    };
    let nl = at + nl;
    if nl == at || buf[nl - 1] != b'\r' {
        return Err(format!("header line {} ends with a bare LF, not CRLF (WARC 1.1 §4)", show(&buf[at..nl])));
    }
    Ok((&buf[at..nl - 1], nl + 1))
}

/// RFC 2616 token characters (WARC 1.1 §4 `field-name = token`).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// Parses the header at the start of `buf`: (header, its length including the blank line).
fn parse_head(buf: &[u8]) -> Result<(Head, usize), String> {
    let (first, mut p) = next_line(buf, 0)?;
    let version = match first {
        b"WARC/1.1" | b"WARC/1.0" => String::from_utf8_lossy(first).into_owned(),
        v if v.starts_with(b"WARC/") => {
            return Err(format!("unsupported version line {} (WARC/1.1 or WARC/1.0 expected)", show(v)))
        }
        v => return Err(format!("not a WARC record: it starts with {}, not WARC/1.1 or WARC/1.0", show(v))),
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        let (line, next) = next_line(buf, p)?;
        p = next;
        if line.is_empty() {
            return Ok((Head { version, fields }, p));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // LWS: a continuation of the previous field's value.
            let Some(last) = fields.last_mut() else {
                return Err("a continuation line before any field (WARC 1.1 §4)".into());
            };
            let more = std::str::from_utf8(line).map_err(|_| format!("field {} is not UTF-8", last.0))?;
            last.1.push(' ');
            last.1.push_str(more.trim_matches([' ', '\t']));
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(format!("header line {} is not `name: value` (WARC 1.1 §4)", show(line)));
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(format!("field name {} is not a token (WARC 1.1 §4)", show(name)));
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let value = std::str::from_utf8(&line[colon + 1..])
            .map_err(|_| format!("the value of {name} is not UTF-8 (WARC 1.1 §4)"))?
            .trim_matches([' ', '\t'])
            .to_string();
        fields.push((name, value));
    }
}

/// Checks that `after_head` (the bytes after the header) starts with a `Content-Length` block
/// followed by CRLF CRLF; returns the block length.
fn frame_block(head: &Head, after_head: &[u8]) -> Result<usize, String> {
    let cl = head.content_length()?;
    let avail = after_head.len();
    if cl > avail {
        return Err(format!("Content-Length {cl} lies: only {avail} bytes follow the header (WARC 1.1 §4)"));
    }
    let trailer = &after_head[cl..avail.min(cl + 4)];
    if trailer == b"\r\n\r\n" {
        return Ok(cl);
    }
    if b"\r\n\r\n".starts_with(trailer) && avail < cl + 4 {
        return Err(format!(
            "the record ends {} bytes short of its closing CRLF CRLF after the {cl}-byte block (WARC 1.1 §4)",
            cl + 4 - avail
        ));
    }
    // Where the block would end if the record's bytes are right (a member holds one record).
    let hint = match after_head.ends_with(b"\r\n\r\n") && avail - 4 != cl {
        true => format!(" (the record's bytes suggest a {}-byte block)", avail - 4),
        false => String::new(),
    };
    Err(format!("Content-Length {cl} lies: the block is not followed by CRLF CRLF (WARC 1.1 §4){hint}"))
}

/// (field, WARC 1.1 section) of the fields every record has exactly once.
const MANDATORY: [(&str, &str); 4] =
    [("WARC-Record-ID", "5.2"), ("Content-Length", "5.5"), ("WARC-Date", "5.4"), ("WARC-Type", "5.3")];

/// The record types WARC 1.1 §6 defines.
const KNOWN_TYPES: [&str; 8] =
    ["warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion", "continuation"];

/// The types §6 requires a `WARC-Target-URI` of.
const NEED_TARGET: [&str; 6] = ["response", "resource", "request", "revisit", "conversion", "continuation"];

/// `<uri>` with a scheme (WARC 1.1 §5.2 for record IDs and the fields citing them).
fn is_bracketed_uri(v: &str) -> bool {
    v.len() > 2 && v.starts_with('<') && v.ends_with('>') && v[1..v.len() - 1].contains(':') && !v.contains(' ')
}

/// `YYYY-MM-DDThh:mm:ssZ`, with a fraction of a second in WARC/1.1 (§5.4).
fn check_date(d: &str, version: &str) -> Result<(), (Severity, String)> {
    let bad = || (Severity::Error, format!("WARC-Date {d:?} is not YYYY-MM-DDThh:mm:ss[.fraction]Z (WARC 1.1 §5.4)"));
    let (main, rest) = d.split_at_checked(19).ok_or_else(bad)?;
    chrono::NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S").map_err(|_| bad())?;
    match rest.strip_suffix('Z') {
        Some("") => Ok(()),
        Some(frac) if frac.len() >= 2 && frac.len() <= 10 && frac.starts_with('.') => {
            if !frac[1..].bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            if version == "WARC/1.0" {
                return Err((
                    Severity::Warning,
                    format!("WARC-Date {d} has a fraction of a second, which is WARC/1.1"),
                ));
            }
            Ok(())
        }
        _ => Err(bad()),
    }
}

/// The digest algorithms checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algo {
    Sha1,
    Sha256,
}

impl Algo {
    fn size(self) -> usize {
        match self {
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
        }
    }

    fn hash<'a>(self, parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        match self {
            Algo::Sha1 => {
                let mut h = Sha1::new();
                parts.into_iter().for_each(|p| h.update(p));
                h.finalize().to_vec()
            }
            Algo::Sha256 => {
                let mut h = ring::digest::Context::new(&ring::digest::SHA256);
                parts.into_iter().for_each(|p| h.update(p));
                h.finish().as_ref().to_vec()
            }
        }
    }

    /// `label:` + base32, the form we write (WARC 1.1 §5.8).
    fn show(self, digest: &[u8]) -> String {
        format!("{}:{}", self.label(), BASE32.encode(digest))
    }
}

/// Why a digest field cannot be checked.
#[derive(Debug, PartialEq, Eq)]
enum DigestField {
    /// An algorithm we do not compute (a warning).
    Unsupported(String),
    /// Not `algorithm:value`, or the value does not decode to the algorithm's size (an error).
    Malformed(String),
}

/// Parses `algorithm ":" digest-value` (WARC 1.1 §5.8): sha1 or sha256, base32 (padding and case
/// optional) or base16.
fn parse_digest(v: &str) -> Result<(Algo, Vec<u8>), DigestField> {
    let Some((label, value)) = v.split_once(':') else {
        return Err(DigestField::Malformed(format!("{v:?} is not algorithm:value")));
    };
    let algo = match label.trim().to_ascii_lowercase().as_str() {
        "sha1" | "sha-1" => Algo::Sha1,
        "sha256" | "sha-256" => Algo::Sha256,
        other => return Err(DigestField::Unsupported(other.to_string())),
    };
    let value = value.trim();
    let decoded = if value.len() == algo.size() * 2 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        HEXLOWER_PERMISSIVE.decode(value.as_bytes()).ok()
    } else {
        BASE32_NOPAD.decode(value.trim_end_matches('=').to_ascii_uppercase().as_bytes()).ok()
    };
    match decoded {
        Some(d) if d.len() == algo.size() => Ok((algo, d)),
        _ => Err(DigestField::Malformed(format!("{v:?} is not a {} digest in base32 or base16", algo.label()))),
    }
}

/// Which HTTP message an `application/http` block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpKind {
    Request,
    Response,
}

/// The HTTP message kind of a block, by `Content-Type`'s `msgtype` or, without one, by its start.
fn http_kind(head: &Head, block: &[u8]) -> Option<HttpKind> {
    let ct = head.one("Content-Type")?.to_ascii_lowercase();
    if !ct.starts_with("application/http") {
        return None;
    }
    let msgtype = ct.split(';').filter_map(|p| p.trim().strip_prefix("msgtype=")).next().map(|m| m.trim_matches('"'));
    Some(match msgtype {
        Some("request") => HttpKind::Request,
        Some("response") => HttpKind::Response,
        _ if block.starts_with(b"HTTP/") => HttpKind::Response,
        _ => HttpKind::Request,
    })
}

/// Everything about one record once its header parsed; `block` is `None` when its framing failed
/// (then only the header is checked, and its ID still counts).
fn check_record(ck: &mut FileCheck, offset: u64, head: &Head, block: Option<&[u8]>) {
    ck.records += 1;
    for (name, section) in MANDATORY {
        match head.all(name).count() {
            0 => ck.error(offset, format!("missing mandatory field {name} (WARC 1.1 §{section})")),
            1 => {}
            n => ck.error(offset, format!("{name} appears {n} times (WARC 1.1 §{section})")),
        }
    }
    let warc_type = head.one("WARC-Type").unwrap_or("");
    let id = head.one("WARC-Record-ID").unwrap_or("").to_string();
    if !id.is_empty() {
        if !is_bracketed_uri(&id) {
            ck.error(offset, format!("WARC-Record-ID {id:?} is not <uri> (WARC 1.1 §5.2)"));
        }
        ck.ids.push((id.clone(), offset));
    }
    if let Some(Err((severity, msg))) = head.one("WARC-Date").map(|d| check_date(d, &head.version)) {
        ck.push(offset, severity, msg);
    }
    if !warc_type.is_empty() && !KNOWN_TYPES.contains(&warc_type) {
        ck.warning(offset, format!("unknown WARC-Type {warc_type:?} (WARC 1.1 §6; readers skip it)"));
    }
    if NEED_TARGET.contains(&warc_type) && head.one("WARC-Target-URI").is_none() {
        ck.error(offset, format!("a {warc_type} record without WARC-Target-URI (WARC 1.1 §6)"));
    }
    if warc_type == "revisit" && head.one("WARC-Profile").is_none() {
        ck.error(offset, "a revisit record without WARC-Profile (WARC 1.1 §6.7)");
    }
    for field in ["WARC-Concurrent-To", "WARC-Refers-To", "WARC-Warcinfo-ID"] {
        for target in head.all(field) {
            if !is_bracketed_uri(target) {
                ck.error(offset, format!("{field} {target:?} is not <uri> (WARC 1.1 §5)"));
            }
            ck.refs.push(Ref { field, target: target.to_string(), offset });
        }
    }
    let Some(block) = block else { return };
    if !block.is_empty() && head.one("Content-Type").is_none() {
        ck.warning(offset, "a non-empty block without Content-Type (WARC 1.1 §5.6: should have one)");
    }
    let truncated = head.one("WARC-Truncated").is_some();
    let kind = http_kind(head, block);
    if kind == Some(HttpKind::Request) && block.starts_with(b"HEAD ") {
        ck.head_answers.extend(head.all("WARC-Concurrent-To").map(str::to_string));
    }
    let framed = match kind {
        // A revisit block is the head only (§6.7): it must parse; its payload is elsewhere.
        Some(HttpKind::Response) if warc_type == "revisit" => {
            if let Err(e) = frame_response(block, true, true) {
                ck.error(offset, format!("the block is not an HTTP response head: {e}"));
            }
            None
        }
        Some(k) => check_http(ck, offset, k, &id, block, truncated),
        None => None,
    };

    let mut block_hash: Option<(Algo, Vec<u8>)> = None;
    if let Some(v) = head.one("WARC-Block-Digest") {
        block_hash = check_digest(ck, offset, "WARC-Block-Digest", v, |a| a.hash([block]));
    }
    let Some(v) = head.one("WARC-Payload-Digest") else { return };
    if warc_type == "revisit" {
        return; // it names the original's payload (§6.7)
    }
    match (kind, framed) {
        // Not HTTP: the payload is the block (§5.9), hashed once for both fields.
        (None, _) => {
            check_digest(ck, offset, "WARC-Payload-Digest", v, |a| match block_hash {
                Some((ba, d)) if ba == a => d,
                _ => a.hash([block]),
            });
        }
        (Some(_), Some(f)) => check_http_payload(ck, offset, v, block, &f, truncated),
        // HTTP whose framing failed (already reported): no payload to hash.
        (Some(_), None) => {}
    }
}

/// Checks an HTTP record's `WARC-Payload-Digest` = `value` against the entity body with the
/// transfer coding removed; names the chunked-bytes convention when the digest follows it.
fn check_http_payload(ck: &mut FileCheck, offset: u64, value: &str, block: &[u8], f: &Framed, truncated: bool) {
    let (algo, recorded) = match parse_digest(value) {
        Ok(d) => d,
        Err(e) => return report_unreadable(ck, offset, "WARC-Payload-Digest", e),
    };
    let computed = algo.hash(f.payload.iter().map(|r| &block[r.clone()]));
    if computed == recorded {
        return;
    }
    let (recorded, spec) = (algo.show(&recorded), algo.show(&computed));
    let chunked = f.header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked && algo.show(&algo.hash([&block[f.head_end..f.end]])) == recorded {
        ck.warning(
            offset,
            format!(
                "WARC-Payload-Digest {recorded} matches the chunked-bytes convention of warcio/wpull/Heritrix (a digest \
                 of the still-chunked body); by WARC 1.1 §5.9 and §6.3.2 (transfer coding removed) it is {spec}"
            ),
        );
    } else if truncated {
        ck.warning(
            offset,
            format!(
                "WARC-Payload-Digest {recorded} does not match the truncated payload present ({spec}); it may describe \
                 the whole payload"
            ),
        );
    } else {
        ck.error(
            offset,
            format!(
                "WARC-Payload-Digest {recorded} does not match the payload: the entity body with the transfer coding \
                 removed hashes to {spec} (WARC 1.1 §5.9, §6.3.2)"
            ),
        );
    }
}

/// Reports a digest field that cannot be checked: an unsupported algorithm is a warning, a
/// malformed value an error.
fn report_unreadable(ck: &mut FileCheck, offset: u64, field: &str, why: DigestField) {
    match why {
        DigestField::Unsupported(a) => {
            ck.warning(offset, format!("{field} uses the unsupported algorithm {a:?} (sha1 and sha256 are checked)"))
        }
        DigestField::Malformed(m) => ck.error(offset, format!("{field} {m} (WARC 1.1 §5.8)")),
    }
}

/// Compares the digest field `field` = `value` with `compute(algorithm)` and reports a mismatch
/// as an error; returns the computed digest for reuse.
fn check_digest(
    ck: &mut FileCheck,
    offset: u64,
    field: &str,
    value: &str,
    compute: impl FnOnce(Algo) -> Vec<u8>,
) -> Option<(Algo, Vec<u8>)> {
    let (algo, recorded) = match parse_digest(value) {
        Ok(d) => d,
        Err(e) => {
            report_unreadable(ck, offset, field, e);
            return None;
        }
    };
    let computed = compute(algo);
    if computed != recorded {
        let what = if field == "WARC-Block-Digest" { "the block" } else { "the payload" };
        ck.error(
            offset,
            format!("{field} {} does not match {what}, which hashes to {}", algo.show(&recorded), algo.show(&computed)),
        );
    }
    Some((algo, computed))
}

/// Frames an `application/http` block and reports what does not fit; returns the framing when
/// the payload is defined (the message is complete, or the record says it is truncated).
fn check_http(
    ck: &mut FileCheck,
    offset: u64,
    kind: HttpKind,
    id: &str,
    block: &[u8],
    truncated: bool,
) -> Option<Framed> {
    let what = match kind {
        HttpKind::Request => "request",
        HttpKind::Response => "response",
    };
    let framed = match kind {
        HttpKind::Request => frame_request(block),
        HttpKind::Response => frame_response(block, false, true),
    };
    let f = match framed {
        Ok(f) => f,
        Err(FrameError::Incomplete) if truncated => return None,
        Err(FrameError::Incomplete) => {
            ck.error(
                offset,
                format!(
                    "the HTTP {what} head is incomplete (no blank line ends it) and the record has no WARC-Truncated"
                ),
            );
            return None;
        }
        Err(FrameError::Invalid(e)) => {
            ck.error(offset, format!("the block is not an HTTP {what}: {e}"));
            return None;
        }
    };
    if !f.complete {
        if truncated {
            return Some(f);
        }
        let body = block.len() - f.head_end;
        let framing = match f.header("content-length") {
            Some(cl) if f.header("transfer-encoding").is_none() => format!("its Content-Length is {cl}"),
            _ => "its chunked body has no last chunk".to_string(),
        };
        let msg = format!(
            "the HTTP {what} is incomplete: {framing} but the block ends after {body} body bytes, and the record has no WARC-Truncated"
        );
        if kind == HttpKind::Response && body == 0 && !id.is_empty() {
            // Right for the answer to a HEAD request; decided once every record is seen.
            let p = Problem { file: ck.file, offset, severity: Severity::Error, message: msg };
            ck.bodiless.push((id.to_string(), p));
        } else {
            ck.error(offset, msg);
        }
        return None;
    }
    if f.end < block.len() {
        ck.error(
            offset,
            format!(
                "the HTTP {what} ends {} bytes into the {}-byte block: {} bytes follow the message",
                f.end,
                block.len(),
                block.len() - f.end
            ),
        );
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warc::writer::gzip_member;
    use crate::warc::{new_record_id, sha1_digest, warcinfo_record, Record};
    use std::io::Write;

    /// Header grammar, one case per line: the head bytes, then `Ok(fields)` or an error fragment.
    macro_rules! grammar {
        ($($name:ident: $input:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let got = parse_head($input).map(|(h, _)| h.fields.len());
                match ($want, got) {
                    (Ok(n), Ok(m)) => assert_eq!(n, m),
                    (Err(frag), Err(e)) => assert!(e.contains(frag), "{e:?} should contain {frag:?}"),
                    (want, got) => panic!("want {want:?}, got {got:?}"),
                }
            }
        )*};
    }

    grammar! {
        head_ok: b"WARC/1.1\r\nWARC-Type: resource\r\nX:\r\n\r\n" => Ok::<usize, &str>(2);
        head_folded_value: b"WARC/1.0\r\nA: one\r\n  two\r\n\r\n" => Ok::<usize, &str>(1);
        head_other_version: b"WARC/0.17\r\n\r\n" => Err::<usize, &str>("unsupported version");
        head_not_warc: b"HTTP/1.1 200 OK\r\n\r\n" => Err::<usize, &str>("not a WARC record");
        head_bare_lf: b"WARC/1.1\nA: b\n\n" => Err::<usize, &str>("bare LF");
        head_no_colon: b"WARC/1.1\r\nWARC-Type resource\r\n\r\n" => Err::<usize, &str>("not `name: value`");
        head_bad_name: b"WARC/1.1\r\nWARC Type: x\r\n\r\n" => Err::<usize, &str>("not a token");
        head_unterminated: b"WARC/1.1\r\nA: b\r\n" => Err::<usize, &str>("not terminated");
        head_fold_first: b"WARC/1.1\r\n x\r\n\r\n" => Err::<usize, &str>("continuation line before any field");
    }

    /// Digest fields, one case per line: the value, then `Ok(algorithm)` or the kind of failure.
    macro_rules! digests {
        ($($name:ident: $input:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let got = parse_digest($input).map(|(a, _)| a);
                assert_eq!(got.map_err(|e| matches!(e, DigestField::Unsupported(_))), $want);
            }
        )*};
    }

    // SHA-1("abc") in base32 and base16; SHA-256("abc") in base32.
    digests! {
        digest_sha1_base32: "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5" => Ok(Algo::Sha1);
        digest_sha1_lower_padded: "SHA1:vgmt4nsha2awvor6evyxqugcnsonbwe5" => Ok(Algo::Sha1);
        digest_sha1_base16: "sha1:a9993e364706816aba3e25717850c26c9cd0d89d" => Ok(Algo::Sha1);
        digest_sha256_base32: "sha256:XJ4BNP4PAHH6UQKBIDPF3LRCEOYAGYNDSYLXVHFUCD7WD4QACWWQ====" => Ok(Algo::Sha256);
        digest_md5_unsupported: "md5:kAFQmDzST7DWlj99KOF/cg==" => Err(true);
        digest_too_short: "sha1:VGMT4NSHA2AW" => Err(false);
        digest_no_label: "VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5" => Err(false);
    }

    #[test]
    fn sha256_of_abc_is_the_known_vector() {
        let (algo, d) = parse_digest("sha256:XJ4BNP4PAHH6UQKBIDPF3LRCEOYAGYNDSYLXVHFUCD7WD4QACWWQ====").unwrap();
        assert_eq!(algo.hash([&b"abc"[..]]), d);
    }

    fn head_with_length(cl: usize) -> Head {
        Head { version: "WARC/1.1".into(), fields: vec![("Content-Length".into(), cl.to_string())] }
    }

    #[test]
    fn framing_catches_a_lying_content_length() {
        assert_eq!(frame_block(&head_with_length(3), b"abc\r\n\r\n"), Ok(3));
        let long = frame_block(&head_with_length(9), b"abc\r\n\r\n").unwrap_err();
        assert!(long.starts_with("Content-Length 9 lies: only 7 bytes follow"), "{long}");
        let short = frame_block(&head_with_length(2), b"abc\r\n\r\n").unwrap_err();
        assert!(short.contains("Content-Length 2 lies") && short.contains("suggest a 3-byte block"), "{short}");
        let cut = frame_block(&head_with_length(3), b"abc\r\n").unwrap_err();
        assert!(cut.contains("2 bytes short of its closing CRLF CRLF"), "{cut}");
    }

    const DATE: &str = "2026-01-24T10:00:00.123456Z";

    fn record(kind: &str, id: &str, extra: &[(&str, &str)], block: &[u8]) -> Record {
        let mut fields = vec![
            ("WARC-Type".to_string(), kind.to_string()),
            ("WARC-Record-ID".into(), id.to_string()),
            ("WARC-Date".into(), DATE.into()),
            ("WARC-Target-URI".into(), "http://example.com/".into()),
        ];
        fields.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        fields.push(("WARC-Block-Digest".into(), sha1_digest([block])));
        Record { fields, block: block.to_vec() }
    }

    /// A chunked response (payload "hello world") and its request, digests by the spec.
    fn chunked_capture(payload_digest: &str) -> (Record, Record) {
        let block = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let id = new_record_id();
        let resp = record(
            "response",
            &id,
            &[("WARC-Payload-Digest", payload_digest), ("Content-Type", "application/http;msgtype=response")],
            block,
        );
        let req = record(
            "request",
            &new_record_id(),
            &[("WARC-Concurrent-To", &id), ("Content-Type", "application/http;msgtype=request")],
            b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        );
        (resp, req)
    }

    fn gz_file(dir: &Path, name: &str, records: &[Record]) -> PathBuf {
        let p = dir.join(name);
        let mut f = File::create(&p).unwrap();
        for r in records {
            f.write_all(&gzip_member(r, 6)).unwrap();
        }
        p
    }

    fn lines(r: &Report) -> Vec<String> {
        r.problems.iter().map(|p| format!("{}@{}: {}", p.severity.as_str(), p.offset, p.message)).collect()
    }

    #[test]
    fn a_spec_capture_group_is_clean() {
        let d = tempfile::tempdir().unwrap();
        let (resp, req) = chunked_capture(&sha1_digest([&b"hello world"[..]]));
        let p = gz_file(d.path(), "a.warc.gz", &[warcinfo_record("a.warc.gz", &[]), resp, req]);
        let r = verify(&[p]);
        assert_eq!(lines(&r), Vec::<String>::new());
        assert_eq!(r.records, 3);
    }

    #[test]
    fn a_digest_of_the_chunked_bytes_is_a_named_warning() {
        let d = tempfile::tempdir().unwrap();
        let raw_body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let (resp, req) = chunked_capture(&sha1_digest([&raw_body[..]]));
        let p = gz_file(d.path(), "a.warc.gz", &[resp, req]);
        let r = verify(&[p]);
        assert_eq!(r.count(Severity::Error), 0, "{:?}", lines(&r));
        let l = lines(&r);
        assert_eq!(l.len(), 1, "{l:?}");
        assert!(
            l[0].starts_with("warning@0: WARC-Payload-Digest") && l[0].contains("chunked-bytes convention"),
            "{l:?}"
        );
        assert!(l[0].contains(&sha1_digest([&b"hello world"[..]])), "names the spec value: {l:?}");
    }

    #[test]
    fn an_empty_body_is_right_only_for_a_head_request() {
        let d = tempfile::tempdir().unwrap();
        let block = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let ct = ("Content-Type", "application/http;msgtype=response");
        let req_ct = ("Content-Type", "application/http;msgtype=request");
        let (head_id, get_id) = (new_record_id(), new_record_id());
        let empty = sha1_digest([&b""[..]]);
        let recs = [
            record("response", &head_id, &[ct, ("WARC-Payload-Digest", &empty)], block),
            record(
                "request",
                &new_record_id(),
                &[("WARC-Concurrent-To", &head_id), req_ct],
                b"HEAD / HTTP/1.1\r\n\r\n",
            ),
            record("response", &get_id, &[ct, ("WARC-Payload-Digest", &empty)], block),
            record("request", &new_record_id(), &[("WARC-Concurrent-To", &get_id), req_ct], b"GET / HTTP/1.1\r\n\r\n"),
        ];
        let p = gz_file(d.path(), "a.warc.gz", &recs);
        let third = gzip_member(&recs[0], 6).len() + gzip_member(&recs[1], 6).len();
        let r = verify(&[p]);
        let l = lines(&r);
        assert_eq!(l.len(), 1, "{l:?}");
        assert!(l[0].starts_with(&format!("error@{third}: the HTTP response is incomplete: its Content-Length is 5")));
    }

    #[test]
    fn two_records_in_one_member_are_an_error_and_both_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let a = record("resource", &new_record_id(), &[("Content-Type", "text/plain")], b"a");
        let mut b = record("resource", &new_record_id(), &[("Content-Type", "text/plain")], b"b");
        b.fields.retain(|(n, _)| n != "WARC-Block-Digest");
        b.fields.push(("WARC-Block-Digest".into(), sha1_digest([&b"not b"[..]])));
        let p = d.path().join("two.warc.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&[a.to_bytes(), b.to_bytes()].concat()).unwrap();
        std::fs::write(&p, e.finish().unwrap()).unwrap();
        let r = verify(&[p]);
        assert_eq!(r.records, 2);
        let l = lines(&r);
        assert!(l.iter().any(|l| l.contains("more than one record in one gzip member")), "{l:?}");
        assert!(l.iter().any(|l| l.contains("WARC-Block-Digest") && l.contains("does not match the block")), "{l:?}");
    }

    #[test]
    fn ids_are_unique_and_references_resolve_across_files() {
        let d = tempfile::tempdir().unwrap();
        let id = new_record_id();
        let ct = ("Content-Type", "text/plain");
        let f1 = gz_file(d.path(), "1.warc.gz", &[record("resource", &id, &[ct], b"x")]);
        let refers = new_record_id();
        let f2 = gz_file(
            d.path(),
            "2.warc.gz",
            &[
                record("metadata", &new_record_id(), &[ct, ("WARC-Concurrent-To", &id)], b"m"),
                record("resource", &id, &[ct, ("WARC-Refers-To", &refers)], b"y"),
            ],
        );
        let second = std::fs::metadata(&f2).unwrap().len()
            - gzip_member(&record("resource", &id, &[ct, ("WARC-Refers-To", &refers)], b"y"), 6).len() as u64;
        let r = verify(&[f1.clone(), f2.clone()]);
        let l: Vec<String> = r.problems.iter().map(|p| r.line(p)).collect();
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!(
            l[0],
            format!(
                "{}:{second}: error: duplicate WARC-Record-ID {id}: also at {}:0 (record IDs are globally unique, WARC 1.1 §5.2)",
                f2.display(),
                f1.display()
            )
        );
        assert!(
            l[1].starts_with(&format!("{}:{second}: warning: WARC-Refers-To {refers} names no record", f2.display()))
        );
        // Without the record it cites, a Concurrent-To dangles: an error.
        let f3 = gz_file(
            d.path(),
            "3.warc.gz",
            &[record("metadata", &new_record_id(), &[ct, ("WARC-Concurrent-To", &id)], b"m")],
        );
        let alone = verify(&[f3]);
        assert_eq!(lines(&alone), vec![format!("error@0: WARC-Concurrent-To {id} names no record in the files given")]);
    }

    #[test]
    fn an_uncompressed_file_resyncs_after_a_lying_content_length() {
        let d = tempfile::tempdir().unwrap();
        let ct = ("Content-Type", "text/plain");
        let good = record("resource", &new_record_id(), &[ct], b"hello");
        let bad = record("resource", &new_record_id(), &[ct], b"hello");
        let bad_text = String::from_utf8(bad.to_bytes()).unwrap().replace("Content-Length: 5", "Content-Length: 3");
        let mut last = record("resource", &new_record_id(), &[ct], b"last");
        last.fields.retain(|(n, _)| n != "WARC-Block-Digest");
        last.fields.push(("WARC-Block-Digest".into(), "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5".into()));
        let bytes = [good.to_bytes(), bad_text.clone().into_bytes(), last.to_bytes()].concat();
        let p = d.path().join("plain.warc");
        std::fs::write(&p, &bytes).unwrap();
        let r = verify(&[p]);
        let at_bad = good.to_bytes().len();
        let at_last = at_bad + bad_text.len();
        let l = lines(&r);
        assert_eq!(r.records, 3, "{l:?}");
        assert_eq!(l.len(), 2, "{l:?}");
        assert!(l[0].starts_with(&format!("error@{at_bad}: Content-Length 3 lies")), "{l:?}");
        assert!(l[1].starts_with(&format!("error@{at_last}: WARC-Block-Digest")), "{l:?}");
    }

    #[test]
    fn mandatory_fields_and_dates_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let mut r = record("response", "urn:uuid:no-brackets", &[("Content-Type", "text/plain")], b"x");
        r.fields.retain(|(n, _)| n != "WARC-Target-URI" && n != "WARC-Date");
        r.fields.push(("WARC-Date".into(), "2026-01-24 10:00:00".into()));
        let p = gz_file(d.path(), "m.warc.gz", &[r]);
        let l = lines(&verify(&[p]));
        for want in ["is not <uri>", "is not YYYY-MM-DDThh:mm:ss", "without WARC-Target-URI"] {
            assert!(l.iter().any(|l| l.contains(want)), "{want}: {l:?}");
        }
    }
}
