//! Reading WARC files back: the gzip member walker, record parsing (through the `warc` crate),
//! and start-up recovery of `.open` files.
//!
//! Recovery (DESIGN §Durability order): every `NAME.warc.gz.open` left by a crash is cut back to
//! the end of its last complete capture group (see the [`super`] module doc: primary record, any
//! records concurrent to it, its request last) and renamed to `NAME.warc.gz`. A member that fails
//! its gzip CRC or does not parse as one WARC record ends the walk: everything from it on is cut.
//! Then every closed file of the directory without its `NAME.cdxj` is indexed (the files just
//! closed, and any a crash left between its rename and its indexing).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use warc::WarcHeader;

use super::writer::sync_dir;

/// One gzip member of a file: where it is and its decompressed bytes.
#[derive(Debug, Clone)]
pub struct Member {
    /// Offset of the member in the file, bytes.
    pub offset: u64,
    /// Compressed length, bytes.
    pub length: u64,
    /// Decompressed content.
    pub data: Vec<u8>,
}

/// A problem found while walking members.
#[derive(Debug, thiserror::Error)]
#[error("member at offset {offset}: {message}")]
pub struct WalkError {
    /// Where the bad member starts.
    pub offset: u64,
    /// What is wrong (truncated, bad CRC, not gzip), and where the walk resumed if it did.
    pub message: String,
    /// Whether the file ends inside this member (a torn last member: no complete deflate stream
    /// or gzip trailer, RFC 1952 §2.2).
    pub truncated: bool,
}

/// The gzip member magic and the deflate method byte (RFC 1952 §2.3.1).
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Iterates over the gzip members of a file, tracking input offsets (flate2 single-member decoder
/// over a shared buffered reader). By default it stops after the first error (recovery cuts
/// there); [`MemberWalker::keep_going`] makes it resume at the next gzip header after a bad
/// member instead (`verify` reports every bad member).
pub struct MemberWalker {
    reader: BufReader<File>,
    pos: u64,
    len: u64,
    done: bool,
    keep_going: bool,
}

impl MemberWalker {
    /// Opens `path` for walking.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { reader: BufReader::with_capacity(1 << 16, file), pos: 0, len, done: false, keep_going: false })
    }

    /// After a bad member, resume at the next gzip member header found past it (its magic bytes
    /// `1f 8b 08`) instead of stopping; the error says where the walk resumed.
    pub fn keep_going(mut self) -> Self {
        self.keep_going = true;
        self
    }

    /// The file's length when it was opened, bytes.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// The offset of the first gzip magic at or after `from`, if any (leaves the reader there).
    fn find_magic(&mut self, from: u64) -> std::io::Result<Option<u64>> {
        self.reader.seek(SeekFrom::Start(from))?;
        let mut at = from;
        let mut carry: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let n = self.reader.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            let base = at - carry.len() as u64;
            carry.extend_from_slice(&chunk[..n]);
            if let Some(i) = carry.windows(GZIP_MAGIC.len()).position(|w| w == GZIP_MAGIC) {
                let found = base + i as u64;
                self.reader.seek(SeekFrom::Start(found))?;
                return Ok(Some(found));
            }
            at += n as u64;
            carry.drain(..carry.len().saturating_sub(GZIP_MAGIC.len() - 1));
        }
    }

    /// Ends the walk at a bad member, or moves past it in keep-going mode.
    fn bad_member(&mut self, offset: u64, cause: String) -> WalkError {
        let end = self.reader.stream_position().unwrap_or(self.len);
        let truncated = end >= self.len;
        let mut message = if truncated {
            format!("truncated gzip member: the file ends {} bytes into it ({cause})", self.len - offset)
        } else {
            cause
        };
        if !self.keep_going || truncated {
            self.done = true;
            return WalkError { offset, message, truncated };
        }
        // From just past the bad member's start, not from where the decoder stopped: the decoder
        // reads ahead, so a good member right after a few bytes of garbage would be skipped.
        match self.find_magic(offset + 1) {
            Ok(Some(next)) => {
                message.push_str(&format!("; resumed at the next gzip member, offset {next}"));
                self.pos = next;
            }
            Ok(None) => {
                message.push_str("; no gzip member follows");
                self.done = true;
            }
            Err(e) => {
                message.push_str(&format!("; reading on failed: {e}"));
                self.done = true;
            }
        }
        WalkError { offset, message, truncated }
    }
}

