//! The WARC writer: one thread that owns the open WARC file.
//!
//! Workers send a [`Job`] (a capture's record group plus what the commit task needs, usually
//! already compressed by [`pack`], one gzip member per record) over a bounded channel; the thread
//! appends the group and fsyncs by group commit — at most `group_commit` after the first unsynced
//! capture, or after [`MAX_GROUP`] captures, or as soon as it has nothing else to write but no
//! sooner than a tenth of `group_commit` after its last fsync (a lone host's next URLs wait on
//! that fsync) — then hands every capture of the synced group to the commit task as [`Durable`],
//! with the primary record's location. Files are written as `NAME.warc.gz.open`,
//! renamed to `NAME.warc.gz` when closed (rotation at `max_file_size`, after `idle_close` without a
//! capture, or when the last sender drops), and the directory is fsynced after every create and
//! rename. The open file carries an exclusive advisory lock, so recovery never touches a live file.
//! Each closed file is indexed here too, `NAME.cdxj` beside it: its lines are built as its records
//! are written ([`super::cdxj::line_of`]) and written sorted when it closes, so a closed file is
//! never read back ([`super::cdxj::write_lines_beside`]).
//! fsync and indexing run here, and gzip when a job arrives unpacked; never on the async runtime.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::Compression;
use tokio::sync::mpsc;

use super::{warcinfo_record_as, Record, WarcVersion};

/// Most captures waiting for one fsync.
pub const MAX_GROUP: usize = 512;

/// Where a record was written: the WARC file's final name, the gzip member's offset and length.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// File name (final, never `.open`), relative to the WARC directory.
    pub file: String,
    /// Byte offset of the record's gzip member.
    pub offset: u64,
    /// Compressed length of the member, bytes.
    pub length: u64,
}

/// A capture to write.
#[derive(Debug)]
pub struct Job<T> {
    /// The record group in write order.
    pub records: Vec<Record>,
    /// Index of the record whose location is reported.
    pub primary: usize,
    /// Passed through to the commit task.
    pub payload: T,
    /// The group already serialised and compressed by the sender ([`pack`]); used when it was
    /// packed for the file the writer has open, else the writer packs `records` itself.
    pub packed: Option<Packed>,
}

/// The `WARC-Record-ID` of the open file's warcinfo record (empty before the first file), shared
/// with the senders so they can compress record groups on their own threads ([`pack`]).
pub type CurrentWarcinfo = std::sync::Arc<std::sync::RwLock<String>>;

