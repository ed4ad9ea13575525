//! CDXJ indexes: the `.cdxj` beside every closed WARC file and `harvestd index` equal what
//! `cdxj-indexer --sort` (1.5.0) prints for the same files; recovery indexes the files it closes;
//! pywb replays from our index alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::support::*;

const PAGE: &str = "<html><head><link rel=stylesheet href=/style.css></head><body>\
    <img src=/img.png><a href=/old>old</a><a href=/missing>gone</a><a href=/broken>broken</a>\
    <p>جيفري يؤكد عدم تزايد أنشطة تنظيم الدولة</p></body></html>";
const ARTICLE: &str = "<html><body><h1>The article</h1><p>Text that gzip can keep as it is.</p></body></html>";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00";

/// A small site: an HTML page, a stylesheet (chunked), an image, a redirect, a 404 and one
/// answer that is not HTTP at all (archived as a `resource` record).
fn small_site(ip: &str) -> Server {
    Server::start(
        ip,
        Arc::new(|path: &str, _: &[u8]| match path {
            "/robots.txt" => Reply::raw(http_response(404, "Not Found", &[], b"")),
            "/" => {
                Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html; charset=utf-8")], PAGE.as_bytes()))
            }
            "/style.css" => {
                let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: text/css\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                r.extend_from_slice(&chunked(b"body { color: black }", 7));
                Reply::raw(r)
            }
            "/img.png" => Reply::raw(http_response(200, "OK", &[("Content-Type", "image/png")], PNG)),
            "/old" => Reply::raw(http_response(301, "Moved Permanently", &[("Location", "/article")], b"")),
            "/article" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], ARTICLE.as_bytes())),
            "/broken" => Reply::raw(&b"SPEAK FRIEND AND ENTER\r\n\r\nnot http at all"[..]),
            _ => Reply::raw(http_response(404, "Not Found", &[("Content-Type", "text/plain")], b"no such page")),
        }),
    )
}

