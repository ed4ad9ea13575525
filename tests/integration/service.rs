//! The systemd service contract: `sd_notify` messages received on a real `NOTIFY_SOCKET` datagram
//! socket (an abstract `@` name and a path), in order; the watchdog stopping when the crawl is
//! wedged; the unit file checked by `systemd-analyze`.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// A service manager's end of `NOTIFY_SOCKET`: every datagram, with when it came.
struct Manager {
    env: String,
    got: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Manager {
    /// Listens on an abstract socket name (`@…` in `NOTIFY_SOCKET`) or, with `path`, on a file.
    fn listen(tag: &str, path: Option<&std::path::Path>) -> Manager {
        let (sock, env) = match path {
            Some(p) => (UnixDatagram::bind(p).unwrap(), p.display().to_string()),
            None => {
                let name = format!("harvestd-test-{}-{tag}", std::process::id());
                let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
                (UnixDatagram::bind_addr(&addr).unwrap(), format!("@{name}"))
            }
        };
        let got = Arc::new(Mutex::new(Vec::new()));
        let g2 = got.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                for line in text.lines() {
                    g2.lock().unwrap().push((Instant::now(), line.to_string()));
                }
            }
        });
        Manager { env, got }
    }

    fn lines(&self) -> Vec<String> {
        self.got.lock().unwrap().iter().map(|(_, l)| l.clone()).collect()
    }

    fn wait_for(&self, what: &str, within: Duration) {
        let t = Instant::now();
        while !self.lines().iter().any(|l| l == what) {
            assert!(t.elapsed() < within, "no {what} within {within:?}: {:?}", self.lines());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn times_of(&self, what: &str) -> Vec<Instant> {
        self.got.lock().unwrap().iter().filter(|(_, l)| l == what).map(|(t, _)| *t).collect()
    }
}

fn pages(n: usize) -> Handler {
    Arc::new(move |path: &str, _: &[u8]| {
        let body = if path == "/" {
            (1..=n).map(|i| format!("<a href=\"/p/{i}\">{i}</a>")).collect::<String>()
        } else {
            "page".into()
        };
        let status = if path == "/robots.txt" { (404, "Not Found") } else { (200, "OK") };
        Reply {
            bytes: http_response(status.0, status.1, &[("Content-Type", "text/html")], body.as_bytes()),
            delay: Duration::ZERO,
            close: false,
        }
    })
}

#[test]
fn ready_comes_after_recovery_then_status_watchdog_and_stopping() {
    let site = Server::start("127.0.0.68", pages(3));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("[[seeds]]\nurl = {:?}\n", site.url("/")));
    // A WARC file a crash left open: a finished file renamed back to `.open`.
    let out = harvestd().arg("run").arg("--config").arg(&cfg).arg("--exit-when-done").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let warcs = dir.path().join("warcs");
    let closed = warc_files(&warcs).pop().unwrap();
    let open = closed.with_extension("gz.open");
    std::fs::rename(&closed, &open).unwrap();
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();

    let m = Manager::listen("ready", None);
    let mut child = harvestd()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &m.env)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    m.wait_for("READY=1", Duration::from_secs(20));
    assert!(!open.exists() && closed.exists(), "READY=1 came before recovery closed the open WARC file");
    let lines = m.lines();
    let ready = lines.iter().position(|l| l == "READY=1").unwrap();
    let extend = lines.iter().position(|l| l.starts_with("EXTEND_TIMEOUT_USEC=")).expect("start time extended");
    assert!(extend < ready, "{lines:?}");
    assert!(lines[ready + 1].starts_with("STATUS=crawling: "), "{lines:?}");
    // Idle after its crawl, the daemon keeps pinging the watchdog at least every 200 ms.
    let t = Instant::now();
    while site.hits().len() < 5 {
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", site.paths());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let pings = m.times_of("WATCHDOG=1");
    assert!(pings.len() >= 5, "{} pings: {:?}", pings.len(), m.lines());
    for w in pings.windows(2) {
        assert!(w[1] - w[0] <= Duration::from_millis(400), "pings {:?} apart", w[1] - w[0]);
    }
    assert!(m.lines().iter().any(|l| l.starts_with("STATUS=crawling: 5 done (5 fetched")), "{:?}", m.lines());
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
    let lines = m.lines();
    let stopping = lines.iter().position(|l| l == "STOPPING=1").expect("STOPPING=1 sent");
    assert!(stopping > ready);
    assert!(lines[stopping + 1].starts_with("STATUS=stopping"), "{lines:?}");
    assert!(
        lines[stopping..].iter().filter(|l| l.starts_with("STATUS=")).all(|l| l.starts_with("STATUS=stopping")),
        "once stopping, the status says so: {lines:?}"
    );
}

#[test]
fn the_watchdog_stops_when_the_crawl_is_wedged() {
    let site = Server::start("127.0.0.69", pages(2));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("[[seeds]]\nurl = {:?}\n", site.url("/")));
    let sock = dir.path().join("notify.sock");
    let m = Manager::listen("wedge", Some(&sock));
    let mut child = harvestd()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &m.env)
        .env("WATCHDOG_USEC", "300000")
        .env("HARVESTD_TEST_WEDGE_FRONTIER_AFTER_MS", "1500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    m.wait_for("READY=1", Duration::from_secs(20));
    let ready = m.times_of("READY=1")[0];
    std::thread::sleep(Duration::from_millis(3500));
    let _ = child.kill();
    let _ = child.wait();
    let pings = m.times_of("WATCHDOG=1");
    let before: Vec<_> = pings.iter().filter(|t| **t < ready + Duration::from_millis(1400)).collect();
    let late: Vec<_> = pings.iter().filter(|t| **t > ready + Duration::from_millis(1500 + 300)).collect();
    assert!(before.len() >= 5, "pings while healthy: {}", before.len());
    assert!(late.is_empty(), "{} pings after the frontier was wedged", late.len());
}

