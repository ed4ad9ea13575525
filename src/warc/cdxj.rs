//! CDXJ indexes of WARC files, byte for byte what `cdxj-indexer --sort FILE` (cdxj-indexer 1.5.0
//! over warcio 1.7.5) writes, so pywb and other replay tools can use ours.
//!
//! One line per `response`, `revisit`, `resource` and `metadata` record (a `resource` or `metadata`
//! record whose WARC `Content-Type` is exactly `application/warc-fields` is skipped):
//! `cdx_key 14-digit-timestamp {"url": …, "mime": …, "status": …, "digest": …, "length": …,
//! "offset": …, "filename": …}`, every value a JSON string, keys absent when the record has no
//! value for them, JSON as Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII
//! as `\uXXXX`). The fields follow warcio's parsing, which is lenient, and this module reproduces
//! it rather than the specs:
//! - header lines are decoded as UTF-8, or as Latin-1 when that fails; a value loses surrounding
//!   whitespace; continuation lines are appended; lines without `:` are dropped;
//! - `WARC-Target-URI` loses enclosing `<>` and has spaces replaced by `%20`;
//! - the HTTP head is parsed only in `response`, `request` and `revisit` records with a non-empty
//!   block and an `http:`/`https:` target; `status` is the second word of the status line (any
//!   word), present for `response` and `revisit` records with a non-empty head;
//! - `mime` is `warc/revisit` for revisits, the HTTP `Content-Type` for responses, the WARC
//!   `Content-Type` otherwise, cut at the first `;` or white space;
//! - `digest` is `WARC-Payload-Digest` as written; when absent (or empty) it is computed, `sha1:`
//!   and base32 over the block after the HTTP head as parsed (still chunked), except for revisits,
//!   which then have none;
//! - `length` and `offset` are the record's gzip member; `filename` the file's base name.
//!
//! Lines are sorted bytewise and exact duplicates dropped, as cdxj-indexer's `SortingWriter` does.
//! [`write_beside`] writes `NAME.cdxj` next to a closed `NAME.warc.gz` (via `NAME.cdxj.tmp`, fsync,
//! rename, directory fsync); the writer calls it when it closes a file and recovery when it closes a
//! `.open` file or finds a closed file without its index.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use data_encoding::BASE32;
use sha1::{Digest, Sha1};

use super::recover::MemberWalker;
use super::writer::sync_dir;
use crate::canon::cdx_key;

/// Why a file could not be indexed (completely).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
pub struct IndexError {
    /// The WARC file.
    pub file: PathBuf,
    /// Offset of the gzip member where reading failed, bytes; `None` when the file could not be
    /// opened at all.
    pub offset: Option<u64>,
    /// What went wrong.
    pub message: String,
}

/// The index of one file: the lines of every record read (each ending in `\n`, in file order, not
/// yet sorted), and the error that stopped the reading early, if one did.
#[derive(Debug, Default)]
pub struct FileIndex {
    /// CDXJ lines in file order.
    pub lines: Vec<String>,
    /// The first problem; the lines before it are complete and their offsets valid.
    pub error: Option<IndexError>,
}

/// The `.cdxj` path of a WARC file: `NAME.warc.gz` → `NAME.cdxj` (any other name gets `.cdxj`
/// appended).
pub fn cdxj_path(warc: &Path) -> PathBuf {
    let name = warc.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let stem = name.strip_suffix(".warc.gz").unwrap_or(&name);
    warc.with_file_name(format!("{stem}.cdxj"))
}

/// Indexes `path`, naming it by its base name in every line: a gzip member per record, or an
/// uncompressed WARC (records back to back; told apart by the first bytes), whose lines give each
/// record's offset and its length without the CRLF CRLF that ends it, as cdxj-indexer does.
pub fn index_file(path: &Path) -> FileIndex {
    let filename = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let err = |offset, message: String| IndexError { file: path.to_path_buf(), offset, message };
    let mut magic = [0u8; 2];
    let gzip = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .map(|_| magic == [0x1f, 0x8b])
        .unwrap_or(true);
    if !gzip {
        return index_plain(path, &filename);
    }
    let walker = match MemberWalker::open(path) {
        Ok(w) => w,
        Err(e) => return FileIndex { lines: Vec::new(), error: Some(err(None, format!("cannot open: {e}"))) },
    };
    let mut out = FileIndex::default();
    for m in walker {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                out.error = Some(err(Some(e.offset), format!("not a complete gzip member: {}", e.message)));
                break;
            }
        };
        match index_record(&m.data, m.offset, m.length, &filename) {
            Ok(Some(line)) => out.lines.push(line),
            Ok(None) => {}
            Err(message) => {
                out.error = Some(err(Some(m.offset), message));
                break;
            }
        }
    }
    out
}