/// A record group serialised and compressed for the file whose warcinfo record is `warcinfo_id`:
/// per record, its serialised bytes (for the file's CDXJ index) and its gzip member.
#[derive(Debug)]
pub struct Packed {
    /// The warcinfo record the records name in `WARC-Warcinfo-ID`.
    pub warcinfo_id: String,
    /// (serialised record, gzip member), in write order.
    pub members: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Sets each record's `WARC-Warcinfo-ID` to `warcinfo_id`, serialises it with
/// the version line of `version`, and compresses it into its own gzip member at `level` (0–9).
/// CPU-heavy (gzip): run it off the async runtime's worker threads.
pub fn pack(records: &mut [Record], warcinfo_id: &str, level: u32, version: WarcVersion) -> Packed {
    let members = records
        .iter_mut()
        .map(|r| {
            r.set_warcinfo_id(warcinfo_id);
            let raw = r.to_bytes_as(version);
            let member = gzip_bytes(&raw, level);
            (raw, member)
        })
        .collect();
    Packed { warcinfo_id: warcinfo_id.to_string(), members }
}

/// A capture whose records are durable (file fsynced, directory entry too).
#[derive(Debug)]
pub struct Durable<T> {
    /// What the job carried.
    pub payload: T,
    /// The primary record's location.
    pub location: Location,
    /// Uncompressed bytes of the whole group.
    pub bytes: u64,
    /// Records in the group.
    pub records: u64,
}

/// What the commit task receives from the writer.
#[derive(Debug)]
pub enum WriterEvent<T> {
    /// These captures are durable, in write order.
    Durable(Vec<Durable<T>>),
    /// Writing failed (disk full, I/O error); the partial group was cut off the file. The writer
    /// stops; captures not reported durable were not committed and will be fetched again.
    Failed(String),
    /// This file (its final name) was closed, after its captures were reported durable.
    Closed(String),
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// The WARC directory (created if missing).
    pub dir: PathBuf,
    /// File name prefix.
    pub prefix: String,
    /// Host name in file names and warcinfo.
    pub hostname: String,
    /// Rotation size, bytes.
    pub max_file_size: u64,
    /// gzip level 0–9.
    pub compression_level: u32,
    /// Longest wait between a capture's write and its fsync.
    pub group_commit: Duration,
    /// An open file that receives no capture for this long is closed.
    pub idle_close: Duration,
    /// The warcinfo fields (`software`, `operator`, …), written in every file.
    pub warcinfo: Vec<(String, String)>,
    /// The WARC version of the records' version line (records are built for it by the caller).
    pub version: WarcVersion,
    /// Where the writer publishes the open file's warcinfo record ID.
    pub current_warcinfo: CurrentWarcinfo,
}

/// `{prefix}-{yyyyMMddHHmmssSSS}-{serial:05}-{hostname}.warc.gz` (the IIPC naming Heritrix and
/// Zeno use).
pub fn file_name(prefix: &str, when: &chrono::DateTime<chrono::Utc>, serial: u64, hostname: &str) -> String {
    format!("{prefix}-{}-{serial:05}-{hostname}.warc.gz", when.format("%Y%m%d%H%M%S%3f"))
}

/// The serial in a file name written by [`file_name`] with `prefix` (`.open` or not), if it is one.
pub fn serial_of(name: &str, prefix: &str) -> Option<u64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (ts, rest) = rest.split_at_checked(17)?;
    if !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix('-')?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() || !rest[digits.len()..].starts_with('-') {
        return None;
    }
    if !(name.ends_with(".warc.gz") || name.ends_with(".warc.gz.open")) {
        return None;
    }
    digits.parse().ok()
}

/// The highest serial among the WARC files (open or closed) in `dir`, 0 when there are none.
pub fn highest_serial_in(dir: &Path, prefix: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| serial_of(&e.file_name().to_string_lossy(), prefix))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// This machine's host name, made safe for a file name.
pub fn hostname() -> String {
    let h = gethostname::gethostname().to_string_lossy().to_string();
    let h: String =
        h.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    if h.is_empty() {
        "localhost".into()
    } else {
        h
    }
}

/// fsyncs a directory so a create or rename in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Compresses one record (serialised as WARC/1.1) into its own gzip member.
pub fn gzip_member(record: &Record, level: u32) -> Vec<u8> {
    gzip_member_as(record, level, WarcVersion::V1_1)
}

/// Compresses one record, serialised with the version line of `version`, into its own gzip member.
pub fn gzip_member_as(record: &Record, level: u32, version: WarcVersion) -> Vec<u8> {
    gzip_bytes(&record.to_bytes_as(version), level)
}

thread_local! {
    /// One raw-deflate compressor per thread (and level), reset for each record. A new one per
    /// record, as `GzEncoder::new` makes, allocates and zeroes some 300 KB of tables each time: a
    /// capture is three records, and their tables cost more than deflating a small request record.
    static GZIP: std::cell::RefCell<Option<(u32, flate2::Compress)>> = const { std::cell::RefCell::new(None) };
}