#[test]
fn the_unit_file_verifies_and_is_sandboxed_but_keeps_the_network() {
    let Ok(analyze) = which("systemd-analyze") else {
        panic!("systemd-analyze is needed (Debian package systemd; .ci/run installs it)");
    };
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/harvestd.service")).unwrap();
    // A copy whose ExecStart/ExecReload point at the built binary, where verify can find it.
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_harvestd");
    let text = unit.replace("/usr/local/bin/harvestd", bin);
    let path = dir.path().join("harvestd.service");
    std::fs::write(&path, &text).unwrap();
    let out = std::process::Command::new(&analyze).arg("verify").arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify said:\n{said}");
    let out = std::process::Command::new(&analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for harvestd.service: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}{}", String::from_utf8_lossy(&out.stderr)));
    eprintln!("systemd-analyze security: exposure {score}");
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{report}");
    // The crawler needs the network: IPv4, IPv6 (and AF_UNIX for sd_notify).
    let families = unit.lines().find_map(|l| l.strip_prefix("RestrictAddressFamilies=")).expect("families listed");
    for f in ["AF_INET", "AF_INET6", "AF_UNIX"] {
        assert!(families.split_whitespace().any(|x| x == f), "{f} missing from {families}");
    }
    assert!(
        !unit.lines().any(|l| l.trim_start().starts_with("PrivateNetwork=")),
        "PrivateNetwork cuts the crawler off"
    );
    assert!(
        !unit.lines().any(|l| l.starts_with("IPAddressDeny=") && l.split_whitespace().any(|w| w.ends_with("any"))),
        "IPAddressDeny=any cuts the crawler off"
    );
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([std::path::PathBuf::from("/usr/bin"), std::path::PathBuf::from("/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn sigterm_abandons_fetches_past_the_grace_and_a_restart_completes_them() {
    let slow = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let s2 = slow.clone();
    let site = Server::start(
        "127.0.0.70",
        Arc::new(move |path: &str, raw: &[u8]| {
            let mut r = pages(2)(path, raw);
            if path == "/p/2" && s2.load(std::sync::atomic::Ordering::SeqCst) {
                r.delay = Duration::from_secs(20);
            }
            r
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("shutdown_grace = \"1s\"\n[[seeds]]\nurl = {:?}\n", site.url("/")));
    let child =
        harvestd().arg("run").arg("--config").arg(&cfg).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let t = Instant::now();
    while !site.paths().iter().any(|p| p == "/p/2") {
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", site.paths());
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let stop = Instant::now();
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let took = stop.elapsed();
    assert!(out.status.success(), "exit 0 after the grace: {:?}", out.status);
    assert!(took < Duration::from_secs(5), "stopped {took:?} after SIGTERM with a 1 s grace");
    assert!(took >= Duration::from_millis(900), "the in-flight fetch got its grace: {took:?}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("1 URL left for the next run"), "{summary}");
    let warcs = dir.path().join("warcs");
    assert!(open_files(&warcs).is_empty());
    assert!(warcio_check_all(&warcs).is_ok());
    // The restart fetches the abandoned URL and finishes.
    slow.store(false, std::sync::atomic::Ordering::SeqCst);
    let out = harvestd().arg("run").arg("--config").arg(&cfg).arg("--exit-when-done").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = finished(&dir.path().join("state"));
    assert_eq!(done[&site.url("/p/2")].outcome, harvestd::frontier::Outcome::Fetched(200));
    assert_eq!(site.paths().iter().filter(|p| *p == "/p/2").count(), 2, "fetched again once");
}

fn warcio_check_all(dir: &std::path::Path) -> Result<(), String> {
    let recs = read_warcs(dir);
    for f in warc_files(dir) {
        warcio_check(&f, &recs)?;
    }
    Ok(())
}

#[test]
fn sighup_reloads_between_reloading_and_ready() {
    let site = Server::start("127.0.0.75", pages(1));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("[[seeds]]\nurl = {:?}\n", site.url("/")));
    let m = Manager::listen("reload", None);
    let mut child = harvestd()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &m.env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    m.wait_for("READY=1", Duration::from_secs(20));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
    let t = Instant::now();
    while m.times_of("READY=1").len() < 2 {
        assert!(t.elapsed() < Duration::from_secs(10), "no READY=1 after the reload: {:?}", m.lines());
        std::thread::sleep(Duration::from_millis(10));
    }
    let lines = m.lines();
    let reloading = lines.iter().position(|l| l == "RELOADING=1").expect("RELOADING=1 sent");
    assert!(lines[reloading + 1].starts_with("MONOTONIC_USEC="), "{lines:?}");
    let ready_again = lines.iter().rposition(|l| l == "READY=1").unwrap();
    assert!(ready_again > reloading);
    assert!(lines[ready_again + 1].starts_with("STATUS=crawling; reloaded: "), "{lines:?}");
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP does not end the daemon");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
}
