//! The frontier at scale, driven through the library (`harvestd::frontier::Frontier` over
//! `harvestd::store::Store`), each step in a child process (this binary again) so its peak RSS
//! (`wait4`) is its own:
//!
//! 1. fill: `HARVESTD_BENCH_URLS` URLs (1,000,000) across `HARVESTD_BENCH_HOSTS` hosts (10,000),
//!    queued with `Frontier::add` in batches of `HARVESTD_BENCH_BATCH` (1,000; a page's outlinks
//!    are one batch in a crawl), with `state_cache` `HARVESTD_BENCH_FILL_CACHE_MB` (8, the
//!    default); prints the time, URLs/s, peak RSS, the RSS after each tenth (does memory grow
//!    with the frontier?) and the state directory's size on disk;
//! 2. resume, once per `cache_capacity` (`state_cache`) of 8 MB, 64 MB and 256 MB: open the state,
//!    return leases, take the first lease (the time a restarted crawl needs before its first
//!    request), then lease, release and finish `HARVESTD_BENCH_LEASES` URLs (100,000) as the
//!    crawler does per URL; prints those times, leases/s and peak RSS.
//!
//! Without `--bench`: 20,000 URLs over 200 hosts, 2,000 leases. `HARVESTD_BENCH_NO_RESUME=1`
//! stops after the fill.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use harvestd::clock::SystemClock;
use harvestd::frontier::{Completion, CrawlUri, Finished, Frontier, NewUri, Next, Outcome, Release};
use harvestd::store::Store;

const MB: u64 = 1_000_000;

/// Resident set size now, from /proc/self/status.
fn rss_now() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|k| k.parse::<u64>().ok())
        .map(|k| k * 1024)
        .unwrap_or(0)
}

fn new_uri(i: usize, hosts: usize) -> NewUri {
    let host = format!("host-{}.example", i % hosts);
    let url = format!("http://{host}/section-{}/article-{i}.html", i % 17);
    NewUri {
        seen_key: url.clone(),
        host,
        uri: CrawlUri {
            url,
            hops: "LL".into(),
            via: Some(format!("http://host-{}.example/", i % hosts)),
            seed: format!("http://host-{}.example/", i % hosts),
            attempts: 0,
            round: 0,
        },
    }
}

/// Child: queue `urls` URLs over `hosts` hosts in `dir`.
fn fill(dir: &Path, urls: usize, hosts: usize, cache: u64, batch: usize) {
    let t = Instant::now();
    let f = Frontier::open(Store::open(dir, cache).unwrap(), Arc::new(SystemClock)).unwrap();
    let mut marks = Vec::new();
    for start in (0..urls).step_by(batch) {
        let uris: Vec<NewUri> = (start..(start + batch).min(urls)).map(|i| new_uri(i, hosts)).collect();
        f.add(&uris).unwrap();
        let done = (start + batch).min(urls);
        if done.is_multiple_of((urls / 10).max(1)) {
            marks.push(format!("{}k: {:.0} MiB", done / 1000, common::mib(rss_now())));
        }
    }
    let added = t.elapsed().as_secs_f64();
    f.store().flush().unwrap();
    println!(
        "  fill: {urls} URLs queued in {added:.1} s = {:.0} URLs/s (flush {:.1} s); queued = {}",
        urls as f64 / added,
        t.elapsed().as_secs_f64() - added,
        f.counts().queued
    );
    println!("  RSS while filling: {}", marks.join(", "));
}

/// Child: reopen, first lease, then `leases` lease/release/finish rounds.
fn resume(dir: &Path, cache: u64, leases: usize) {
    let t = Instant::now();
    let f = Frontier::open(Store::open(dir, cache).unwrap(), Arc::new(SystemClock)).unwrap();
    let opened = t.elapsed().as_secs_f64();
    f.recover_leases().unwrap();
    let mut first = None;
    let t2 = Instant::now();
    let mut n = 0;
    while n < leases {
        let l = match f.next().unwrap() {
            Next::Lease(l) => l,
            other => panic!("expected a lease, got {other:?}"),
        };
        if first.is_none() {
            first = Some(t.elapsed().as_secs_f64());
        }
        f.release_host(&l.host, Release::NOW).unwrap();
        let result = Finished {
            outcome: Outcome::Fetched(200),
            record_id: Some("<urn:uuid:00000000-0000-4000-8000-000000000000>".into()),
            location: None,
            payload_digest: Some("sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
            captured_ms: 0,
            uri: l.uri.clone(),
            tls: None,
        };
        let c = Completion {
            seen_key: &l.seen_key,
            leased: true,
            result,
            outlinks: &[],
            refused: &[],
            extra: vec![],
            records: 3,
            bytes: 5_000,
            retry: None,
        };
        f.finish(c).unwrap();
        n += 1;
    }
    let leasing = t2.elapsed().as_secs_f64();
    println!(
        "  cache {:>4} MB: open {:.3} s, open + first lease {:.3} s; {leases} lease+finish in {leasing:.1} s = {:.0}/s",
        cache / MB,
        opened,
        first.unwrap_or(0.0),
        leases as f64 / leasing
    );
}

fn child(args: &[String]) {
    let dir = Path::new(&args[1]);
    let num = |i: usize| args[i].parse::<u64>().unwrap();
    match args[0].as_str() {
        "fill" => fill(dir, num(2) as usize, num(3) as usize, num(4), num(5) as usize),
        "resume" => resume(dir, num(2), num(3) as usize),
        other => panic!("unknown child step {other}"),
    }
}

/// Runs this binary as a child step; prints its peak RSS.
fn step(args: &[String]) -> common::Usage {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--child").args(args);
    let u = common::run(&mut cmd);
    assert_eq!(u.code, 0, "child step {args:?} failed");
    println!("  ({} peak RSS {:.1} MiB, {:.2} CPU s)", args[0], common::mib(u.max_rss), u.cpu());
    u
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        return child(&args[i + 1..]);
    }
    let urls = common::knob("HARVESTD_BENCH_URLS", 1_000_000, 20_000);
    let hosts = common::knob("HARVESTD_BENCH_HOSTS", 10_000, 200);
    let leases = common::knob("HARVESTD_BENCH_LEASES", 100_000, 2_000);
    println!("machine: {}", common::machine());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let s = state.to_str().unwrap().to_string();
    println!("frontier: {urls} URLs over {hosts} hosts");
    let (cache, batch) = (
        common::knob("HARVESTD_BENCH_FILL_CACHE_MB", 8, 8) as u64 * MB,
        common::knob("HARVESTD_BENCH_BATCH", 1_000, 1_000),
    );
    println!("fill with state_cache {} MB, batches of {batch} URLs", cache / MB);
    step(&["fill".into(), s.clone(), urls.to_string(), hosts.to_string(), cache.to_string(), batch.to_string()]);
    println!("  state on disk: {:.1} MB", common::dir_bytes(&state) as f64 / 1e6);
    // Each cache size resumes from the same filled state (a copy, as leasing changes it).
    let caches =
        if std::env::var("HARVESTD_BENCH_NO_RESUME").is_ok() { vec![] } else { vec![8 * MB, 64 * MB, 256 * MB] };
    for cache in caches {
        let copy = dir.path().join(format!("state-{}", cache / MB));
        copy_dir(&state, &copy);
        step(&["resume".into(), copy.to_str().unwrap().into(), cache.to_string(), leases.to_string()]);
        println!("  state on disk after leasing: {:.1} MB", common::dir_bytes(&copy) as f64 / 1e6);
        std::fs::remove_dir_all(&copy).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