/// Compresses serialised bytes into one gzip member (RFC 1952) at `level` (0–9), from the thread's
/// reused compressor: the header `flate2::write::GzEncoder` writes (no name, mtime 0, XFL from the
/// level, OS 255), and at levels 2–9 its very bytes (at 0 and 1 block boundaries may differ).
fn gzip_bytes(raw: &[u8], level: u32) -> Vec<u8> {
    let xfl = match level {
        9.. => 2,
        0 | 1 => 4,
        _ => 0,
    };
    let mut out = Vec::with_capacity(raw.len() / 3 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]);
    GZIP.with_borrow_mut(|slot| {
        let z = match slot {
            Some((l, z)) if *l == level => {
                z.reset();
                z
            }
            _ => &mut slot.insert((level, flate2::Compress::new(Compression::new(level), false))).1,
        };
        loop {
            out.reserve(raw.len() / 4 + 64);
            let at = z.total_in() as usize;
            match z.compress_vec(&raw[at..], &mut out, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) => unreachable!("deflating into memory cannot fail: {e}"),
            }
        }
    });
    let mut crc = flate2::Crc::new();
    crc.update(raw);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out
}

struct OpenFile {
    name: String,
    open_path: PathBuf,
    file: File,
    len: u64,
    /// The file's CDXJ lines, built as its records are written (`None` once a record could not be
    /// indexed: the file is then indexed from disk when it closes, which reports why).
    index: Option<Vec<String>>,
}

struct Writer<T> {
    s: WriterSettings,
    next_serial: u64,
    on_new_serial: Box<dyn FnMut(u64) + Send>,
    current: Option<OpenFile>,
    dir_dirty: bool,
    pending: Vec<Durable<T>>,
    first_pending: Option<Instant>,
    /// When the open file was last fsynced.
    last_sync: Instant,
    out: mpsc::UnboundedSender<WriterEvent<T>>,
}

/// Starts the writer thread. Jobs arrive on `rx`; durable captures leave on `out`. The first file
/// gets serial `first_serial`; `on_new_serial` is called with each serial before its file is
/// created (the crawler persists it). `rt` is the runtime whose timer serves the group-commit wait.
/// The thread ends when every sender of `rx` is dropped, after closing the file and reporting the
/// last captures; it returns the names of the files it closed.
pub fn spawn<T: Send + 'static>(
    settings: WriterSettings,
    first_serial: u64,
    on_new_serial: Box<dyn FnMut(u64) + Send>,
    mut rx: mpsc::Receiver<Job<T>>,
    out: mpsc::UnboundedSender<WriterEvent<T>>,
    rt: tokio::runtime::Handle,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::Builder::new()
        .name("warc-writer".into())
        .spawn(move || {
            let mut w = WriterLoop {
                w: Writer {
                    s: settings,
                    next_serial: first_serial,
                    on_new_serial,
                    current: None,
                    dir_dirty: false,
                    pending: Vec::new(),
                    first_pending: None,
                    last_sync: Instant::now(),
                    out,
                },
                warcinfo_id: String::new(),
                closed: Vec::new(),
                failed: false,
            };
            loop {
                let msg = match w.w.first_pending {
                    // An open file idle for `idle_close` is closed, so a quiet daemon's captures
                    // reach indexing and replay.
                    None if w.w.current.is_some() => {
                        let idle = w.w.s.idle_close;
                        match rt.block_on(async { tokio::time::timeout(idle, rx.recv()).await }) {
                            Ok(m) => m,
                            Err(_) => {
                                w.close_current();
                                continue;
                            }
                        }
                    }
                    None => rx.blocking_recv(),
                    Some(t) => {
                        let now = Instant::now();
                        let wait = (t + w.w.s.group_commit).saturating_duration_since(now);
                        if wait.is_zero() {
                            w.sync_and_release();
                            continue;
                        }
                        match rx.try_recv() {
                            Ok(job) => Some(job),
                            Err(mpsc::error::TryRecvError::Disconnected) => None,
                            // Nothing else to write: commit now rather than at the end of
                            // `group_commit`, but no sooner than a tenth of it after the last
                            // fsync, so a busy crawl still groups its captures.
                            Err(mpsc::error::TryRecvError::Empty) => {
                                let soon = (w.w.last_sync + w.w.s.group_commit / 10).saturating_duration_since(now);
                                if soon.is_zero() {
                                    w.sync_and_release();
                                    continue;
                                }
                                match rt.block_on(async { tokio::time::timeout(soon.min(wait), rx.recv()).await }) {
                                    Ok(m) => m,
                                    Err(_) => {
                                        w.sync_and_release();
                                        continue;
                                    }
                                }
                            }
                        }
                    }
                };
                let Some(job) = msg else { break };
                if w.failed {
                    continue; // drain: nothing more is written after a failure
                }
                w.write_job(job);
            }
            w.close_current();
            w.closed
        })
        .expect("spawning the WARC writer thread")
}

