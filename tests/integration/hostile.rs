//! A fetcher that survives hostile servers: one test per case, each a raw-socket server sending
//! exactly the bytes needed. In each, the crawl goes on with the other URLs, no WARC becomes
//! invalid, and the URL's outcome is recorded.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harvestd::frontier::{Finished, Outcome};

use crate::support::*;

/// What the hostile URL does with its connection, after the request head was read.
type Behaviour = Arc<dyn Fn(&mut TcpStream) + Send + Sync>;

/// Serves `/robots.txt` (404), `/` (links to `/hostile` and `/ok`), `/ok`, and `/hostile` by
/// `behaviour`. Returns its address and request log (paths).
fn hostile_server(ip: &str, behaviour: Behaviour) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let (b, log) = (behaviour.clone(), log2.clone());
            std::thread::spawn(move || loop {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let path = String::from_utf8_lossy(&head).split(' ').nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(path.clone());
                match path.as_str() {
                    "/robots.txt" => {
                        let _ = s.write_all(&http_response(404, "Not Found", &[], b""));
                    }
                    "/" => {
                        let _ = s.write_all(&http_response(
                            200,
                            "OK",
                            &[("Content-Type", "text/html")],
                            b"<a href=\"/hostile\">h</a><a href=\"/ok\">ok</a>",
                        ));
                    }
                    "/ok" => {
                        let _ = s.write_all(&http_response(200, "OK", &[("Content-Type", "text/plain")], b"fine"));
                    }
                    _ => {
                        b(&mut s);
                        return;
                    }
                }
            });
        }
    });
    (addr, log)
}

struct Result {
    hostile: Finished,
    ok: Finished,
    recs: Vec<Rec>,
    url: String,
    secs: f64,
}

impl Result {
    fn hostile_record(&self) -> Option<&Rec> {
        self.recs.iter().find(|r| {
            matches!(r.get("warc-type"), Some("response" | "resource"))
                && r.get("warc-target-uri") == Some(self.url.as_str())
        })
    }
}

/// Crawls the hostile site with short timeouts and a small size cap; checks the WARC is valid
/// and `/ok` was captured.
fn crawl_hostile(ip: &str, behaviour: Behaviour, extra: &str) -> Result {
    let (addr, _log) = hostile_server(ip, behaviour);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "read_timeout = \"500ms\"\nfetch_timeout = \"3s\"\nmax_record_size = \"200KB\"\nmax_retries = 0\nkeep_alive = false\n{extra}"
        ),
    );
    let t0 = Instant::now();
    let out = harvestd().arg("crawl").arg(format!("http://{addr}/")).arg("--config").arg(&cfg).output().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let warcs = dir.path().join("warcs");
    let recs = read_warcs(&warcs);
    check_groups(&recs);
    for f in warc_files(&warcs) {
        warcio_check(&f, &recs).unwrap();
    }
    let done = finished(&dir.path().join("state"));
    let url = format!("http://{addr}/hostile");
    Result {
        hostile: done.get(&url).cloned().unwrap_or_else(|| panic!("no outcome for {url}: {done:?}")),
        ok: done[&format!("http://{addr}/ok")].clone(),
        recs,
        url,
        secs,
    }
}

fn hold(s: &mut TcpStream, d: Duration) {
    let _ = s.flush();
    std::thread::sleep(d);
}

#[test]
fn server_that_never_answers_times_out() {
    let r = crawl_hostile("127.0.0.51", Arc::new(|s| hold(s, Duration::from_secs(10))), "");
    assert!(matches!(r.hostile.outcome, Outcome::Timeout(_)), "{:?}", r.hostile.outcome);
    assert!(r.hostile_record().is_none(), "nothing arrived, nothing archived");
    assert_eq!(r.ok.outcome, Outcome::Fetched(200));
    assert!(r.secs < 8.0, "the read timeout ended it: {:.1} s", r.secs);
}

