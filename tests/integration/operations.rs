//! What operators run into: shared WARC directories, unusable WARC directories, write failures,
//! forced stops, relative paths in the configuration.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn two_crawls_share_a_warc_directory_without_touching_each_others_files() {
    let slow = chain_site("127.0.0.21", 12, Duration::from_millis(100));
    let fast = chain_site("127.0.0.22", 5, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let warcs = dir.path().join("warcs");
    let mut a = harvestd()
        .args(["crawl", &slow.url("/p/0"), "--delay", "0", "--allow-private", "--warc-dir"])
        .arg(&warcs)
        .arg("--state-dir")
        .arg(dir.path().join("state-a"))
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while slow.hits().len() < 3 {
        assert!(t.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(10));
    }
    // Crawl B starts while A's file is open in the same directory.
    let out = crawl(&[fast.url("/p/0")], &warcs, &dir.path().join("state-b"), &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("recovered an unclosed WARC file"));
    let status = a.wait().unwrap();
    assert!(status.success(), "crawl A was not disturbed: {status:?}");
    assert!(open_files(&warcs).is_empty());
    let recs = read_warcs(&warcs);
    check_groups(&recs);
    check_digests(&recs);
    let captured = |s: &Server, n: usize| {
        (0..n).all(|i| {
            let u = s.url(&format!("/p/{i}"));
            recs.iter().any(|r| r.get("warc-type") == Some("response") && r.get("warc-target-uri") == Some(u.as_str()))
        })
    };
    assert!(captured(&slow, 12) && captured(&fast, 5), "both crawls complete");
}

