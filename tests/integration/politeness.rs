//! Politeness, timed on the server's side: no request earlier than the required delay minus
//! 10 ms. Fixed delay, Crawl-delay, Retry-After (both forms), backoff, request-rate caps, the
//! adaptive delay; robots.txt failures, redirects and BOMs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use harvestd::frontier::Outcome;

use crate::support::*;

const TOLERANCE: Duration = Duration::from_millis(10);

/// A host with `/` linking to `/p/1` … `/p/n`, answering each after `delay`; `robots` is its
/// robots.txt (404 when `None`).
fn site(ip: &str, n: usize, delay: Duration, robots: Option<&'static str>) -> Server {
    Server::start(
        ip,
        Arc::new(move |path: &str, _: &[u8]| {
            let bytes = match (path, robots) {
                ("/robots.txt", Some(r)) => http_response(200, "OK", &[("Content-Type", "text/plain")], r.as_bytes()),
                ("/robots.txt", None) => http_response(404, "Not Found", &[], b""),
                ("/", _) => {
                    let links: String = (1..=n).map(|i| format!("<a href=\"/p/{i}\">{i}</a>")).collect();
                    http_response(200, "OK", &[("Content-Type", "text/html")], links.as_bytes())
                }
                _ => http_response(200, "OK", &[("Content-Type", "text/plain")], b"page"),
            };
            Reply { bytes, delay, close: false }
        }),
    )
}

/// Asserts every request after the first came at least `min` after the one before it.
fn assert_spacing(server: &Server, min: Duration) -> Duration {
    let hits = server.hits();
    assert!(hits.len() >= 3, "{:?}", server.paths());
    let mut smallest = Duration::MAX;
    for w in hits.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        smallest = smallest.min(gap);
        assert!(gap + TOLERANCE >= min, "{} came {gap:?} after {}, wanted {min:?}", w[1].path, w[0].path);
    }
    smallest
}

fn run(server: &Server, extra_config: &str) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), extra_config);
    let out = harvestd().arg("crawl").arg(server.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, out)
}

#[test]
fn fixed_delay_separates_requests_to_a_host() {
    let s = site("127.0.0.31", 5, Duration::ZERO, None);
    let dir = tempfile::tempdir().unwrap();
    let out =
        crawl(&[s.url("/")], &dir.path().join("w"), &dir.path().join("s"), &["--delay", "0.3", "--allow-private"]);
    assert!(out.status.success());
    assert_eq!(s.hits().len(), 7);
    let min = assert_spacing(&s, Duration::from_millis(300));
    eprintln!("fixed delay 300 ms: smallest gap {min:?}");
}

#[test]
fn crawl_delay_raises_the_delay_up_to_its_cap() {
    let s = site("127.0.0.32", 4, Duration::ZERO, Some("User-agent: *\nCrawl-delay: 0.4\n"));
    let (_d, _) = run(&s, "");
    assert_spacing(&s, Duration::from_millis(400));
    let capped = site("127.0.0.33", 3, Duration::ZERO, Some("User-agent: *\nCrawl-delay: 3600\n"));
    let t0 = std::time::Instant::now();
    let (_d, _) = run(&capped, "max_crawl_delay = \"250ms\"\n");
    assert_spacing(&capped, Duration::from_millis(250));
    assert!(t0.elapsed() < Duration::from_secs(30), "an hour-long Crawl-delay is capped");
}

/// A server whose `/p/1` answers `first` (a 429 or 503 head) the first `times` times, then 200.
fn flaky(ip: &str, first: Arc<dyn Fn() -> Vec<u8> + Send + Sync>, times: usize) -> Server {
    let count = Arc::new(AtomicUsize::new(0));
    Server::start(
        ip,
        Arc::new(move |path: &str, _: &[u8]| {
            let bytes = match path {
                "/robots.txt" => http_response(404, "Not Found", &[], b""),
                "/" => http_response(200, "OK", &[("Content-Type", "text/html")], b"<a href=\"/p/1\">1</a>"),
                _ if count.fetch_add(1, Ordering::SeqCst) < times => first(),
                _ => http_response(200, "OK", &[("Content-Type", "text/plain")], b"finally"),
            };
            Reply { bytes, delay: Duration::ZERO, close: false }
        }),
    )
}

