//! WACZ packages (Web Archive Collection Zipped, WACZ 1.1.1): WARC files, their CDXJ index and a
//! page list in one ZIP file that ReplayWeb.page opens directly.
//!
//! Layout (WACZ 1.1.1 §3): `archive/NAME.warc.gz` (ZIP method *stored*, never deflated, so a
//! replay tool can read a record by its offset), `indexes/index.cdxj` (the merged, bytewise sorted
//! CDXJ of [`super::cdxj`]), `pages/pages.jsonl` (a header line `{"format": "json-pages-1.0",
//! "id": "pages", "title": …}`, then one line per page), `datapackage.json` (Frictionless data
//! package: `profile: data-package`, `wacz_version: 1.1.1`, every file's `path`, `hash`
//! (`sha256:` + hex) and `bytes`) and `datapackage-digest.json` (the SHA-256 of
//! `datapackage.json`). Every entry is stored.
//!
//! Pages are the HTML captures (`response` or `revisit`, status 200, `text/html` or
//! `application/xhtml+xml`) reached from a seed, a link or a sitemap: the hop path in the capture's
//! `metadata` record (`hopsFromSeed`), trailing redirects set aside, is empty or ends in `L` or `M`.
//! A capture without a metadata record (`metadata_records = false`) counts as a page when it is
//! HTML.
//!
//! A package is self-contained: every revisit's `WARC-Refers-To` must name a record inside it.
//! Files holding the originals are looked for among the other WARC files of the given files'
//! directories and added; a revisit whose original cannot be found is an error.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::cdxj::{index_file, sort_lines};
use super::recover::{parse_record, MemberWalker};
use super::writer::sync_dir;
use crate::fetch::framer::frame_response;

/// The WACZ version written.
pub const WACZ_VERSION: &str = "1.1.1";

/// Why a package could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WaczError {
    /// A WARC file could not be read or indexed.
    #[error("{0}")]
    Warc(String),
    /// Revisits cite records found in none of the files (nor in their directories).
    #[error("the package would not be self-contained: {0}")]
    MissingOriginals(String),
    /// Writing the package failed.
    #[error("writing {path}: {cause}")]
    Write {
        /// The package path.
        path: String,
        /// The error.
        cause: String,
    },
}

/// What was packaged.
#[derive(Debug, Clone)]
pub struct WaczSummary {
    /// The WARC files in the package, in order (given ones first, then originals found beside them).
    pub warcs: Vec<PathBuf>,
    /// Lines of `pages/pages.jsonl` after its header.
    pub pages: usize,
    /// Lines of `indexes/index.cdxj`.
    pub index_lines: usize,
    /// Size of the package, bytes.
    pub bytes: u64,
}

/// What one WARC file holds that packaging needs.
#[derive(Debug, Default)]
struct Scan {
    ids: HashSet<String>,
    /// Revisits' (Refers-To, where the revisit is).
    refers: Vec<(String, String)>,
    /// HTML captures: record ID → (URL, WARC-Date).
    html: Vec<(String, String, String)>,
    /// Metadata: concurrent-to → hop path.
    hops: HashMap<String, String>,
}

fn scan(path: &Path) -> Result<Scan, WaczError> {
    let mut s = Scan::default();
    let mut magic = [0u8; 2];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| WaczError::Warc(format!("{}: {e}", path.display())))?;
    if magic != [0x1f, 0x8b] {
        return Err(WaczError::Warc(format!(
            "{}: not gzip-compressed; only .warc.gz files (a gzip member per record) are packaged",
            path.display()
        )));
    }
    let walker = MemberWalker::open(path).map_err(|e| WaczError::Warc(format!("{}: {e}", path.display())))?;
    for m in walker {
        let m = m.map_err(|e| WaczError::Warc(format!("{}: {e}", path.display())))?;
        let r = parse_record(&m.data)
            .map_err(|e| WaczError::Warc(format!("{}: member at offset {}: {e}", path.display(), m.offset)))?;
        s.ids.insert(r.record_id.clone());
        match r.warc_type.as_str() {
            "revisit" => {
                if let Some(to) = r.fields.get("warc-refers-to") {
                    s.refers.push((to.clone(), format!("{}:{}", path.display(), m.offset)));
                }
            }
            "metadata" => {
                if let Some(to) = &r.concurrent_to {
                    let text = String::from_utf8_lossy(&r.block);
                    if let Some(h) = text.lines().find_map(|l| l.strip_prefix("hopsFromSeed:")) {
                        s.hops.insert(to.clone(), h.trim().to_string());
                    }
                }
            }
            _ => {}
        }
        if matches!(r.warc_type.as_str(), "response" | "revisit") && is_html_200(&r.block) {
            let (Some(url), Some(date)) = (r.target_uri.clone(), r.fields.get("warc-date").cloned()) else {
                continue;
            };
            s.html.push((r.record_id, url, date));
        }
    }
    Ok(s)
}