#[test]
fn server_that_stops_mid_body_is_archived_truncated_time() {
    let r = crawl_hostile(
        "127.0.0.52",
        Arc::new(|s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n");
            let _ = s.write_all(&[b'a'; 100]);
            hold(s, Duration::from_secs(10));
        }),
        "",
    );
    let rec = r.hostile_record().expect("what arrived is archived");
    assert_eq!(rec.get("warc-truncated"), Some("time"));
    assert!(rec.block.ends_with(&[b'a'; 100]));
    assert_eq!(r.hostile.outcome, Outcome::Fetched(200));
    assert_eq!(r.ok.outcome, Outcome::Fetched(200));
}

#[test]
fn trickling_server_hits_the_total_deadline() {
    let r = crawl_hostile(
        "127.0.0.53",
        Arc::new(|s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n");
            for _ in 0..200 {
                if s.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }),
        "",
    );
    let rec = r.hostile_record().expect("archived");
    assert_eq!(rec.get("warc-truncated"), Some("time"));
    assert!(r.secs < 15.0, "{:.1} s", r.secs);
    assert_eq!(r.ok.outcome, Outcome::Fetched(200));
}

#[test]
fn endless_body_is_cut_at_the_size_cap() {
    let r = crawl_hostile(
        "127.0.0.54",
        Arc::new(|s| {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            let chunk = [format!("{:x}\r\n", 8192).into_bytes(), vec![b'z'; 8192], b"\r\n".to_vec()].concat();
            while s.write_all(&chunk).is_ok() {}
        }),
        "",
    );
    let rec = r.hostile_record().expect("archived");
    assert_eq!(rec.get("warc-truncated"), Some("length"));
    assert_eq!(rec.block.len(), 200_000);
    assert_eq!(r.ok.outcome, Outcome::Fetched(200));
}

#[test]
fn connection_closed_mid_body_is_truncated_disconnect() {
    let r = crawl_hostile(
        "127.0.0.55",
        Arc::new(|s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
            let _ = s.write_all(&[b'b'; 100]);
            let _ = s.shutdown(std::net::Shutdown::Both);
        }),
        "",
    );
    let rec = r.hostile_record().expect("archived");
    assert_eq!(rec.get("warc-truncated"), Some("disconnect"));
    assert_eq!(r.ok.outcome, Outcome::Fetched(200));
}

#[test]
fn http_1_0_body_ended_by_close_is_complete() {
    let r = crawl_hostile(
        "127.0.0.56",
        Arc::new(|s| {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe whole body");
            let _ = s.shutdown(std::net::Shutdown::Both);
        }),
        "",
    );
    let rec = r.hostile_record().expect("archived");
    assert!(rec.get("warc-truncated").is_none(), "complete");
    assert!(rec.block.ends_with(b"the whole body"));
    check_digests(&r.recs);
}

#[test]
fn non_compliant_headers_are_archived_as_received() {
    let mut sent =
        b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n  continued\r\nContent-Type : text/plain\r\nX-Latin1: caf\xe9\r\n"
            .to_vec();
    for i in 0..400 {
        sent.extend_from_slice(format!("X-Many-{i}: {i}\r\n").as_bytes());
    }
    sent.extend_from_slice(b"Content-Length: 4\r\n\r\nbody");
    let sent2 = sent.clone();
    let r = crawl_hostile(
        "127.0.0.57",
        Arc::new(move |s| {
            let _ = s.write_all(&sent2);
            let _ = s.shutdown(std::net::Shutdown::Write);
            hold(s, Duration::from_millis(200));
        }),
        "",
    );
    let rec = r.hostile_record().expect("archived, not dropped");
    assert_eq!(rec.block, sent, "the record is the bytes as received");
    assert_eq!(r.ok.outcome, Outcome::Fetched(200));
}

