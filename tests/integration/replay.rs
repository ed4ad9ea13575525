//! Replay in pywb (the standard replay tool): the fixture's Arabic article and its redirect.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::site::{fixture, site_handler};
use crate::support::*;

/// Kills the pywb server when the test ends, however it ends.
pub(crate) struct Wayback(Child);

impl Drop for Wayback {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts pywb's `wayback` in `root` (its `collections/` directory) on a free loopback port and
/// waits until it accepts connections; it is killed when the guard drops.
pub(crate) fn start_wayback(root: &std::path::Path) -> (Wayback, u16) {
    let port = free_port();
    let pywb = Wayback(
        Command::new(venv_tool("wayback"))
            .args(["--bind", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting pywb's wayback"),
    );
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(60), "pywb did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (pywb, port)
}

/// A loopback port free right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET with no Accept-Encoding: (status, headers, body).
pub(crate) fn get(port: u16, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
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

/// The first value of a lower-case header name.
pub(crate) fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn pywb_replays_the_arabic_article_and_the_redirect() {
    let second = Server::start("127.0.0.2", site_handler(fixture("second"), String::new()));
    let main = Server::start("127.0.0.1", site_handler(fixture("site"), second.addr.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let warcs = dir.path().join("warcs");
    let out = crawl(&[main.url("/")], &warcs, &dir.path().join("state"), &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A pywb collection holding our WARCs (indexed by pywb itself).
    let root = dir.path().join("pywb");
    std::fs::create_dir_all(&root).unwrap();
    let st = Command::new(venv_tool("wb-manager")).arg("init").arg("coll").current_dir(&root).output().unwrap();
    assert!(st.status.success(), "wb-manager init: {}", String::from_utf8_lossy(&st.stderr));
    let mut add = Command::new(venv_tool("wb-manager"));
    add.arg("add").arg("coll").args(warc_files(&warcs)).current_dir(&root);
    let st = add.output().unwrap();
    assert!(st.status.success(), "wb-manager add: {}", String::from_utf8_lossy(&st.stderr));
    let (_pywb, port) = start_wayback(&root);

    let recs = read_warcs(&warcs);
    let article_url = main.url("/archives/357566");
    let art = recs
        .iter()
        .find(|r| r.get("warc-type") == Some("response") && r.get("warc-target-uri") == Some(article_url.as_str()))
        .unwrap();
    let ts: String = art.get("warc-date").unwrap().chars().filter(|c| c.is_ascii_digit()).take(14).collect();

    // id_ mode: the original response; our client sends no Accept-Encoding, so pywb decodes the
    // gzip content coding (or, if it keeps it, we decode it) and the body is the page as served.
    let (status, headers, body) = get(port, &format!("/coll/{ts}id_/{article_url}"));
    assert_eq!(status, 200);
    let body = if header(&headers, "content-encoding") == Some("gzip") {
        let mut d = Vec::new();
        flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut d).unwrap();
        d
    } else {
        body
    };
    let served = std::fs::read_to_string(fixture("site").join("archives/357566.html"))
        .unwrap()
        .replace("{{SECOND}}", &second.addr.to_string());
    assert_eq!(String::from_utf8(body).unwrap(), served, "id_ replay is the article as the server sent it");
    assert!(served.contains("جيفري يؤكد عدم تزايد أنشطة تنظيم"));

    // mp_ mode (rewritten for the replay frame): 200.
    let (status, _, body) = get(port, &format!("/coll/{ts}mp_/{article_url}"));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("جيفري"));

    // The 301 replays as a redirect to the article.
    let old = main.url("/old-story");
    let (status, headers, _) = get(port, &format!("/coll/{ts}id_/{old}"));
    assert_eq!(status, 301, "{headers:?}");
    assert!(header(&headers, "location").unwrap_or("").ends_with("/archives/357566"), "{headers:?}");
}