/// Whether a `response` block (or a revisit's head) is a 200 HTML page with a body: a response
/// must carry some payload; a revisit's head announces one (its body is the original's).
fn is_html_200(block: &[u8]) -> bool {
    let Ok(f) = frame_response(block, false, true) else { return false };
    let ct = f.header("content-type").unwrap_or_default().to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or("").trim().to_string();
    let empty = f.payload.iter().all(|r| r.is_empty()) && f.header("content-length").as_deref() == Some("0");
    f.status == 200 && (mime == "text/html" || mime == "application/xhtml+xml") && !empty
}

/// Whether a hop path makes a page: once trailing redirects (`R`) are set aside, a seed (empty), a
/// link (`L`) or a sitemap entry (`M`); not an embed (`E`) or a prerequisite (`P`).
fn is_page_hops(hops: &str) -> bool {
    let h = hops.trim_end_matches('R');
    h.is_empty() || h.ends_with('L') || h.ends_with('M')
}

/// The other WARC files in the directories of `given`, sorted.
fn siblings(given: &[PathBuf]) -> Vec<PathBuf> {
    let have: HashSet<PathBuf> = given.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let dirs: HashSet<PathBuf> = given
        .iter()
        .map(|p| p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf())
        .collect();
    let mut out: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()))
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".warc.gz") || n.ends_with(".warc")
        })
        .filter(|p| p.canonicalize().map(|c| !have.contains(&c)).unwrap_or(false))
        .collect();
    out.sort();
    out
}

/// Writes the WACZ package `output` from `warcs` (see the module doc). The package is written to
/// `output` + `.tmp`, fsynced and renamed, so a crash never leaves a half package under its name.
pub fn write_wacz(output: &Path, warcs: &[PathBuf], title: &str) -> Result<WaczSummary, WaczError> {
    // 1. Scan the given files; add files holding the originals of revisits until none is missing.
    let mut files: Vec<PathBuf> = Vec::new();
    let mut scans: Vec<Scan> = Vec::new();
    let mut names = HashSet::new();
    for w in warcs {
        let name = w.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        if name.ends_with(".open") {
            return Err(WaczError::Warc(format!(
                "{}: a WARC file still being written (or left by a crash: the next start recovers it)",
                w.display()
            )));
        }
        let same = |p: &PathBuf| p.canonicalize().ok() == w.canonicalize().ok();
        if files.iter().any(same) {
            continue; // given twice
        }
        if !names.insert(name.clone()) {
            return Err(WaczError::Warc(format!(
                "two files named {name} (archive/ holds one file per name; every index line names its file)"
            )));
        }
        scans.push(scan(w)?);
        files.push(w.clone());
    }
    let given = files.len();
    let missing = |scans: &[Scan]| -> Vec<(String, String)> {
        let ids: HashSet<&String> = scans.iter().flat_map(|s| s.ids.iter()).collect();
        scans.iter().flat_map(|s| s.refers.iter()).filter(|(to, _)| !ids.contains(to)).cloned().collect()
    };
    let mut todo = missing(&scans);
    if !todo.is_empty() {
        for sib in siblings(&files) {
            if todo.is_empty() {
                break;
            }
            let name = sib.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if names.contains(&name) {
                continue;
            }
            let s = scan(&sib)?;
            if todo.iter().any(|(to, _)| s.ids.contains(to)) {
                names.insert(name);
                tracing::info!(file = %sib.display(), "added to the package: it holds originals its revisits cite");
                scans.push(s);
                files.push(sib);
                todo = missing(&scans);
            }
        }
    }
    if !todo.is_empty() {
        let list: Vec<String> = todo.iter().take(5).map(|(to, at)| format!("{at} cites {to}")).collect();
        return Err(WaczError::MissingOriginals(format!(
            "{} revisit(s) cite records in none of the files ({}{})",
            todo.len(),
            list.join("; "),
            if todo.len() > 5 { "; …" } else { "" }
        )));
    }
    // 2. The merged index.
    let mut lines = Vec::new();
    for f in &files {
        let idx = index_file(f);
        if let Some(e) = idx.error {
            return Err(WaczError::Warc(e.to_string()));
        }
        lines.extend(idx.lines);
    }
    sort_lines(&mut lines);
    let index: Vec<u8> = lines.concat().into_bytes();
    // 3. Pages: those of the files given (not of the files added for their originals).
    let mut pages = vec![json!({"format": "json-pages-1.0", "id": "pages", "title": title}).to_string()];
    let mut seen_pages = HashSet::new();
    for s in &scans[..given] {
        for (id, url, date) in &s.html {
            let page = s.hops.get(id).map(|h| is_page_hops(h)).unwrap_or(true);
            if page && seen_pages.insert((url.clone(), date.clone())) {
                pages.push(
                    json!({"id": id.trim_start_matches("<urn:uuid:").trim_end_matches('>'), "url": url, "ts": date})
                        .to_string(),
                );
            }
        }
    }
    let page_count = pages.len() - 1;
    let pages_bytes = (pages.join("\n") + "\n").into_bytes();
    // 4. The ZIP.
    let tmp = PathBuf::from(format!("{}.tmp", output.display()));
    let result = write_zip(&tmp, output, &files, &pages_bytes, &index, title, &pages);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    Ok(WaczSummary { warcs: files, pages: page_count, index_lines: lines.len(), bytes })
}