impl Iterator for MemberWalker {
    type Item = Result<Member, WalkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.len {
            return None;
        }
        let offset = self.pos;
        let mut data = Vec::new();
        let res = flate2::bufread::GzDecoder::new(&mut self.reader).read_to_end(&mut data);
        let end = self.reader.stream_position();
        match (res, end) {
            (Ok(_), Ok(end)) if end > offset => {
                self.pos = end;
                Some(Ok(Member { offset, length: end - offset, data }))
            }
            (Ok(_), _) => Some(Err(self.bad_member(offset, "empty gzip member".into()))),
            (Err(e), _) => Some(Err(self.bad_member(offset, e.to_string()))),
        }
    }
}

/// The fields of a parsed record that grouping and checks need.
#[derive(Debug, Clone, Default)]
pub struct RecordHead {
    /// `WARC-Type`.
    pub warc_type: String,
    /// `WARC-Record-ID`.
    pub record_id: String,
    /// `WARC-Concurrent-To`, when present.
    pub concurrent_to: Option<String>,
    /// `WARC-Target-URI`, when present.
    pub target_uri: Option<String>,
    /// Every header field, lower-cased names (the `warc` crate keeps one value per name).
    pub fields: HashMap<String, String>,
    /// The record block.
    pub block: Vec<u8>,
}

/// Parses one member's bytes as exactly one WARC record, with the `warc` crate.
pub fn parse_record(data: &[u8]) -> Result<RecordHead, String> {
    let mut it = warc::WarcReader::new(std::io::Cursor::new(data)).iter_raw_records();
    let (head, block) = match it.next() {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(format!("not a WARC record: {e}")),
        None => return Err("empty member".into()),
    };
    if it.next().is_some() {
        return Err("more than one record in one gzip member".into());
    }
    let get = |h: WarcHeader| head.headers.get(&h).map(|v| String::from_utf8_lossy(v).to_string());
    let fields = head
        .headers
        .iter()
        .map(|(k, v)| (k.to_string().to_ascii_lowercase(), String::from_utf8_lossy(v).to_string()))
        .collect();
    Ok(RecordHead {
        warc_type: get(WarcHeader::WarcType).ok_or("no WARC-Type")?,
        record_id: get(WarcHeader::RecordID).ok_or("no WARC-Record-ID")?,
        concurrent_to: get(WarcHeader::ConcurrentTo),
        target_uri: get(WarcHeader::TargetURI),
        fields,
        block,
    })
}

/// What recovery did to one file.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The closed file's final path.
    pub path: PathBuf,
    /// Bytes kept (the end of the last complete capture).
    pub kept: u64,
    /// Bytes cut off the end.
    pub cut: u64,
    /// Complete capture groups kept.
    pub captures: u64,
    /// Why the walk stopped early, if it did.
    pub stopped_at: Option<String>,
}

/// Finds the end of the last complete capture group in `path` (see the module doc). Returns
/// (bytes to keep, complete groups, why the walk stopped early).
pub fn complete_prefix(path: &Path) -> std::io::Result<(u64, u64, Option<String>)> {
    let mut good_end = 0u64;
    let mut groups = 0u64;
    let mut open_primary: Option<String> = None;
    let mut stopped = None;
    for m in MemberWalker::open(path)? {
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                stopped = Some(e.to_string());
                break;
            }
        };
        let rec = match parse_record(&m.data) {
            Ok(r) => r,
            Err(e) => {
                stopped = Some(format!("member at offset {}: {e}", m.offset));
                break;
            }
        };
        let end = m.offset + m.length;
        match rec.warc_type.as_str() {
            "warcinfo" if open_primary.is_none() => good_end = end,
            "response" | "resource" | "revisit" => open_primary = Some(rec.record_id),
            "request" if open_primary.is_some() && rec.concurrent_to == open_primary => {
                open_primary = None;
                good_end = end;
                groups += 1;
            }
            _ if open_primary.is_some() && rec.concurrent_to == open_primary => {}
            other => {
                stopped = Some(format!("member at offset {}: unexpected {other} record", m.offset));
                break;
            }
        }
    }
    Ok((good_end, groups, stopped))
}