#[test]
fn an_unusable_warc_directory_is_an_error_before_any_request() {
    let site = chain_site("127.0.0.23", 2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("afile");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let out = crawl(&[site.url("/p/0")], &not_a_dir, &dir.path().join("s"), &["--delay", "0", "--allow-private"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a directory"), "{err}");
    assert!(site.hits().is_empty(), "nothing fetched: {:?}", site.paths());
}

#[test]
fn a_warc_write_failure_exits_1_and_leaves_only_complete_captures() {
    // Pages of ~100 kB in the WARC each; the state database stays far smaller.
    let site = chain_site_sized("127.0.0.24", 10, Duration::ZERO, 200_000);
    let dir = tempfile::tempdir().unwrap();
    let (warcs, state) = (dir.path().join("w"), dir.path().join("s"));
    let mut cmd = harvestd();
    cmd.args(["crawl", &site.url("/p/0"), "--delay", "0", "--allow-private", "--warc-dir"])
        .arg(&warcs)
        .arg("--state-dir")
        .arg(&state);
    // Files may not grow past 400 kB: a write past it fails with EFBIG (SIGXFSZ ignored). sled
    // hangs on a failed write of its own (seen with a 12 kB limit), so the limit is set where only
    // the WARC file reaches it.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit { rlim_cur: 400_000, rlim_max: 400_000 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stopped early: WARC writing failed"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(open_files(&warcs).is_empty(), "the failed file is closed, cut back to complete captures");
    let recs = read_warcs(&warcs);
    check_groups(&recs);
    check_digests(&recs);
    for f in warc_files(&warcs) {
        warcio_check(&f, &recs).unwrap();
    }
    // Everything the state marks done is in the WARC; the rest is fetched by the next run.
    let done = finished(&state);
    for (url, fin) in &done {
        if let Some(id) = &fin.record_id {
            assert!(
                recs.iter().any(|r| r.get("warc-record-id") == Some(id.as_str())),
                "{url} marked done without its record"
            );
        }
    }
    assert!(done.len() < 11, "the crawl stopped early");
    let out = crawl(&[site.url("/p/0")], &warcs, &state, &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(finished(&state).len(), 11, "resumed to completion (robots.txt and 10 pages)");
}

#[test]
fn a_second_signal_stops_at_once() {
    let site = chain_site("127.0.0.25", 3, Duration::from_secs(20));
    let dir = tempfile::tempdir().unwrap();
    let mut child = harvestd()
        .args(["crawl", &site.url("/p/0"), "--delay", "0", "--allow-private", "--warc-dir"])
        .arg(dir.path().join("w"))
        .arg("--state-dir")
        .arg(dir.path().join("s"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while site.hits().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(10));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the first signal waits for the in-flight fetch");
    let t = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(t.elapsed() < Duration::from_secs(5), "stopped at once");
}

#[test]
fn relative_paths_in_a_config_are_relative_to_the_config_file() {
    let site = chain_site("127.0.0.26", 2, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfgdir = dir.path().join("etc");
    std::fs::create_dir_all(&cfgdir).unwrap();
    let cfg = cfgdir.join("harvestd.toml");
    std::fs::write(
        &cfg,
        format!(
            "warc_dir = \"w\"\nstate_dir = \"s\"\ndelay = \"0s\"\nallow_private = [\"private\"]\n[[seeds]]\nurl = {:?}\n",
            site.url("/p/0")
        ),
    )
    .unwrap();
    let elsewhere = dir.path().join("cwd");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = harvestd()
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--exit-when-done")
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(warc_files(&cfgdir.join("w")).len(), 1);
    assert!(cfgdir.join("s").is_dir());
    assert!(cfgdir.join("logs").join("crawl.log").is_file(), "log_dir is relative to the config too");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written to the working directory");
}

#[test]
fn crawl_limits_end_the_crawl_cleanly_with_their_reason() {
    // max_urls: robots.txt + 5 pages, out of 30; one host, so at most one fetch in flight.
    let site = chain_site("127.0.0.72", 30, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("max_urls = 6\n[[seeds]]\nurl = {:?}\n", site.url("/p/0")));
    let out = harvestd().arg("run").arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "the daemon exits 0 at its limit: {}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("ended by its limit: max_urls = 6 reached"), "{summary}");
    let n = finished(&dir.path().join("state")).len();
    assert!((6..=7).contains(&n), "{n} URLs finished for max_urls = 6 (one may be in flight)");
    assert!(open_files(&dir.path().join("warcs")).is_empty());
    // The limit holds over runs: a restart ends at once without a request.
    let before = site.hits().len();
    let out = harvestd().arg("run").arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_urls = 6 reached"));
    assert_eq!(site.hits().len(), before, "nothing fetched past the limit");

    // max_bytes: each page is about 1.1 kB of records.
    let site = chain_site("127.0.0.73", 30, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("max_bytes = \"5kB\"\n[[seeds]]\nurl = {:?}\n", site.url("/p/0")));
    let out = harvestd().arg("run").arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ended by its limit: max_bytes = 5000 bytes reached"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(site.hits().len() < 10, "{} requests for a 5 kB limit", site.hits().len());

    // max_duration: a slow site is stopped after about a second.
    let site = chain_site("127.0.0.74", 30, Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &format!("max_duration = \"1s\"\n[[seeds]]\nurl = {:?}\n", site.url("/p/0")));
    let t = Instant::now();
    let out = harvestd().arg("run").arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ended by its limit: max_duration = 1s reached"));
    assert!(open_files(&dir.path().join("warcs")).is_empty());
}

#[test]
fn too_little_free_disk_pauses_crawling_until_space_returns() {
    // A floor no file system meets: the crawl waits; the floor lowered (as space freed would): it
    // resumes by itself within a check interval.
    let site = chain_site("127.0.0.76", 3, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "api_listen = \"127.0.0.76:8427\"\nmin_free_disk = \"1000PB\"\n[[seeds]]\nurl = {:?}\n",
            site.url("/p/0")
        ),
    );
    let child =
        harvestd().arg("run").arg("--config").arg(&cfg).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let status = || {
        let out = harvestd().args(["status", "--json", "--config"]).arg(&cfg).output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).ok()
    };
    let t = Instant::now();
    while status().is_none() {
        assert!(t.elapsed() < Duration::from_secs(20), "the daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(site.hits().is_empty(), "no request while the disk is short: {:?}", site.paths());
    assert_eq!(status().unwrap()["state"], "waiting_for_disk");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("\"1000PB\"", "\"1MB\"");
    std::fs::write(&cfg, text).unwrap();
    assert!(harvestd().args(["reload", "--config"]).arg(&cfg).output().unwrap().status.success());
    let t = Instant::now();
    while site.hits().len() < 4 {
        assert!(t.elapsed() < Duration::from_secs(10), "the crawl did not resume: {:?}", site.paths());
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("below min_free_disk: crawling paused"), "{log}");
    assert!(log.contains("back above min_free_disk: crawling resumes"), "{log}");
}

#[test]
fn a_locked_or_unusable_state_directory_exits_3_with_a_clear_message() {
    let site = chain_site("127.0.0.77", 2, Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut first = harvestd()
        .args(["crawl", &site.url("/p/0"), "--allow-private", "--warc-dir"])
        .arg(dir.path().join("w1"))
        .arg("--state-dir")
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while site.hits().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = crawl(&[site.url("/p/0")], &dir.path().join("w2"), &state, &["--allow-private"]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another harvestd process"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // A state directory that is a file: exit 3, no panic.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = crawl(&[site.url("/p/0")], &dir.path().join("w3"), &file, &["--allow-private"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open the state directory"));
}

#[test]
fn crawl_shows_a_progress_line_on_a_terminal_only() {
    let site = chain_site("127.0.0.78", 4, Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_harvestd");
    let args = |d: &str| {
        format!(
            "{bin} crawl {} --delay 0 --allow-private --warc-dir {p}/{d}/w --state-dir {p}/{d}/s --log-dir {p}/{d}/l",
            site.url("/p/0"),
            p = dir.path().display()
        )
    };
    // On a terminal (util-linux `script` gives the command a pseudo-terminal): the progress line.
    let Ok(out) = std::process::Command::new("script").args(["-qec", &args("tty"), "/dev/null"]).output() else {
        panic!("`script` (util-linux) is needed to give the crawl a terminal");
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("pages/s") && screen.contains(" done, "), "{screen}");
    // On a pipe: log lines and the summary, no progress line.
    let out = std::process::Command::new("sh").args(["-c", &args("pipe")]).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("finished") && !err.contains("pages/s"), "{err}");
}