/// [`index_file`] for an uncompressed WARC: each record is its header lines up to the blank line,
/// `Content-Length` bytes of block, and the CRLF CRLF after it.
fn index_plain(path: &Path, filename: &str) -> FileIndex {
    use std::io::{BufRead, Read};
    let err = |offset, message: String| IndexError { file: path.to_path_buf(), offset, message };
    let mut out = FileIndex::default();
    let mut r = match std::fs::File::open(path) {
        Ok(f) => std::io::BufReader::with_capacity(1 << 20, f),
        Err(e) => return FileIndex { lines: Vec::new(), error: Some(err(None, format!("cannot open: {e}"))) },
    };
    let mut pos = 0u64;
    let mut data = Vec::new();
    loop {
        data.clear();
        // Header lines up to the blank line (blank lines between records are skipped).
        let mut skipped = 0u64;
        loop {
            let start = data.len();
            match r.by_ref().take(1 << 20).read_until(b'\n', &mut data) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    out.error = Some(err(Some(pos), format!("reading: {e}")));
                    return out;
                }
            }
            let line = &data[start..];
            if start == 0 && (line == b"\r\n" || line == b"\n") {
                skipped += line.len() as u64;
                data.clear();
                continue;
            }
            if line == b"\r\n" || line == b"\n" {
                break;
            }
        }
        pos += skipped;
        if data.is_empty() {
            return out;
        }
        let head = String::from_utf8_lossy(&data).to_string();
        let Some(len) = head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<u64>().ok()).flatten()
        }) else {
            out.error = Some(err(Some(pos), "a record without a valid Content-Length".into()));
            return out;
        };
        let before = data.len();
        if let Err(e) = r.by_ref().take(len).read_to_end(&mut data) {
            out.error = Some(err(Some(pos), format!("reading: {e}")));
            return out;
        }
        if ((data.len() - before) as u64) < len {
            out.error = Some(err(Some(pos), "the file ends inside the record's block".into()));
            return out;
        }
        // The record's end: CRLF CRLF (tolerantly, whatever line ends follow).
        let mut tail = 0u64;
        while tail < 4 {
            match r.fill_buf() {
                Ok([b'\r' | b'\n', ..]) => {
                    r.consume(1);
                    tail += 1;
                }
                _ => break,
            }
        }
        // warcio counts an uncompressed record's length without the CRLF CRLF after its block.
        let length = data.len() as u64;
        match index_record(&data, pos, length, filename) {
            Ok(Some(line)) => out.lines.push(line),
            Ok(None) => {}
            Err(message) => {
                out.error = Some(err(Some(pos), message));
                return out;
            }
        }
        pos += length + tail;
    }
}

/// Sorts CDXJ lines bytewise and drops exact duplicates (cdxj-indexer's `SortingWriter`).
pub fn sort_lines(lines: &mut Vec<String>) {
    lines.sort_unstable();
    lines.dedup();
}

/// Writes the sorted index of the closed WARC file `warc` to `NAME.cdxj` beside it: written to
/// `NAME.cdxj.tmp` (locked, so two processes never write one file), fsynced, renamed, and the
/// directory fsynced. Nothing is written when the file cannot be indexed completely. Returns the
/// index path, or `Ok(None)` when another process holds the temporary file (it is indexing the
/// same WARC file).
pub fn write_beside(warc: &Path) -> Result<Option<PathBuf>, IndexError> {
    let idx = index_file(warc);
    if let Some(e) = idx.error {
        return Err(e);
    }
    write_lines_beside(warc, idx.lines)
}