#[test]
fn gzip_bomb_keeps_compressed_bytes_and_bounded_memory() {
    // 1 GiB of zeros, gzip-compressed (about 1 MB), served as an HTML page.
    let bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            e.write_all(&zeros).unwrap();
        }
        Arc::new(e.finish().unwrap())
    };
    let b2 = bomb.clone();
    let (addr, _) = hostile_server(
        "127.0.0.58",
        Arc::new(move |s| {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                b2.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&b2);
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "max_decoded_size = \"20MB\"\n");
    let child = harvestd()
        .arg("crawl")
        .arg(format!("http://{addr}/"))
        .arg("--config")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait4 gives this child's own peak resident set size (it reaps the child, so no wait() after).
    #[allow(clippy::zombie_processes)]
    let child = child;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let peak_mib = usage.ru_maxrss as f64 / 1024.0;
    eprintln!("gzip bomb (1 GiB inflated, {} bytes compressed): peak RSS {peak_mib:.0} MiB", bomb.len());
    assert!(peak_mib < 200.0, "peak RSS {peak_mib:.0} MiB");
    let recs = read_warcs(&dir.path().join("warcs"));
    let url = format!("http://{addr}/hostile");
    let rec = recs
        .iter()
        .find(|r| r.get("warc-target-uri") == Some(url.as_str()) && r.get("warc-type") == Some("response"))
        .unwrap();
    assert_eq!(split_http(&rec.block).1, &bomb[..], "the record keeps the compressed bytes");
}

#[test]
fn dns_failure_connection_refused_and_tls_failure_are_outcomes() {
    // A page linking (as embeds, so off-host URLs are in scope) to an unresolvable host, a closed
    // port, and a plain HTTP server addressed as https.
    let plain = Server::start(
        "127.0.0.60",
        std::sync::Arc::new(|_: &str, _: &[u8]| Reply::raw(http_response(200, "OK", &[], b"plain"))),
    );
    let closed = {
        let l = TcpListener::bind("127.0.0.61:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        a
    };
    let page = format!(
        "<img src=\"http://no-such-host.invalid/x.png\"><img src=\"http://{closed}/y.png\"><img src=\"https://{}/z.png\">",
        plain.addr
    );
    let site = Server::start(
        "127.0.0.59",
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], page.as_bytes())),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "robots = \"ignore\"\nmax_retries = 2\nretry_backoff = \"200ms\"\n");
    let t0 = Instant::now();
    let out = harvestd().arg("crawl").arg(site.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = finished(&dir.path().join("state"));
    assert!(matches!(done["http://no-such-host.invalid/x.png"].outcome, Outcome::Dns(_)));
    assert!(matches!(done[&format!("http://{closed}/y.png")].outcome, Outcome::Connect(_)));
    assert!(matches!(done[&format!("https://{}/z.png", plain.addr)].outcome, Outcome::Tls(_)));
    assert!(t0.elapsed() >= Duration::from_millis(600 - 10), "the failing hosts were backed off (200 + 400 ms)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.matches("will retry").count() >= 4, "every try is logged:\n{stderr}");
}

/// A minimal UDP DNS server: answers A queries for `name` with `ip` and `ttl` seconds, AAAA with no
/// records, anything else NXDOMAIN; counts the A queries.
fn dns_server(
    bind: &str,
    name: &'static str,
    ip: [u8; 4],
    ttl: u32,
) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let sock = std::net::UdpSocket::bind((bind, 0)).unwrap();
    let addr = sock.local_addr().unwrap();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = count.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let q = &buf[..n];
            if n < 12 {
                continue;
            }
            // The question: labels up to a zero byte, then type and class.
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let l = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..(i + 1 + l).min(n)]).to_ascii_lowercase());
                i += 1 + l;
            }
            let qend = i + 5;
            if qend > n {
                continue;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let ours = labels.join(".") == name;
            let answer = ours && qtype == 1;
            if answer {
                c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            let mut r = Vec::new();
            r.extend_from_slice(&q[..2]); // id
            r.extend_from_slice(&[0x81, if ours { 0x80 } else { 0x83 }]); // response, RA, rcode
            r.extend_from_slice(&[0, 1, 0, answer as u8, 0, 0, 0, 0]);
            r.extend_from_slice(&q[12..qend]);
            if answer {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
                r.extend_from_slice(&ttl.to_be_bytes());
                r.extend_from_slice(&[0, 4]);
                r.extend_from_slice(&ip);
            } else if ours {
                // NODATA: an SOA in authority would carry the negative TTL; none is fine for a test.
            }
            let _ = sock.send_to(&r, from);
        }
    });
    (addr, count)
}