/// `cdxj-indexer --sort FILES…`, as text.
pub(crate) fn cdxj_indexer(files: &[PathBuf]) -> String {
    let out = Command::new(venv_tool("cdxj-indexer")).arg("--sort").args(files).output().expect("running cdxj-indexer");
    assert!(out.status.success(), "cdxj-indexer: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `harvestd index FILES…`: (exit code, stdout, stderr).
fn harvestd_index(files: &[PathBuf]) -> (i32, String, String) {
    let out = harvestd().arg("index").args(files).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The `.cdxj` beside `warc`.
pub(crate) fn cdxj_of(warc: &Path) -> PathBuf {
    let name = warc.file_name().unwrap().to_string_lossy().replace(".warc.gz", ".cdxj");
    warc.with_file_name(name)
}

/// Line-by-line equality with the first difference named.
pub(crate) fn assert_lines_eq(got: &str, want: &str, what: &str) {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "{what}: line {i}");
    }
    assert_eq!(got.lines().count(), want.lines().count(), "{what}: line count");
    assert_eq!(got, want, "{what}");
}

/// Crawls the small site into WARC files of a few KB each (so it rotates); returns the tempdir,
/// the WARC directory and the server.
fn crawl_small_site(ip: &str) -> (tempfile::TempDir, PathBuf, Server) {
    let server = small_site(ip);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "max_file_size = \"2KB\"\nmax_retries = 0\n");
    let out = harvestd().arg("crawl").arg(server.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let warcs = dir.path().join("warcs");
    (dir, warcs, server)
}

#[test]
fn every_closed_warc_has_a_cdxj_equal_to_cdxj_indexers() {
    let (_dir, warcs, server) = crawl_small_site("127.0.0.81");
    let files = warc_files(&warcs);
    assert!(files.len() >= 3, "the crawl rotated its files: {files:?}");
    for f in &files {
        let cdxj = std::fs::read_to_string(cdxj_of(f)).unwrap_or_else(|e| panic!("{}: {e}", cdxj_of(f).display()));
        assert_lines_eq(&cdxj, &cdxj_indexer(std::slice::from_ref(f)), &f.display().to_string());
        assert!(!cdxj.contains(".open"), "the index names the final file name");
    }
    assert!(!std::fs::read_dir(&warcs).unwrap().any(|e| e.unwrap().path().to_string_lossy().ends_with(".tmp")));

    // harvestd index over every file: the merged, sorted index cdxj-indexer prints for them.
    let (code, merged, err) = harvestd_index(&files);
    assert_eq!(code, 0, "{err}");
    assert_lines_eq(&merged, &cdxj_indexer(&files), "harvestd index of all files");
    let names: std::collections::BTreeSet<&str> =
        merged.lines().map(|l| l.rsplit("\"filename\": \"").next().unwrap().trim_end_matches("\"}")).collect();
    assert!(names.len() >= 2, "lines of several files are merged: {names:?}");
    let mut sorted: Vec<&str> = merged.lines().collect();
    sorted.sort();
    assert_eq!(sorted, merged.lines().collect::<Vec<_>>(), "bytewise sorted");

    // What the site served is all there: page, CSS, image, redirect, 404 and the resource record.
    let line = |path: &str| {
        let url = server.url(path);
        merged
            .lines()
            .find(|l| l.contains(&format!("\"url\": \"{url}\"")))
            .unwrap_or_else(|| panic!("no line for {url}"))
    };
    assert!(line("/").contains(r#""mime": "text/html", "status": "200""#));
    assert!(line("/style.css").contains(r#""mime": "text/css""#));
    assert!(line("/img.png").contains(r#""mime": "image/png""#));
    assert!(line("/old").contains(r#""status": "301""#));
    assert!(line("/missing").contains(r#""status": "404""#));
    let broken = line("/broken");
    assert!(broken.contains(r#""mime": "application/octet-stream""#) && !broken.contains("status"), "{broken}");
    assert!(line("/").starts_with("81,0,0,127:"), "SURT key: an IP host reversed too, with its port");
}

#[test]
fn harvestd_index_names_an_unreadable_file_and_prints_the_rest() {
    let (dir, warcs, _server) = crawl_small_site("127.0.0.82");
    let files = warc_files(&warcs);
    // A torn copy of the first file: its last member cut in half.
    let whole = std::fs::read(&files[0]).unwrap();
    let last = harvestd::warc::recover::MemberWalker::open(&files[0]).unwrap().last().unwrap().unwrap();
    let torn = dir.path().join("torn.warc.gz");
    std::fs::write(&torn, &whole[..(last.offset + last.length / 2) as usize]).unwrap();
    let missing = dir.path().join("missing.warc.gz");
    let (code, out, err) = harvestd_index(&[torn.clone(), missing.clone(), files[1].clone()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{} at offset {}", torn.display(), last.offset)), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    // Every record before the tear, and the other file, are still indexed.
    let before_tear: Vec<String> = cdxj_indexer(std::slice::from_ref(&files[0]))
        .lines()
        .filter(|l| !l.contains(&format!("\"offset\": \"{}\"", last.offset)))
        .map(|l| l.replace(&*files[0].file_name().unwrap().to_string_lossy(), "torn.warc.gz"))
        .collect();
    for l in before_tear.iter().map(String::as_str).chain(cdxj_indexer(std::slice::from_ref(&files[1])).lines()) {
        assert!(out.lines().any(|o| o == l), "missing {l}\nin\n{out}");
    }
    let usage = harvestd().arg("index").output().unwrap();
    assert_eq!(usage.status.code(), Some(2), "no files is a usage error");
}

#[test]
fn recovery_indexes_the_open_file_it_closes_and_a_closed_file_left_unindexed() {
    let (_dir, warcs, _server) = crawl_small_site("127.0.0.83");
    let files = warc_files(&warcs);
    let (a, b) = (&files[0], &files[1]);
    let target = tempfile::tempdir().unwrap();
    let wdir = target.path().join("warcs");
    std::fs::create_dir_all(&wdir).unwrap();
    // A file a crash left open (complete captures plus half a member) and a closed one whose
    // index was never written (a crash between its rename and its indexing).
    let open_final = wdir.join("crashed-20260124000000000-00007-h.warc.gz");
    let mut bytes = std::fs::read(a).unwrap();
    let kept = bytes.len();
    bytes.extend_from_slice(&std::fs::read(b).unwrap()[..40]);
    std::fs::write(wdir.join("crashed-20260124000000000-00007-h.warc.gz.open"), &bytes).unwrap();
    let unindexed = wdir.join("crashed-20260124000000000-00006-h.warc.gz");
    std::fs::copy(b, &unindexed).unwrap();

    let server = small_site("127.0.0.84");
    let out =
        crawl(&[server.url("/article")], &wdir, &target.path().join("state"), &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&open_final).unwrap().len() as usize, kept, "cut back to its complete captures");
    for f in [&open_final, &unindexed] {
        let cdxj = std::fs::read_to_string(cdxj_of(f)).unwrap_or_else(|e| panic!("{}: {e}", cdxj_of(f).display()));
        assert_lines_eq(&cdxj, &cdxj_indexer(std::slice::from_ref(f)), &f.display().to_string());
        assert!(!cdxj.contains(".open") && !cdxj.is_empty(), "{cdxj}");
    }
    // The new crawl's own file is indexed too.
    assert!(warc_files(&wdir).iter().all(|f| cdxj_of(f).exists()));
}

#[test]
fn pywb_replays_from_our_index_alone() {
    let (dir, warcs, server) = crawl_small_site("127.0.0.85");
    let (_pywb, port, lines) = pywb_over_our_index(&dir.path().join("pywb"), &warc_files(&warcs));
    let ts = |path: &str| {
        let url = server.url(path);
        let l = lines.iter().find(|l| l.contains(&format!("\"url\": \"{url}\""))).expect("indexed");
        l.split(' ').nth(1).unwrap().to_string()
    };
    let (status, headers, body) = http_get(port, &format!("/coll/{}id_/{}", ts("/"), server.url("/")));
    assert_eq!(status, 200, "{headers:?}");
    assert_eq!(String::from_utf8(body).unwrap(), PAGE, "id_ replay is the page as served");
    let (status, _, body) = http_get(port, &format!("/coll/{}id_/{}", ts("/img.png"), server.url("/img.png")));
    assert_eq!((status, body.as_slice()), (200, PNG));
    let (status, headers, _) = http_get(port, &format!("/coll/{}id_/{}", ts("/old"), server.url("/old")));
    assert_eq!(status, 301, "{headers:?}");
    assert!(header(&headers, "location").unwrap_or("").ends_with("/article"), "{headers:?}");
    // A URL the index does not hold is not found: pywb answers from our index, not its own.
    let (status, _, _) = http_get(port, &format!("/coll/{}id_/{}", ts("/"), server.url("/never-crawled")));
    assert_eq!(status, 404);
}