/// Writes `lines` (the index of the closed WARC file `warc`, in any order) sorted to `NAME.cdxj`
/// beside it, as [`write_beside`] does; the writer calls it with the lines it built while writing
/// the file ([`line_of`]), so a closed file is never read back.
pub fn write_lines_beside(warc: &Path, mut lines: Vec<String>) -> Result<Option<PathBuf>, IndexError> {
    sort_lines(&mut lines);
    let dest = cdxj_path(warc);
    let tmp = dest.with_extension("cdxj.tmp");
    let io = |what: &str, e: std::io::Error| IndexError {
        file: warc.to_path_buf(),
        offset: None,
        message: format!("{what} {}: {e}", tmp.display()),
    };
    let mut f =
        OpenOptions::new().write(true).create(true).truncate(false).open(&tmp).map_err(|e| io("creating", e))?;
    if f.try_lock().is_err() {
        return Ok(None);
    }
    f.set_len(0).map_err(|e| io("truncating", e))?;
    let mut buf = std::io::BufWriter::new(&mut f);
    for l in &lines {
        buf.write_all(l.as_bytes()).map_err(|e| io("writing", e))?;
    }
    buf.flush().map_err(|e| io("writing", e))?;
    drop(buf);
    f.sync_all().map_err(|e| io("fsync", e))?;
    std::fs::rename(&tmp, &dest).map_err(|e| io("renaming", e))?;
    drop(f);
    if let Some(dir) = dest.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        sync_dir(dir).map_err(|e| io("fsync the directory of", e))?;
    }
    Ok(Some(dest))
}

/// Writes the missing index of every closed `*.warc.gz` in `dir` (a crash between a file's rename
/// and its indexing leaves one). Problems are logged with the file and cause; they never stop the
/// caller. Returns the indexes written.
pub fn index_missing(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut closed: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".warc.gz") && !cdxj_path(p).exists())
        .collect();
    closed.sort();
    closed.into_iter().filter_map(|p| index_logged(&p)).collect()
}

/// [`write_beside`], with a failure logged (the WARC file is intact; `harvestd index` can redo it).
pub fn index_logged(warc: &Path) -> Option<PathBuf> {
    logged(warc, write_beside(warc))
}

/// [`write_lines_beside`], with a failure logged as [`index_logged`] does.
pub fn lines_logged(warc: &Path, lines: Vec<String>) -> Option<PathBuf> {
    logged(warc, write_lines_beside(warc, lines))
}

fn logged(warc: &Path, written: Result<Option<PathBuf>, IndexError>) -> Option<PathBuf> {
    match written {
        Ok(Some(p)) => {
            tracing::info!(file = %warc.display(), index = %p.display(), "WARC file indexed");
            Some(p)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(file = %warc.display(), cause = %e, "indexing a WARC file failed; `harvestd index` can redo it");
            None
        }
    }
}

/// The CDXJ line of one record as serialised (`data`, the uncompressed member) whose gzip member
/// is `length` bytes at `offset` in the file named `filename`: `None` for a record type that is not
/// indexed; `Err` when `data` is not a WARC record or its date cannot be read. The same line
/// [`index_file`] reads back from the file.
pub fn line_of(data: &[u8], offset: u64, length: u64, filename: &str) -> Result<Option<String>, String> {
    index_record(data, offset, length, filename)
}

