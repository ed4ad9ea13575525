//! crawl.log written by a real crawl: a line per finished URL, in Heritrix's columns, agreeing
//! with the WARC records and the state.

use std::collections::HashMap;

use crate::site::{fixture, site_handler};
use crate::support::*;

/// One parsed crawl.log line: its 12 fields (the 12th empty when there are no annotations).
fn parse(line: &str) -> Vec<String> {
    let mut f: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    if line.ends_with(' ') {
        f.push(String::new());
    }
    f
}

#[test]
fn crawl_log_has_a_heritrix_line_per_finished_url_matching_the_warc() {
    let second = Server::start("127.0.0.2", site_handler(fixture("second"), String::new()));
    let main = Server::start("127.0.0.1", site_handler(fixture("site"), second.addr.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let (warcs, state) = (dir.path().join("warcs"), dir.path().join("state"));
    let out = crawl(&[main.url("/")], &warcs, &state, &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.path().join("logs").join("crawl.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let done = finished(&state);
    assert_eq!(lines.len(), done.len(), "a line per finished URL:\n{text}");

    let mut by_url: HashMap<String, Vec<String>> = HashMap::new();
    for line in &lines {
        let f = parse(line);
        assert_eq!(f.len(), 12, "{line:?}");
        // Widths: timestamp 24 columns, then status right-aligned in 5, size in 10.
        assert_eq!(line.as_bytes()[24], b' ');
        assert_eq!(line[25..30].trim_start(), f[1], "{line}");
        assert_eq!(line[31..41].trim_start(), f[2], "{line}");
        assert!(chrono::DateTime::parse_from_rfc3339(&f[0]).is_ok() && f[0].ends_with('Z') && f[0].len() == 24);
        assert!(f[7].starts_with('#') && f[7].len() == 4, "{line}");
        by_url.insert(f[3].clone(), f);
    }
    // Each archived response: status, payload size and digest as in its WARC record.
    let recs = read_warcs(&warcs);
    for r in recs.iter().filter(|r| r.get("warc-type") == Some("response")) {
        let url = r.get("warc-target-uri").unwrap();
        let f = &by_url[url];
        let (head, body) = split_http(&r.block);
        let payload = if is_chunked(head) { dechunk(body) } else { body.to_vec() };
        assert_eq!(f[1], String::from_utf8_lossy(&r.block[9..12]), "{url}");
        assert_eq!(f[2], payload.len().to_string(), "{url}");
        assert_eq!(Some(f[9].as_str()), r.get("warc-payload-digest"), "{url}");
        let fetch = &f[8];
        let (stamp, ms) = fetch.split_once('+').unwrap();
        assert_eq!(stamp.len(), 17, "{fetch}");
        assert!(ms.parse::<u64>().is_ok(), "{fetch}");
        assert_eq!(&stamp[..14], &r.get("warc-date").unwrap().replace(['-', 'T', ':'], "")[..14], "{url}");
    }
    let art = &by_url[&main.url("/archives/357566")];
    assert_eq!((art[4].as_str(), art[5].as_str(), art[6].as_str()), ("L", main.url("/").as_str(), "text/html"));
    let robots = &by_url[&main.url("/robots.txt")];
    assert_eq!(robots[4], "P");
    let seed = &by_url[&main.url("/")];
    assert_eq!((seed[4].as_str(), seed[5].as_str()), ("-", "-"), "a seed has no hops and no via");
    // robots.txt precluded: Heritrix's -9998, no size, no fetch, no digest, MIME "unknown".
    let p = &by_url[&main.url("/private/secret.html")];
    assert_eq!(
        (p[1].as_str(), p[2].as_str(), p[6].as_str(), p[8].as_str(), p[9].as_str()),
        ("-9998", "-", "unknown", "-", "-")
    );
    assert_eq!((p[10].as_str(), p[11].as_str()), ("-", ""), "source tag -, no annotations");
}

#[test]
fn retried_urls_get_one_line_with_their_tries_and_failures_their_codes() {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = count.clone();
    let s = Server::start(
        "127.0.0.71",
        std::sync::Arc::new(move |path: &str, _: &[u8]| {
            let bytes = match path {
                "/robots.txt" => http_response(404, "Not Found", &[], b""),
                "/" => http_response(
                    200,
                    "OK",
                    &[("Content-Type", "text/html; charset=utf-8")],
                    b"<a href=/flaky>f</a><img src=http://127.0.0.9:9/x.png>",
                ),
                _ if c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 => {
                    http_response(503, "Busy", &[("Retry-After", "0")], b"")
                }
                _ => http_response(200, "OK", &[], b"ok"),
            };
            Reply { bytes, delay: std::time::Duration::ZERO, close: false }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "max_retries = 3\nretry_backoff = \"50ms\"\nrobots_retry_for = \"0s\"\n");
    let out = harvestd().arg("crawl").arg(s.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.path().join("logs").join("crawl.log")).unwrap();
    let flaky: Vec<Vec<String>> = text.lines().map(parse).filter(|f| f[3] == s.url("/flaky")).collect();
    assert_eq!(flaky.len(), 1, "retries are not logged, only the final outcome:\n{text}");
    assert_eq!((flaky[0][1].as_str(), flaky[0][11].as_str()), ("200", "3t"));
    let front: Vec<Vec<String>> = text.lines().map(parse).filter(|f| f[3] == s.url("/")).collect();
    assert_eq!(front[0][6], "text/html", "MIME without its parameters");
    // The other authority refuses connections: its robots.txt fails with Heritrix's -2 and the
    // page with -61 (robots.txt prerequisite failed).
    let lines: HashMap<String, Vec<String>> = text.lines().map(parse).map(|f| (f[3].clone(), f)).collect();
    assert_eq!(lines["http://127.0.0.9:9/robots.txt"][1], "-2", "{text}");
    assert_eq!(lines["http://127.0.0.9:9/x.png"][1], "-61", "{text}");
}
