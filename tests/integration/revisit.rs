//! Deduplication and recrawl: identical-payload and server-not-modified revisits, the recrawl
//! schedule across restarts, metadata records, WARC/1.0 output, and pywb replaying a revisit.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::site::{fixture, site_handler};
use crate::support::*;

const SAME_BODY_LEN: usize = 3000;

/// A page body of `len` bytes that does not change.
fn steady_body(len: usize) -> Vec<u8> {
    let mut b = b"<html><body><p>".to_vec();
    while b.len() < len - 20 {
        b.extend_from_slice(b"unchanged text ");
    }
    b.extend_from_slice(b"</p></body></html>");
    b
}

/// A site whose seed links to `/same` (never changes), `/changes` (new body each time) and
/// `/cond` (honours `If-None-Match` with a 304); every page sends an ETag.
fn recrawl_site(ip: &str) -> Server {
    let counter = Arc::new(AtomicUsize::new(0));
    Server::start(
        ip,
        Arc::new(move |path: &str, raw: &[u8]| {
            let req = String::from_utf8_lossy(raw).to_ascii_lowercase();
            let body: Vec<u8> = match path {
                "/robots.txt" => return Reply::raw(http_response(404, "Not Found", &[], b"")),
                "/" => {
                    let mut b = b"<html><body><a href=\"/same\">same</a> <a href=\"/changes\">changes</a> \
                                  <a href=\"/cond\">cond</a>"
                        .to_vec();
                    b.extend_from_slice(&steady_body(2000));
                    b
                }
                "/same" => steady_body(SAME_BODY_LEN),
                "/changes" => {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let mut b = format!("<html><body>edition {n}</body></html>").into_bytes();
                    b.extend_from_slice(&steady_body(2000));
                    b
                }
                "/cond" if req.contains("if-none-match: \"v1\"") => {
                    return Reply::raw(http_response(304, "Not Modified", &[("ETag", "\"v1\"")], b""));
                }
                "/cond" => steady_body(1500),
                _ => return Reply::raw(http_response(404, "Not Found", &[], b"")),
            };
            Reply::raw(http_response(
                200,
                "OK",
                &[
                    ("Content-Type", "text/html"),
                    ("ETag", "\"v1\""),
                    ("Last-Modified", "Sun, 29 Nov 2026 10:00:00 GMT"),
                ],
                &body,
            ))
        }),
    )
}

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(config: &Path) -> Running {
    Running(
        harvestd()
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting harvestd run"),
    )
}

/// SIGTERM, then waits for a clean exit; returns the daemon's log.
fn stop_daemon(mut d: Running) -> String {
    unsafe {
        libc::kill(d.0.id() as i32, libc::SIGTERM);
    }
    let mut err = String::new();
    d.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let st = d.0.wait().unwrap();
    assert!(st.success(), "harvestd run exited with {st}: {err}");
    err
}

/// Waits until `server` has answered `path` `n` times, then long enough for the group commit.
fn wait_for_hits(server: &Server, path: &str, n: usize, limit: Duration) {
    let t = Instant::now();
    while server.paths().iter().filter(|p| *p == path).count() < n {
        assert!(t.elapsed() < limit, "{path} not requested {n} times in {limit:?}: {:?}", server.paths());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1000));
}

fn records_of<'a>(recs: &'a [Rec], url: &str) -> Vec<&'a Rec> {
    recs.iter()
        .filter(|r| matches!(r.get("warc-type"), Some("response" | "revisit")) && r.get("warc-target-uri") == Some(url))
        .collect()
}

fn ts14(date: &str) -> String {
    date.chars().filter(|c| c.is_ascii_digit()).take(14).collect()
}

