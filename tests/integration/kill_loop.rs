//! Crash safety: a crawl interrupted by SIGKILL (and once by SIGINT) and restarted on the same
//! state directory completes with nothing lost, no `.open` file and valid WARCs.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harvestd::frontier::Frontier;

use crate::support::*;

const HOSTS: [&str; 4] = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"];
// Per host: 800 pages in all, plus robots.txt; enough that twelve runs of up to a second each
// (about 57 requests/s at this delay) never finish the crawl before the last interruption.
const PAGES: usize = 200;

fn start_site() -> Vec<Server> {
    // Bind first so every page can link to every host.
    let listeners: Vec<std::net::TcpListener> =
        HOSTS.iter().map(|h| std::net::TcpListener::bind((*h, 0)).unwrap()).collect();
    let addrs: Arc<Vec<String>> = Arc::new(listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect());
    listeners
        .into_iter()
        .enumerate()
        .map(|(hi, l)| {
            let addrs = addrs.clone();
            Server::serve(
                l,
                Arc::new(move |path: &str, _: &[u8]| {
                    if path == "/robots.txt" {
                        return Reply::raw(http_response(
                            200,
                            "OK",
                            &[("Content-Type", "text/plain")],
                            b"User-agent: *\nDisallow: /never/\n",
                        ));
                    }
                    let n: usize = path.trim_start_matches("/p/").parse().unwrap_or(0);
                    let mut body = format!("<html><body><h1>host {hi} page {n}</h1>");
                    // Links within the host, a link to the next host's same page (its own seed scope), an image.
                    for k in [n * 2 + 1, n * 2 + 2, n + 1] {
                        if k < PAGES {
                            body.push_str(&format!("<a href=\"/p/{k}\">{k}</a> "));
                        }
                    }
                    let other = &addrs[(hi + 1) % addrs.len()];
                    body.push_str(&format!("<a href=\"http://{other}/p/{n}\">x</a><a href=\"/never/{n}\">no</a>"));
                    body.push_str(&"<p>filler text for a realistic page size</p>".repeat(20));
                    body.push_str("</body></html>");
                    let mut r = Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], body.as_bytes()));
                    r.delay = Duration::from_millis(10);
                    r
                }),
            )
        })
        .collect()
}

/// The politeness delay of these runs: slow enough that each run lives past a group commit and a
/// sled flush before it is killed, fast enough that the whole loop takes seconds.
const DELAY: &str = "0.06";

