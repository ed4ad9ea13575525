//! harvestd against `wget --warc-file` on the same single-host generated site, in one run,
//! alternating (wget, harvestd, wget, harvestd, …) so both see the same machine state.
//!
//! The site is one host of [`common::site`] (`HARVESTD_BENCH_PAGES` pages, 1,000; a fifth as
//! many images; a stylesheet with a font and a background; a script; a permissive robots.txt)
//! served from this process. wget runs as
//! `wget --recursive --level=inf --page-requisites --warc-file=… --no-verbose -e robots=off`
//! (one connection, kept alive); harvestd as `harvestd crawl URL --delay 0 --allow-private`
//! with its defaults, one connection per host — the fair comparison. Both are child processes
//! whose CPU time and peak RSS come from `wait4`; requests are counted by the server.
//!
//! Prints a row per run and the ratios of the medians (pages/s, CPU s per page, peak RSS).
//! `HARVESTD_BENCH_ROUNDS` (3) rounds under `cargo bench --bench peer`; a 30-page site and one
//! round without `--bench`. When wget is not installed the wget rows are skipped, said so.

mod common;

use std::process::{Command, Stdio};
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
    warc: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn wget_available() -> bool {
    Command::new("wget")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    common::raise_nofile();
    let pages = common::knob("HARVESTD_BENCH_PAGES", 1_000, 30);
    let spec = SiteSpec { pages, images: pages / 5, page_bytes: 4_000, links: 12 };
    let rounds = common::knob("HARVESTD_BENCH_ROUNDS", 3, 1);
    println!("machine: {}", common::machine());
    let stats = Stats::new(false);
    let addr = server::serve(0, Arc::new(site::host_site(&spec, 0)), stats.clone());
    let url = format!("http://{addr}/");
    println!(
        "site: 1 host, {} pages + {} images + 4 static + robots.txt = {} URLs at {url}",
        spec.pages,
        spec.images,
        spec.urls_per_host()
    );
    let wget = wget_available();
    if !wget {
        println!("wget is not installed: its rows are skipped (apt-get install wget)");
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        if wget {
            let dir = tempfile::tempdir().unwrap();
            let (r0, _) = stats.snapshot();
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
            let requests = stats.snapshot().0 - r0;
            let row = Row {
                wall: u.wall,
                cpu: u.cpu(),
                rss: u.max_rss,
                requests,
                warc: common::files_bytes(dir.path(), ".warc.gz"),
            };
            print_row(round, "wget", &row, spec.pages, &format!("exit {}", u.code));
            theirs.push(row);
        }
        let dir = tempfile::tempdir().unwrap();
        let (r0, _) = stats.snapshot();
        let c = common::harvestd_crawl(std::slice::from_ref(&url), &["--delay", "0"], dir.path());
        assert_eq!(c.usage.code, 0, "harvestd crawl failed:\n{}", c.tail());
        let requests = stats.snapshot().0 - r0;
        let row = Row { wall: c.usage.wall, cpu: c.usage.cpu(), rss: c.usage.max_rss, requests, warc: c.warc_bytes };
        print_row(round, "harvestd", &row, spec.pages, "1 connection per host");
        ours.push(row);
    }
    if theirs.is_empty() {
        return;
    }
    let pps = |rows: &[Row]| median(rows.iter().map(|r| spec.pages as f64 / r.wall).collect());
    let cpp = |rows: &[Row]| median(rows.iter().map(|r| r.cpu / r.requests.max(1) as f64).collect());
    let rss = |rows: &[Row]| median(rows.iter().map(|r| r.rss as f64).collect());
    println!(
        "harvestd / wget (medians of {rounds} rounds): pages/s × {:.2}, CPU s per URL × {:.2}, peak RSS × {:.2}",
        pps(&ours) / pps(&theirs),
        cpp(&ours) / cpp(&theirs),
        rss(&ours) / rss(&theirs)
    );
}

fn print_row(round: usize, who: &str, r: &Row, pages: usize, note: &str) {
    println!(
        "round {round} {who:>8}: {:7.1} pages/s, {:7.1} URLs/s, {:6.2} ms CPU per URL ({:.2} s CPU, {:.2} s wall, {} requests), peak RSS {:5.1} MiB, WARC {:.1} MB ({note})",
        pages as f64 / r.wall,
        r.requests as f64 / r.wall,
        r.cpu / r.requests.max(1) as f64 * 1e3,
        r.cpu,
        r.wall,
        r.requests,
        common::mib(r.rss),
        r.warc as f64 / 1e6
    );
}
