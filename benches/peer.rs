//! harvestd against `wget --warc-file` on the same single-host site, in one run, alternating
//! (wget, harvestd, wget, harvestd, …) so both see the same machine state.
//!
//! The site, on a full run (`cargo bench --bench peer`):
//! - the Python documentation from Debian's `python3-doc` (`/usr/share/doc/python3-doc/html`, or
//!   `HARVESTD_PEER_DOCS`), served by nginx (`apt-get install python3-doc nginx-light`) on a free
//!   loopback port, when both are installed: the site the targets are set on (pages of
//!   10–500 KB, about 530 pages and 1,070 URLs);
//! - else, or with `HARVESTD_PEER_SITE=generated`, one host of [`common::site`]
//!   (`HARVESTD_BENCH_PAGES` pages, 1,000; a fifth as many images; a stylesheet with a font and a
//!   background; a script) served from this process. A smoke run (without `--bench`) always uses a
//!   30-page generated site.
//!
//! wget runs as `wget --recursive --level=inf --page-requisites --warc-file=… --no-verbose -e
//! robots=off` (one connection, kept alive); harvestd as `harvestd crawl URL --delay 0
//! --allow-private` with its defaults, one connection per host — the fair comparison. Both are
//! child processes whose CPU time and peak RSS come from `wait4`; requests (and pages: `text/html`
//! responses on the generated site, `.html` requests under nginx) are counted by the server.
//!
//! Prints a row per run, the ratios of the medians (pages/s, CPU s per URL, peak RSS), and the
//! pages/s ratio of each round (its two runs back to back) with their median.
//! `HARVESTD_BENCH_ROUNDS` (3) rounds on a full run, one on a smoke run. When wget is not
//! installed the wget rows are skipped, said so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::server::{self, Stats};
use common::site::{self, SiteSpec};