/// One member's CDXJ line, `None` for a record type that is not indexed; `Err` when the member is
/// not a WARC record or its date cannot be read.
fn index_record(data: &[u8], offset: u64, length: u64, filename: &str) -> Result<Option<String>, String> {
    let mut rd = Lines { data, pos: 0 };
    let warc = parse_head(&mut rd).ok_or("empty member")?;
    let valid = ["WARC/1.1", "WARC/1.0", "WARC/0.17", "WARC/0.18"];
    if !valid.iter().any(|v| warc.first_line.to_uppercase().starts_with(v)) {
        return Err(format!("not a WARC record, first line: {:?}", warc.first_line));
    }
    let rec_type = warc.get("WARC-Type").unwrap_or_default();
    if !matches!(rec_type, "response" | "revisit" | "resource" | "metadata") {
        return Ok(None);
    }
    if matches!(rec_type, "resource" | "metadata") && warc.get("Content-Type") == Some("application/warc-fields") {
        return Ok(None);
    }
    // warcio's `_ensure_target_uri_format`.
    let uri = warc.get("WARC-Target-URI").map(|u| {
        let u = u.strip_prefix('<').and_then(|u| u.strip_suffix('>')).unwrap_or(u);
        u.replace(' ', "%20")
    });
    let body_start = rd.pos;
    let block_len = match warc.get("Content-Length").map(|v| v.trim().parse::<i64>()) {
        Some(Ok(n)) if n >= 0 => Some(n as usize),
        Some(_) => Some(0), // invalid or negative: warcio reads it as 0
        None => None,
    };
    let block_end = block_len.map_or(data.len(), |n| (body_start + n).min(data.len()));
    // A second record in the member has no offset of its own: it cannot be indexed (cdxj-indexer
    // fails on such a file too), so the file is reported rather than half-indexed in silence.
    if block_len.is_some() && data[block_end..].iter().any(|b| !b.is_ascii_whitespace()) {
        return Err("more than one record in one gzip member: the records after the first have no offset".into());
    }
    let mut block = Lines { data: &data[..block_end], pos: body_start };
    let http = (block_len != Some(0)
        && matches!(rec_type, "response" | "revisit")
        && uri.as_deref().is_some_and(|u| u.starts_with("http:") || u.starts_with("https:")))
    .then(|| parse_head(&mut block))
    .flatten()
    // StatusAndHeaders is false when both the status (after the protocol) and the headers are empty.
    .filter(|h| !h.status().is_empty() || !h.headers.is_empty());

    let mut fields: Vec<(&str, String)> = Vec::with_capacity(7);
    if let Some(u) = &uri {
        fields.push(("url", u.clone()));
    }
    let mime = if rec_type == "revisit" {
        Some("warc/revisit".to_string())
    } else if rec_type == "response" {
        http.as_ref().and_then(|h| h.get("content-type")).map(mime_of)
    } else {
        warc.get("content-type").map(mime_of)
    };
    if let Some(m) = mime {
        fields.push(("mime", m));
    }
    if let Some(h) = &http {
        // StatusAndHeaders.get_statuscode: the status up to a space.
        fields.push(("status", h.status().split(' ').next().unwrap_or("").to_string()));
    }
    let digest = match warc.get("WARC-Payload-Digest").filter(|d| !d.is_empty()) {
        Some(d) => Some(d.to_string()),
        None if rec_type == "revisit" => None,
        None => Some(format!("sha1:{}", BASE32.encode(&Sha1::digest(&block.data[block.pos..])))),
    };
    if let Some(d) = digest {
        fields.push(("digest", d));
    }
    fields.push(("length", length.to_string()));
    fields.push(("offset", offset.to_string()));
    fields.push(("filename", filename.to_string()));

    let date = warc.get("WARC-Date").ok_or("no WARC-Date")?;
    let ts = timestamp14(date).ok_or_else(|| format!("unreadable WARC-Date {date:?}"))?;
    let key = cdx_key(uri.as_deref().unwrap_or(""));
    let json: Vec<String> = fields.iter().map(|(k, v)| format!("{}: {}", py_json_str(k), py_json_str(v))).collect();
    Ok(Some(format!("{key} {ts} {{{}}}\n", json.join(", "))))
}

/// cdxj-indexer's mime: the value up to the first `;` or white space.
fn mime_of(v: &str) -> String {
    v.split(|c: char| c == ';' || py_is_space(c)).next().unwrap_or("").to_string()
}

/// Python's `str.isspace()` (Unicode white space plus the ASCII separators 0x1C–0x1F).
fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Reads `\n`-terminated lines from a byte slice.
struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Lines<'_> {
    /// The next line with its terminator, decoded as UTF-8 or else Latin-1 (warcio's
    /// `decode_header`); `None` at the end.
    fn next_line(&mut self) -> Option<String> {
        if self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        self.pos += n;
        let raw = &rest[..n];
        Some(match std::str::from_utf8(raw) {
            Ok(s) => s.to_string(),
            Err(_) => raw.iter().map(|&b| b as char).collect(),
        })
    }
}

/// A parsed status line and headers (warcio's `StatusAndHeaders`).
struct Head {
    /// The first line, right-stripped.
    first_line: String,
    /// (name, value) in order.
    headers: Vec<(String, String)>,
}

