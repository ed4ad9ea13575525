//! Crawl traps: a site per trap, each crawled with `max_hops` at its default (20), so that the stop
//! must come from the trap's own rule, well before `max_hops` would end it. Each test counts the
//! requests the server saw and reads the refusal back from the state and from crawl.log.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use harvestd::frontier::{Finished, Outcome};
use harvestd::scope::TrapRule;

use crate::support::*;

/// A server whose `/robots.txt` is a 404 and whose other paths get `page(path)` as HTML.
fn html_site(ip: &str, page: impl Fn(&str) -> String + Send + Sync + 'static) -> Server {
    Server::start(
        ip,
        Arc::new(move |path: &str, _: &[u8]| {
            if path == "/robots.txt" {
                return Reply::raw(http_response(404, "Not Found", &[], b""));
            }
            let body = format!("<html><body>{}</body></html>", page(path));
            Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], body.as_bytes()))
        }),
    )
}

/// Crawls `seed` with the test configuration plus `extra`; asserts exit 0 and returns the state's
/// finished URLs and crawl.log's lines by URL (each line's 12 fields).
fn crawl_ok(dir: &Path, seed: &str, extra: &str) -> (HashMap<String, Finished>, HashMap<String, Vec<String>>) {
    let cfg = write_config(dir, extra);
    let out = harvestd().arg("crawl").arg(seed).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let state = finished(&dir.join("state"));
    let text = std::fs::read_to_string(dir.join("logs").join("crawl.log")).unwrap();
    let lines = text
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            if l.ends_with(' ') {
                f.push(String::new());
            }
            (f[3].clone(), f)
        })
        .collect();
    (state, lines)
}

/// The trap rule that refused `url`, from the state (by URL, not key).
fn refused_by(state: &HashMap<String, Finished>, url: &str) -> Option<TrapRule> {
    state.values().find(|f| f.uri.url == url).and_then(|f| match &f.outcome {
        Outcome::TrapRejected { rule, .. } => Some(*rule),
        _ => None,
    })
}

/// Asserts that `url` was refused by `rule`, in the state and in crawl.log (status, annotation,
/// no fetch), and that the server never saw it.
fn assert_refused(
    server: &Server,
    state: &HashMap<String, Finished>,
    log: &HashMap<String, Vec<String>>,
    url: &str,
    rule: TrapRule,
) {
    assert_eq!(refused_by(state, url), Some(rule), "{url} in the state: {state:#?}");
    let line = log.get(url).unwrap_or_else(|| panic!("no crawl.log line for {url}: {log:#?}"));
    let status = if rule == TrapRule::MaxUrlsPerHost { "-5003" } else { "-5000" };
    assert_eq!(line[1], status, "{line:?}");
    assert_eq!((line[2].as_str(), line[6].as_str(), line[8].as_str()), ("-", "unknown", "-"), "{line:?}");
    assert_eq!(line[11], format!("trap:{}", rule.key()), "{line:?}");
    let path = &url[url.find(&server.addr.to_string()).unwrap() + server.addr.to_string().len()..];
    assert!(!server.paths().iter().any(|p| p == path), "{path} was requested");
}

#[test]
fn an_endless_calendar_stops_at_the_host_budget_which_survives_a_restart() {
    // /cal?m=2026-12 links to the next month, forever; nothing but max_hops (20) or the host
    // budget ends it.
    let next = |m: &str| {
        let (y, mo) = m.split_once('-').unwrap();
        let (y, mo): (u32, u32) = (y.parse().unwrap(), mo.parse().unwrap());
        if mo == 12 {
            format!("{}-01", y + 1)
        } else {
            format!("{y}-{:02}", mo + 1)
        }
    };
    let s = html_site("127.0.0.91", move |path| {
        let m = path.strip_prefix("/cal?m=").unwrap_or("2026-12");
        format!("<h1>{m}</h1><a href=\"/cal?m={}\">next month</a>", next(m))
    });
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = crawl_ok(dir.path(), &s.url("/cal?m=2026-12"), "max_urls_per_host = 6\n");
    let pages: Vec<String> = s.paths().into_iter().filter(|p| p.starts_with("/cal")).collect();
    assert_eq!(pages.len(), 6, "the seed and 5 months fill the budget of 6 (max_hops would allow 21): {pages:?}");
    assert_eq!(pages.last().unwrap(), "/cal?m=2027-05");
    assert_refused(&s, &state, &log, &s.url("/cal?m=2027-06"), TrapRule::MaxUrlsPerHost);
    match &state.values().find(|f| f.uri.url == s.url("/cal?m=2027-06")).unwrap().outcome {
        Outcome::TrapRejected { detail, .. } => assert!(detail.contains("has had 6 URLs queued"), "{detail}"),
        o => panic!("{o:?}"),
    }

    // The count is in the state: a later run's seed on the same host is fetched (seeds are never
    // refused), but its link is over the budget at once.
    let (state, log) = crawl_ok(dir.path(), &s.url("/cal?m=2030-01"), "max_urls_per_host = 6\n");
    assert!(s.paths().iter().any(|p| p == "/cal?m=2030-01"));
    assert_refused(&s, &state, &log, &s.url("/cal?m=2030-02"), TrapRule::MaxUrlsPerHost);
}

