//! The fixture crawl: a local copy of the Jeffrey story's site and a second authority.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use harvestd::frontier::{Frontier, Outcome};

use crate::site::{fixture, site_handler};
use crate::support::*;

#[test]
fn fixture_site_is_captured_politely_and_validly() {
    let second = Server::start("127.0.0.2", site_handler(fixture("second"), String::new()));
    let main = Server::start("127.0.0.1", site_handler(fixture("site"), second.addr.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let (warcs, state) = (dir.path().join("warcs"), dir.path().join("state"));
    let t0 = std::time::Instant::now();
    let out = crawl(&[main.url("/")], &warcs, &state, &["--delay", "0", "--allow-private"]);
    let secs = t0.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("URLs") && stdout.contains("records") && stdout.contains("bytes"), "{stdout}");

    // Every expected URL captured with its status.
    let recs = read_warcs(&warcs);
    let statuses: HashMap<String, u16> = recs
        .iter()
        .filter(|r| r.get("warc-type") == Some("response"))
        .map(|r| {
            let status = String::from_utf8_lossy(&r.block[9..12]).parse().unwrap();
            (r.get("warc-target-uri").unwrap().to_string(), status)
        })
        .collect();
    let expect = [
        (main.url("/robots.txt"), 200),
        (main.url("/"), 200),
        (main.url("/archives/357566"), 200),
        (main.url("/archives/related-1"), 200),
        (main.url("/archives/related-2"), 200),
        (main.url("/old-story"), 301),
        (main.url("/missing"), 404),
        (main.url("/css/style.css"), 200),
        (main.url("/images/bg.png"), 200),
        (main.url("/images/header.png"), 200),
        (main.url("/images/favicon.png"), 200),
        (main.url("/images/jeffrey.jpg"), 200),
        (main.url("/images/jeffrey-480.jpg"), 200),
        (main.url("/images/jeffrey-960.jpg"), 200),
        (main.url("/js/app.js"), 200),
        (second.url("/robots.txt"), 200),
        (second.url("/media/photo.jpg"), 200),
    ];
    for (u, s) in &expect {
        assert_eq!(statuses.get(u), Some(s), "{u} (captured: {statuses:?})");
    }
    assert_eq!(statuses.len(), expect.len(), "nothing else captured: {statuses:?}");

    // Nothing disallowed or out of scope was requested; robots.txt came first on each authority.
    let main_paths = main.paths();
    let second_paths = second.paths();
    assert!(!main_paths.iter().any(|p| p.starts_with("/private/")), "{main_paths:?}");
    assert!(!second_paths.iter().any(|p| p.starts_with("/blocked/")), "{second_paths:?}");
    assert!(!second_paths.contains(&"/".to_string()), "an L hop to another host is out of host scope");
    assert_eq!(main_paths[0], "/robots.txt");
    assert_eq!(second_paths[0], "/robots.txt");
    assert_eq!(main_paths.iter().filter(|p| *p == "/robots.txt").count(), 1);

    // The outcomes in the state say why the others were not fetched.
    let store = harvestd::store::Store::open(&state, 1 << 20).unwrap();
    let f = Frontier::open(store, Arc::new(harvestd::clock::SystemClock)).unwrap();
    let outcomes: HashMap<String, Outcome> = f.finished().map(|r| r.unwrap()).map(|(k, v)| (k, v.outcome)).collect();
    assert_eq!(outcomes.get(&main.url("/private/secret.html")), Some(&Outcome::RobotsPrecluded));
    assert_eq!(outcomes.get(&second.url("/blocked/tracker.gif")), Some(&Outcome::RobotsPrecluded));
    assert_eq!(outcomes.get(&main.url("/archives/357566")), Some(&Outcome::Fetched(200)));
    assert_eq!(f.counts().queued + f.counts().leased, 0);

    // The article's hop path and the redirect's: stored with the URL.
    let art = f.url_record(&main.url("/images/jeffrey-960.jpg")).unwrap().unwrap();
    match art.state {
        harvestd::frontier::UrlState::Finished(fin) => {
            assert_eq!(fin.uri.hops, "LE");
            assert_eq!(fin.uri.via.as_deref(), Some(main.url("/archives/357566").as_str()));
            assert_eq!(fin.uri.seed, main.url("/"));
            let loc = fin.location.unwrap();
            let rec = recs
                .iter()
                .find(|r| r.file.file_name().unwrap().to_str() == Some(&loc.file) && r.offset == loc.offset)
                .unwrap();
            assert_eq!(rec.get("warc-record-id"), fin.record_id.as_deref());
        }
        other => panic!("{other:?}"),
    }

    check_digests(&recs);
    check_groups(&recs);
    for file in warc_files(&warcs) {
        warcio_check(&file, &recs).unwrap();
    }
    assert!(open_files(&warcs).is_empty());
    let bytes: u64 = warc_files(&warcs).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    let conns = main.conns.load(Ordering::SeqCst) + second.conns.load(Ordering::SeqCst);
    assert_eq!(conns, 2, "keep-alive: one connection per authority");
    eprintln!(
        "fixture crawl, keep-alive on: {} responses, {} records, {bytes} WARC bytes (gzip), {conns} connections, {secs:.2} s wall",
        statuses.len(),
        recs.len(),
    );

    // The same crawl with keep-alive off captures the same URLs over a connection each.
    let second = Server::start("127.0.0.2", site_handler(fixture("second"), String::new()));
    let main = Server::start("127.0.0.1", site_handler(fixture("site"), second.addr.to_string()));
    let dir2 = tempfile::tempdir().unwrap();
    let cfg = write_config(dir2.path(), "keep_alive = false\n");
    let t0 = std::time::Instant::now();
    let out = harvestd().arg("crawl").arg(main.url("/")).arg("--config").arg(&cfg).output().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs2 = read_warcs(&dir2.path().join("warcs"));
    let responses2 = recs2.iter().filter(|r| r.get("warc-type") == Some("response")).count();
    assert_eq!(responses2, expect.len());
    let conns = main.conns.load(Ordering::SeqCst) + second.conns.load(Ordering::SeqCst);
    assert_eq!(conns, expect.len(), "keep-alive off: a connection per exchange");
    eprintln!("fixture crawl, keep-alive off: {responses2} responses, {conns} connections, {secs:.2} s wall");
}
