//! What the crawl benchmarks share: the generated site ([`site`]), its server ([`server`]), and
//! running a child process with its own resource usage ([`run`]). Each benchmark uses a part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod server;
pub mod site;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Whether this is a full run (`cargo bench` passes `--bench`) or a smoke run (`cargo test
/// --all-targets` runs bench targets without it).
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The harvestd binary cargo built beside this benchmark (release under `cargo bench`, debug under
/// `cargo test`); `HARVESTD_BIN` overrides it.
pub fn harvestd_bin() -> PathBuf {
    std::env::var_os("HARVESTD_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_harvestd")))
}

/// A number from the environment, else `full` on a full run and `smoke` on a smoke run.
pub fn knob(name: &str, full: usize, smoke: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name} must be a number")),
        Err(_) if full_run() => full,
        Err(_) => smoke,
    }
}

/// What a child process used, from `wait4`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Wall-clock seconds from spawn to exit.
    pub wall: f64,
    /// User CPU seconds.
    pub user: f64,
    /// System CPU seconds.
    pub sys: f64,
    /// Peak resident set size, bytes.
    pub max_rss: u64,
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
}

impl Usage {
    /// User + system CPU seconds.
    pub fn cpu(&self) -> f64 {
        self.user + self.sys
    }
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// Runs `cmd` to its end and returns the child's own resource usage (not its siblings').
// The child is reaped by `wait4` below, which std's `wait` cannot replace (it drops the rusage).
#[allow(clippy::zombie_processes)]
pub fn run(cmd: &mut Command) -> Usage {
    let t = Instant::now();
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not yet reaped (std's Child never waits unless asked).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    let wall = t.elapsed().as_secs_f64();
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Usage { wall, user: tv(ru.ru_utime), sys: tv(ru.ru_stime), max_rss: ru.ru_maxrss as u64 * 1024, code }
}

/// CPU seconds this process has used so far (every thread).
pub fn self_cpu() -> f64 {
    // SAFETY: as in `run`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Bytes of the regular files under `dir`, recursively.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Bytes of the files under `dir` whose names end with `suffix`.
pub fn files_bytes(dir: &Path, suffix: &str) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// MiB, for printing.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The machine, for the figures' context: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1048576.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, {mem} RAM, Linux {}", kernel.trim())
}

/// Lets this process open many sockets (a server per host, a connection each).
pub fn raise_nofile() {
    if let Err(e) = rlimit::increase_nofile_limit(65_536) {
        eprintln!("could not raise the open-file limit: {e}");
    }
}

/// One `harvestd crawl` run and what it left.
pub struct CrawlRun {
    /// The child's resource usage.
    pub usage: Usage,
    /// Its summary line (stdout).
    pub summary: String,
    /// Its log (stderr).
    pub log: String,
    /// Bytes of the `.warc.gz` files written.
    pub warc_bytes: u64,
    /// Bytes of the state directory.
    pub state_bytes: u64,
}

impl CrawlRun {
    /// The last lines of the log, for a failure message.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Runs `harvestd crawl SEEDS... --allow-private ARGS...` with its directories under `dir`.
pub fn harvestd_crawl(seeds: &[String], args: &[&str], dir: &Path) -> CrawlRun {
    let (warcs, state) = (dir.join("warcs"), dir.join("state"));
    let (out, err) = (dir.join("stdout.log"), dir.join("stderr.log"));
    let mut cmd = Command::new(harvestd_bin());
    cmd.arg("crawl")
        .args(seeds)
        .arg("--allow-private")
        .args(args)
        .arg("--warc-dir")
        .arg(&warcs)
        .arg("--state-dir")
        .arg(&state)
        .arg("--log-dir")
        .arg(dir.join("logs"))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let usage = run(&mut cmd);
    CrawlRun {
        usage,
        summary: std::fs::read_to_string(&out).unwrap_or_default().trim().to_string(),
        log: std::fs::read_to_string(&err).unwrap_or_default(),
        warc_bytes: files_bytes(&warcs, ".warc.gz"),
        state_bytes: dir_bytes(&state),
    }
}