#[test]
fn relative_link_loops_stop_at_repeated_path_segments() {
    // `a/` on /a/ gives /a/a/, /a/a/a/…; `a/b/` on /p/a/b/ gives /p/a/b/a/b/, …
    let s = html_site("127.0.0.92", |path| match path {
        "/" => "<a href=\"a/\">a</a> <a href=\"p/a/b/\">p</a>".to_string(),
        p if p.starts_with("/p/") => "<a href=\"a/b/\">again</a>".to_string(),
        _ => "<a href=\"a/\">deeper</a>".to_string(),
    });
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = crawl_ok(dir.path(), &s.url("/"), "");
    let mut pages: Vec<String> = s.paths().into_iter().filter(|p| p != "/robots.txt").collect();
    pages.sort();
    assert_eq!(pages, ["/", "/a/", "/a/a/", "/p/a/b/", "/p/a/b/a/b/"], "two in a row pass, the third is refused");
    assert_refused(&s, &state, &log, &s.url("/a/a/a/"), TrapRule::MaxPathRepetitions);
    assert_refused(&s, &state, &log, &s.url("/p/a/b/a/b/a/b/"), TrapRule::MaxPathRepetitions);
}

#[test]
fn ever_deeper_relative_links_stop_at_max_path_depth() {
    // /d/1/ links to 2/, /d/1/2/ to 3/…: nothing repeats, only the depth grows.
    let s = html_site("127.0.0.93", |path| {
        let n = path.trim_end_matches('/').rsplit('/').next().unwrap_or("0").parse::<u32>().unwrap_or(0);
        format!("<a href=\"{}/\">deeper</a>", n + 1)
    });
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = crawl_ok(dir.path(), &s.url("/d/1/"), "max_path_depth = 5\n");
    let pages: Vec<String> = s.paths().into_iter().filter(|p| p != "/robots.txt").collect();
    assert_eq!(pages, ["/d/1/", "/d/1/2/", "/d/1/2/3/"], "5 segments at most (a trailing / is one)");
    assert_refused(&s, &state, &log, &s.url("/d/1/2/3/4/"), TrapRule::MaxPathDepth);
}

