//! Benchmark of `harvestd verify` (the library function it runs): builds a `.warc.gz` of realistic
//! captures the way the crawler does — HTTP responses framed by `fetch::framer`, records by
//! `warc::capture_records`, one gzip member each by `warc::writer::gzip_member` at the default
//! level 6 — then times `warc::verify::verify` on it and prints GB, seconds and MB/s, with the
//! time a bare inflate of the same file takes, to show where the time goes.
//!
//! The mix per capture: HTML with Content-Length (35%), chunked HTML (15%), gzip-encoded chunked
//! HTML (15%), images of random bytes (30%), small redirects and 404s (5%); each with its request
//! record, warcinfo first.
//!
//! Size: `HARVESTD_BENCH_SIZE` (e.g. `256MiB`, `1GiB`), else 1 GiB under `cargo bench` (which
//! passes `--bench`), else 4 MiB: `cargo test --all-targets` runs this target without `--bench`
//! as a quick smoke run. Nothing asserts on time; the run fails only if verify finds a problem in
//! records we built correctly.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use common::site::Rng;
use harvestd::fetch::framer::frame_response;
use harvestd::fetch::{Exchange, Material};
use harvestd::warc::writer::gzip_member;
use harvestd::warc::{capture_records, warcinfo_record, CaptureOptions, Primary};

const WORDS: &[&str] = &[
    "the",
    "archive",
    "crawler",
    "polite",
    "record",
    "<p>",
    "</p>",
    "<a href=\"/p/",
    "\">",
    "</a>",
    "web",
    "page",
    "content",
    "digest",
    "payload",
    "jeffrey",
    "syria",
    "report",
    "<div class=\"x\">",
    "</div>",
    "2026",
    "news",
];

/// HTML-like text of about `n` bytes (gzip shrinks it 4–5×, as real pages).
fn html(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut s = b"<!doctype html><html><head><title>bench</title></head><body>".to_vec();
    while s.len() < n {
        let w = WORDS[rng.range(0, WORDS.len())];
        s.extend_from_slice(w.as_bytes());
        if w.ends_with("/p/") {
            s.extend_from_slice(rng.next().to_string().as_bytes());
        }
        s.push(b' ');
    }
    s.extend_from_slice(b"</body></html>");
    s
}

fn chunk(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / size * 8 + 16);
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// One capture's response bytes as a server would send them.
fn response(rng: &mut Rng) -> (String, Vec<u8>) {
    let pick = rng.range(0, 100);
    let head =
        |extra: &str| format!("HTTP/1.1 200 OK\r\nServer: bench\r\nDate: Sat, 24 Jan 2026 10:00:00 GMT\r\n{extra}");
    let (path, bytes) = match pick {
        0..35 => {
            let n = rng.range(8_000, 60_000);
            let body = html(rng, n);
            let h = head(&format!("Content-Type: text/html\r\nContent-Length: {}\r\n\r\n", body.len()));
            ("page.html", [h.as_bytes(), &body].concat())
        }
        35..50 => {
            let n = rng.range(8_000, 60_000);
            let body = html(rng, n);
            let h = head("Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n");
            ("chunked.html", [h.as_bytes(), &chunk(&body, 4096)].concat())
        }
        50..65 => {
            let n = rng.range(8_000, 60_000);
            let body = gzip(&html(rng, n));
            let h = head("Content-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
            ("gzip.html", [h.as_bytes(), &chunk(&body, 8192)].concat())
        }
        65..95 => {
            let n = rng.range(10_000, 200_000);
            let body = rng.bytes(n);
            let h = head(&format!("Content-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", body.len()));
            ("photo.jpg", [h.as_bytes(), &body].concat())
        }
        _ => (
            "moved",
            head("Location: /elsewhere\r\nContent-Length: 0\r\n\r\n").replacen("200 OK", "301 Moved", 1).into_bytes(),
        ),
    };
    (format!("http://bench.example/{}/{path}", rng.next() % 100_000), bytes)
}

/// One capture's record group as gzip members, built as the crawler builds it.
fn capture_members(rng: &mut Rng, warcinfo_id: &str) -> Vec<u8> {
    let (url, bytes) = response(rng);
    let framed = frame_response(&bytes, false, true).expect("a well-formed response");
    let url: url::Url = url.parse().unwrap();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: harvestd-bench\r\nAccept-Encoding: gzip\r\n\r\n",
        url.path()
    );
    let ex = Exchange {
        url,
        peer: SocketAddr::from(([192, 0, 2, 1], 80)),
        date: chrono::Utc::now(),
        duration: Duration::from_millis(20),
        request: request.into_bytes(),
        block: bytes,
        material: Material::Response(Box::new(framed)),
        truncated: None,
        tls_verdict: None,
    };
    let mut out = Vec::new();
    for mut r in capture_records(&ex, &Primary::Full, &CaptureOptions::default()).records {
        r.set_warcinfo_id(warcinfo_id);
        out.extend_from_slice(&gzip_member(&r, 6));
    }
    out
}