/// One run's figures.
#[derive(Debug, Clone, Copy)]
struct Row {
    wall: f64,
    cpu: f64,
    rss: u64,
    requests: u64,
    pages: u64,
    warc: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn available(cmd: &str, arg: &str) -> bool {
    Command::new(cmd).arg(arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// The site under test and how its requests are counted.
enum Site {
    /// One host of the generated site, served from this process: every run fetches its pages.
    Generated { url: String, stats: Arc<Stats>, pages: u64 },
    /// A directory served by nginx (a child process, stopped on drop); its access log counts.
    Nginx { url: String, child: Child, log: PathBuf, _dir: tempfile::TempDir },
}

impl Site {
    fn url(&self) -> &str {
        match self {
            Site::Generated { url, .. } | Site::Nginx { url, .. } => url,
        }
    }

    /// (requests, pages) answered so far.
    fn counts(&self) -> (u64, u64) {
        match self {
            Site::Generated { stats, pages, .. } => (stats.snapshot().0, *pages),
            Site::Nginx { log, .. } => {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let pages = text.lines().filter(|l| l.split(' ').nth(1).is_some_and(|u| u.ends_with(".html"))).count();
                (text.lines().count() as u64, pages as u64)
            }
        }
    }

    /// (requests, pages) since `before`; the generated site's pages are its page count.
    fn since(&self, before: (u64, u64)) -> (u64, u64) {
        let now = self.counts();
        match self {
            Site::Generated { pages, .. } => (now.0 - before.0, *pages),
            Site::Nginx { .. } => (now.0 - before.0, now.1 - before.1),
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Site::Nginx { child, .. } = self {
            // SIGTERM: the master stops its workers (SIGKILL would leave them running, holding
            // whatever descriptors they inherited).
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

/// nginx serving `root` on a free loopback port, logging `status request-uri` per request.
fn nginx(root: &Path) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.path().join("access.log");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1;\npid {pid};\nerror_log {err};\nevents {{ worker_connections 1024; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  sendfile on;\n  keepalive_requests 1000000;\n  \
             log_format t \"$status $request_uri\";\n  access_log {log} t;\n  \
             server {{ listen 127.0.0.1:{port}; root {root}; disable_symlinks off; }}\n}}\n",
            pid = dir.path().join("nginx.pid").display(),
            err = dir.path().join("error.log").display(),
            log = log.display(),
            root = root.display(),
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir.path())
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nginx");
    let addr = format!("127.0.0.1:{port}");
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(&addr).is_ok()
    });
    assert!(up, "nginx did not start on {addr}: see {}", dir.path().join("error.log").display());
    Site::Nginx { url: format!("http://{addr}/index.html"), child, log, _dir: dir }
}

fn main() {
    common::raise_nofile();
    println!("machine: {}", common::machine());
    let rounds = common::knob("HARVESTD_BENCH_ROUNDS", 3, 1);
    let docs = std::env::var_os("HARVESTD_PEER_DOCS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/doc/python3-doc/html"));
    let want_generated = std::env::var("HARVESTD_PEER_SITE").is_ok_and(|v| v == "generated");
    let use_docs =
        common::full_run() && !want_generated && docs.join("index.html").exists() && available("nginx", "-v");
    let site = if use_docs {
        let site = nginx(&docs);
        println!("site: the Python documentation in {} served by nginx at {}", docs.display(), site.url());
        site
    } else {
        if common::full_run() && !want_generated {
            println!("python3-doc or nginx is not installed: the generated site is used (apt-get install python3-doc nginx-light)");
        }
        let pages = common::knob("HARVESTD_BENCH_PAGES", 1_000, 30);
        let spec = SiteSpec { pages, images: pages / 5, page_bytes: 4_000, links: 12 };
        let stats = Stats::new(false);
        let addr = server::serve(0, Arc::new(site::host_site(&spec, 0)), stats.clone());
        let url = format!("http://{addr}/");
        println!(
            "site: 1 generated host, {} pages + {} images + 4 static + robots.txt = {} URLs at {url}",
            spec.pages,
            spec.images,
            spec.urls_per_host()
        );
        Site::Generated { url, stats, pages: pages as u64 }
    };
    let url = site.url().to_string();
    let wget = available("wget", "--version");
    if !wget {
        println!("wget is not installed: its rows are skipped (apt-get install wget)");
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        if wget {
            let dir = tempfile::tempdir().unwrap();
            let before = site.counts();
            let mut cmd = Command::new("wget");
            cmd.args(["--recursive", "--level=inf", "--page-requisites", "--no-verbose", "-e", "robots=off"])
                .arg(format!("--warc-file={}", dir.path().join("wget").display()))
                .arg("--directory-prefix")
                .arg(dir.path().join("files"))
                .arg(&url)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("wget.log")).unwrap());
            let u = common::run(&mut cmd);
            let (requests, pages) = site.since(before);
            let row = Row {
                wall: u.wall,
                cpu: u.cpu(),
                rss: u.max_rss,
                requests,
                pages,
                warc: common::files_bytes(dir.path(), ".warc.gz"),
            };
            print_row(round, "wget", &row, &format!("exit {}", u.code));
            theirs.push(row);
        }
        let dir = tempfile::tempdir().unwrap();
        let before = site.counts();
        let c = common::harvestd_crawl(std::slice::from_ref(&url), &["--delay", "0"], dir.path());
        assert_eq!(c.usage.code, 0, "harvestd crawl failed:\n{}", c.tail());
        let (requests, pages) = site.since(before);
        let row =
            Row { wall: c.usage.wall, cpu: c.usage.cpu(), rss: c.usage.max_rss, requests, pages, warc: c.warc_bytes };
        print_row(round, "harvestd", &row, "1 connection per host");
        ours.push(row);
    }
    if theirs.is_empty() {
        return;
    }
    let pps = |rows: &[Row]| median(rows.iter().map(|r| r.pages as f64 / r.wall).collect());
    let cpp = |rows: &[Row]| median(rows.iter().map(|r| r.cpu / r.requests.max(1) as f64).collect());
    let rss = |rows: &[Row]| median(rows.iter().map(|r| r.rss as f64).collect());
    println!(
        "harvestd / wget (medians of {rounds} rounds): pages/s × {:.2}, CPU s per URL × {:.2}, peak RSS × {:.2}",
        pps(&ours) / pps(&theirs),
        cpp(&ours) / cpp(&theirs),
        rss(&ours) / rss(&theirs)
    );
    // Each round runs wget and harvestd back to back: their ratio is the one least moved by a VM
    // whose speed drifts during the run.
    let per_round: Vec<f64> =
        ours.iter().zip(&theirs).map(|(o, t)| (o.pages as f64 / o.wall) / (t.pages as f64 / t.wall)).collect();
    let listed: Vec<String> = per_round.iter().map(|r| format!("× {r:.2}")).collect();
    println!("pages/s per round, harvestd / wget: {} (median × {:.2})", listed.join(", "), median(per_round));
}

fn print_row(round: usize, who: &str, r: &Row, note: &str) {
    println!(
        "round {round} {who:>8}: {:7.1} pages/s, {:7.1} URLs/s, {:6.2} ms CPU per URL ({:.2} s CPU, {:.2} s wall, {} requests, {} pages), peak RSS {:5.1} MiB, WARC {:.1} MB ({note})",
        r.pages as f64 / r.wall,
        r.requests as f64 / r.wall,
        r.cpu / r.requests.max(1) as f64 * 1e3,
        r.cpu,
        r.wall,
        r.requests,
        r.pages,
        common::mib(r.rss),
        r.warc as f64 / 1e6
    );
}
