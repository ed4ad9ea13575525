//! WACZ packages: `wacz validate` accepts them, and we check what it does not: WARCs stored
//! uncompressed, every file listed with its SHA-256 and size, the pages header and page choice,
//! the index equal to cdxj-indexer's, and self-containment (originals of revisits included).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::site::{fixture, site_handler};
use crate::support::*;

/// Every entry of a ZIP file: name → (compression method, bytes).
fn entries(path: &Path) -> HashMap<String, (zip::CompressionMethod, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = HashMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.insert(f.name().unwrap().to_string(), (f.compression(), data));
    }
    out
}

fn sha256_hex(data: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

fn wacz_validate(path: &Path) {
    let out = Command::new(venv_tool("wacz")).args(["validate", "-f"]).arg(path).output().expect("running wacz");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("Validation succeeded"), "wacz validate: {text}");
}

/// Checks what `wacz validate` does not; returns the entries.
fn check_package(path: &Path) -> HashMap<String, (zip::CompressionMethod, Vec<u8>)> {
    wacz_validate(path);
    let e = entries(path);
    // Every entry stored (WARCs must be; we store everything).
    for (name, (method, _)) in &e {
        assert_eq!(*method, zip::CompressionMethod::Stored, "{name} is stored, not deflated");
    }
    // datapackage.json lists every other file with its hash and size; the digest file matches it.
    let package: serde_json::Value = serde_json::from_slice(&e["datapackage.json"].1).unwrap();
    assert_eq!(package["profile"], "data-package");
    assert_eq!(package["wacz_version"], "1.1.1");
    let resources = package["resources"].as_array().unwrap();
    let listed: Vec<&str> = resources.iter().map(|r| r["path"].as_str().unwrap()).collect();
    let mut files: Vec<&str> = e
        .keys()
        .map(String::as_str)
        .filter(|n| !matches!(*n, "datapackage.json" | "datapackage-digest.json"))
        .collect();
    files.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, files, "every file listed, nothing else");
    for r in resources {
        let data = &e[r["path"].as_str().unwrap()].1;
        assert_eq!(r["hash"].as_str().unwrap(), format!("sha256:{}", sha256_hex(data)), "{}", r["path"]);
        assert_eq!(r["bytes"].as_u64().unwrap(), data.len() as u64, "{}", r["path"]);
    }
    let digest: serde_json::Value = serde_json::from_slice(&e["datapackage-digest.json"].1).unwrap();
    assert_eq!(digest["path"], "datapackage.json");
    assert_eq!(digest["hash"].as_str().unwrap(), format!("sha256:{}", sha256_hex(&e["datapackage.json"].1)));
    // The pages header.
    let pages = String::from_utf8(e["pages/pages.jsonl"].1.clone()).unwrap();
    let header: serde_json::Value = serde_json::from_str(pages.lines().next().unwrap()).unwrap();
    assert_eq!((header["format"].as_str(), header["id"].as_str()), (Some("json-pages-1.0"), Some("pages")));
    assert!(header["title"].is_string());
    // The index equals cdxj-indexer's over the packaged WARCs (extracted under their names).
    let tmp = tempfile::tempdir().unwrap();
    let mut warcs: Vec<PathBuf> = Vec::new();
    for (name, (_, data)) in &e {
        if let Some(base) = name.strip_prefix("archive/") {
            let p = tmp.path().join(base);
            std::fs::write(&p, data).unwrap();
            warcs.push(p);
        }
    }
    warcs.sort();
    let out = Command::new(venv_tool("cdxj-indexer")).arg("--sort").args(&warcs).output().unwrap();
    assert!(out.status.success(), "cdxj-indexer: {}", String::from_utf8_lossy(&out.stderr));
    let ours = String::from_utf8(e["indexes/index.cdxj"].1.clone()).unwrap();
    let theirs = String::from_utf8(out.stdout).unwrap();
    for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        assert_eq!(a, b, "index line {i}");
    }
    assert_eq!(ours, theirs);
    e
}

