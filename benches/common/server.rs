//! A fast HTTP/1.1 server for generated sites: one listener per host on its own loopback address
//! (127.77.x.y, port chosen by the kernel), one thread per connection, keep-alive, every response
//! prebuilt (see [`super::site`]). It counts requests and bytes, and can log each request's start
//! and end for the politeness benchmark. [`load_test`] measures what it can serve, to show it is
//! not what limits a crawl.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::site::HostSite;

/// One request as served: which host, when its head was complete, when its reply was written.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    /// The host's index.
    pub host: usize,
    /// The request head was complete.
    pub start: Instant,
    /// The reply's last byte was written.
    pub end: Instant,
}

/// Counters shared by every host of a site.
#[derive(Default)]
pub struct Stats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Response bytes written.
    pub bytes: AtomicU64,
    /// Connections accepted.
    pub conns: AtomicU64,
    /// Every request, when logging is on (`None`: off).
    pub log: Option<Mutex<Vec<Hit>>>,
}

impl Stats {
    /// Counters, with a request log when `log`.
    pub fn new(log: bool) -> Arc<Stats> {
        Arc::new(Stats { log: log.then(|| Mutex::new(Vec::new())), ..Stats::default() })
    }

    /// (requests, bytes) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        (self.requests.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

/// The loopback address of host number `i`: 127.77.0.1, 127.77.0.2, … (250 per /24).
pub fn host_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 77, (i / 250) as u8, (i % 250 + 1) as u8)
}

/// Starts serving `site` as host number `host`; returns its address. The listener thread and its
/// connection threads live as long as the process.
pub fn serve(host: usize, site: Arc<HostSite>, stats: Arc<Stats>) -> SocketAddr {
    let listener = TcpListener::bind((host_ip(host), 0)).expect("bind a loopback address");
    let addr = listener.local_addr().unwrap();
    std::thread::Builder::new()
        .name(format!("accept-{host}"))
        .stack_size(64 << 10)
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                stats.conns.fetch_add(1, Ordering::Relaxed);
                let (site, stats) = (site.clone(), stats.clone());
                let _ = std::thread::Builder::new()
                    .name(format!("conn-{host}"))
                    .stack_size(128 << 10)
                    .spawn(move || connection(host, conn, &site, &stats));
            }
        })
        .expect("spawn the accept thread");
    addr
}

/// Answers requests on one connection until the client closes it (or asks to).
fn connection(host: usize, mut conn: TcpStream, site: &HostSite, stats: &Stats) {
    let _ = conn.set_nodelay(true);
    let mut buf = vec![0u8; 16 << 10];
    let mut have = 0;
    loop {
        // A whole request head (GET has no body).
        let end = loop {
            if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if have == buf.len() {
                return; // a head over 16 KiB: not from our clients
            }
            match conn.read(&mut buf[have..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => have += n,
            }
        };
        let start = Instant::now();
        let head = &buf[..end];
        let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(0);
        let mut parts = head[..line_end].split(|&b| b == b' ');
        let _method = parts.next();
        let target = std::str::from_utf8(parts.next().unwrap_or(b"/")).unwrap_or("/");
        let target = target.strip_prefix("http://").map(|t| &t[t.find('/').unwrap_or(t.len())..]).unwrap_or(target);
        let close = head.windows(17).any(|w| w.eq_ignore_ascii_case(b"connection: close"));
        let reply = site.responses.get(target).unwrap_or(&site.not_found);
        if conn.write_all(reply).is_err() {
            return;
        }
        stats.requests.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(reply.len() as u64, Ordering::Relaxed);
        if let Some(log) = &stats.log {
            log.lock().unwrap().push(Hit { host, start, end: Instant::now() });
        }
        buf.copy_within(end..have, 0);
        have -= end;
        if close {
            return;
        }
    }
}

/// Fetches every target in `targets` from `addr` over `threads` kept-alive connections, `rounds`
/// times; returns (requests, response bytes, seconds). The client reads `Content-Length` framed
/// responses only, as the site serves.
pub fn load_test(addr: SocketAddr, targets: &[String], threads: usize, rounds: usize) -> (u64, u64, f64) {
    let t = Instant::now();
    let (reqs, bytes) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    let mut conn = TcpStream::connect(addr).unwrap();
                    conn.set_nodelay(true).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut buf = vec![0u8; 64 << 10];
                    let (mut reqs, mut bytes) = (0u64, 0u64);
                    for _ in 0..rounds {
                        for target in targets.iter().skip(k).step_by(threads) {
                            let req = format!("GET {target} HTTP/1.1\r\nHost: bench\r\nUser-Agent: load\r\n\r\n");
                            conn.write_all(req.as_bytes()).unwrap();
                            bytes += read_response(&mut conn, &mut buf);
                            reqs += 1;
                        }
                    }
                    (reqs, bytes)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    (reqs, bytes, t.elapsed().as_secs_f64())
}

/// Reads one `Content-Length` response; returns its length.
fn read_response(conn: &mut TcpStream, buf: &mut [u8]) -> u64 {
    let mut have = 0;
    let head_end = loop {
        let n = conn.read(&mut buf[have..]).unwrap();
        assert!(n > 0, "server closed");
        have += n;
        if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Content-Length");
    let mut left = (head_end + len).saturating_sub(have);
    while left > 0 {
        let room = left.min(buf.len());
        let n = conn.read(&mut buf[..room]).unwrap();
        assert!(n > 0, "server closed");
        left -= n;
    }
    (head_end + len) as u64
}