/// Recovers every `*.warc.gz.open` in `dir` that no live process holds locked: cut to the last
/// complete capture, fsync, rename to the final name, fsync the directory. Then writes the missing
/// `.cdxj` of every closed file ([`super::cdxj::index_missing`]; failures are logged, not returned).
pub fn recover_dir(dir: &Path) -> std::io::Result<Vec<Recovered>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut opens: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".warc.gz.open"))
        .collect();
    opens.sort();
    for open in opens {
        let f = OpenOptions::new().write(true).open(&open)?;
        if f.try_lock().is_err() {
            // Locked: a live crawl (another job sharing this directory) is writing it.
            tracing::info!(file = %open.display(), "an open WARC file is in use by another process; left alone");
            continue;
        }
        let (keep, captures, stopped_at) = complete_prefix(&open)?;
        let len = f.metadata()?.len();
        f.set_len(keep)?;
        f.sync_all()?;
        let final_path = PathBuf::from(open.to_string_lossy().trim_end_matches(".open").to_string());
        std::fs::rename(&open, &final_path)?;
        sync_dir(dir)?;
        tracing::warn!(file = %final_path.display(), kept = keep, cut = len - keep, captures, "recovered an unclosed WARC file");
        out.push(Recovered { path: final_path, kept: keep, cut: len - keep, captures, stopped_at });
    }
    super::cdxj::index_missing(dir);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warc::writer::gzip_member;
    use crate::warc::{new_record_id, warcinfo_record, Record};
    use std::io::Write;

    fn rec(kind: &str, id: &str, concurrent: Option<&str>) -> Record {
        let mut fields = vec![
            ("WARC-Type".to_string(), kind.to_string()),
            ("WARC-Record-ID".into(), id.to_string()),
            ("WARC-Date".into(), "2026-01-24T00:00:00.000000Z".into()),
        ];
        if let Some(c) = concurrent {
            fields.push(("WARC-Concurrent-To".into(), c.to_string()));
        }
        Record { fields, block: format!("{kind} block").into_bytes() }
    }

    /// Writes members and returns the file and the end offset after each member.
    fn file_of(members: &[Vec<u8>]) -> (tempfile::TempDir, PathBuf, Vec<u64>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t-20260124000000000-00001-h.warc.gz.open");
        let mut f = File::create(&p).unwrap();
        let mut ends = Vec::new();
        let mut at = 0;
        for m in members {
            f.write_all(m).unwrap();
            at += m.len() as u64;
            ends.push(at);
        }
        (dir, p, ends)
    }

    #[test]
    fn cuts_a_group_missing_its_request() {
        let (r1, r2) = (new_record_id(), new_record_id());
        let members = vec![
            gzip_member(&warcinfo_record("x.warc.gz", &[]), 6),
            gzip_member(&rec("response", &r1, None), 6),
            gzip_member(&rec("request", &new_record_id(), Some(&r1)), 6),
            gzip_member(&rec("response", &r2, None), 6),
        ];
        let (_d, p, ends) = file_of(&members);
        let (keep, groups, _) = complete_prefix(&p).unwrap();
        assert_eq!((keep, groups), (ends[2], 1));
    }

    #[test]
    fn cuts_a_torn_member() {
        let r1 = new_record_id();
        let mut torn = gzip_member(&rec("response", &new_record_id(), None), 6);
        torn.truncate(torn.len() / 2);
        let members = vec![
            gzip_member(&warcinfo_record("x.warc.gz", &[]), 6),
            gzip_member(&rec("response", &r1, None), 6),
            gzip_member(&rec("request", &new_record_id(), Some(&r1)), 6),
            torn,
        ];
        let (_d, p, ends) = file_of(&members);
        let (keep, groups, stopped) = complete_prefix(&p).unwrap();
        assert_eq!((keep, groups), (ends[2], 1));
        assert!(stopped.is_some());
    }

    #[test]
    fn keep_going_resumes_after_a_bad_member_and_names_a_torn_last_one() {
        let good = gzip_member(&rec("resource", &new_record_id(), None), 6);
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff; // the CRC-32 in the trailer
        let mut torn = good.clone();
        torn.truncate(good.len() - 5);
        let (_d, p, ends) = file_of(&[good.clone(), bad_crc, good.clone(), torn]);
        let got: Vec<Result<u64, (u64, bool)>> = MemberWalker::open(&p)
            .unwrap()
            .keep_going()
            .map(|m| m.map(|m| m.offset).map_err(|e| (e.offset, e.truncated)))
            .collect();
        assert_eq!(got, vec![Ok(0), Err((ends[0], false)), Ok(ends[1]), Err((ends[2], true))]);
        // Without keep_going the walk stops at the first bad member.
        assert_eq!(MemberWalker::open(&p).unwrap().count(), 2);
        let torn_err = MemberWalker::open(&p).unwrap().keep_going().last().unwrap().unwrap_err();
        assert!(torn_err.message.starts_with("truncated gzip member: the file ends"), "{}", torn_err.message);
    }

    #[test]
    fn keep_going_does_not_skip_a_good_member_right_after_garbage() {
        let good = gzip_member(&rec("resource", &new_record_id(), None), 6);
        let (_d, p, ends) = file_of(&[good.clone(), b"GARBAGE\n".to_vec(), good.clone(), good.clone()]);
        let got: Vec<Result<u64, u64>> =
            MemberWalker::open(&p).unwrap().keep_going().map(|m| m.map(|m| m.offset).map_err(|e| e.offset)).collect();
        assert_eq!(got, vec![Ok(0), Err(ends[0]), Ok(ends[1]), Ok(ends[2])]);
    }

    #[test]
    fn recover_dir_closes_under_the_final_name() {
        let r1 = new_record_id();
        let members = vec![
            gzip_member(&warcinfo_record("x.warc.gz", &[]), 6),
            gzip_member(&rec("response", &r1, None), 6),
            gzip_member(&rec("request", &new_record_id(), Some(&r1)), 6),
            b"\x1f\x8b\x08garbage".to_vec(),
        ];
        let (d, _p, ends) = file_of(&members);
        let out = recover_dir(d.path()).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].path.to_string_lossy().ends_with(".warc.gz"));
        assert_eq!(std::fs::metadata(&out[0].path).unwrap().len(), ends[2]);
        assert_eq!(MemberWalker::open(&out[0].path).unwrap().filter(|m| m.is_ok()).count(), 3);
    }

    #[test]
    fn recover_dir_indexes_the_closed_file_under_its_final_name() {
        let r1 = new_record_id();
        let mut resp = rec("response", &r1, None);
        resp.fields.push(("WARC-Target-URI".into(), "http://example.com/".into()));
        let members = vec![
            gzip_member(&warcinfo_record("x.warc.gz", &[]), 6),
            gzip_member(&resp, 6),
            gzip_member(&rec("request", &new_record_id(), Some(&r1)), 6),
            gzip_member(&rec("response", &new_record_id(), None), 6),
        ];
        let (d, _p, ends) = file_of(&members);
        // A closed file a crash left unindexed (renamed, never indexed) is indexed too.
        let (_d2, crashed, _) = file_of(&members[..3]);
        let crashed_final = d.path().join("t-20260124000000000-00000-h.warc.gz");
        std::fs::copy(&crashed, &crashed_final).unwrap();
        let out = recover_dir(d.path()).unwrap();
        let cdxj = crate::warc::cdxj::cdxj_path(&out[0].path);
        assert_eq!(cdxj.file_name().unwrap(), "t-20260124000000000-00001-h.cdxj");
        let text = std::fs::read_to_string(&cdxj).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(&format!("\"offset\": \"{}\"", ends[0])), "{text}");
        assert!(text.contains("\"filename\": \"t-20260124000000000-00001-h.warc.gz\""), "{text}");
        assert!(crate::warc::cdxj::cdxj_path(&crashed_final).exists());
    }
}
