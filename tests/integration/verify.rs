//! `harvestd verify`: a real crawl's WARC passes; the same WARC with one fault put in fails with
//! exit 1 and a line naming the fault at the offset of the member that holds it.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use crate::support::*;

const PAGE: &str = "<html><body><p>جيفري يؤكد عدم تزايد أنشطة تنظيم الدولة</p></body></html>";

/// Crawls a small local site — a plain page, a chunked one, a gzip-encoded one, one both
/// chunked and gzip-encoded, an image — and returns the scratch dir and its one WARC file.
fn crawled() -> (tempfile::TempDir, PathBuf) {
    let server = Server::start(
        "127.0.0.1",
        Arc::new(|path: &str, _: &[u8]| {
            let html = [("Content-Type", "text/html; charset=utf-8")];
            let chunked_reply = |extra: &str, body: &[u8]| {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n{extra}Transfer-Encoding: chunked\r\n\r\n"
                )
                .into_bytes();
                r.extend_from_slice(&chunked(body, 13));
                r
            };
            Reply::raw(match path {
                "/" => http_response(
                    200,
                    "OK",
                    &html,
                    b"<a href=/chunked>1</a><a href=/gz>2</a><a href=/both>3</a><img src=/img.png>",
                ),
                "/chunked" => chunked_reply("", PAGE.as_bytes()),
                "/gz" => http_response(200, "OK", &[html[0], ("Content-Encoding", "gzip")], &gzip(PAGE.as_bytes())),
                "/both" => chunked_reply("Content-Encoding: gzip\r\n", &gzip(PAGE.as_bytes())),
                "/img.png" => {
                    let img: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
                    http_response(200, "OK", &[("Content-Type", "image/png")], &img)
                }
                _ => http_response(404, "Not Found", &[], b""),
            })
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let (warcs, state) = (dir.path().join("warcs"), dir.path().join("state"));
    let out = crawl(&[server.url("/")], &warcs, &state, &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let files = warc_files(&warcs);
    assert_eq!(files.len(), 1, "one WARC file");
    let file = files[0].clone();
    (dir, file)
}

/// Runs `harvestd verify` on `files`.
fn verify(files: &[&Path]) -> Output {
    harvestd().arg("verify").args(files).output().expect("running harvestd verify")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The lines naming a problem (everything but the summary).
fn problem_lines(o: &Output) -> Vec<String> {
    stdout(o).lines().filter(|l| !l.starts_with("harvestd verify:")).map(str::to_string).collect()
}

/// The decompressed records of a file, one per member, with the WARC type and target URI.
struct Members {
    data: Vec<Vec<u8>>,
}

impl Members {
    fn read(file: &Path) -> Members {
        let data = harvestd::warc::recover::MemberWalker::open(file).unwrap().map(|m| m.unwrap().data).collect();
        Members { data }
    }

    /// Index of the first record whose `field` (lower-case name) satisfies `want`.
    fn find(&self, field: &str, want: impl Fn(&str) -> bool) -> usize {
        self.data
            .iter()
            .position(|d| {
                let r = harvestd::warc::recover::parse_record(d).unwrap();
                r.fields.get(field).is_some_and(|v| want(v))
            })
            .unwrap_or_else(|| panic!("no record with a matching {field}"))
    }

    /// Index of the response record for a URL ending in `path`.
    fn response(&self, path: &str) -> usize {
        let i = self.find("warc-target-uri", |u| u.ends_with(path));
        let r = harvestd::warc::recover::parse_record(&self.data[i]).unwrap();
        assert_eq!(r.warc_type, "response", "the first record of {path} is its response");
        i
    }

    /// Rewrites member `i`'s header with `edit` (the block is kept as it is).
    fn edit_header(&mut self, i: usize, edit: impl Fn(&str) -> String) {
        let d = &self.data[i];
        let end = d.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = edit(std::str::from_utf8(&d[..end]).unwrap());
        self.data[i] = [head.as_bytes(), &d[end..]].concat();
    }

    /// The value of `field` (lower-case name) in member `i`.
    fn field(&self, i: usize, field: &str) -> String {
        harvestd::warc::recover::parse_record(&self.data[i]).unwrap().fields[field].clone()
    }

    /// Writes one gzip member per record to `path`; returns each member's offset.
    fn write(&self, path: &Path) -> Vec<u64> {
        let mut out = Vec::new();
        let mut offsets = Vec::new();
        for d in &self.data {
            offsets.push(out.len() as u64);
            out.extend_from_slice(&gzip(d));
        }
        std::fs::write(path, out).unwrap();
        offsets
    }
}

/// Replaces the value of header line `name` in `head`.
fn set_field(head: &str, name: &str, value: &str) -> String {
    let start = head.find(&format!("\r\n{name}: ")).unwrap_or_else(|| panic!("no {name} in {head}")) + 2;
    let end = start + head[start..].find("\r\n").unwrap();
    format!("{}{name}: {value}{}", &head[..start], &head[end..])
}

/// Asserts exit 1 and a line `FILE:OFFSET: error: PREFIX…`.
fn assert_error_at(o: &Output, file: &Path, offset: u64, prefix: &str) {
    let want = format!("{}:{offset}: error: {prefix}", file.display());
    assert_eq!(o.status.code(), Some(1), "exit 1 on an error; stdout:\n{}", stdout(o));
    assert!(
        problem_lines(o).iter().any(|l| l.starts_with(&want)),
        "want a line starting {want:?}; got:\n{}",
        stdout(o)
    );
}

#[test]
fn a_real_crawl_verifies_clean() {
    let (_dir, file) = crawled();
    let o = verify(&[&file]);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert_eq!(problem_lines(&o), Vec::<String>::new(), "no problem lines");
    let records = read_warcs(file.parent().unwrap()).len();
    let summary = stdout(&o).lines().last().unwrap().to_string();
    assert!(
        summary.starts_with(&format!("harvestd verify: 1 files, {records} records, ")),
        "summary counts every record: {summary}"
    );
    assert!(summary.contains(", 0 errors, 0 warnings, ") && summary.ends_with(" MB/s"), "{summary}");
    // The crawl has what makes payload digests differ from block digests.
    let m = Members::read(&file);
    for p in ["/chunked", "/gz", "/both", "/img.png"] {
        m.response(p);
    }
}

#[test]
fn the_fixture_crawl_verifies_clean() {
    let second = Server::start("127.0.0.91", crate::site::site_handler(crate::site::fixture("second"), String::new()));
    let main =
        Server::start("127.0.0.90", crate::site::site_handler(crate::site::fixture("site"), second.addr.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let warcs = dir.path().join("warcs");
    let out = crawl(&[main.url("/")], &warcs, &dir.path().join("state"), &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let files = warc_files(&warcs);
    let o = verify(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(problem_lines(&o), Vec::<String>::new(), "no problem lines");
}

#[test]
fn a_file_cut_mid_member_is_a_truncated_member() {
    let (dir, file) = crawled();
    let m = Members::read(&file);
    let cut = dir.path().join("cut.warc.gz");
    let offsets = m.write(&cut);
    let last = *offsets.last().unwrap();
    let len = std::fs::metadata(&cut).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&cut).unwrap();
    f.set_len(last + (len - last) / 2).unwrap();
    drop(f);
    let o = verify(&[&cut]);
    assert_error_at(&o, &cut, last, "truncated gzip member: the file ends");
    assert_eq!(problem_lines(&o).len(), 1, "only the torn member is wrong:\n{}", stdout(&o));
}

/// A crawl's WARC with one header field of one record changed, and what `harvestd verify` says.
struct Edited {
    _dir: tempfile::TempDir,
    /// The altered file.
    file: PathBuf,
    /// The altered record's member offset in it.
    offset: u64,
    /// The value written.
    value: String,
    out: Output,
}

/// Crawls, sets `field` of the record `pick` chooses to `value(members, index)`, runs verify.
fn verify_edited(pick: impl Fn(&Members) -> usize, field: &str, value: impl Fn(&Members, usize) -> String) -> Edited {
    let (dir, file) = crawled();
    let mut m = Members::read(&file);
    let i = pick(&m);
    let value = value(&m, i);
    m.edit_header(i, |h| set_field(h, field, &value));
    let bad = dir.path().join("bad.warc.gz");
    let offsets = m.write(&bad);
    let out = verify(&[&bad]);
    Edited { _dir: dir, file: bad, offset: offsets[i], value, out }
}

#[test]
fn a_wrong_block_digest_is_named() {
    let e = verify_edited(|m| m.response("/img.png"), "WARC-Block-Digest", |_, _| sha1_b32(b"something else"));
    assert_error_at(&e.out, &e.file, e.offset, &format!("WARC-Block-Digest {} does not match the block", e.value));
}

#[test]
fn a_wrong_payload_digest_is_named() {
    // The digest of the decoded page; the spec payload keeps the content coding.
    let e = verify_edited(|m| m.response("/gz"), "WARC-Payload-Digest", |_, _| sha1_b32(PAGE.as_bytes()));
    assert_error_at(&e.out, &e.file, e.offset, &format!("WARC-Payload-Digest {} does not match the payload", e.value));
    let spec = sha1_b32(&gzip(PAGE.as_bytes()));
    assert!(stdout(&e.out).contains(&format!("hashes to {spec}")), "names the spec value:\n{}", stdout(&e.out));
}

#[test]
fn a_dangling_concurrent_to_is_named() {
    let ghost = "<urn:uuid:00000000-0000-4000-8000-000000000000>";
    let e = verify_edited(|m| m.find("warc-type", |t| t == "request"), "WARC-Concurrent-To", |_, _| ghost.into());
    assert_error_at(
        &e.out,
        &e.file,
        e.offset,
        &format!("WARC-Concurrent-To {ghost} names no record in the files given"),
    );
}

#[test]
fn a_content_length_that_lies_is_a_framing_error() {
    let real = |m: &Members, i| m.field(i, "content-length").parse::<usize>().unwrap();
    let e = verify_edited(|m| m.response("/chunked"), "Content-Length", |m, i| (real(m, i) - 10).to_string());
    let want = format!("Content-Length {} lies: the block is not followed by CRLF CRLF", e.value);
    assert_error_at(&e.out, &e.file, e.offset, &want);
    let real: usize = e.value.parse::<usize>().unwrap() + 10;
    assert!(stdout(&e.out).contains(&format!("suggest a {real}-byte block")), "{}", stdout(&e.out));
}

#[test]
fn a_duplicate_record_id_names_both_places() {
    let (dir, file) = crawled();
    let mut m = Members::read(&file);
    let i = m.response("/img.png");
    let id = m.field(i, "warc-record-id");
    m.data.push(m.data[i].clone());
    let bad = dir.path().join("bad.warc.gz");
    let offsets = m.write(&bad);
    let o = verify(&[&bad]);
    let last = *offsets.last().unwrap();
    let want = format!("duplicate WARC-Record-ID {id}: also at {}:{}", bad.display(), offsets[i]);
    assert_error_at(&o, &bad, last, &want);
}

#[test]
fn a_payload_digest_over_the_chunked_bytes_is_named_as_that_convention() {
    let (dir, file) = crawled();
    let mut m = Members::read(&file);
    let i = m.response("/both");
    let block = harvestd::warc::recover::parse_record(&m.data[i]).unwrap().block;
    let (head, body) = split_http(&block);
    assert!(is_chunked(head));
    let chunked_digest = sha1_b32(body);
    m.edit_header(i, |h| set_field(h, "WARC-Payload-Digest", &chunked_digest));
    let conv = dir.path().join("conv.warc.gz");
    let offsets = m.write(&conv);
    let o = verify(&[&conv]);
    let want = format!(
        "{}:{}: warning: WARC-Payload-Digest {chunked_digest} matches the chunked-bytes convention of warcio",
        conv.display(),
        offsets[i]
    );
    assert!(problem_lines(&o).iter().any(|l| l.starts_with(&want)), "want {want:?}; got:\n{}", stdout(&o));
    assert!(stdout(&o).contains(&sha1_b32(&dechunk(body))), "names the spec value:\n{}", stdout(&o));
    // A warning, by decision (module doc of warc::verify): the record is intact.
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(problem_lines(&o).len(), 1, "{}", stdout(&o));
}