#[test]
fn recrawl_turns_an_unchanged_page_into_a_revisit_across_a_restart_and_pywb_replays_it() {
    let site = recrawl_site("127.0.0.61");
    let dir = tempfile::tempdir().unwrap();
    let seed = site.url("/");
    let cfg = write_config(
        dir.path(),
        &format!("warc_idle_close = \"1s\"\n[[seeds]]\nurl = {seed:?}\nrecrawl_interval = \"2s\"\nrecrawl_hops = 1\n"),
    );
    // Round 0, then a stop; the schedule and the digest index live in the state.
    let d = start_daemon(&cfg);
    wait_for_hits(&site, "/same", 1, Duration::from_secs(30));
    stop_daemon(d);
    // A second run starts round 1 when it is due.
    let d = start_daemon(&cfg);
    wait_for_hits(&site, "/same", 2, Duration::from_secs(30));
    wait_for_hits(&site, "/changes", 2, Duration::from_secs(30));
    stop_daemon(d);

    let warcs = dir.path().join("warcs");
    let recs = checked_records(&warcs);
    // /same: a full response, then an identical-payload revisit citing it.
    let same = records_of(&recs, &site.url("/same"));
    let kinds: Vec<&str> = same.iter().map(|r| r.get("warc-type").unwrap()).collect();
    assert!(same.len() >= 2, "{kinds:?}");
    let (orig, rev) = (same[0], same[1]);
    for later in &same[1..] {
        assert_eq!(later.get("warc-type"), Some("revisit"), "{kinds:?}");
        assert_eq!(later.get("warc-refers-to"), orig.get("warc-record-id"), "always cites the full response");
    }
    assert_eq!(orig.get("warc-type"), Some("response"));
    assert_eq!(rev.get("warc-type"), Some("revisit"));
    assert_eq!(rev.get("warc-profile"), Some("http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"));
    assert_eq!(rev.get("warc-refers-to"), orig.get("warc-record-id"));
    assert_eq!(rev.get("warc-refers-to-target-uri"), orig.get("warc-target-uri"));
    assert_eq!(rev.get("warc-refers-to-date"), orig.get("warc-date"));
    assert_eq!(rev.get("warc-payload-digest"), orig.get("warc-payload-digest"));
    assert_eq!(rev.get("warc-truncated"), Some("length"));
    assert_eq!(rev.get("content-type"), Some("application/http;msgtype=response"));
    let (orig_head, orig_body) = split_http(&orig.block);
    assert_eq!(orig_body, steady_body(SAME_BODY_LEN), "the original holds the whole page");
    assert!(rev.block.starts_with(b"HTTP/1.1 200 OK\r\n") && rev.block.ends_with(b"\r\n\r\n"));
    assert_eq!(rev.block.len(), orig_head.len(), "the revisit's block is the response head only");
    assert_ne!(rev.get("warc-date"), orig.get("warc-date"));
    // /changes: two full responses.
    let changes = records_of(&recs, &site.url("/changes"));
    assert!(changes.len() >= 2);
    assert!(changes.iter().all(|r| r.get("warc-type") == Some("response")));
    assert_ne!(changes[0].get("warc-payload-digest"), changes[1].get("warc-payload-digest"));
    // Conditional requests are off by default: no validators were sent.
    assert!(site
        .hits()
        .iter()
        .all(|h| !String::from_utf8_lossy(&h.raw).to_ascii_lowercase().contains("if-none-match")));

    // pywb replays the revisit (at its own timestamp) as the original content.
    // Our CDXJ beside each file equals cdxj-indexer's (revisits and metadata records included).
    let mut revisit_lines = 0;
    for f in warc_files(&warcs) {
        let ours = std::fs::read_to_string(crate::index::cdxj_of(&f)).unwrap();
        crate::index::assert_lines_eq(&ours, &crate::index::cdxj_indexer(std::slice::from_ref(&f)), "revisit crawl");
        revisit_lines += ours.lines().filter(|l| l.contains("\"mime\": \"warc/revisit\"")).count();
    }
    assert!(revisit_lines >= 1, "the revisits are indexed");
    // harvestd verify finds nothing wrong: revisits, metadata records, references across files.
    let v = harvestd().arg("verify").args(warc_files(&warcs)).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success() && text.contains(", 0 errors, 0 warnings, "), "{text}");
    // pywb, from our index alone, replays the revisit as the original content.
    let (_pywb, port, _) = pywb_over_our_index(&dir.path().join("pywb"), &warc_files(&warcs));
    let url = site.url("/same");
    let (status, head, body) = http_get(port, &format!("/coll/{}id_/{url}", ts14(rev.get("warc-date").unwrap())));
    assert_eq!(status, 200, "{head:?}");
    assert_eq!(body, steady_body(SAME_BODY_LEN), "id_ replay of the revisit is the original page");
    let memento = header(&head, "memento-datetime").unwrap_or("");
    let rev_time = chrono::DateTime::parse_from_rfc3339(rev.get("warc-date").unwrap()).unwrap();
    assert!(
        memento.contains(&rev_time.format("%d %b %Y %H:%M:%S").to_string()),
        "replayed the revisit's capture, not the original's: {memento:?}"
    );
}