/// Writes the ZIP to `tmp`, fsyncs it and renames it to `output`.
fn write_zip(
    tmp: &Path,
    output: &Path,
    files: &[PathBuf],
    pages_bytes: &[u8],
    index: &[u8],
    title: &str,
    pages: &[String],
) -> Result<(), WaczError> {
    let werr = |e: String| WaczError::Write { path: output.display().to_string(), cause: e };
    let file = File::create(tmp).map_err(|e| werr(e.to_string()))?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(file));
    let mut resources = Vec::new();
    let now = chrono::Utc::now();
    let mtime = {
        use chrono::{Datelike, Timelike};
        zip::DateTime::from_date_and_time(
            now.year() as u16,
            now.month() as u8,
            now.day() as u8,
            now.hour() as u8,
            now.minute() as u8,
            now.second() as u8,
        )
        .unwrap_or_default()
    };
    let stored = |size: u64| {
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(mtime)
            .large_file(size >= u32::MAX as u64)
    };
    let mut add = |zip: &mut zip::ZipWriter<BufWriter<File>>, path: String, data: &mut dyn Read, size: u64| {
        zip.start_file(path.as_str(), stored(size)).map_err(|e| werr(e.to_string()))?;
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 1 << 16];
        let mut n_total = 0u64;
        loop {
            let n = data.read(&mut buf).map_err(|e| werr(e.to_string()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            zip.write_all(&buf[..n]).map_err(|e| werr(e.to_string()))?;
            n_total += n as u64;
        }
        let name = path.rsplit('/').next().unwrap_or(&path).to_ascii_lowercase();
        resources.push(json!({
            "name": name,
            "path": path,
            "hash": format!("sha256:{}", data_encoding::HEXLOWER.encode(h.finish().as_ref())),
            "bytes": n_total,
        }));
        Ok::<(), WaczError>(())
    };
    add(&mut zip, "pages/pages.jsonl".into(), &mut &pages_bytes[..], pages_bytes.len() as u64)?;
    add(&mut zip, "indexes/index.cdxj".into(), &mut &index[..], index.len() as u64)?;
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut r = File::open(f).map_err(|e| WaczError::Warc(format!("{}: {e}", f.display())))?;
        let size = r.metadata().map(|m| m.len()).unwrap_or(0);
        add(&mut zip, format!("archive/{name}"), &mut r, size)?;
    }
    let mut package = json!({
        "profile": "data-package",
        "resources": resources,
        "wacz_version": WACZ_VERSION,
        "title": title,
        "software": format!("harvestd/{}", env!("CARGO_PKG_VERSION")),
        "created": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    });
    if let Some(first) = pages.get(1).and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok()) {
        package["mainPageUrl"] = first["url"].clone();
        package["mainPageDate"] = first["ts"].clone();
    }
    let package = serde_json::to_vec_pretty(&package).expect("JSON");
    let digest = json!({
        "path": "datapackage.json",
        "hash": format!("sha256:{}", data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, &package).as_ref())),
    });
    let digest = serde_json::to_vec_pretty(&digest).expect("JSON");
    for (path, data) in [("datapackage.json", &package), ("datapackage-digest.json", &digest)] {
        zip.start_file(path, stored(data.len() as u64)).map_err(|e| werr(e.to_string()))?;
        zip.write_all(data).map_err(|e| werr(e.to_string()))?;
    }
    let out = zip.finish().map_err(|e| werr(e.to_string()))?;
    let file = out.into_inner().map_err(|e| werr(e.to_string()))?;
    file.sync_all().map_err(|e| werr(e.to_string()))?;
    std::fs::rename(tmp, output).map_err(|e| werr(e.to_string()))?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = sync_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_seeds_their_redirect_targets_and_links() {
        for (hops, page) in [
            ("", true),
            ("R", true),
            ("RR", true),
            ("L", true),
            ("LRL", true),
            ("LR", true),
            ("M", true),
            ("LE", false),
            ("LER", false),
            ("P", false),
        ] {
            assert_eq!(is_page_hops(hops), page, "{hops:?}");
        }
    }

    #[test]
    fn html_200_by_content_type() {
        assert!(is_html_200(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 2\r\n\r\nhi"
        ));
        assert!(is_html_200(b"HTTP/1.1 200 OK\r\nContent-Type: Application/XHTML+xml\r\nContent-Length: 2\r\n\r\nhi"));
        // A revisit's head alone announces the original's body.
        assert!(is_html_200(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\n"));
        assert!(!is_html_200(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n"), "empty");
        assert!(!is_html_200(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 0\r\n\r\n"));
        assert!(!is_html_200(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n"));
    }
}