fn spawn(seeds: &[String], warcs: &std::path::Path, state: &std::path::Path) -> Child {
    harvestd()
        .arg("crawl")
        .args(seeds)
        .arg("--warc-dir")
        .arg(warcs)
        .arg("--state-dir")
        .arg(state)
        .args(["--delay", DELAY, "--allow-private"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn total_hits(servers: &[Server]) -> usize {
    servers.iter().map(|s| s.log.lock().unwrap().len()).sum()
}

/// Waits until `n` more requests were served and at least `min` passed since the start, or the
/// crawl ended. Returns whether the crawl is still running.
fn wait_for_progress(servers: &[Server], n: usize, min: Duration, child: &mut Child) -> bool {
    let t = Instant::now();
    let goal = total_hits(servers) + n;
    while total_hits(servers) < goal || t.elapsed() < min {
        if child.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(60) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

fn signal(child: &Child, sig: i32) {
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

fn done_urls(state: &std::path::Path) -> HashMap<String, harvestd::frontier::Finished> {
    let store = harvestd::store::Store::open(state, 1 << 20).unwrap();
    let f = Frontier::open(store, Arc::new(harvestd::clock::SystemClock)).unwrap();
    f.finished().map(|r| r.unwrap()).collect()
}

#[test]
fn kill_9_and_sigint_loop_loses_nothing() {
    let servers = start_site();
    let seeds: Vec<String> = servers.iter().map(|s| s.url("/p/0")).collect();
    let total_pages = HOSTS.len() * PAGES;
    let dir = tempfile::tempdir().unwrap();
    let (warcs, state) = (dir.path().join("warcs"), dir.path().join("state"));

    let mut kills = 0;
    let mut done_at_sigint: Option<(HashSet<String>, usize)> = None;
    let mut done_after_each = Vec::new();
    // Twelve interruptions at random moments; the 6th is a clean SIGINT, the others SIGKILL. Each
    // comes after 10 to 29 more requests and 0.1 to 1 s (sometimes inside a group commit window or
    // before a sled flush, sometimes after). The seed is printed so a failure can be replayed.
    let seed: u64 = std::env::var("KILL_LOOP_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("kill loop: KILL_LOOP_SEED={seed}");
    let mut rng = seed | 1;
    let mut next = move |lo: u64, hi: u64| {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        lo + (rng >> 33) % (hi - lo)
    };
    let mut moments = Vec::new();
    for i in 0..12 {
        let mut child = spawn(&seeds, &warcs, &state);
        let (requests, ms) = (next(10, 30) as usize, next(100, 1000));
        moments.push((requests, ms));
        let running = wait_for_progress(&servers, requests, Duration::from_millis(ms), &mut child);
        assert!(running, "the crawl ended before interruption {i}: nothing left to interrupt");
        if i == 5 {
            signal(&child, libc::SIGINT);
            let status = child.wait().unwrap();
            assert!(status.success(), "clean stop exits 0: {status:?}");
            assert!(open_files(&warcs).is_empty(), "a clean stop closes its WARC file");
        } else {
            signal(&child, libc::SIGKILL);
            child.wait().unwrap();
            kills += 1;
        }
        let done: HashSet<String> = done_urls(&state).into_keys().collect();
        let pages_done = done.iter().filter(|u| u.contains("/p/")).count();
        assert!(pages_done < total_pages, "interruption {i}: the crawl was not over ({pages_done} pages done)");
        done_after_each.push(pages_done);
        if i == 5 {
            done_at_sigint = Some((done, total_hits(&servers)));
        }
    }
    // Final run to completion.
    let out = crawl(&seeds, &warcs, &state, &["--delay", DELAY, "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(open_files(&warcs).is_empty(), "no .open file left");

    // The crawl completed: every page captured.
    let recs = read_warcs(&warcs);
    let captured: HashSet<String> = recs
        .iter()
        .filter(|r| r.get("warc-type") == Some("response"))
        .filter_map(|r| r.get("warc-target-uri").map(str::to_string))
        .collect();
    for s in &servers {
        for n in 0..PAGES {
            assert!(captured.contains(&s.url(&format!("/p/{n}"))), "{} not captured", s.url(&format!("/p/{n}")));
        }
    }
    // Every URL sled marks done points at its response record, at the stored file and offset.
    let done = done_urls(&state);
    let by_loc: HashMap<(String, u64), &Rec> =
        recs.iter().map(|r| ((r.file.file_name().unwrap().to_string_lossy().to_string(), r.offset), r)).collect();
    let mut pointed = 0;
    for (key, fin) in &done {
        let (Some(loc), Some(id)) = (&fin.location, &fin.record_id) else {
            continue;
        };
        let rec = by_loc.get(&(loc.file.clone(), loc.offset)).unwrap_or_else(|| panic!("{key}: no record at {loc:?}"));
        assert_eq!(rec.get("warc-record-id"), Some(id.as_str()), "{key}");
        assert_eq!(rec.get("warc-target-uri"), Some(key.as_str()));
        pointed += 1;
    }
    assert!(pointed >= total_pages, "{pointed} done URLs with records");
    // No capture is missing a member; digests and warcio hold; serials never repeat.
    check_groups(&recs);
    check_digests(&recs);
    let files = warc_files(&warcs);
    let mut serials = HashSet::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let serial = harvestd::warc::writer::serial_of(&name, "harvestd").unwrap();
        assert!(serials.insert(serial), "serial {serial} repeated");
        warcio_check(f, &recs).unwrap();
    }
    // After the clean SIGINT stop, no URL finished before it was fetched again.
    let (done_before, hits_before) = done_at_sigint.unwrap();
    let mut all_hits: Vec<(Instant, String)> =
        servers.iter().flat_map(|s| s.hits().into_iter().map(move |h| (h.at, s.url(&h.path)))).collect();
    all_hits.sort();
    let refetched: Vec<&String> =
        all_hits[hits_before..].iter().map(|(_, u)| u).filter(|u| done_before.contains(*u)).collect();
    assert!(refetched.is_empty(), "fetched again after a clean stop: {refetched:?}");
    let distinct: HashSet<&String> = all_hits.iter().map(|(_, u)| u).collect();
    eprintln!(
        "kill loop: {kills} SIGKILLs + 1 SIGINT at (requests, ms) {moments:?}; pages done after each: \
         {done_after_each:?}; {total_pages} pages, {} records in {} files, {} requests served for {} distinct URLs \
         ({} repeated requests)",
        recs.len(),
        files.len(),
        all_hits.len(),
        distinct.len(),
        all_hits.len() - distinct.len()
    );
}