#[test]
fn session_ids_that_change_on_every_link_are_one_url_and_the_setting_is_kept_with_the_state() {
    // Every page links to itself with a new session id, in the query and as a path parameter.
    let n = Arc::new(AtomicU64::new(0));
    let token = move || format!("{:032x}", 0x5e55_1010_u128 * 1_000_003 + u128::from(n.fetch_add(1, Ordering::SeqCst)));
    let s = html_site("127.0.0.94", move |_| {
        format!("<a href=\"/page?sid={}\">page</a> <a href=\"/shop;jsessionid={}\">shop</a>", token(), token())
    });
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = crawl_ok(dir.path(), &s.url("/"), "");
    let paths = s.paths();
    let page: Vec<&String> = paths.iter().filter(|p| p.starts_with("/page")).collect();
    let shop: Vec<&String> = paths.iter().filter(|p| p.starts_with("/shop")).collect();
    assert_eq!(
        (page.len(), shop.len()),
        (1, 1),
        "each fetched once, with the session id it was linked with: {paths:?}"
    );
    assert!(page[0].starts_with("/page?sid=") && shop[0].starts_with("/shop;jsessionid="), "{paths:?}");
    let key = |p: &str| format!("http://{}{p}", s.addr);
    assert!(matches!(state[&key("/page")].outcome, Outcome::Fetched(200)), "keyed without the sid: {state:#?}");
    assert!(matches!(state[&key("/shop")].outcome, Outcome::Fetched(200)), "keyed without the jsessionid");
    assert_eq!(state.len(), 4, "robots.txt, /, /page, /shop: {:#?}", state.keys());
    assert_eq!(log.len(), 4, "{log:#?}");

    // The state records the setting: turning stripping off (or another list) on it is a start-up
    // error, exit 3, before any request.
    let before = s.paths().len();
    for changed in ["strip_session_ids = false\n", "session_id_params = [\"jsessionid\"]\n"] {
        let cfg = write_config(dir.path(), changed);
        let out = harvestd().arg("crawl").arg(s.url("/")).arg("--config").arg(&cfg).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{changed}: {err}");
        assert!(err.contains("strip_session_ids") && err.contains("sid:32"), "{err}");
    }
    assert_eq!(s.paths().len(), before, "no request after a refused start");
}

#[test]
fn a_query_string_that_doubles_every_hop_stops_at_max_query_params() {
    // /q?x=1 links to /q?x=1&x=1, which links to /q?x=1&x=1&x=1&x=1, …
    let s = html_site("127.0.0.95", |path| {
        let q = path.split_once('?').map(|(_, q)| q).unwrap_or("x=1");
        format!("<a href=\"/q?{q}&amp;{q}\">more</a>")
    });
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = crawl_ok(dir.path(), &s.url("/q?x=1"), "");
    let params: Vec<usize> =
        s.paths().iter().filter_map(|p| p.split_once('?')).map(|(_, q)| q.split('&').count()).collect();
    assert_eq!(params, [1, 2, 4, 8, 16, 32], "the default 32 lets 6 hops through");
    assert_refused(&s, &state, &log, &s.url(&format!("/q?{}", vec!["x=1"; 64].join("&"))), TrapRule::MaxQueryParams);
}

#[test]
fn a_query_string_that_grows_a_parameter_every_hop_stops_at_max_query_params() {
    // /r?p0=0 links to /r?p0=0&p1=1, …: one more parameter per hop.
    let s = html_site("127.0.0.96", |path| {
        let q = path.split_once('?').map(|(_, q)| q).unwrap_or("p0=0");
        let n = q.split('&').count();
        format!("<a href=\"/r?{q}&amp;p{n}={n}\">more</a>")
    });
    let dir = tempfile::tempdir().unwrap();
    let (state, log) = crawl_ok(dir.path(), &s.url("/r?p0=0"), "max_query_params = 5\n");
    let requested = s.paths().iter().filter(|p| p.starts_with("/r?")).count();
    assert_eq!(requested, 5, "1 to 5 parameters (max_hops would allow 21): {:?}", s.paths());
    let six: Vec<String> = (0..6).map(|i| format!("p{i}={i}")).collect();
    assert_refused(&s, &state, &log, &s.url(&format!("/r?{}", six.join("&"))), TrapRule::MaxQueryParams);
}

#[test]
fn a_reload_that_would_change_the_seen_key_options_is_rejected_and_trap_limits_reload() {
    let site = chain_site("127.0.0.97", 2, std::time::Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let base = format!("api_listen = \"127.0.0.97:8427\"\n[[seeds]]\nurl = {:?}\n", site.url("/p/0"));
    let cfg = write_config(dir.path(), &base);
    let child = harvestd()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !harvestd().args(["status", "--config"]).arg(&cfg).output().unwrap().status.success() {
        assert!(t.elapsed() < std::time::Duration::from_secs(20), "the daemon did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let reload = |extra: &str| {
        write_config(dir.path(), &format!("{extra}{base}"));
        harvestd().args(["reload", "--config"]).arg(&cfg).output().unwrap()
    };
    let out = reload("strip_session_ids = false\n");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("strip_session_ids / session_id_params cannot change"), "{text}");
    let out = reload("max_query_params = 3\nmax_urls_per_host = 10\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait_with_output().unwrap().status.success(), "the daemon ran on after both reloads");
}
