//! Test support: raw-socket HTTP servers on 127.0.0.x that log every request, the built binary,
//! WARC reading with independent digest checks, and `warcio check`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use data_encoding::BASE32;
use sha1::{Digest, Sha1};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Request target (path and query).
    pub path: String,
    /// When the request head was complete.
    pub at: Instant,
    /// The request bytes exactly as received.
    pub raw: Vec<u8>,
    /// Connection number (0-based, in accept order).
    pub conn: usize,
    /// Wall-clock time of `at`.
    pub wall: std::time::SystemTime,
    /// When the reply's last byte was written (`None`: not answered, or the write failed).
    pub end: Option<Instant>,
}

/// What the server sends for a request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Bytes written, exactly.
    pub bytes: Vec<u8>,
    /// Wait before writing.
    pub delay: Duration,
    /// Close the connection after writing.
    pub close: bool,
}

impl Reply {
    /// Exact bytes, then close.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply { bytes: bytes.into(), delay: Duration::ZERO, close: true }
    }
}

/// Request handler: (path, raw request) → reply.
pub type Handler = Arc<dyn Fn(&str, &[u8]) -> Reply + Send + Sync>;

/// A raw-socket HTTP/1.1 server on one loopback address, one thread per connection.
#[derive(Clone)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Every request received, in order.
    pub log: Arc<Mutex<Vec<Hit>>>,
    /// Connections accepted.
    pub conns: Arc<AtomicUsize>,
}

/// Server behaviour beyond the handler.
#[derive(Clone, Copy, Default)]
struct Quirks {
    /// Answer at most this many requests per connection; the next one is read, logged and the
    /// connection closed without a response byte (a kept-alive connection gone stale).
    answers_per_conn: Option<usize>,
}

impl Server {
    /// Starts a server on `ip`:0 (any free port) answering with `handler`.
    pub fn start(ip: &str, handler: Handler) -> Server {
        let listener = TcpListener::bind((ip, 0)).expect("bind a loopback port");
        Self::serve(listener, handler)
    }

    /// Serves on an already bound listener.
    pub fn serve(listener: TcpListener, handler: Handler) -> Server {
        Self::serve_with(listener, handler, None, Quirks::default())
    }

    /// Starts a server on `ip`:0 that keeps connections open but answers only `n` requests per
    /// connection, then drops the connection on the next request without answering.
    pub fn start_stale_after(ip: &str, n: usize, handler: Handler) -> Server {
        let listener = TcpListener::bind((ip, 0)).expect("bind a loopback port");
        Self::serve_with(listener, handler, None, Quirks { answers_per_conn: Some(n) })
    }

    /// Starts a TLS server on `ip`:0 with `tls` (closing connections without close_notify, as
    /// many real servers do).
    pub fn start_tls(ip: &str, handler: Handler, tls: Arc<rustls::ServerConfig>) -> Server {
        let listener = TcpListener::bind((ip, 0)).expect("bind a loopback port");
        Self::serve_with(listener, handler, Some(tls), Quirks::default())
    }

    fn serve_with(
        listener: TcpListener,
        handler: Handler,
        tls: Option<Arc<rustls::ServerConfig>>,
        quirks: Quirks,
    ) -> Server {
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let (log2, conns2) = (log.clone(), conns.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let n = conns2.fetch_add(1, Ordering::SeqCst);
                let (h, l) = (handler.clone(), log2.clone());
                let tls = tls.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    match tls {
                        None => serve_conn(stream, n, h, l, quirks),
                        Some(cfg) => {
                            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            serve_conn(TlsConn(rustls::StreamOwned::new(conn, stream)), n, h, l, quirks)
                        }
                    }
                });
            }
        });
        Server { addr, log, conns }
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The paths requested, in order.
    pub fn paths(&self) -> Vec<String> {
        self.log.lock().unwrap().iter().map(|h| h.path.clone()).collect()
    }

    /// The log so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.log.lock().unwrap().clone()
    }
}