/// Writes a `.warc.gz` of at least `size` bytes at `path` (two generator threads, one writer).
fn generate(path: &Path, size: u64) -> u64 {
    let info = warcinfo_record("bench.warc.gz", &[("software".into(), "harvestd bench".into())]);
    let info_id = info.field("WARC-Record-ID").unwrap().to_string();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    file.write_all(&gzip_member(&info, 6)).unwrap();
    let mut written = 0u64;
    let done = AtomicBool::new(false);
    // Bounded: generators wait for the writer; dropping the receiver ends them.
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(8);
    std::thread::scope(|s| {
        for seed in 0..2u64 {
            let (tx, done, info_id) = (tx.clone(), &done, &info_id);
            s.spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (seed + 1));
                while !done.load(Ordering::Relaxed) {
                    let mut batch = Vec::new();
                    while batch.len() < 4 << 20 {
                        batch.extend_from_slice(&capture_members(&mut rng, info_id));
                    }
                    if tx.send(batch).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for batch in rx.iter() {
            file.write_all(&batch).unwrap();
            written += batch.len() as u64;
            if written >= size {
                done.store(true, Ordering::Relaxed);
                break;
            }
        }
        drop(rx);
    });
    file.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let size = match std::env::var("HARVESTD_BENCH_SIZE") {
        Ok(s) => s.parse::<bytesize::ByteSize>().expect("HARVESTD_BENCH_SIZE like 256MiB").as_u64(),
        Err(_) if bench => 1 << 30,
        Err(_) => 4 << 20,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.warc.gz");
    let t = Instant::now();
    let len = generate(&path, size);
    println!("generated {:.3} GB in {:.1} s", len as f64 / 1e9, t.elapsed().as_secs_f64());

    // Where the time goes: inflating alone (the walker, one thread) …
    let t = Instant::now();
    let mut inflated = 0u64;
    for m in harvestd::warc::recover::MemberWalker::open(&path).unwrap() {
        inflated += m.unwrap().data.len() as u64;
    }
    let inflate = t.elapsed().as_secs_f64();
    // … and SHA-1 alone over that much data.
    let sample = vec![0x5au8; 1 << 24];
    let t = Instant::now();
    let mut h = <sha1::Sha1 as sha1::Digest>::new();
    for _ in 0..(inflated >> 24).max(1) {
        sha1::Digest::update(&mut h, &sample);
    }
    std::hint::black_box(sha1::Digest::finalize(h));
    let sha1_secs = t.elapsed().as_secs_f64();

    let report = harvestd::warc::verify::verify(std::slice::from_ref(&path));
    let secs = report.elapsed.as_secs_f64();
    println!(
        "verify: {:.3} GB ({:.3} GB uncompressed, {} records) in {secs:.2} s = {:.1} MB/s",
        report.bytes as f64 / 1e9,
        report.content_bytes as f64 / 1e9,
        report.records,
        report.mb_per_s()
    );
    println!(
        "  for comparison, one thread: inflate alone {inflate:.2} s, one SHA-1 pass over the uncompressed bytes {sha1_secs:.2} s"
    );
    for p in report.problems.iter().take(5) {
        eprintln!("{}", report.line(p));
    }
    assert!(report.problems.is_empty(), "verify found problems in records built correctly");
    assert_eq!(inflated, report.content_bytes, "verify read every member");
}