fn page_hits(s: &Server) -> Vec<Hit> {
    s.hits().into_iter().filter(|h| h.path == "/p/1").collect()
}

#[test]
fn retry_after_in_seconds_is_waited_for_and_both_responses_are_archived() {
    let s = flaky(
        "127.0.0.34",
        Arc::new(|| http_response(503, "Service Unavailable", &[("Retry-After", "1")], b"busy")),
        1,
    );
    let (dir, _) = run(&s, "");
    let hits = page_hits(&s);
    assert_eq!(hits.len(), 2);
    let gap = hits[1].at.duration_since(hits[0].at);
    assert!(gap + TOLERANCE >= Duration::from_secs(1), "retried after {gap:?}");
    let recs = read_warcs(&dir.path().join("warcs"));
    let statuses: Vec<String> = recs
        .iter()
        .filter(|r| r.get("warc-type") == Some("response") && r.get("warc-target-uri") == Some(s.url("/p/1").as_str()))
        .map(|r| String::from_utf8_lossy(&r.block[9..12]).to_string())
        .collect();
    assert_eq!(statuses, vec!["503", "200"], "every try's response is archived");
    assert_eq!(finished(&dir.path().join("state"))[&s.url("/p/1")].outcome, Outcome::Fetched(200));
}

#[test]
fn retry_after_as_an_http_date_is_waited_for() {
    let asked: Arc<Mutex<Option<SystemTime>>> = Arc::new(Mutex::new(None));
    let a2 = asked.clone();
    let s = flaky(
        "127.0.0.35",
        Arc::new(move || {
            // Two seconds ahead, rounded up to a whole second (HTTP-dates have no fraction).
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(now.as_secs() + 2);
            *a2.lock().unwrap() = Some(at);
            http_response(429, "Too Many Requests", &[("Retry-After", &httpdate::fmt_http_date(at))], b"slow down")
        }),
        1,
    );
    let (_d, _) = run(&s, "");
    let hits = page_hits(&s);
    assert_eq!(hits.len(), 2);
    let at = asked.lock().unwrap().unwrap();
    assert!(
        hits[1].wall + TOLERANCE >= at,
        "retried {:?} before the date",
        at.duration_since(hits[1].wall).unwrap_or_default()
    );
}

#[test]
fn repeated_503_backs_off_exponentially_then_gives_up() {
    let s = flaky("127.0.0.36", Arc::new(|| http_response(503, "Service Unavailable", &[], b"down")), usize::MAX);
    let (dir, _) = run(&s, "retry_backoff = \"200ms\"\nmax_retries = 3\n");
    let hits = page_hits(&s);
    assert_eq!(hits.len(), 4, "the first try and three retries");
    for (i, w) in hits.windows(2).enumerate() {
        let want = Duration::from_millis(200 << i);
        let gap = w[1].at.duration_since(w[0].at);
        assert!(gap + TOLERANCE >= want, "retry {} after {gap:?}, wanted {want:?}", i + 1);
    }
    assert_eq!(finished(&dir.path().join("state"))[&s.url("/p/1")].outcome, Outcome::Fetched(503));
}

#[test]
fn request_rate_cap_spaces_requests() {
    let s = site("127.0.0.37", 5, Duration::ZERO, None);
    let (_d, _) = run(&s, "max_requests_per_minute = 300\n"); // one each 200 ms
    assert_spacing(&s, Duration::from_millis(200));
}