/// A server-side connection: plain TCP or TLS.
trait ServerConn: Read + Write {
    /// Ends the sending side (TLS: without close_notify).
    fn close_write(&mut self);
}

impl ServerConn for TcpStream {
    fn close_write(&mut self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

struct TlsConn(rustls::StreamOwned<rustls::ServerConnection, TcpStream>);

impl Read for TlsConn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsConn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl ServerConn for TlsConn {
    fn close_write(&mut self) {
        let _ = self.0.flush();
        let _ = self.0.sock.shutdown(std::net::Shutdown::Write);
    }
}

fn serve_conn(mut s: impl ServerConn, conn: usize, handler: Handler, log: Arc<Mutex<Vec<Hit>>>, quirks: Quirks) {
    let mut buf = Vec::new();
    let mut answered = 0;
    loop {
        // Read one request head (GET only: no body).
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let raw: Vec<u8> = buf.drain(..end).collect();
        let line = String::from_utf8_lossy(&raw).lines().next().unwrap_or("").to_string();
        let path = line.split(' ').nth(1).unwrap_or("").to_string();
        let index = {
            let mut log = log.lock().unwrap();
            log.push(Hit {
                path: path.clone(),
                at: Instant::now(),
                raw: raw.clone(),
                conn,
                wall: std::time::SystemTime::now(),
                end: None,
            });
            log.len() - 1
        };
        if quirks.answers_per_conn.is_some_and(|n| answered >= n) {
            return; // dropped: the client sees the connection close before any response byte
        }
        answered += 1;
        let reply = handler(&path, &raw);
        if !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        if s.write_all(&reply.bytes).and_then(|_| s.flush()).is_err() {
            return;
        }
        log.lock().unwrap()[index].end = Some(Instant::now());
        if reply.close {
            s.close_write();
            // Drain until the client closes, so the client sees a clean EOF, not a reset.
            let mut sink = [0u8; 1024];
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
    }
}

/// A complete HTTP/1.1 response with Content-Length.
pub fn http_response(status: u16, reason: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// `body` in chunks of `size` bytes (chunked transfer coding), with the last-chunk and no trailers.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The built `harvestd` binary, run in a scratch working directory (so defaults such as
/// `./logs` never land in the source tree).
pub fn harvestd() -> Command {
    let cwd = std::env::temp_dir().join(format!("harvestd-tests-{}", std::process::id()));
    std::fs::create_dir_all(&cwd).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_harvestd"));
    c.current_dir(cwd);
    c
}

/// Runs `harvestd crawl` with `args` and the usual test flags; returns its output.
pub fn crawl(urls: &[String], warc_dir: &Path, state_dir: &Path, extra: &[&str]) -> Output {
    let mut c = harvestd();
    c.arg("crawl").args(urls).arg("--warc-dir").arg(warc_dir).arg("--state-dir").arg(state_dir);
    if let Some(parent) = state_dir.parent() {
        c.arg("--log-dir").arg(parent.join("logs"));
    }
    c.args(extra);
    c.env("RUST_LOG", "info");
    c.output().expect("running harvestd")
}

/// `sha1:` + base32 (independent of the crate's own helper).
pub fn sha1_b32(data: &[u8]) -> String {
    format!("sha1:{}", BASE32.encode(&Sha1::digest(data)))
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Its WARC file.
    pub file: PathBuf,
    /// Offset of its gzip member.
    pub offset: u64,
    /// Header fields, lower-cased names.
    pub fields: HashMap<String, String>,
    /// The block.
    pub block: Vec<u8>,
}

impl Rec {
    /// A field by lower-case name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Every record of every closed WARC file in `dir` (file order by name), read with our member
/// walker and parsed with the `warc` crate. Panics on a bad member.
pub fn read_warcs(dir: &Path) -> Vec<Rec> {
    let mut out = Vec::new();
    for f in warc_files(dir) {
        for m in harvestd::warc::recover::MemberWalker::open(&f).unwrap() {
            let m = m.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let r = harvestd::warc::recover::parse_record(&m.data).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            out.push(Rec { file: f.clone(), offset: m.offset, fields: r.fields, block: r.block });
        }
    }
    out
}

/// The closed WARC files in `dir`, sorted by name.
pub fn warc_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".warc.gz")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Files still named `.open` in `dir`.
pub fn open_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".open")).collect()
        })
        .unwrap_or_default()
}

