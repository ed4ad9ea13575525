//! Size cap, WARC rotation, `--resolve`, and the daemon command on a configuration file.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::site::{fixture, site_handler};
use crate::support::*;

#[test]
fn size_cap_keeps_a_prefix_marked_truncated_length() {
    let body: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let sent = http_response(200, "OK", &[("Content-Type", "application/octet-stream")], &body);
    let sent2 = sent.clone();
    let server = Server::start(
        "127.0.0.1",
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/big.bin" => Reply::raw(sent2.clone()),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "max_record_size = \"10KB\"\n");
    let out = harvestd().arg("crawl").arg(server.url("/big.bin")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let recs = read_warcs(&dir.path().join("warcs"));
    let resp = recs
        .iter()
        .find(|r| {
            r.get("warc-type") == Some("response") && r.get("warc-target-uri") == Some(server.url("/big.bin").as_str())
        })
        .expect("the truncated response is archived");
    assert_eq!(resp.get("warc-truncated"), Some("length"));
    assert_eq!(resp.block.len(), 10_000, "cut at max_record_size");
    assert_eq!(&resp.block[..], &sent[..10_000], "a prefix of what was sent");
    let (_, partial) = split_http(&resp.block);
    assert_eq!(resp.get("warc-payload-digest").unwrap(), sha1_b32(partial));
    check_digests(&recs);
    for f in warc_files(&dir.path().join("warcs")) {
        warcio_check(&f, &recs).unwrap();
    }
}

#[test]
fn warc_files_rotate_at_max_file_size_with_warcinfo_first() {
    let second = Server::start("127.0.0.3", site_handler(fixture("second"), String::new()));
    let main = Server::start("127.0.0.1", site_handler(fixture("site"), second.addr.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "max_file_size = \"3KB\"\nwarc_prefix = \"rot\"\n");
    let out = harvestd().arg("crawl").arg(main.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let warcs = dir.path().join("warcs");
    let files = warc_files(&warcs);
    assert!(files.len() >= 4, "rotation happened: {files:?}");
    let recs = read_warcs(&warcs);
    let mut serials = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        serials.push(harvestd::warc::writer::serial_of(&name, "rot").expect("IIPC name"));
        let first = recs.iter().find(|r| &r.file == f).unwrap();
        assert_eq!(first.get("warc-type"), Some("warcinfo"), "{name}");
        assert_eq!(first.get("warc-filename"), Some(name.as_str()), "warcinfo names the final file");
        let info = String::from_utf8_lossy(&first.block);
        assert!(info.contains("software: harvestd/") && info.contains("format: WARC File Format 1.1"), "{info}");
        // Every other record of the file points at this file's warcinfo.
        for r in recs.iter().filter(|r| &r.file == f).skip(1) {
            assert_eq!(r.get("warc-warcinfo-id"), first.get("warc-record-id"));
        }
    }
    let want: Vec<u64> = (1..=files.len() as u64).collect();
    assert_eq!(serials, want, "serials 1, 2, 3, … in name order");
    check_groups(&recs);
    check_digests(&recs);
    assert_eq!(recs.iter().filter(|r| r.get("warc-type") == Some("response")).count(), 17);
}

#[test]
fn resolve_override_connects_to_the_given_address_with_the_named_host() {
    let server = Server::start(
        "127.0.0.1",
        Arc::new(|path: &str, _: &[u8]| match path {
            "/" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/plain")], b"resolved")),
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    );
    let port = server.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://archive-fixture.test:{port}/");
    let out = crawl(
        std::slice::from_ref(&url),
        &dir.path().join("w"),
        &dir.path().join("s"),
        &["--delay", "0", "--allow-private", "--resolve", &format!("archive-fixture.test:{port}:127.0.0.1")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hit = server.hits().into_iter().find(|h| h.path == "/").expect("fetched through the override");
    assert!(String::from_utf8_lossy(&hit.raw).contains(&format!("\r\nHost: archive-fixture.test:{port}\r\n")));
    let recs = read_warcs(&dir.path().join("w"));
    let r = recs.iter().find(|r| r.get("warc-target-uri") == Some(url.as_str())).unwrap();
    assert_eq!(r.get("warc-ip-address"), Some("127.0.0.1"));
}

#[test]
fn run_crawls_the_config_seeds_then_idles_until_sigterm() {
    let main = Server::start("127.0.0.1", site_handler(fixture("site"), "127.0.0.9:9".into()));
    let dir = tempfile::tempdir().unwrap();
    // The article embeds an image on 127.0.0.9:9, where nothing listens: its robots.txt is not
    // retried here, so the crawl has a definite end.
    let cfg = write_config(
        dir.path(),
        &format!("robots_retry_for = \"0s\"\n[[seeds]]\nurl = {:?}\n", main.url("/archives/related-1")),
    );
    let mut child =
        harvestd().arg("run").arg("--config").arg(&cfg).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    // related-1 links to the article, which links on: wait for the article's images.
    let t = Instant::now();
    while !main.paths().iter().any(|p| p == "/images/jeffrey-960.jpg") {
        assert!(t.elapsed() < Duration::from_secs(30), "the daemon did not crawl its seeds: {:?}", main.paths());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the daemon stays up when the frontier is empty");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "SIGTERM ends the daemon cleanly: {:?}", out.status);
    let warcs = dir.path().join("warcs");
    assert!(open_files(&warcs).is_empty());
    let recs = read_warcs(&warcs);
    assert!(recs.iter().any(|r| r.get("warc-target-uri") == Some(main.url("/archives/357566").as_str())));

    // --exit-when-done on the same state: nothing left to do, exits at once, fetches nothing again.
    let before = main.paths().len();
    let out = harvestd().arg("run").arg("--config").arg(&cfg).arg("--exit-when-done").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(main.paths().len(), before, "a finished crawl is not fetched again");
}
