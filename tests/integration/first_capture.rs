//! The complete first capture: keep-alive, https, seed redirects and the off-scope embed allowance.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use harvestd::frontier::Outcome;

use crate::support::*;

/// A keep-alive site: every reply is length-framed and leaves the connection open.
fn keep_alive_site() -> (Server, Arc<HashMap<String, Vec<u8>>>) {
    let mut pages: HashMap<String, Vec<u8>> = HashMap::new();
    pages.insert(
        "/robots.txt".into(),
        http_response(200, "OK", &[("Content-Type", "text/plain")], b"User-agent: *\nAllow: /\n"),
    );
    let index = (1..=6).map(|i| format!("<a href=\"/page/{i}\">{i}</a>")).collect::<String>();
    pages.insert("/".into(), http_response(200, "OK", &[("Content-Type", "text/html")], index.as_bytes()));
    for i in 1..=6 {
        let body = format!("<html><body><p>page {i}</p>{}</body></html>", "x".repeat(i * 300));
        let mut resp =
            format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Page: {i}\r\nTransfer-Encoding: chunked\r\n\r\n")
                .into_bytes();
        resp.extend_from_slice(&chunked(body.as_bytes(), 100 + i));
        pages.insert(
            format!("/page/{i}"),
            if i % 2 == 0 { resp } else { http_response(200, "OK", &[("Content-Type", "text/html")], body.as_bytes()) },
        );
    }
    let pages = Arc::new(pages);
    let p2 = pages.clone();
    let server = Server::start(
        "127.0.0.1",
        Arc::new(move |path: &str, _: &[u8]| {
            let bytes = p2.get(path).cloned().unwrap_or_else(|| http_response(404, "Not Found", &[], b""));
            Reply { bytes, delay: std::time::Duration::ZERO, close: false }
        }),
    );
    (server, pages)
}

#[test]
fn keep_alive_fetches_a_host_over_one_connection_with_exact_records() {
    let (server, pages) = keep_alive_site();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let t0 = std::time::Instant::now();
    let out = harvestd().arg("crawl").arg(server.url("/")).arg("--config").arg(&cfg).output().unwrap();
    let on_secs = t0.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hits = server.hits();
    assert_eq!(hits.len(), 8, "robots.txt, the index and six pages: {:?}", server.paths());
    assert_eq!(server.conns.load(Ordering::SeqCst), 1, "one connection for the whole host");
    let recs = read_warcs(&dir.path().join("warcs"));
    for hit in &hits {
        let uri = server.url(&hit.path);
        let resp = recs
            .iter()
            .find(|r| r.get("warc-type") == Some("response") && r.get("warc-target-uri") == Some(uri.as_str()))
            .unwrap();
        assert_eq!(resp.block, pages[&hit.path], "{}: exactly its own response", hit.path);
        let req = recs
            .iter()
            .find(|r| {
                r.get("warc-type") == Some("request") && r.get("warc-concurrent-to") == resp.get("warc-record-id")
            })
            .unwrap();
        assert_eq!(req.block, hit.raw, "{}: exactly its own request", hit.path);
    }
    check_digests(&recs);
    check_groups(&recs);

    // The same crawl with keep-alive off: a connection per exchange.
    let (server2, _) = keep_alive_site();
    let dir2 = tempfile::tempdir().unwrap();
    let cfg2 = write_config(dir2.path(), "keep_alive = false\n");
    let t0 = std::time::Instant::now();
    let out = harvestd().arg("crawl").arg(server2.url("/")).arg("--config").arg(&cfg2).output().unwrap();
    let off_secs = t0.elapsed().as_secs_f64();
    assert!(out.status.success());
    assert_eq!(server2.conns.load(Ordering::SeqCst), 8);
    eprintln!("keep-alive: 8 exchanges over 1 connection in {on_secs:.2} s; off: 8 connections in {off_secs:.2} s");

    // No room in the idle pool: each returned connection is closed, so again one per exchange.
    let (server3, _) = keep_alive_site();
    let dir3 = tempfile::tempdir().unwrap();
    let cfg3 = write_config(dir3.path(), "max_idle_connections = 0\n");
    let out = harvestd().arg("crawl").arg(server3.url("/")).arg("--config").arg(&cfg3).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server3.hits().len(), 8);
    assert_eq!(server3.conns.load(Ordering::SeqCst), 8, "max_idle_connections = 0 keeps none");
}