#[test]
fn conditional_recrawl_records_a_304_as_a_server_not_modified_revisit() {
    let site = recrawl_site("127.0.0.62");
    let dir = tempfile::tempdir().unwrap();
    let seed = site.url("/");
    let cfg = write_config(
        dir.path(),
        &format!(
            "conditional_recrawl = true\nwarc_idle_close = \"1s\"\n[[seeds]]\nurl = {seed:?}\nrecrawl_interval = \"1s\"\n"
        ),
    );
    let d = start_daemon(&cfg);
    wait_for_hits(&site, "/cond", 2, Duration::from_secs(30));
    stop_daemon(d);

    // The seed's links are needed in every round: it is never asked conditionally.
    assert!(site
        .hits()
        .iter()
        .filter(|h| h.path == "/")
        .all(|h| !String::from_utf8_lossy(&h.raw).contains("If-None-Match")));
    let hits: Vec<Hit> = site.hits().into_iter().filter(|h| h.path == "/cond").collect();
    let second = String::from_utf8_lossy(&hits[1].raw).to_string();
    assert!(second.contains("If-None-Match: \"v1\"\r\n"), "{second}");
    assert!(second.contains("If-Modified-Since: Sun, 29 Nov 2026 10:00:00 GMT\r\n"), "{second}");
    assert!(!String::from_utf8_lossy(&hits[0].raw).contains("If-None-Match"), "the first fetch is unconditional");

    let warcs = dir.path().join("warcs");
    let recs = checked_records(&warcs);
    let cond = records_of(&recs, &site.url("/cond"));
    assert!(cond.len() >= 2, "{cond:?}");
    let (orig, rev) = (cond[0], cond[1]);
    assert_eq!(orig.get("warc-type"), Some("response"));
    assert_eq!(rev.get("warc-type"), Some("revisit"));
    assert_eq!(rev.get("warc-profile"), Some("http://netpreserve.org/warc/1.1/revisit/server-not-modified"));
    assert_eq!(rev.get("warc-refers-to"), orig.get("warc-record-id"));
    assert_eq!(rev.get("warc-refers-to-target-uri"), orig.get("warc-target-uri"));
    assert_eq!(rev.get("warc-refers-to-date"), orig.get("warc-date"));
    assert_eq!(rev.block, http_response(304, "Not Modified", &[("ETag", "\"v1\"")], b""), "the 304 as received");
    // Every later 304 still cites the full response, never a revisit.
    for later in &cond[2..] {
        assert_eq!(later.get("warc-refers-to"), orig.get("warc-record-id"));
    }
}

/// A site whose seed links `/a` and `/b` (the same 2 KB body), `/ch` (that body again, sent
/// chunked) and `/t1`, `/t2` (the same 100-byte body, under the dedup minimum).
pub(crate) fn twin_site(ip: &str) -> Server {
    Server::start(
        ip,
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/" => Reply::raw(http_response(
                200,
                "OK",
                &[("Content-Type", "text/html")],
                b"<a href=\"/a\">a</a><a href=\"/b\">b</a><a href=\"/t1\">t1</a><a href=\"/t2\">t2</a>\
                  <a href=\"/ch\">ch</a>",
            )),
            "/ch" => {
                let mut head =
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                head.extend_from_slice(&chunked(&steady_body(2000), 700));
                Reply::raw(head)
            }
            "/a" | "/b" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], &steady_body(2000))),
            "/t1" | "/t2" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/plain")], &[b'x'; 100])),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    )
}