impl Head {
    /// The status line after the protocol word, stripped (`"200 OK"` of `"HTTP/1.1 200 OK"`).
    fn status(&self) -> &str {
        self.first_line.split_once(' ').map(|(_, r)| r.trim_matches(py_is_space)).unwrap_or("")
    }

    /// The first value of `name`, ASCII case-insensitive.
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// warcio's `StatusAndHeadersParser.parse` without verification: `None` at the end of input; a
/// blank first line ends the head at once.
fn parse_head(rd: &mut Lines) -> Option<Head> {
    let first_line = rd.next_line()?.trim_end_matches(py_is_space).to_string();
    let mut headers = Vec::new();
    if first_line.is_empty() {
        return Some(Head { first_line, headers });
    }
    let mut line = rd.next_line().unwrap_or_default().trim_end_matches(py_is_space).to_string();
    while !line.is_empty() {
        let (name, mut value) = match line.split_once(':') {
            Some((n, v)) => {
                (n.trim_end_matches([' ', '\t']).to_string(), Some(v.trim_start_matches(py_is_space).to_string()))
            }
            None => (line.clone(), None),
        };
        let mut next = rd.next_line().unwrap_or_default().trim_end_matches(py_is_space).to_string();
        while next.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push_str(&next);
            }
            next = rd.next_line().unwrap_or_default().trim_end_matches(py_is_space).to_string();
        }
        if let Some(v) = value {
            headers.push((name, v));
        }
        line = next;
    }
    Some(Head { first_line, headers })
}