#[test]
fn two_connections_per_host_each_wait_their_own_delay() {
    // Responses take 300 ms; fixed delay 100 ms; two slots. A request may start only while fewer
    // than two earlier requests are still "occupying" a slot (in flight, or ended less than the
    // delay ago). Responses longer than the delay make the two slots' requests overlap whatever
    // the commit timing.
    let s = site("127.0.0.39", 8, Duration::from_millis(300), None);
    let (_d, _) = run(&s, "delay = \"100ms\"\nconnections_per_host = 2\n");
    let hits = s.hits();
    assert_eq!(hits.len(), 10, "{:?}", s.paths());
    assert_eq!(hits.iter().filter(|h| h.path == "/robots.txt").count(), 1, "robots.txt fetched once");
    let delay = Duration::from_millis(100);
    let mut most_in_flight = 0;
    for (i, h) in hits.iter().enumerate() {
        let earlier = &hits[..i];
        let in_flight = earlier.iter().filter(|e| e.end.is_none_or(|end| end > h.at)).count();
        most_in_flight = most_in_flight.max(in_flight + 1);
        let occupying: Vec<&str> = earlier
            .iter()
            .filter(|e| e.end.is_none_or(|end| end + delay > h.at + TOLERANCE))
            .map(|e| e.path.as_str())
            .collect();
        assert!(occupying.len() < 2, "{} started while {occupying:?} held both slots", h.path);
    }
    assert_eq!(most_in_flight, 2, "two requests to the host were in flight at once");
    assert_eq!(s.conns.load(Ordering::SeqCst), 2, "both connections are kept alive and reused");
    let first = hits[0].at;
    let last = hits.last().unwrap().end.unwrap();
    eprintln!("two slots, 300 ms responses, 100 ms delay: 10 requests in {:?}", last - first);
}

#[test]
fn adaptive_delay_follows_the_server_response_time() {
    // Each response takes 150 ms; delay = clamp(2 × fetch time, 0, 10 s) ≥ 300 ms after it ends.
    let s = site("127.0.0.38", 4, Duration::from_millis(150), None);
    let (_d, _) = run(&s, "delay = \"\"\ndelay_factor = 2.0\nmin_delay = \"0s\"\nmax_delay = \"10s\"\n");
    let min = assert_spacing(&s, Duration::from_millis(150 + 300));
    eprintln!("adaptive delay, 150 ms responses: smallest request gap {min:?}");
}

/// A server whose robots.txt answers 503 for the first `fails` requests (forever when `usize::MAX`).
fn robots_flaky(ip: &str, fails: usize) -> Server {
    let count = Arc::new(AtomicUsize::new(0));
    Server::start(
        ip,
        Arc::new(move |path: &str, _: &[u8]| {
            let bytes = match path {
                "/robots.txt" if count.fetch_add(1, Ordering::SeqCst) < fails => {
                    http_response(503, "Service Unavailable", &[], b"")
                }
                "/robots.txt" => http_response(200, "OK", &[], b"User-agent: *\nDisallow: /no/\n"),
                "/" => {
                    http_response(200, "OK", &[("Content-Type", "text/html")], b"<a href=/p/1>1</a><a href=/no/x>x</a>")
                }
                _ => http_response(200, "OK", &[], b"page"),
            };
            Reply { bytes, delay: Duration::ZERO, close: false }
        }),
    )
}

#[test]
fn robots_5xx_blocks_the_authority_until_a_later_robots_txt_succeeds() {
    let s = robots_flaky("127.0.0.39", 2);
    let (dir, _) = run(&s, "retry_backoff = \"200ms\"\nrobots_retry_for = \"30s\"\n");
    let paths = s.paths();
    let first_ok = 2; // the third robots.txt request succeeds
    let robots_at: Vec<usize> = paths.iter().enumerate().filter(|(_, p)| *p == "/robots.txt").map(|(i, _)| i).collect();
    assert_eq!(robots_at.len(), 3, "{paths:?}");
    assert!(
        paths[..robots_at[first_ok]].iter().all(|p| p == "/robots.txt"),
        "no page before robots.txt succeeds: {paths:?}"
    );
    assert!(!paths.contains(&"/no/x".to_string()));
    let done = finished(&dir.path().join("state"));
    assert_eq!(done[&s.url("/p/1")].outcome, Outcome::Fetched(200));
    assert_eq!(done[&s.url("/no/x")].outcome, Outcome::RobotsPrecluded);
    // robots.txt was finished three times but is one URL in the counters and in the summary.
    let store = harvestd::store::Store::open(&dir.path().join("state"), 1 << 20).unwrap();
    let f = harvestd::frontier::Frontier::open(store, Arc::new(harvestd::clock::SystemClock)).unwrap();
    assert_eq!((f.counts().fetched + f.counts().failed) as usize, done.len(), "counted once per URL");
}