/// Crawls the twin site with `extra` configuration; returns its records.
fn crawl_twins(ip: &str, extra: &str) -> (Server, Vec<Rec>, tempfile::TempDir) {
    let site = twin_site(ip);
    let dir = tempfile::tempdir().unwrap();
    // A second between requests lets each capture's commit (and digest entry) land first.
    let cfg = write_config(dir.path(), &format!("delay = \"1s\"\n{extra}"));
    let out = harvestd().arg("crawl").arg(site.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = checked_records(&dir.path().join("warcs"));
    (site, recs, dir)
}

fn kind_of(recs: &[Rec], url: &str) -> String {
    let r = records_of(recs, url);
    assert_eq!(r.len(), 1, "{url}: {r:?}");
    r[0].get("warc-type").unwrap().to_string()
}

#[test]
fn identical_payloads_at_two_urls_dedup_only_in_url_agnostic_mode_and_above_the_minimum() {
    let (site, recs, _d) = crawl_twins("127.0.0.63", "");
    assert_eq!(kind_of(&recs, &site.url("/a")), "response");
    assert_eq!(kind_of(&recs, &site.url("/b")), "revisit");
    let b = records_of(&recs, &site.url("/b"))[0];
    let a = records_of(&recs, &site.url("/a"))[0];
    assert_eq!(b.get("warc-refers-to-target-uri"), Some(site.url("/a").as_str()), "url-agnostic: cites /a");
    assert_eq!(b.get("warc-refers-to"), a.get("warc-record-id"));
    assert_eq!(kind_of(&recs, &site.url("/t1")), "response");
    assert_eq!(kind_of(&recs, &site.url("/t2")), "response", "100 bytes is under dedup_min_size");
    // The same payload sent chunked is not a revisit of a length-delimited original: a replay
    // tool would serve the original's body under the revisit's head.
    let ch = records_of(&recs, &site.url("/ch"))[0];
    assert_eq!(ch.get("warc-type"), Some("response"));
    assert_eq!(ch.get("warc-payload-digest"), a.get("warc-payload-digest"), "same payload by the spec");

    let (site, recs, _d) = crawl_twins("127.0.0.64", "dedup = \"same-url\"\n");
    assert_eq!(kind_of(&recs, &site.url("/a")), "response");
    assert_eq!(kind_of(&recs, &site.url("/b")), "response", "same-url never cites another URL");

    let (site, recs, _d) = crawl_twins("127.0.0.65", "dedup = \"off\"\ndedup_min_size = \"10\"\n");
    assert!(["/a", "/b", "/t1", "/t2"].iter().all(|p| kind_of(&recs, &site.url(p)) == "response"));

    let (site, recs, _d) = crawl_twins("127.0.0.66", "dedup_min_size = \"10\"\n");
    assert_eq!(kind_of(&recs, &site.url("/t2")), "revisit", "a lower minimum dedups small payloads");
}

#[test]
fn metadata_records_carry_hop_path_via_seed_and_outlinks_and_can_be_switched_off() {
    let (site, recs, _d) = crawl_twins("127.0.0.67", "");
    let seed = site.url("/");
    let primary_of = |url: &str| records_of(&recs, url)[0].get("warc-record-id").unwrap().to_string();
    let meta: Vec<&Rec> = recs.iter().filter(|r| r.get("warc-type") == Some("metadata")).collect();
    let seed_meta = meta.iter().find(|r| r.get("warc-target-uri") == Some(seed.as_str())).expect("seed metadata");
    assert_eq!(seed_meta.get("content-type"), Some("application/warc-fields"));
    assert_eq!(seed_meta.get("warc-concurrent-to"), Some(primary_of(&seed).as_str()));
    let text = String::from_utf8(seed_meta.block.clone()).unwrap();
    assert!(text.contains("hopsFromSeed: \r\n"), "{text}");
    assert!(text.contains(&format!("sourceTag: {seed}\r\n")), "{text}");
    for p in ["/a", "/b", "/t1", "/t2"] {
        assert!(text.contains(&format!("outlink: {} L -\r\n", site.url(p))), "{p}: {text}");
    }
    // A page one hop out, deduplicated into a revisit, still has its metadata.
    let b = site.url("/b");
    let b_meta = meta.iter().find(|r| r.get("warc-target-uri") == Some(b.as_str())).expect("metadata of /b");
    assert_eq!(b_meta.get("warc-concurrent-to"), Some(primary_of(&b).as_str()));
    let text = String::from_utf8(b_meta.block.clone()).unwrap();
    assert!(
        text.starts_with(&format!("via: {seed}\r\nhopsFromSeed: L\r\nsourceTag: {seed}\r\nfetchTimeMs: ")),
        "{text}"
    );
    // Every metadata record sits in its capture's group (between its primary and request).
    for m in &meta {
        let id = m.get("warc-concurrent-to").unwrap();
        assert!(recs.iter().any(|r| r.get("warc-record-id") == Some(id)));
    }

    let (_site, recs, _d) = crawl_twins("127.0.0.68", "metadata_records = false\n");
    assert!(recs.iter().all(|r| r.get("warc-type") != Some("metadata")));
}

#[test]
fn warc_1_0_files_have_whole_second_dates_and_the_1_0_revisit_profile() {
    let (site, recs, dir) = crawl_twins("127.0.0.69", "warc_version = \"1.0\"\n");
    let b = records_of(&recs, &site.url("/b"))[0];
    assert_eq!(b.get("warc-type"), Some("revisit"));
    assert_eq!(b.get("warc-profile"), Some("http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"));
    assert!(b.get("warc-refers-to-target-uri").is_some() && b.get("warc-refers-to-date").is_some());
    let date = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap();
    for r in &recs {
        let d = r.get("warc-date").unwrap();
        assert!(date.is_match(d), "{d}");
    }
    for f in warc_files(&dir.path().join("warcs")) {
        for m in harvestd::warc::recover::MemberWalker::open(&f).unwrap() {
            assert!(m.unwrap().data.starts_with(b"WARC/1.0\r\n"));
        }
    }
}

#[test]
fn a_recrawl_of_the_fixture_site_costs_a_fraction_of_the_first_crawl() {
    let second = Server::start("127.0.0.71", site_handler(fixture("second"), String::new()));
    let main = Server::start("127.0.0.70", site_handler(fixture("site"), second.addr.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let seed = main.url("/");
    // Round 0 into warcs (a one-shot run); then a daemon on the same state starts round 1
    // (everything within 20 hops) 3 s after it starts, into warcs-2, and is stopped before round 2.
    let base =
        format!("warc_idle_close = \"1s\"\n[[seeds]]\nurl = {seed:?}\nrecrawl_interval = \"3s\"\nrecrawl_hops = 20\n");
    let cfg1 = write_config(dir.path(), &base);
    let out = harvestd().arg("run").arg("--config").arg(&cfg1).arg("--exit-when-done").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first_hits = main.hits().len();
    let warcs1 = dir.path().join("warcs");
    let warcs2 = dir.path().join("warcs-2");
    std::fs::write(
        &cfg1,
        std::fs::read_to_string(&cfg1)
            .unwrap()
            .replace(&format!("{:?}", warcs1.display().to_string()), &format!("{:?}", warcs2.display().to_string())),
    )
    .unwrap();
    let d = start_daemon(&cfg1);
    let t = Instant::now();
    while main.hits().len() < first_hits * 2 - 1 {
        assert!(t.elapsed() < Duration::from_secs(60), "round 1 did not refetch the site");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1000));
    stop_daemon(d);

    let size = |d: &Path| warc_files(d).iter().map(|f| std::fs::metadata(f).unwrap().len()).sum::<u64>();
    let (before, after) = (size(&warcs1), size(&warcs2));
    let revisits = read_warcs(&warcs2).iter().filter(|r| r.get("warc-type") == Some("revisit")).count();
    println!("fixture recrawl: first crawl {before} bytes of WARC, recrawl {after} bytes ({revisits} revisits)");
    // The fixture is small: only the article (6 KB) is above dedup_min_size (1 KB).
    assert!(revisits >= 1, "the unchanged article becomes a revisit");
    assert!(after < before, "a recrawl of an unchanged site costs less than the first crawl: {after} vs {before}");
}
