//! Crawl throughput of the built `harvestd` binary on a generated site served from this process.
//!
//! The site ([`common::site`]): `HARVESTD_BENCH_HOSTS` hosts (8) on 127.77.0.x, each with
//! `HARVESTD_BENCH_PAGES` HTML pages (750) of 2–6 KB with navigation, links and images,
//! `HARVESTD_BENCH_IMAGES` images (150) of 3–30 KB, a stylesheet with a font and a background, a
//! script and a permissive robots.txt. First the server alone is timed with a load test
//! (kept-alive connections fetching every URL), then `harvestd crawl` crawls every host's home
//! page with `--delay 0 --allow-private` (one connection per host, the default), as a child
//! process whose own CPU time and peak RSS come from `wait4`.
//!
//! Prints pages/s and URLs/s, CPU seconds per 1,000 pages and per 1,000 URLs, peak RSS, WARC
//! bytes, and the CPU the server used meanwhile. `cargo bench --bench throughput` runs the full
//! site; without `--bench` (as `cargo test --all-targets` runs it) a two-host site of 40 pages
//! each. Nothing asserts on time; the run fails if the crawl fails or misses URLs.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::server::{self, Stats};
use common::site::{self, SiteSpec};

fn main() {
    common::raise_nofile();
    let hosts = common::knob("HARVESTD_BENCH_HOSTS", 8, 2);
    let spec = SiteSpec {
        pages: common::knob("HARVESTD_BENCH_PAGES", 750, 40),
        images: common::knob("HARVESTD_BENCH_IMAGES", 150, 8),
        page_bytes: 4_000,
        links: 12,
    };
    let rounds = common::knob("HARVESTD_BENCH_ROUNDS", 1, 1);
    println!("machine: {}", common::machine());

    let t = Instant::now();
    let stats = Stats::new(false);
    let sites: Vec<Arc<site::HostSite>> = (0..hosts).map(|h| Arc::new(site::host_site(&spec, h))).collect();
    let addrs: Vec<_> = sites.iter().enumerate().map(|(h, s)| server::serve(h, s.clone(), stats.clone())).collect();
    let page_bytes: usize =
        sites.iter().flat_map(|s| (0..spec.pages).map(move |i| s.responses[&site::page_path(i)].len())).sum();
    let urls = hosts * spec.urls_per_host();
    println!(
        "site: {hosts} hosts × ({} pages + {} images + 4 static + robots.txt) = {} pages, {urls} URLs; HTML pages average {:.1} KB; built in {:.1} s",
        spec.pages,
        spec.images,
        hosts * spec.pages,
        page_bytes as f64 / (hosts * spec.pages) as f64 / 1e3,
        t.elapsed().as_secs_f64()
    );

    // The server alone: two kept-alive connections fetching every URL of a host.
    let targets: Vec<String> = sites[0].responses.keys().cloned().collect();
    let cpu0 = common::self_cpu();
    let (reqs, bytes, secs) = server::load_test(addrs[0], &targets, 2, if common::full_run() { 5 } else { 1 });
    let load_cpu = common::self_cpu() - cpu0;
    println!(
        "server load test: {reqs} requests in {secs:.2} s = {:.0} requests/s, {:.0} MB/s (client and server in this process: {:.2} CPU s)",
        reqs as f64 / secs,
        bytes as f64 / secs / 1e6,
        load_cpu
    );

    for round in 1..=rounds {
        let dir = tempfile::tempdir().unwrap();
        let seeds: Vec<String> = addrs.iter().map(|a| format!("http://{a}/")).collect();
        let (r0, b0) = stats.snapshot();
        let cpu0 = common::self_cpu();
        let c = common::harvestd_crawl(&seeds, &["--delay", "0"], dir.path());
        let server_cpu = common::self_cpu() - cpu0;
        let (r1, b1) = stats.snapshot();
        let u = c.usage;
        assert_eq!(u.code, 0, "harvestd crawl failed:\n{}", c.tail());
        let served = r1 - r0;
        assert!(served as usize >= urls, "the crawl requested {served} URLs of {urls}:\n{}", c.tail());
        let pages = (hosts * spec.pages) as f64;
        println!("round {round}: {}", c.summary);
        println!(
            "  {:.0} pages/s, {:.0} URLs/s ({served} requests, {:.1} MB served, {:.2} s wall)",
            pages / u.wall,
            served as f64 / u.wall,
            (b1 - b0) as f64 / 1e6,
            u.wall
        );
        println!(
            "  CPU {:.2} s (user {:.2}, sys {:.2}) = {:.2} CPU s per 1,000 pages, {:.2} per 1,000 URLs; peak RSS {:.1} MiB",
            u.cpu(),
            u.user,
            u.sys,
            u.cpu() / pages * 1e3,
            u.cpu() / served as f64 * 1e3,
            common::mib(u.max_rss)
        );
        println!(
            "  WARC {:.1} MB on disk ({:.1} MB state); server used {:.2} CPU s ({:.0}% of one core)",
            c.warc_bytes as f64 / 1e6,
            c.state_bytes as f64 / 1e6,
            server_cpu,
            server_cpu / u.wall * 100.0
        );
    }
}