/// warcio's `iso_date_to_timestamp`: the numbers of the date (split at every non-digit), at least
/// year, month and day, at most seven (the seventh is a fraction), checked as a calendar date and
/// time, written `%Y%m%d%H%M%S`.
fn timestamp14(date: &str) -> Option<String> {
    let mut nums: Vec<&str> = date.split(|c: char| !c.is_ascii_digit()).collect();
    if nums.last() == Some(&"") {
        nums.pop();
    }
    if !(3..=7).contains(&nums.len()) {
        return None;
    }
    let mut v = [0u64; 6];
    for (i, n) in nums.iter().enumerate() {
        if n.is_empty() {
            return None;
        }
        if i < 6 {
            v[i] = n.parse().ok()?;
        }
    }
    let [y, mo, d, h, mi, s] = v;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let ok = (1..=9999).contains(&y)
        && (1..=12).contains(&mo)
        && d >= 1
        && d <= days[(mo.clamp(1, 12) - 1) as usize]
        && h < 24
        && mi < 60
        && s < 60;
    ok.then(|| format!("{y}{mo:02}{d:02}{h:02}{mi:02}{s:02}"))
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`): `"` and `\` escaped, `\n`
/// `\r` `\t` `\b` `\f` short, every other character outside 0x20–0x7E as `\u` + four lower-case hex
/// digits (UTF-16 surrogate pairs above U+FFFF).
pub fn py_json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warc::writer::gzip_member;
    use crate::warc::{sha1_digest, warcinfo_record, Record};
    use std::process::Command;

    /// `cdxj-indexer` of the CI venv (`target/ci-venv`, or `$HARVESTD_VENV`).
    fn cdxj_indexer() -> PathBuf {
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin")];
        if let Ok(v) = std::env::var("HARVESTD_VENV") {
            dirs.insert(0, Path::new(&v).join("bin"));
        }
        dirs.into_iter().map(|d| d.join("cdxj-indexer")).find(|p| p.exists()).unwrap_or("cdxj-indexer".into())
    }

    /// What `cdxj-indexer --sort FILE` prints.
    fn reference(file: &Path) -> String {
        let out = Command::new(cdxj_indexer()).arg("--sort").arg(file).output().expect("running cdxj-indexer");
        assert!(out.status.success(), "cdxj-indexer: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Our sorted index of `file`, as one string.
    fn ours(file: &Path) -> String {
        let mut idx = index_file(file);
        assert!(idx.error.is_none(), "{:?}", idx.error);
        sort_lines(&mut idx.lines);
        idx.lines.concat()
    }

    fn gz(raw: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(raw).unwrap();
        e.finish().unwrap()
    }

    fn rec(kind: &str, uri: Option<&str>, date: &str, extra: &[(&str, &str)], block: &[u8]) -> Record {
        let mut fields = vec![
            ("WARC-Type".to_string(), kind.to_string()),
            ("WARC-Record-ID".into(), crate::warc::new_record_id()),
            ("WARC-Date".into(), date.into()),
        ];
        if let Some(u) = uri {
            fields.push(("WARC-Target-URI".into(), u.into()));
        }
        fields.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        Record { fields, block: block.to_vec() }
    }

    const D: &str = "2026-01-24T10:11:12.123456Z";
    const HTTP: (&str, &str) = ("Content-Type", "application/http;msgtype=response");

    /// Writes `members` as `name` in a new temporary directory.
    fn file_of(name: &str, members: &[Vec<u8>]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, members.concat()).unwrap();
        (dir, p)
    }

    fn assert_same(p: &Path) -> String {
        let (want, got) = (reference(p), ours(p));
        assert!(!want.is_empty());
        for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
            assert_eq!(g, w, "line {i}");
        }
        assert_eq!(got, want);
        got
    }

    #[test]
    fn response_fields_match_cdxj_indexer() {
        let page = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello";
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: Text/CSS\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let odd_head = b"HTTP/1.1  404   Not Found\r\nX-Long: a\r\n  continued\r\nno colon here\r\ncontent-type:  image/png ;q=1\r\n\r\n\x89PNG";
        let members = vec![
            gzip_member(&warcinfo_record("t.warc.gz", &[("software".into(), "test".into())]), 6),
            gzip_member(
                &rec(
                    "response",
                    Some("http://www.Example.com/A?b=2&a=1"),
                    D,
                    &[("WARC-Payload-Digest", &sha1_digest([&b"hello"[..]])), HTTP],
                    page,
                ),
                6,
            ),
            gzip_member(
                &rec("request", Some("http://www.Example.com/A?b=2&a=1"), D, &[], b"GET /A HTTP/1.1\r\n\r\n"),
                6,
            ),
            // no payload digest: computed over the still-chunked body
            gzip_member(
                &rec("response", Some("http://example.com/style.css"), "2026-01-24T10:11:12Z", &[HTTP], chunked),
                6,
            ),
            gzip_member(&rec("response", Some("https://example.com/missing"), D, &[HTTP], odd_head), 6),
            // status line without a status, headers empty: no status, no mime
            gzip_member(&rec("response", Some("http://example.com/bare"), D, &[HTTP], b"HTTP/1.1\r\n\r\nbody"), 6),
            gzip_member(
                &rec(
                    "response",
                    Some("http://example.com/garbage"),
                    D,
                    &[HTTP],
                    b"garbage words here\r\nnot a header\r\n\r\nrest",
                ),
                6,
            ),
            gzip_member(
                &rec("response", Some("http://example.com/blank-first"), D, &[HTTP], b"\r\nHTTP/1.1 200 OK\r\n\r\n"),
                6,
            ),
            gzip_member(&rec("response", Some("http://example.com/empty"), D, &[HTTP], b""), 6),
            gzip_member(
                &rec(
                    "response",
                    Some("http://example.com/trunc"),
                    D,
                    &[("WARC-Truncated", "length"), HTTP],
                    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\npart",
                ),
                6,
            ),
            // not http: no HTTP head parsed, whole block hashed
            gzip_member(
                &rec(
                    "response",
                    Some("dns:example.com"),
                    D,
                    &[("Content-Type", "text/dns")],
                    b"20260124101112\r\nexample.com. 300 IN A 93.184.216.34\r\n",
                ),
                6,
            ),
        ];
        let (_d, p) = file_of("responses.warc.gz", &members);
        let got = assert_same(&p);
        assert!(got.contains(r#""status": "404""#) && got.contains(r#""mime": "Text/CSS""#), "{got}");
    }

    #[test]
    fn revisit_resource_and_metadata_match_cdxj_indexer() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n";
        let members = vec![
            gzip_member(&warcinfo_record("r.warc.gz", &[]), 6),
            gzip_member(
                &rec(
                    "revisit",
                    Some("http://example.com/same"),
                    D,
                    &[
                        ("WARC-Refers-To", "<urn:uuid:00000000-0000-0000-0000-000000000000>"),
                        ("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"),
                        ("WARC-Payload-Digest", "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5"),
                        HTTP,
                    ],
                    head,
                ),
                6,
            ),
            // a revisit without digest or head: neither status nor digest
            gzip_member(&rec("revisit", Some("http://example.com/bare-revisit"), D, &[HTTP], b""), 6),
            gzip_member(
                &rec("revisit", Some("http://example.com/304"), D, &[HTTP], b"HTTP/1.1 304 Not Modified\r\n\r\n"),
                6,
            ),
            // the crawler's unparseable material
            gzip_member(
                &rec(
                    "resource",
                    Some("http://example.com/junk"),
                    D,
                    &[
                        ("WARC-Payload-Digest", &sha1_digest([&b"\x00\x01junk"[..]])),
                        ("WARC-Truncated", "unspecified"),
                        ("Content-Type", "application/octet-stream"),
                    ],
                    b"\x00\x01junk",
                ),
                6,
            ),
            gzip_member(
                &rec(
                    "resource",
                    Some("file:///etc/motd"),
                    D,
                    &[("Content-Type", "text/plain; charset=utf-8")],
                    b"motd",
                ),
                6,
            ),
            gzip_member(&rec("resource", None, D, &[("Content-Type", "text/plain")], b"no target"), 6),
            gzip_member(
                &rec(
                    "resource",
                    Some("http://example.com/fields"),
                    D,
                    &[("Content-Type", "application/warc-fields")],
                    b"a: b\r\n",
                ),
                6,
            ),
            gzip_member(
                &rec(
                    "metadata",
                    Some("http://example.com/same"),
                    D,
                    &[("Content-Type", "application/warc-fields")],
                    b"outlink: x\r\n",
                ),
                6,
            ),
            gzip_member(
                &rec(
                    "metadata",
                    Some("http://example.com/same"),
                    D,
                    &[("Content-Type", "application/warc-fields; x=y")],
                    b"outlink: y\r\n",
                ),
                6,
            ),
            gzip_member(
                &rec("metadata", Some("http://example.com/same"), D, &[("Content-Type", "text/plain")], b"note"),
                6,
            ),
            gzip_member(&rec("metadata", Some("http://example.com/same"), D, &[], b"no type"), 6),
            gzip_member(
                &rec("conversion", Some("http://example.com/same"), D, &[("Content-Type", "text/plain")], b"x"),
                6,
            ),
        ];
        let (_d, p) = file_of("other.warc.gz", &members);
        let got = assert_same(&p);
        assert!(got.contains(r#""mime": "warc/revisit""#), "{got}");
    }

    #[test]
    fn odd_urls_and_json_escaping_match_cdxj_indexer() {
        let body = b"HTTP/1.1 200 OK\r\n\r\nx";
        let r = |uri: &str| gzip_member(&rec("response", Some(uri), D, &[HTTP], body), 6);
        // A Latin-1 byte in the target URI (not UTF-8): warcio decodes the line as Latin-1.
        let latin1 = {
            let mut raw = b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Date: 2026-01-24T10:11:12Z\r\nWARC-Target-URI: http://example.com/caf\xe9\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx\r\n\r\n".to_vec();
            raw.shrink_to_fit();
            gz(&raw)
        };
        let members = vec![
            r("https://enabbaladi.net/archives/357566"),
            r("https://عنب.net/archives/سوريا?q=جيفري"),
            r("<http://example.com/angle-brackets>"),
            r("http://example.com/with space and \"quotes\" and \\back"),
            r("http://example.com:99999/bad-port"),
            r("http://example.com/😀\u{7f}"),
            r("http://example.com/same-key"),
            r("http://EXAMPLE.com/same-key"),
            latin1,
            gzip_member(&rec("response", Some("http://example.com/date-only"), "2026-01-24", &[HTTP], body), 6),
            gzip_member(
                &rec("response", Some("http://example.com/fraction"), "2026-01-24T23:59:59.9999999Z", &[HTTP], body),
                6,
            ),
        ];
        let (_d, p) = file_of("urls.warc.gz", &members);
        let got = assert_same(&p);
        assert!(got.contains("\\u0639\\u0646\\u0628"), "{got}");
    }

    #[test]
    fn a_torn_member_reports_its_offset_and_keeps_the_lines_before() {
        let good =
            gzip_member(&rec("resource", Some("http://example.com/a"), D, &[("Content-Type", "text/plain")], b"a"), 6);
        let mut torn =
            gzip_member(&rec("resource", Some("http://example.com/b"), D, &[("Content-Type", "text/plain")], b"b"), 6);
        torn.truncate(torn.len() / 2);
        let (_d, p) = file_of("torn.warc.gz", &[good.clone(), torn]);
        let idx = index_file(&p);
        assert_eq!(idx.lines.len(), 1);
        let e = idx.error.expect("an error");
        assert_eq!(e.offset, Some(good.len() as u64));
        assert!(e.to_string().contains("torn.warc.gz at offset"), "{e}");
        assert!(write_beside(&p).is_err());
        assert!(!cdxj_path(&p).exists(), "no index is written for a file that cannot be read whole");
    }

    #[test]
    fn an_uncompressed_warc_is_indexed_as_cdxj_indexer_does() {
        let resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi";
        let recs = [
            rec("warcinfo", None, D, &[("Content-Type", "application/warc-fields")], b"software: x\r\n"),
            rec(
                "response",
                Some("http://example.com/a"),
                D,
                &[("Content-Type", "application/http;msgtype=response")],
                resp,
            ),
            rec(
                "request",
                Some("http://example.com/a"),
                D,
                &[("Content-Type", "application/http;msgtype=request")],
                b"GET /a HTTP/1.1\r\n\r\n",
            ),
            rec("resource", Some("http://example.com/r"), D, &[("Content-Type", "text/plain")], b"resource body"),
        ];
        let bytes: Vec<u8> = recs.iter().flat_map(|r| r.to_bytes()).collect();
        let (_d, p) = file_of("plain.warc", &[bytes]);
        let got = assert_same(&p);
        assert_eq!(got.lines().count(), 2, "{got}");
    }

    #[test]
    fn two_records_in_one_member_are_an_error_at_that_member() {
        let good =
            gzip_member(&rec("resource", Some("http://example.com/a"), D, &[("Content-Type", "text/plain")], b"a"), 6);
        let r1 = rec("resource", Some("http://example.com/b"), D, &[("Content-Type", "text/plain")], b"b");
        let r2 = rec("resource", Some("http://example.com/c"), D, &[("Content-Type", "text/plain")], b"c");
        let mut both = r1.to_bytes();
        both.extend_from_slice(&r2.to_bytes());
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &both).unwrap();
        let merged = enc.finish().unwrap();
        let (_d, p) = file_of("merged.warc.gz", &[good.clone(), merged]);
        let idx = index_file(&p);
        assert_eq!(idx.lines.len(), 1);
        let e = idx.error.expect("an error");
        assert_eq!(e.offset, Some(good.len() as u64));
        assert!(e.message.contains("more than one record"), "{e}");
    }

    #[test]
    fn write_beside_names_the_index_after_the_warc() {
        let members = vec![gzip_member(
            &rec("resource", Some("http://example.com/a"), D, &[("Content-Type", "text/plain")], b"a"),
            6,
        )];
        let (_d, p) = file_of("h-20260124000000000-00001-x.warc.gz", &members);
        let dest = write_beside(&p).unwrap().unwrap();
        assert_eq!(dest.file_name().unwrap(), "h-20260124000000000-00001-x.cdxj");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), reference(&p));
        assert!(!dest.with_extension("cdxj.tmp").exists());
    }

    #[test]
    fn timestamps_follow_warcio() {
        assert_eq!(timestamp14("2026-01-24T10:11:12.123456Z").as_deref(), Some("20260124101112"));
        assert_eq!(timestamp14("2024-02-29T00:00:00Z").as_deref(), Some("20240229000000"));
        assert_eq!(timestamp14("2026-01-24").as_deref(), Some("20260124000000"));
        assert_eq!(timestamp14("2023-02-29T00:00:00Z"), None);
        assert_eq!(timestamp14("2026-01-24T10:11:12+01:00"), None, "eight numbers");
        assert_eq!(timestamp14("2026--01-24"), None, "an empty number");
    }

    #[test]
    fn json_strings_are_pythons() {
        assert_eq!(py_json_str("a\"b\\c\n\u{7f}é😀"), r#""a\"b\\c\n\u007f\u00e9\ud83d\ude00""#);
    }
}