struct WriterLoop<T> {
    w: Writer<T>,
    warcinfo_id: String,
    closed: Vec<String>,
    failed: bool,
}

impl<T> WriterLoop<T> {
    fn fail(&mut self, msg: String) {
        tracing::error!(cause = %msg, "WARC write failed; the crawl stops, unsynced captures will be fetched again");
        self.failed = true;
        let _ = self.w.out.send(WriterEvent::Failed(msg));
    }

    fn open_new(&mut self) -> std::io::Result<()> {
        let w = &mut self.w;
        std::fs::create_dir_all(&w.s.dir)?;
        // A name another writer (another job sharing the directory) took meanwhile is skipped.
        let (name, open_path, mut file) = loop {
            let serial = w.next_serial;
            w.next_serial += 1;
            (w.on_new_serial)(serial);
            let name = file_name(&w.s.prefix, &chrono::Utc::now(), serial, &w.s.hostname);
            let open_path = w.s.dir.join(format!("{name}.open"));
            let final_path = w.s.dir.join(&name);
            if final_path.exists() {
                continue;
            }
            match OpenOptions::new().write(true).create_new(true).open(&open_path) {
                Ok(f) => break (name, open_path, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        };
        // Held while the file is written: start-up recovery in another process leaves a locked
        // `.open` file alone (it belongs to a live crawl).
        file.try_lock().map_err(|e| std::io::Error::other(format!("locking {name}.open: {e}")))?;
        let info = warcinfo_record_as(&name, &w.s.warcinfo, w.s.version);
        let member = gzip_member_as(&info, w.s.compression_level, w.s.version);
        file.write_all(&member)?;
        w.dir_dirty = true;
        self.warcinfo_id = info.field("WARC-Record-ID").unwrap_or_default().to_string();
        if let Ok(mut shared) = w.s.current_warcinfo.write() {
            shared.clone_from(&self.warcinfo_id);
        }
        tracing::info!(file = %name, "WARC file opened");
        w.current = Some(OpenFile { name, open_path, file, len: member.len() as u64, index: Some(Vec::new()) });
        Ok(())
    }

    fn write_job(&mut self, mut job: Job<T>) {
        if self.w.current.is_none() {
            if let Err(e) = self.open_new() {
                return self.fail(format!("creating a WARC file in {}: {e}", self.w.s.dir.display()));
            }
        }
        let (level, version) = (self.w.s.compression_level, self.w.s.version);
        let raw_bytes: u64 = job.records.iter().map(|r| r.block.len() as u64).sum();
        // Packed for another file (one opened or rotated since): packed again for this one.
        let members = match job.packed.take() {
            Some(p) if p.warcinfo_id == self.warcinfo_id => p.members,
            _ => pack(&mut job.records, &self.warcinfo_id, level, version).members,
        };
        let cur = self.w.current.as_mut().expect("opened above");
        let start = cur.len;
        let mut offset = start;
        let mut location = None;
        let mut result = Ok(());
        let mut lines = Vec::new();
        for (i, (raw, m)) in members.iter().enumerate() {
            if i == job.primary {
                location = Some(Location { file: cur.name.clone(), offset, length: m.len() as u64 });
            }
            if let Err(e) = cur.file.write_all(m) {
                result = Err(e);
                break;
            }
            if cur.index.is_some() {
                match super::cdxj::line_of(raw, offset, m.len() as u64, &cur.name) {
                    Ok(line) => lines.extend(line),
                    Err(why) => {
                        tracing::warn!(file = %cur.name, offset, cause = %why, "a record cannot be indexed as written; the file is indexed from disk when it closes");
                        cur.index = None;
                    }
                }
            }
            offset += m.len() as u64;
        }
        if let Err(e) = result {
            // Cut the partial group off so the file still ends on a complete capture.
            let _ = cur.file.set_len(start);
            let _ = cur.file.sync_data();
            let msg = format!("writing {}: {e}", cur.name);
            return self.fail(msg);
        }
        cur.len = offset;
        if let Some(index) = &mut cur.index {
            index.append(&mut lines);
        }
        let n = members.len() as u64;
        self.w.pending.push(Durable {
            payload: job.payload,
            location: location.expect("primary index within the group"),
            bytes: raw_bytes,
            records: n,
        });
        self.w.first_pending.get_or_insert_with(Instant::now);
        let rotate = cur.len >= self.w.s.max_file_size;
        if rotate {
            self.close_current();
        } else if self.w.pending.len() >= MAX_GROUP {
            self.sync_and_release();
        }
    }

    /// fsyncs the open file (and the directory when an entry changed), then reports the pending
    /// captures durable.
    fn sync_and_release(&mut self) {
        if let Some(cur) = &self.w.current {
            if let Err(e) = cur.file.sync_data() {
                return self.fail(format!("fsync {}: {e}", cur.name));
            }
        }
        self.w.last_sync = Instant::now();
        if self.w.dir_dirty {
            if let Err(e) = sync_dir(&self.w.s.dir) {
                return self.fail(format!("fsync directory {}: {e}", self.w.s.dir.display()));
            }
            self.w.dir_dirty = false;
        }
        self.release();
    }

    fn release(&mut self) {
        self.w.first_pending = None;
        if !self.w.pending.is_empty() {
            let batch = std::mem::take(&mut self.w.pending);
            let _ = self.w.out.send(WriterEvent::Durable(batch));
        }
    }

    /// Closes the open file: fsync, rename `.open` → final, fsync the directory, report pending.
    fn close_current(&mut self) {
        let Some(cur) = self.w.current.take() else {
            if !self.failed {
                self.sync_and_release();
            }
            return;
        };
        let final_path = self.w.s.dir.join(&cur.name);
        let res = cur
            .file
            .sync_data()
            .and_then(|_| std::fs::rename(&cur.open_path, &final_path))
            .and_then(|_| sync_dir(&self.w.s.dir));
        match res {
            Ok(()) => {
                self.w.dir_dirty = false;
                tracing::info!(file = %cur.name, bytes = cur.len, "WARC file closed");
                self.closed.push(cur.name.clone());
                self.release();
                let _ = self.w.out.send(WriterEvent::Closed(cur.name));
                // After the captures are reported durable: indexing never delays a commit, and a
                // failure only costs the index (logged; `harvestd index` or the next start redoes it).
                match cur.index {
                    Some(lines) => super::cdxj::lines_logged(&final_path, lines),
                    None => super::cdxj::index_logged(&final_path),
                };
            }
            Err(e) => self.fail(format!("closing {}: {e}", cur.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_members_are_gzencoders_bytes_from_a_reused_compressor_and_inflate_back() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 % 61 + 32).collect();
        for level in [0, 1, 5, 6, 9, 6] {
            for raw in [&b""[..], b"WARC/1.1\r\nWARC-Type: request\r\n\r\n", &big] {
                let ours = gzip_bytes(raw, level);
                let mut back = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&ours[..]), &mut back).unwrap();
                assert!(back == raw, "level {level}, {} bytes: does not inflate to the input", raw.len());
                if level < 2 {
                    // Stored blocks (0) and zlib-rs's quick strategy (1) cut blocks where the
                    // input was fed in, so only the content is compared.
                    continue;
                }
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), Compression::new(level));
                enc.write_all(raw).unwrap();
                let theirs = enc.finish().unwrap();
                assert!(ours == theirs, "level {level}, {} bytes: {} vs {} bytes", raw.len(), ours.len(), theirs.len());
            }
        }
    }