#[test]
fn robots_5xx_past_the_retry_budget_fails_the_authority_and_the_crawl_finishes() {
    let s = robots_flaky("127.0.0.40", usize::MAX);
    let (dir, _) = run(&s, "retry_backoff = \"100ms\"\nrobots_retry_for = \"1s\"\n");
    assert!(s.paths().iter().all(|p| p == "/robots.txt"), "zero page requests: {:?}", s.paths());
    assert!(s.paths().len() >= 3, "robots.txt was retried: {:?}", s.paths());
    let done = finished(&dir.path().join("state"));
    assert!(matches!(done[&s.url("/")].outcome, Outcome::RobotsPrerequisiteFailed(_)), "{:?}", done[&s.url("/")]);
}

#[test]
fn a_robots_txt_reply_that_is_not_http_fails_the_authority_with_its_cause() {
    let s = Server::start(
        "127.0.0.67",
        Arc::new(|path: &str, _: &[u8]| match path {
            "/robots.txt" => Reply::raw(&b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..]),
            _ => Reply::raw(http_response(200, "OK", &[], b"page")),
        }),
    );
    let (dir, _) = run(&s, "robots_retry_for = \"1s\"\nretry_backoff = \"200ms\"\n");
    assert!(s.paths().iter().all(|p| p == "/robots.txt"), "no page fetched: {:?}", s.paths());
    let page = finished(&dir.path().join("state"))[&s.url("/")].outcome.clone();
    assert!(
        matches!(&page, Outcome::RobotsPrerequisiteFailed(c) if c.contains("not a parseable HTTP response")),
        "{page:?}"
    );
}

#[test]
fn robots_txt_redirected_to_another_authority_is_obeyed() {
    let other = Server::start(
        "127.0.0.42",
        Arc::new(|path: &str, _: &[u8]| match path {
            "/robots-real.txt" => Reply::raw(http_response(200, "OK", &[], b"User-agent: *\nDisallow: /secret\n")),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    );
    let target = other.url("/robots-real.txt");
    let s = Server::start(
        "127.0.0.41",
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/robots.txt" => Reply::raw(http_response(301, "Moved", &[("Location", &target)], b"")),
            "/" => Reply::raw(http_response(
                200,
                "OK",
                &[("Content-Type", "text/html")],
                b"<a href=/secret>s</a><a href=/open>o</a>",
            )),
            _ => Reply::raw(http_response(200, "OK", &[], b"page")),
        }),
    );
    let (dir, _) = run(&s, "");
    assert!(!s.paths().contains(&"/secret".to_string()), "{:?}", s.paths());
    assert!(s.paths().contains(&"/open".to_string()));
    assert_eq!(other.paths(), vec!["/robots-real.txt"]);
    let done = finished(&dir.path().join("state"));
    assert_eq!(done[&s.url("/secret")].outcome, Outcome::RobotsPrecluded);
    assert_eq!(done[&other.url("/robots-real.txt")].uri.hops, "PR", "the redirect hop is archived too");
}

#[test]
fn bom_prefixed_robots_txt_is_obeyed_and_4xx_allows_all() {
    let bom: &'static str = "\u{feff}User-agent: *\r\nDisallow: /private/\r\n";
    let s = Server::start(
        "127.0.0.43",
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/robots.txt" => Reply::raw(http_response(200, "OK", &[], bom.as_bytes())),
            "/" => Reply::raw(http_response(
                200,
                "OK",
                &[("Content-Type", "text/html")],
                b"<a href=/private/a>p</a><a href=/b>b</a>",
            )),
            _ => Reply::raw(http_response(200, "OK", &[], b"page")),
        }),
    );
    let (_d, _) = run(&s, "");
    assert!(!s.paths().iter().any(|p| p.starts_with("/private/")), "{:?}", s.paths());
    assert!(s.paths().contains(&"/b".to_string()));
    let open = site("127.0.0.44", 2, Duration::ZERO, None); // robots.txt 404
    let (_d, _) = run(&open, "");
    assert_eq!(open.hits().len(), 4, "4xx robots.txt: every page fetched");
}