fn page_urls(e: &HashMap<String, (zip::CompressionMethod, Vec<u8>)>) -> Vec<String> {
    String::from_utf8(e["pages/pages.jsonl"].1.clone())
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["ts"].is_string(), "{l}");
            v["url"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_finished_crawl_is_packaged_and_the_package_checks_out() {
    let second = Server::start("127.0.0.81", site_handler(fixture("second"), String::new()));
    let main = Server::start("127.0.0.80", site_handler(fixture("site"), second.addr.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "package_wacz = true\ncrawl_name = \"fixture crawl\"\n");
    let out = harvestd().arg("crawl").arg(main.url("/")).arg("--config").arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("packaged as "), "the summary names the package: {stderr}");
    let warcs = dir.path().join("warcs");
    let packages: Vec<PathBuf> = std::fs::read_dir(&warcs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wacz"))
        .collect();
    assert_eq!(packages.len(), 1, "{packages:?}");
    let e = check_package(&packages[0]);
    let archived: Vec<&String> = e.keys().filter(|k| k.starts_with("archive/")).collect();
    assert_eq!(archived.len(), warc_files(&warcs).len(), "every WARC file of the crawl");
    // Pages: the seed and the pages it links to, not its images, stylesheet or robots.txt.
    let pages = page_urls(&e);
    assert!(pages.contains(&main.url("/")), "{pages:?}");
    assert!(pages.contains(&main.url("/archives/357566")), "{pages:?}");
    assert!(pages.iter().all(|p| !p.ends_with(".png") && !p.ends_with(".css") && !p.ends_with("robots.txt")));
    let package: serde_json::Value = serde_json::from_slice(&e["datapackage.json"].1).unwrap();
    assert_eq!(package["title"], "fixture crawl");
}

#[test]
fn a_package_of_a_revisit_takes_in_the_warc_holding_its_original_or_refuses() {
    let site = crate::revisit::twin_site("127.0.0.82");
    let dir = tempfile::tempdir().unwrap();
    // One capture per file (rotation at 1 KB), a second between requests so /a's digest is
    // committed before /b is fetched.
    let cfg = write_config(dir.path(), "max_file_size = \"1KB\"\ndelay = \"1s\"\n");
    let out = harvestd().arg("crawl").arg(site.url("/")).arg("--config").arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let warcs = dir.path().join("warcs");
    let recs = read_warcs(&warcs);
    let b = recs
        .iter()
        .find(|r| r.get("warc-type") == Some("revisit") && r.get("warc-target-uri") == Some(site.url("/b").as_str()))
        .expect("/b is a revisit");
    let a =
        recs.iter().find(|r| r.get("warc-record-id") == b.get("warc-refers-to")).expect("its original is in the crawl");
    assert_ne!(a.file, b.file, "original and revisit in different files");

    let pkg = dir.path().join("b.wacz");
    let out = harvestd().arg("wacz").arg("-o").arg(&pkg).arg(&b.file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 WARC file(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let e = check_package(&pkg);
    let a_name = format!("archive/{}", a.file.file_name().unwrap().to_string_lossy());
    assert!(e.contains_key(&a_name), "the original's WARC is in the package");
    assert_eq!(page_urls(&e), vec![site.url("/b")], "pages of the file given, not of the file added");

    // Two files with one name cannot both be archive/NAME: refused, nothing left behind.
    let copy_dir = dir.path().join("copy");
    std::fs::create_dir_all(&copy_dir).unwrap();
    let copy = copy_dir.join(b.file.file_name().unwrap());
    std::fs::copy(&b.file, &copy).unwrap();
    let pkg3 = dir.path().join("dup.wacz");
    let out = harvestd().arg("wacz").arg("-o").arg(&pkg3).arg(&b.file).arg(&copy).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("two files named"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!pkg3.exists() && !dir.path().join("dup.wacz.tmp").exists());

    // Without the original's file anywhere, packaging refuses rather than ship a dangling revisit.
    let away = dir.path().join("elsewhere");
    std::fs::create_dir_all(&away).unwrap();
    std::fs::rename(&a.file, away.join(a.file.file_name().unwrap())).unwrap();
    let pkg2 = dir.path().join("b2.wacz");
    let out = harvestd().arg("wacz").arg("-o").arg(&pkg2).arg(&b.file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not be self-contained") && stderr.contains(b.get("warc-refers-to").unwrap()), "{stderr}");
    assert!(!pkg2.exists());
}
