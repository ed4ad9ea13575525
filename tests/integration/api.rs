//! The control API and the commands that call it, against a running daemon: status numbers,
//! pause and resume (on the server's request log), seeds, exclusions of queued URLs, Prometheus
//! metrics read by the official Python parser, tokens, and reload (good and broken files).

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A running daemon, killed if the test fails before stopping it.
struct Daemon(Option<Child>);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn daemon(cfg: &std::path::Path) -> Daemon {
    Daemon(Some(
        harvestd().arg("run").arg("--config").arg(cfg).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    ))
}

fn ctl(cfg: &std::path::Path, args: &[&str]) -> Output {
    harvestd().args(args).arg("--config").arg(cfg).output().unwrap()
}

fn status(cfg: &std::path::Path) -> serde_json::Value {
    let out = ctl(cfg, &["status", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < within, "{what} did not happen within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(mut d: Daemon) {
    let mut child = d.0.take().unwrap();
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn status_pause_resume_seeds_exclusions_and_metrics() {
    let site = chain_site("127.0.0.80", 40, Duration::from_millis(30));
    let other = chain_site("127.0.0.81", 2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("api_listen = \"127.0.0.80:8427\"\ndelay = \"100ms\"\n[[seeds]]\nurl = {:?}\n", site.url("/p/0")),
    );
    let child = daemon(&cfg);
    wait_until("five pages", Duration::from_secs(20), || site.hits().len() >= 5);

    // Pause: no request starts after the command returns (the one in flight may finish).
    let out = ctl(&cfg, &["pause"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let paused_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1200));
    let late: Vec<String> = site.hits().iter().filter(|h| h.at > paused_at).map(|h| h.path.clone()).collect();
    assert!(late.is_empty(), "requests after pause: {late:?}");
    let st = status(&cfg);
    assert_eq!(st["state"], "paused");
    // Status numbers match the crawl as the server saw it: every request is one finished URL.
    assert_eq!(st["urls"]["done"].as_u64().unwrap() as usize, site.hits().len(), "{st}");
    assert_eq!(st["urls"]["in_flight"], 0);
    assert_eq!(st["urls"]["queued"], 1, "the next page waits");
    assert!(st["current_warc"].as_str().unwrap().ends_with(".warc.gz"), "{st}");
    let human = ctl(&cfg, &["status"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("state: paused"));

    // Exclusions apply to queued URLs too: the queued next page and all after it end excluded.
    let fetched = site.paths().iter().filter_map(|p| p.strip_prefix("/p/")?.parse::<usize>().ok()).max().unwrap();
    let rest: Vec<String> = (fetched + 1..40).map(|i| i.to_string()).collect();
    let pattern = format!("/p/({})$", rest.join("|"));
    let before_exclusion = site.hits().len();
    let out = ctl(&cfg, &["exclude", &pattern]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = ctl(&cfg, &["exclude", "(unclosed"]);
    assert_eq!(bad.status.code(), Some(2), "a bad pattern is refused");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("(unclosed"));

    // Resume: requests go on; a seed added at run time is crawled.
    assert!(ctl(&cfg, &["resume"]).status.success());
    let out = ctl(&cfg, &["seed", "add", &other.url("/p/0")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 seeds queued"));
    wait_until("the added seed crawled", Duration::from_secs(20), || other.hits().len() >= 3);
    wait_until("the crawl idle", Duration::from_secs(20), || status(&cfg)["state"] == "idle");
    assert_eq!(site.hits().len(), before_exclusion, "excluded pages were fetched: {:?}", site.paths());
    let st = status(&cfg);
    assert_eq!(
        st["urls"]["done"].as_u64().unwrap() as usize,
        site.hits().len() + other.hits().len() + 1,
        "every request finished one URL, plus the excluded page: {st}"
    );
    assert_eq!(st["seeds"], 2);

    // Prometheus metrics, read by the prometheus_client parser.
    let metrics = reqwest_get("http://127.0.0.80:8427/metrics", None);
    let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\n\
                  for f in p(sys.stdin.read()):\n    for s in f.samples:\n        print(s.name, s.value)\n";
    let mut py = std::process::Command::new(venv_tool("python3"))
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
    let parsed = py.wait_with_output().unwrap();
    assert!(parsed.status.success(), "{}\n{metrics}", String::from_utf8_lossy(&parsed.stderr));
    let samples = String::from_utf8_lossy(&parsed.stdout).to_string();
    let value = |name: &str| -> f64 {
        samples
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{samples}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("harvestd_urls_queued"), 0.0);
    assert_eq!(value("harvestd_paused"), 0.0);
    assert_eq!(value("harvestd_records_total"), st["records"].as_f64().unwrap());
    assert_eq!(value("harvestd_urls_trap_refused_total"), st["urls"]["trap_refused"].as_f64().unwrap());
    assert!(samples.contains("harvestd_urls_finished_total"), "{samples}");
    stop(child);
}

/// A plain HTTP GET over a socket (the API speaks HTTP/1.1); returns the body.
fn reqwest_get(url: &str, token: Option<&str>) -> String {
    let (code, body) = http_get(url, token);
    assert_eq!(code, 200, "{body}");
    body
}

fn http_get(url: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let u = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n", u.path(), u.host_str().unwrap())
        .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let (head, body) = split_http(&resp);
    let code = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
    let body = if is_chunked(head) { dechunk(body) } else { body.to_vec() };
    (code, String::from_utf8_lossy(&body).to_string())
}

#[test]
fn the_api_needs_a_token_beyond_loopback_and_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "api_listen = \"0.0.0.0:8427\"\n");
    let out = harvestd().arg("check-config").arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("api_listen") && err.contains("api_token"), "{err}");

    let site = chain_site("127.0.0.82", 2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("api_listen = \"127.0.0.82:8427\"\napi_token = \"s3cret\"\n[[seeds]]\nurl = {:?}\n", site.url("/p/0")),
    );
    let child = daemon(&cfg);
    wait_until("the API", Duration::from_secs(20), || std::net::TcpStream::connect("127.0.0.82:8427").is_ok());
    assert_eq!(http_get("http://127.0.0.82:8427/status", None).0, 401);
    assert_eq!(http_get("http://127.0.0.82:8427/status", Some("wrong")).0, 401);
    assert_eq!(http_get("http://127.0.0.82:8427/status", Some("s3cret")).0, 200);
    assert!(ctl(&cfg, &["status"]).status.success(), "the command sends the configured token");
    // A proxy in the environment is not used (it would receive the token).
    let out = harvestd()
        .args(["status", "--config"])
        .arg(&cfg)
        .env("http_proxy", "http://127.0.0.250:9")
        .env("ALL_PROXY", "http://127.0.0.250:9")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    stop(child);
}

#[test]
fn holding_api_connections_open_cannot_starve_the_crawl() {
    let site = chain_site("127.0.0.85", 15, Duration::from_millis(20));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("api_listen = \"127.0.0.85:8427\"\nmax_urls = 16\n[[seeds]]\nurl = {:?}\n", site.url("/p/0")),
    );
    let mut d = daemon(&cfg);
    wait_until("the API", Duration::from_secs(20), || std::net::TcpStream::connect("127.0.0.85:8427").is_ok());
    // Far more idle connections than the API serves, held while the whole crawl runs.
    let held: Vec<std::net::TcpStream> =
        (0..600).filter_map(|_| std::net::TcpStream::connect("127.0.0.85:8427").ok()).collect();
    let pid = d.0.as_ref().unwrap().id();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    assert!(fds < 200, "{fds} descriptors open in the daemon with {} client connections held", held.len());
    // The crawl goes on and ends at its limit (exit 0): robots.txt + 15 pages.
    let mut child = d.0.take().unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the crawl did not finish: {} requests", site.hits().len());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(site.hits().len(), 16);
    drop(held);
}

#[test]
fn a_paused_crawl_run_without_its_api_resumes_instead_of_hanging() {
    let site = chain_site("127.0.0.86", 3, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!("api_listen = \"127.0.0.86:8427\"\n[[seeds]]\nurl = {:?}\n", site.url("/p/0")),
    );
    let d = daemon(&cfg);
    wait_until("the API", Duration::from_secs(20), || std::net::TcpStream::connect("127.0.0.86:8427").is_ok());
    assert!(ctl(&cfg, &["pause"]).status.success());
    stop(d);
    let t = Instant::now();
    let out = harvestd().arg("run").arg("--config").arg(&cfg).arg("--exit-when-done").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!(String::from_utf8_lossy(&out.stderr).contains("so it resumes now"));
    assert_eq!(site.hits().len(), 4, "robots.txt and the three pages: {:?}", site.paths());
}

#[test]
fn reload_applies_a_new_seed_and_rejects_a_broken_file_keeping_the_old_one() {
    let first = chain_site("127.0.0.83", 2, Duration::ZERO);
    let second = chain_site("127.0.0.84", 2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let base = "api_listen = \"127.0.0.83:8427\"\n";
    let cfg = write_config(dir.path(), &format!("{base}[[seeds]]\nurl = {:?}\n", first.url("/p/0")));
    let text = std::fs::read_to_string(&cfg).unwrap();
    let mut child = daemon(&cfg);
    wait_until("the first seed crawled", Duration::from_secs(20), || first.hits().len() >= 3);

    // A new seed in the file: `harvestd reload` waits for the answer; the seed is crawled.
    std::fs::write(&cfg, format!("{text}[[seeds]]\nurl = {:?}\n", second.url("/p/0"))).unwrap();
    let out = ctl(&cfg, &["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 seeds, 1 newly queued"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    wait_until("the new seed crawled", Duration::from_secs(20), || second.hits().len() >= 3);

    // A broken file: rejected with its key and line; the daemon goes on with the old one.
    // (`--api`: the command does not need the file, so the message can only be the daemon's.)
    let line = text.lines().position(|l| l.starts_with("delay =")).unwrap() + 1;
    std::fs::write(&cfg, text.replace("delay = \"0s\"", "delay = \"soon\"")).unwrap();
    let out = ctl(&cfg, &["reload", "--api", "http://127.0.0.83:8427"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key `delay`") && err.contains(&format!("test.toml:{line}:")), "{err}");
    wait_until("the crawl idle", Duration::from_secs(20), || status(&cfg)["state"] == "idle");
    assert_eq!(status(&cfg)["seeds"], 2, "the reloaded seed stays");
    // A limit lowered below what is done ends the idle daemon at once, cleanly.
    std::fs::write(&cfg, text.replace("api_listen", "max_urls = 2\napi_listen")).unwrap();
    let out = ctl(&cfg, &["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child = child.0.take().unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(10), "a lowered max_urls did not end the daemon");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
}