#[test]
fn stale_kept_alive_connection_is_retried_once_on_a_fresh_one() {
    // Each connection answers two requests, then drops the next one unanswered, as a server whose
    // keep-alive timeout just expired does.
    let server = Server::start_stale_after(
        "127.0.0.1",
        2,
        Arc::new(|path: &str, _: &[u8]| {
            let body: &[u8] = if path == "/" { b"<a href=/a>a</a><a href=/b>b</a><a href=/c>c</a>" } else { b"leaf" };
            let status = if path == "/robots.txt" { (404, "Not Found") } else { (200, "OK") };
            let bytes = http_response(status.0, status.1, &[("Content-Type", "text/html")], body);
            Reply { bytes, delay: Default::default(), close: false }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let out =
        crawl(&[server.url("/")], &dir.path().join("w"), &dir.path().join("s"), &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = finished(&dir.path().join("s"));
    for p in ["/", "/a", "/b", "/c"] {
        assert_eq!(done[&server.url(p)].outcome, Outcome::Fetched(200), "{p}");
    }
    // 5 URLs (robots.txt too): connections 0 and 1 answered two each and dropped a third request,
    // which was retried on the next connection.
    let hits = server.hits();
    assert_eq!(hits.len(), 7, "{:?}", server.paths());
    assert_eq!(server.conns.load(Ordering::SeqCst), 3);
    let recs = read_warcs(&dir.path().join("w"));
    assert_eq!(
        recs.iter().filter(|r| r.get("warc-type") == Some("request")).count(),
        5,
        "a dropped attempt leaves no record"
    );
    check_groups(&recs);
}

fn tls_site(pki: &TestPki) -> Server {
    Server::start_tls(
        "127.0.0.5",
        Arc::new(|path: &str, _: &[u8]| {
            match path {
            "/robots.txt" => Reply::raw(http_response(404, "Not Found", &[], b"")),
            "/" => Reply::raw(http_response(
                200,
                "OK",
                &[("Content-Type", "text/html; charset=utf-8")],
                "<html dir=rtl><body><h1>عنب بلدي</h1><a href=\"/close-delimited\">c</a><a href=\"http://127.0.0.9:9/elsewhere\">x</a></body></html>".as_bytes(),
            )),
            // HTTP/1.0 style: no length, ended by closing the TLS connection without close_notify.
            "/close-delimited" => Reply::raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nended by close".to_vec()),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }
        }),
        pki.server.clone(),
    )
}

#[test]
fn http_seed_redirecting_to_https_www_is_followed_and_captured() {
    let pki = test_pki(&["www.fixture.test"], true);
    let tls = tls_site(&pki);
    let https_root = format!("https://www.fixture.test:{}/", tls.addr.port());
    let target = https_root.clone();
    let plain = Server::start(
        "127.0.0.1",
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/" => Reply::raw(http_response(301, "Moved Permanently", &[("Location", &target)], b"")),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "ca_file = {:?}\nresolve = [\"www.fixture.test:{}:127.0.0.5\"]\n",
            dir.path().join("ca.pem").display().to_string(),
            tls.addr.port()
        ),
    );
    let out = harvestd().arg("crawl").arg(plain.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = finished(&dir.path().join("state"));
    assert_eq!(done[&plain.url("/")].outcome, Outcome::Fetched(301));
    assert_eq!(done[&https_root].outcome, Outcome::Fetched(200), "the redirect target is captured");
    assert_eq!(done[&https_root].uri.hops, "R");
    assert_eq!(done[&https_root].tls.as_deref(), Some("valid"));
    // The redirect target became a seed: its own links (L hops) are in scope.
    let cd = format!("{https_root}close-delimited");
    assert_eq!(done[&cd].outcome, Outcome::Fetched(200), "an L hop from the https seed");
    assert!(!done.contains_key("http://127.0.0.9:9/elsewhere"), "an L hop to another host is not followed");
    let recs = read_warcs(&dir.path().join("warcs"));
    let r = recs
        .iter()
        .find(|r| r.get("warc-target-uri") == Some(cd.as_str()) && r.get("warc-type") == Some("response"))
        .unwrap();
    assert!(r.get("warc-truncated").is_none(), "a TLS close without close_notify ends a close-delimited body normally");
    assert!(r.block.ends_with(b"ended by close"));
    assert_eq!(r.get("warc-ip-address"), Some("127.0.0.5"));
    check_digests(&recs);
    for f in warc_files(&dir.path().join("warcs")) {
        warcio_check(&f, &recs).unwrap();
    }
}

#[test]
fn invalid_certificate_is_captured_with_its_verdict_and_refused_when_strict() {
    let pki = test_pki(&["bad.fixture.test"], false);
    let tls = tls_site(&pki);
    let seed = format!("https://bad.fixture.test:{}/", tls.addr.port());
    let resolve = format!("resolve = [\"bad.fixture.test:{}:127.0.0.5\"]\n", tls.addr.port());

    // Default (capture): an archive wants the page; the verdict is logged and kept as data.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &resolve);
    let out = harvestd().arg("crawl").arg(&seed).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate did not verify; captured anyway"));
    let done = finished(&dir.path().join("state"));
    assert_eq!(done[&seed].outcome, Outcome::Fetched(200));
    let verdict = done[&seed].tls.clone().unwrap();
    assert!(verdict.starts_with("invalid"), "{verdict}");
    let recs = read_warcs(&dir.path().join("warcs"));
    let r = recs
        .iter()
        .find(|r| r.get("warc-target-uri") == Some(seed.as_str()) && r.get("warc-type") == Some("response"))
        .unwrap();
    assert!(!String::from_utf8_lossy(&r.block).contains("invalid"), "the verdict is never in the block");

    // Strict: refused, no HTTP request over the unverified connection.
    let before = tls.hits().len();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("{resolve}tls_verify = \"strict\"\n"));
    let out = harvestd().arg("crawl").arg(&seed).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tls.hits().len(), before, "no HTTP request over an unverified connection");
    let done = finished(&dir.path().join("state"));
    assert!(matches!(done[&format!("{seed}robots.txt")].outcome, Outcome::Tls(_)), "{:?}", done);
    assert!(
        matches!(&done[&seed].outcome, Outcome::RobotsPrerequisiteFailed(d) if d.contains("TLS")),
        "{:?}",
        done[&seed].outcome
    );
}

#[test]
fn offsite_embeds_are_kept_for_two_trailing_hops_only() {
    // A CDN host: stylesheet → font (a redirect) → the font's new place, a third trailing hop.
    let cdn = Server::start(
        "127.0.0.6",
        Arc::new(|path: &str, _: &[u8]| match path {
            "/robots.txt" => Reply::raw(http_response(404, "Not Found", &[], b"")),
            "/site.css" => Reply::raw(http_response(
                200,
                "OK",
                &[("Content-Type", "text/css")],
                b"@font-face{src:url(/font.woff2)}",
            )),
            "/font.woff2" => Reply::raw(http_response(302, "Found", &[("Location", "/v2/font.woff2")], b"")),
            _ => Reply::raw(http_response(200, "OK", &[("Content-Type", "font/woff2")], b"wOF2")),
        }),
    );
    let css = cdn.url("/site.css");
    let other_page = cdn.url("/page.html");
    let page = format!("<html><head><link rel=stylesheet href=\"{css}\"></head><body><a href=\"{other_page}\">cdn page</a></body></html>");
    let site = Server::start(
        "127.0.0.1",
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], page.as_bytes())),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let out =
        crawl(&[site.url("/")], &dir.path().join("w"), &dir.path().join("s"), &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let paths = cdn.paths();
    assert!(paths.contains(&"/site.css".to_string()), "{paths:?}");
    assert!(paths.contains(&"/font.woff2".to_string()), "the second trailing hop (E E) is kept: {paths:?}");
    assert!(!paths.contains(&"/v2/font.woff2".to_string()), "a third trailing hop (E E R) is not: {paths:?}");
    assert!(!paths.contains(&"/page.html".to_string()), "an L hop to another host is not followed: {paths:?}");
    let done = finished(&dir.path().join("s"));
    assert_eq!(done[&cdn.url("/font.woff2")].uri.hops, "EE");
}

fn cookie_site(ip: &str) -> Server {
    Server::start(
        ip,
        Arc::new(|path: &str, _: &[u8]| {
            let bytes = match path {
                "/robots.txt" => http_response(404, "Not Found", &[], b""),
                "/" => http_response(
                    200,
                    "OK",
                    &[("Content-Type", "text/html"), ("Set-Cookie", "session=abc123; Path=/; HttpOnly")],
                    b"<a href=\"/members\">m</a>",
                ),
                _ => http_response(200, "OK", &[("Content-Type", "text/plain")], b"members"),
            };
            Reply { bytes, delay: std::time::Duration::ZERO, close: false }
        }),
    )
}

fn request_of(s: &Server, path: &str) -> String {
    String::from_utf8_lossy(&s.hits().into_iter().find(|h| h.path == path).unwrap().raw).to_string()
}

#[test]
fn cookies_round_trip_and_import_from_cookies_txt() {
    // A cookie the server sets is sent back, and is in the archived request record.
    let s = cookie_site("127.0.0.7");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cookies.txt"),
        "# Netscape HTTP Cookie File\n127.0.0.7\tFALSE\t/\tFALSE\t0\tconsent\tgiven\n",
    )
    .unwrap();
    let cfg = write_config(dir.path(), "cookies_file = \"cookies.txt\"\n");
    let out = harvestd().arg("crawl").arg(s.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        request_of(&s, "/robots.txt").contains("\r\nCookie: consent=given\r\n"),
        "imported cookie sent from the start"
    );
    let members = request_of(&s, "/members");
    assert!(members.contains("session=abc123") && members.contains("consent=given"), "{members}");
    let recs = read_warcs(&dir.path().join("warcs"));
    let req = recs
        .iter()
        .find(|r| r.get("warc-type") == Some("request") && r.get("warc-target-uri") == Some(s.url("/members").as_str()))
        .unwrap();
    assert!(String::from_utf8_lossy(&req.block).contains("session=abc123"), "the Cookie header is in the record");

    // Off: no Cookie header at all.
    let s = cookie_site("127.0.0.8");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "cookies = false\n");
    let out = harvestd().arg("crawl").arg(s.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success());
    assert!(!request_of(&s, "/members").contains("Cookie:"));
}