#[test]
fn dns_answers_are_cached_for_their_ttl() {
    let site = Server::start(
        "127.0.0.63",
        Arc::new(|path: &str, _: &[u8]| {
            let body =
                if path == "/" { "<a href=/1>1</a><a href=/2>2</a><a href=/3>3</a><a href=/4>4</a>" } else { "page" };
            let status = if path == "/robots.txt" { (404, "Not Found") } else { (200, "OK") };
            Reply {
                bytes: http_response(status.0, status.1, &[("Content-Type", "text/html")], body.as_bytes()),
                delay: Duration::ZERO,
                close: false,
            }
        }),
    );
    // A TTL of an hour: one A query for the whole crawl.
    let (dns, count) = dns_server("127.0.0.62", "cached.fixture.test", [127, 0, 0, 63], 3600);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("dns_servers = [\"{dns}\"]\nkeep_alive = false\n"));
    let seed = format!("http://cached.fixture.test:{}/", site.addr.port());
    let out = harvestd().arg("crawl").arg(&seed).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(site.hits().len(), 6, "robots.txt, the page and four links, each over its own connection");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1, "one query, then the cache");

    // A TTL of 1 s with 0.6 s between requests: asked again as answers expire, not per request.
    let (dns, count) = dns_server("127.0.0.62", "cached.fixture.test", [127, 0, 0, 63], 1);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("dns_servers = [\"{dns}\"]\nkeep_alive = false\ndelay = \"0.6s\"\n"));
    let out = harvestd().arg("crawl").arg(&seed).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let n = count.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..6).contains(&n), "{n} queries for 6 requests over ~3 s with a 1 s TTL");
}

#[test]
fn a_name_that_does_not_exist_fails_with_a_short_cause() {
    let (dns, _count) = dns_server("127.0.0.62", "cached.fixture.test", [127, 0, 0, 63], 3600);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("dns_servers = [\"{dns}\"]\nmax_retries = 0\nrobots_retry_for = \"1s\"\nretry_backoff = \"200ms\"\n"),
    );
    let seed = "http://missing.fixture.test:8080/";
    let out = harvestd().arg("crawl").arg(seed).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = finished(&dir.path().join("state"));
    // robots.txt is the first request to the authority: its DNS failure fails the page too.
    let robots = &done["http://missing.fixture.test:8080/robots.txt"].outcome;
    let Outcome::Dns(cause) = robots else { panic!("{robots:?}") };
    assert_eq!(cause, "DNS lookup failed: missing.fixture.test: no such domain (NXDOMAIN)");
    let page = &done[seed].outcome;
    assert!(matches!(page, Outcome::RobotsPrerequisiteFailed(c) if c.contains("NXDOMAIN")), "{page:?}");
}

#[test]
fn absurd_content_length_and_chunk_size_are_truncations_not_crashes() {
    for (ip, head) in [
        ("127.0.0.64", &b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nhello"[..]),
        ("127.0.0.65", &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello"[..]),
    ] {
        let r = crawl_hostile(
            ip,
            Arc::new(move |s| {
                let _ = s.write_all(head);
                hold(s, Duration::from_secs(5));
            }),
            "",
        );
        let rec = r.hostile_record().expect("archived");
        assert!(rec.get("warc-truncated").is_some(), "{ip}");
        assert_eq!(r.ok.outcome, Outcome::Fetched(200), "{ip}: the crawl went on");
    }
}