/// Splits an HTTP response block into (head, body as sent).
pub fn split_http(block: &[u8]) -> (&[u8], &[u8]) {
    let p = block.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP head") + 4;
    (&block[..p], &block[p..])
}

/// Removes chunked transfer coding (an implementation independent of the crawler's framer).
pub fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = body.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let line = std::str::from_utf8(&body[..nl]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[nl + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// Whether an HTTP head has `Transfer-Encoding: chunked`.
pub fn is_chunked(head: &[u8]) -> bool {
    String::from_utf8_lossy(head)
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked"))
}

/// Recomputes every record's block digest, and every response's payload digest by the spec
/// (transfer coding removed, content coding kept). Panics naming the first mismatch.
pub fn check_digests(recs: &[Rec]) {
    for r in recs {
        if let Some(d) = r.get("warc-block-digest") {
            assert_eq!(
                d,
                sha1_b32(&r.block),
                "block digest of {:?} {:?}",
                r.get("warc-type"),
                r.get("warc-target-uri")
            );
        }
        if r.get("warc-type") == Some("response") && r.get("warc-truncated").is_none() {
            let (head, body) = split_http(&r.block);
            let payload = if is_chunked(head) { dechunk(body) } else { body.to_vec() };
            assert_eq!(
                r.get("warc-payload-digest").unwrap(),
                sha1_b32(&payload),
                "payload digest of {:?}",
                r.get("warc-target-uri")
            );
        }
    }
}

/// Checks that every response (resource, revisit) has exactly one request concurrent to it and
/// every request's Concurrent-To names one in the same file.
pub fn check_groups(recs: &[Rec]) {
    let mut by_file: HashMap<&Path, Vec<&Rec>> = HashMap::new();
    for r in recs {
        by_file.entry(&r.file).or_default().push(r);
    }
    for (f, rs) in by_file {
        assert_eq!(rs[0].get("warc-type"), Some("warcinfo"), "{}: warcinfo first", f.display());
        let primaries: Vec<&str> = rs
            .iter()
            .filter(|r| matches!(r.get("warc-type"), Some("response" | "resource" | "revisit")))
            .map(|r| r.get("warc-record-id").unwrap())
            .collect();
        let requests: Vec<&str> = rs
            .iter()
            .filter(|r| r.get("warc-type") == Some("request"))
            .map(|r| r.get("warc-concurrent-to").unwrap())
            .collect();
        let mut sorted_p = primaries.clone();
        sorted_p.sort();
        let mut sorted_r = requests.clone();
        sorted_r.sort();
        assert_eq!(sorted_p, sorted_r, "{}: every response has its request", f.display());
    }
}

/// The path of a Python tool (`warcio`, `wayback`, `wb-manager`): the project's venv under
/// `target/ci-venv` (made by `.ci/run`), else `$HARVESTD_VENV/bin`, else PATH.
pub fn venv_tool(name: &str) -> PathBuf {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin")];
    if let Ok(v) = std::env::var("HARVESTD_VENV") {
        dirs.insert(0, Path::new(&v).join("bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.exists()).unwrap_or_else(|| PathBuf::from(name))
}

/// Every record of the closed WARC files in `dir`, after checking them: digests recomputed by the
/// spec, capture groups complete, and `warcio check` on each file.
pub fn checked_records(dir: &Path) -> Vec<Rec> {
    let recs = read_warcs(dir);
    check_digests(&recs);
    check_groups(&recs);
    for f in warc_files(dir) {
        warcio_check(&f, &recs).unwrap();
    }
    recs
}

/// A running pywb `wayback`, killed when dropped, however the test ends.
pub struct Wayback(pub std::process::Child);

impl Drop for Wayback {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts pywb's `wayback` in `root` (a directory holding `collections/`) on a free loopback port
/// and waits until it accepts connections; returns it and its port.
pub fn start_wayback(root: &Path) -> (Wayback, u16) {
    let port = free_port();
    let w = Wayback(
        Command::new(venv_tool("wayback"))
            .args(["--bind", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting pywb's wayback"),
    );
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(60), "pywb did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (w, port)
}

/// A pywb collection `coll` under `root` holding `warcs`, indexed by pywb itself (`wb-manager
/// add`), served by [`start_wayback`].
pub fn pywb_collection(root: &Path, warcs: &[PathBuf]) -> (Wayback, u16) {
    std::fs::create_dir_all(root).unwrap();
    let st = Command::new(venv_tool("wb-manager")).arg("init").arg("coll").current_dir(root).output().unwrap();
    assert!(st.status.success(), "wb-manager init: {}", String::from_utf8_lossy(&st.stderr));
    let st =
        Command::new(venv_tool("wb-manager")).arg("add").arg("coll").args(warcs).current_dir(root).output().unwrap();
    assert!(st.status.success(), "wb-manager add: {}", String::from_utf8_lossy(&st.stderr));
    start_wayback(root)
}

/// A plain HTTP/1.0 GET to 127.0.0.1:`port` with no Accept-Encoding: (status, headers with
/// lower-case names, body).
pub fn http_get(port: u16, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let (head, body) = split_http(&buf);
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_vec())
}

/// The first header named `name` (lower case) of [`http_get`]'s headers.
pub fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A pywb collection `coll` under `root` holding `warcs` and, as its only index, the merged
/// `.cdxj` files the crawler wrote beside them (no `wb-manager`), served by [`start_wayback`];
/// returns it, its port and the index lines.
pub fn pywb_over_our_index(root: &Path, warcs: &[PathBuf]) -> (Wayback, u16, Vec<String>) {
    let coll = root.join("collections/coll");
    std::fs::create_dir_all(coll.join("archive")).unwrap();
    std::fs::create_dir_all(coll.join("indexes")).unwrap();
    let mut lines = Vec::new();
    for f in warcs {
        std::fs::copy(f, coll.join("archive").join(f.file_name().unwrap())).unwrap();
        let idx = harvestd::warc::cdxj::cdxj_path(f);
        lines.extend(std::fs::read_to_string(&idx).unwrap().lines().map(|l| format!("{l}\n")));
    }
    lines.sort();
    std::fs::write(coll.join("indexes/index.cdxj"), lines.concat()).unwrap();
    let (w, port) = start_wayback(root);
    (w, port, lines)
}

/// The path of `warcio`.
pub fn warcio() -> PathBuf {
    venv_tool("warcio")
}

/// Runs `warcio check -v` on `file`; Err with the output if it fails for any reason other than
/// the one excused (DESIGN §Digests): a payload-digest failure on a response whose HTTP head has
/// `Transfer-Encoding: chunked` (warcio hashes the still-chunked bytes).
pub fn warcio_check(file: &Path, recs: &[Rec]) -> Result<(), String> {
    let out = Command::new(warcio())
        .arg("check")
        .arg("-v")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run warcio ({e}); run .ci/run or put warcio on PATH"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        return Ok(());
    }
    let chunked_ids: Vec<&str> = recs
        .iter()
        .filter(|r| r.file == file && r.get("warc-type") == Some("response"))
        .filter(|r| is_chunked(split_http(&r.block).0))
        .map(|r| r.get("warc-record-id").unwrap())
        .collect();
    // warcio -v prints one line per record: offset, type, id, then indented comments.
    let mut current_id = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.ends_with(".warc.gz") || t.ends_with(file.to_string_lossy().as_ref()) {
            continue;
        }
        if let Some(i) = t.find("<urn:uuid:") {
            current_id = t[i..].split_whitespace().next().unwrap_or("").to_string();
            continue;
        }
        if t.starts_with("digest pass") || t.starts_with("no digest") {
            continue;
        }
        if t.starts_with("payload digest failed") && chunked_ids.contains(&current_id.as_str()) {
            continue;
        }
        if t.starts_with("digest present but not checked") {
            continue;
        }
        return Err(format!("warcio check {}: unexcused line {t:?}\n{text}", file.display()));
    }
    Ok(())
}

/// A test certificate authority and a server certificate it signed.
pub struct TestPki {
    /// The CA certificate, PEM (for `ca_file`).
    pub ca_pem: String,
    /// A server configuration presenting a certificate for `names`.
    pub server: Arc<rustls::ServerConfig>,
}

/// Makes a CA and a server certificate for `names` (DNS names or IP addresses), signed by the CA
/// when `signed` (else self-signed, which strict verification refuses).
pub fn test_pki(names: &[&str], signed: bool) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "harvestd test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let leaf = if signed {
        leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap()
    } else {
        leaf_params.self_signed(&leaf_key).unwrap()
    };
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    TestPki { ca_pem: ca.pem(), server: Arc::new(server) }
}

/// Opens the crawl state after the crawler exited and returns each finished URL's result.
pub fn finished(state: &Path) -> HashMap<String, harvestd::frontier::Finished> {
    let store = harvestd::store::Store::open(state, 1 << 20).unwrap();
    let f = harvestd::frontier::Frontier::open(store, Arc::new(harvestd::clock::SystemClock)).unwrap();
    f.finished().map(|r| r.unwrap()).collect()
}

/// Writes a test configuration in `dir` (WARCs and state below it, no delay unless `extra` sets
/// one, loopback allowed) with `extra` appended; returns its path.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("test.toml");
    let delay = if extra.lines().any(|l| l.starts_with("delay =")) { "" } else { "delay = \"0s\"\n" };
    // No control API unless asked for (tests run side by side; each API test has its own address).
    let api = if extra.lines().any(|l| l.starts_with("api_listen =")) { "" } else { "api_listen = \"\"\n" };
    let text = format!(
        "warc_dir = {:?}\nstate_dir = {:?}\nlog_dir = {:?}\n{delay}{api}allow_private = [\"127.0.0.0/8\", \"::1/128\"]\n{extra}",
        dir.join("warcs").display().to_string(),
        dir.join("state").display().to_string(),
        dir.join("logs").display().to_string()
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// A site of `n` pages linked in a chain, each answered after `delay`, each with `noise` bytes of
/// text that gzip cannot shrink much.
pub fn chain_site(ip: &str, n: usize, delay: Duration) -> Server {
    chain_site_sized(ip, n, delay, 1000)
}

pub fn chain_site_sized(ip: &str, n: usize, delay: Duration, noise: usize) -> Server {
    Server::start(
        ip,
        Arc::new(move |path: &str, _: &[u8]| {
            if path == "/robots.txt" {
                return Reply::raw(http_response(404, "Not Found", &[], b""));
            }
            let i: usize = path.trim_start_matches("/p/").parse().unwrap_or(0);
            let next = if i + 1 < n { format!("<a href=\"/p/{}\">next</a>", i + 1) } else { String::new() };
            // Text that gzip cannot shrink much (an LCG's output in hex), so WARC files grow.
            let mut x = i as u64 + 1;
            let noise: String = (0..noise / 2)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    format!("{:02x}", (x >> 56) as u8)
                })
                .collect();
            let body = format!("<html><body><p>{noise}</p>{next}</body></html>");
            let mut r = Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], body.as_bytes()));
            r.delay = delay;
            r
        }),
    )
}