/// Serves 50 fast hosts (and, with `slow`, one whose every response takes 3 s) and crawls them
/// all; returns how long the fast hosts took, first request to last fast request, on the servers.
fn many_hosts_run(slow: bool) -> Duration {
    let fast: Vec<Server> = (100..150).map(|i| site(&format!("127.0.0.{i}"), 7, Duration::ZERO, None)).collect();
    let slow_host = slow.then(|| site("127.0.0.150", 7, Duration::from_secs(3), None));
    let mut seeds: Vec<String> = fast.iter().map(|s| s.url("/")).collect();
    if let Some(s) = &slow_host {
        seeds.push(s.url("/"));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = harvestd()
        .arg("crawl")
        .args(&seeds)
        .args(["--delay", "0.25", "--allow-private", "--warc-dir"])
        .arg(dir.path().join("w"))
        .arg("--state-dir")
        .arg(dir.path().join("s"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The fast hosts are done when each has served robots.txt, its front page and 7 pages.
    let t = std::time::Instant::now();
    while fast.iter().any(|s| s.hits().len() < 9) {
        assert!(t.elapsed() < Duration::from_secs(120), "fast hosts did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut all: Vec<std::time::Instant> = fast.iter().flat_map(|s| s.hits().into_iter().map(|h| h.at)).collect();
    if let Some(s) = &slow_host {
        all.extend(s.hits().into_iter().map(|h| h.at));
        assert!(s.hits().len() < 9, "the slow host was still being crawled");
    }
    let start = *all.iter().min().unwrap();
    let end = fast.iter().flat_map(|s| s.hits().into_iter().map(|h| h.at)).max().unwrap();
    end.duration_since(start)
}

#[test]
fn one_slow_host_does_not_hold_back_fifty_fast_ones() {
    let without = many_hosts_run(false);
    let with = many_hosts_run(true);
    eprintln!("50 fast hosts: {without:?} alone, {with:?} beside a host answering in 3 s");
    assert!(
        with.as_secs_f64() <= without.as_secs_f64() * 1.10,
        "fast hosts took {with:?} beside the slow one, {without:?} alone"
    );
}

/// A host whose robots.txt disallows `/private/` and names a sitemap index; the index names a
/// gzip-compressed sitemap listing `/listed/1` and `/listed/2` (linked from nowhere else).
fn sitemap_site(ip: &str) -> Server {
    Server::start(
        ip,
        Arc::new(move |path: &str, raw: &[u8]| {
            let host = String::from_utf8_lossy(raw)
                .lines()
                .find_map(|l| l.strip_prefix("Host: ").map(str::to_string))
                .unwrap_or_default();
            let bytes = match path {
                "/robots.txt" => http_response(
                    200,
                    "OK",
                    &[],
                    format!("User-agent: *\nDisallow: /private/\nSitemap: http://{host}/sitemap-index.xml\n").as_bytes(),
                ),
                "/sitemap-index.xml" => http_response(
                    200,
                    "OK",
                    &[("Content-Type", "application/xml")],
                    format!("<?xml version=\"1.0\"?><sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><sitemap><loc>http://{host}/sitemap-1.xml.gz</loc></sitemap></sitemapindex>").as_bytes(),
                ),
                "/sitemap-1.xml.gz" => http_response(
                    200,
                    "OK",
                    &[("Content-Type", "application/gzip")],
                    &gzip(format!("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><url><loc>http://{host}/listed/1</loc></url><url><loc>http://{host}/listed/2?a=1&amp;b=2</loc></url></urlset>").as_bytes()),
                ),
                "/" => http_response(
                    200,
                    "OK",
                    &[("Content-Type", "text/html"), ("X-Robots-Tag", "nofollow")],
                    b"<img src=\"/private/photo.png\"><a href=\"/private/page\">p</a><a href=\"/linked\">l</a>",
                ),
                _ => http_response(200, "OK", &[("Content-Type", "text/plain")], b"page"),
            };
            Reply { bytes, delay: Duration::ZERO, close: false }
        }),
    )
}

#[test]
fn robots_sitemaps_are_followed_through_an_index_and_gzip() {
    let s = sitemap_site("127.0.0.45");
    let (dir, _) = run(&s, "");
    let paths = s.paths();
    for p in ["/sitemap-index.xml", "/sitemap-1.xml.gz", "/listed/1", "/listed/2?a=1&b=2", "/linked"] {
        assert!(paths.contains(&p.to_string()), "{p} not fetched: {paths:?}");
    }
    assert!(!paths.iter().any(|p| p.starts_with("/private/")), "{paths:?}");
    let done = finished(&dir.path().join("state"));
    assert_eq!(done[&s.url("/sitemap-index.xml")].uri.hops, "M");
    assert_eq!(done[&s.url("/listed/1")].uri.hops, "MMM");
}

#[test]
fn sitemap_urls_are_capped_over_the_crawl() {
    // Index (1) + gzip sitemap (2) + its first listed URL (3): the second listed URL is dropped.
    let s = sitemap_site("127.0.0.66");
    let (_dir, _) = run(&s, "max_sitemap_urls = 3\n");
    let paths = s.paths();
    assert!(paths.contains(&"/listed/1".to_string()), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("/listed/2")), "past the cap: {paths:?}");
    assert!(paths.contains(&"/linked".to_string()), "ordinary links are not capped: {paths:?}");
}

#[test]
fn robots_switches_requisites_meta_nofollow_and_exempt_hosts() {
    // Page requisites fetched despite robots.txt; X-Robots-Tag nofollow obeyed: /linked not followed.
    let s = sitemap_site("127.0.0.46");
    let (_d, _) = run(&s, "robots_allow_requisites = true\nobey_meta_robots = true\n");
    let paths = s.paths();
    assert!(paths.contains(&"/private/photo.png".to_string()), "an embed despite Disallow: {paths:?}");
    assert!(!paths.contains(&"/private/page".to_string()), "links still obey robots.txt: {paths:?}");
    assert!(!paths.contains(&"/linked".to_string()), "nofollow obeyed: {paths:?}");
    // An exempt host: robots.txt neither fetched nor obeyed.
    let s = sitemap_site("127.0.0.47");
    let (_d, _) = run(&s, "robots_ignore_hosts = [\"127.0.0.47\"]\n");
    let paths = s.paths();
    assert!(!paths.contains(&"/robots.txt".to_string()), "{paths:?}");
    assert!(paths.contains(&"/private/page".to_string()), "{paths:?}");
}

#[test]
fn ipv6_loopback_is_crawled_with_its_address_recorded() {
    let Ok(l) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback on this machine; skipped");
        return;
    };
    let s = Server::serve(
        l,
        Arc::new(|path: &str, _: &[u8]| match path {
            "/" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], b"<a href=/v6>v6</a>")),
            "/robots.txt" => Reply::raw(http_response(404, "Not Found", &[], b"")),
            _ => Reply::raw(http_response(200, "OK", &[], b"six")),
        }),
    );
    let (dir, _) = run(&s, "");
    assert_eq!(s.paths(), vec!["/robots.txt", "/", "/v6"]);
    let recs = read_warcs(&dir.path().join("warcs"));
    let r = recs.iter().find(|r| r.get("warc-type") == Some("response")).unwrap();
    assert_eq!(r.get("warc-ip-address"), Some("::1"));
    assert!(r.get("warc-target-uri").unwrap().starts_with("http://[::1]:"));
}

#[test]
fn sitemaps_on_other_hosts_and_odd_schemes_are_not_followed() {
    let other = site("127.0.0.49", 1, Duration::ZERO, None);
    let target = other.url("/sitemap.xml");
    let s = Server::start(
        "127.0.0.48",
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/robots.txt" => Reply::raw(http_response(
                200,
                "OK",
                &[],
                format!(
                    "User-agent: *\nSitemap: {target}\nSitemap: javascript:alert(1)\nSitemap: file:///etc/passwd\n"
                )
                .as_bytes(),
            )),
            "/" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], b"home")),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    );
    let (dir, _) = run(&s, "");
    assert!(other.hits().is_empty(), "a sitemap on another host is out of scope: {:?}", other.paths());
    let done = finished(&dir.path().join("state"));
    assert!(!done.keys().any(|k| !k.starts_with("http")), "{:?}", done.keys().collect::<Vec<_>>());
}