    fn resource(id: &str) -> Record {
        Record {
            fields: vec![
                ("WARC-Type".into(), "resource".into()),
                ("WARC-Record-ID".into(), id.into()),
                ("WARC-Date".into(), "2026-01-24T10:11:12Z".into()),
                ("WARC-Target-URI".into(), "http://h.example/r".into()),
                ("Content-Type".into(), "text/plain".into()),
            ],
            block: b"hello".to_vec(),
        }
    }

    #[test]
    fn a_group_packed_for_the_open_file_is_written_as_packed_and_a_stale_one_is_packed_again() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let current = CurrentWarcinfo::default();
        let settings = WriterSettings {
            dir: dir.path().to_path_buf(),
            prefix: "t".into(),
            hostname: "h".into(),
            max_file_size: 1 << 30,
            compression_level: 6,
            group_commit: Duration::from_millis(1),
            idle_close: Duration::from_secs(60),
            warcinfo: vec![("software".into(), "test".into())],
            version: WarcVersion::V1_1,
            current_warcinfo: current.clone(),
        };
        let (tx, rx) = mpsc::channel(8);
        let (out, mut events) = mpsc::unbounded_channel();
        let handle = spawn(settings, 1, Box::new(|_| {}), rx, out, rt.handle().clone());
        // The first group opens the file: nothing to pack for before it.
        tx.blocking_send(Job { records: vec![resource("<urn:uuid:a>")], primary: 0, payload: 1, packed: None })
            .unwrap();
        let durable = |events: &mut mpsc::UnboundedReceiver<WriterEvent<i32>>| loop {
            if let WriterEvent::Durable(d) = events.blocking_recv().unwrap() {
                break d;
            }
        };
        durable(&mut events);
        let info = current.read().unwrap().clone();
        assert!(info.starts_with("<urn:uuid:"), "{info}");
        // Packed for the open file: written byte for byte as packed.
        let mut good = vec![resource("<urn:uuid:b>")];
        let packed = pack(&mut good, &info, 6, WarcVersion::V1_1);
        let member = packed.members[0].1.clone();
        tx.blocking_send(Job { records: good, primary: 0, payload: 2, packed: Some(packed) }).unwrap();
        let at = durable(&mut events)[0].location.clone();
        // Packed for a file that is not open: packed again, naming the open file's warcinfo.
        let mut stale = vec![resource("<urn:uuid:c>")];
        let packed = pack(&mut stale, "<urn:uuid:stale>", 6, WarcVersion::V1_1);
        tx.blocking_send(Job { records: stale, primary: 0, payload: 3, packed: Some(packed) }).unwrap();
        durable(&mut events);
        drop(tx);
        let files = handle.join().unwrap();
        let bytes = std::fs::read(dir.path().join(&files[0])).unwrap();
        assert_eq!(&bytes[at.offset as usize..(at.offset + at.length) as usize], &member[..]);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut text).unwrap();
        let named: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("WARC-Warcinfo-ID: ")).collect();
        assert_eq!(named, [info.as_str(); 3]);
        assert!(!text.contains("stale"));
    }

    #[test]
    fn names_and_serials_round_trip() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-24T10:11:12.345Z").unwrap().with_timezone(&chrono::Utc);
        let n = file_name("harvestd", &t, 7, "host-a.example");
        assert_eq!(n, "harvestd-20260124101112345-00007-host-a.example.warc.gz");
        assert_eq!(serial_of(&n, "harvestd"), Some(7));
        assert_eq!(serial_of(&format!("{n}.open"), "harvestd"), Some(7));
        assert_eq!(serial_of(&n, "other"), None);
        assert_eq!(serial_of("harvestd-2026-00001-x.warc.gz", "harvestd"), None);
        assert_eq!(serial_of("harvestd-20260124101112345-123456-x.warc.gz", "harvestd"), Some(123456));
    }
}
