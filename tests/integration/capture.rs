//! Byte-exact capture: the WARC holds exactly the final response as the server sent it and the
//! request as the crawler sent it (WARC 1.1 §6.3.2), with spec payload digests.

use std::collections::HashMap;
use std::sync::Arc;

use crate::support::*;

const ARTICLE: &str = "<html><body><p>جيفري يؤكد عدم تزايد أنشطة تنظيم الدولة</p></body></html>";

/// (path, bytes the server writes, the final message the record must hold, the payload).
type Case = (&'static str, Vec<u8>, Vec<u8>, Vec<u8>);

fn cases() -> Vec<Case> {
    let z = gzip(ARTICLE.as_bytes());
    let mut chunked_msg = b"HTTP/1.1 200 Okey-Dokey Fine\r\nContent-Type: text/html; charset=utf-8\r\nX-Mixed-CASE: one\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked_msg.extend_from_slice(&chunked(&z, 17));
    let early_final = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    let mut early = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n".to_vec();
    early.extend_from_slice(&early_final);
    let nocontent = b"HTTP/1.1 204 No Content\r\nX-Trace: abc\r\n\r\n".to_vec();
    let overlong = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody".to_vec();
    vec![
        ("/chunked", chunked_msg.clone(), chunked_msg, z),
        ("/early", early, early_final, b"hello".to_vec()),
        ("/nocontent", [&nocontent[..], b"STRAY BYTES AFTER A 204"].concat(), nocontent, vec![]),
        ("/overlong", [&overlong[..], b"EXTRA-BYTES-PAST-THE-LENGTH"].concat(), overlong, b"body".to_vec()),
    ]
}

#[test]
fn records_hold_exactly_the_bytes_on_the_wire() {
    let cases = cases();
    let replies: HashMap<String, Vec<u8>> = cases.iter().map(|(p, sent, _, _)| (p.to_string(), sent.clone())).collect();
    let index = "<html><body><a href=/chunked>1</a><a href=/early>2</a><a href=/nocontent>3</a><a href=/overlong>4</a></body></html>";
    let server = Server::start(
        "127.0.0.1",
        Arc::new(move |path: &str, _raw: &[u8]| match path {
            "/" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], index.as_bytes())),
            "/robots.txt" => Reply::raw(http_response(404, "Not Found", &[], b"")),
            p => Reply::raw(replies.get(p).cloned().unwrap_or_else(|| http_response(404, "Not Found", &[], b""))),
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let (warcs, state) = (dir.path().join("warcs"), dir.path().join("state"));
    let out = crawl(&[server.url("/")], &warcs, &state, &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let recs = read_warcs(&warcs);
    let hits = server.hits();
    for (path, _sent, want_block, want_payload) in &cases {
        let uri = server.url(path);
        let resp = recs
            .iter()
            .find(|r| r.get("warc-type") == Some("response") && r.get("warc-target-uri") == Some(uri.as_str()))
            .unwrap_or_else(|| panic!("no response record for {path}"));
        assert_eq!(
            String::from_utf8_lossy(&resp.block),
            String::from_utf8_lossy(want_block),
            "{path}: the block is the final message as sent"
        );
        assert_eq!(&resp.block, want_block, "{path}: byte-exact");
        assert_eq!(resp.get("warc-payload-digest").unwrap(), sha1_b32(want_payload), "{path}: payload digest");
        assert_eq!(resp.get("warc-block-digest").unwrap(), sha1_b32(want_block), "{path}: block digest");
        assert_eq!(resp.get("warc-ip-address"), Some("127.0.0.1"));
        assert!(resp.get("warc-truncated").is_none(), "{path} is complete");
        let req = recs
            .iter()
            .find(|r| {
                r.get("warc-type") == Some("request") && r.get("warc-concurrent-to") == resp.get("warc-record-id")
            })
            .unwrap_or_else(|| panic!("no request record for {path}"));
        let hit = hits.iter().find(|h| h.path == *path).unwrap();
        assert_eq!(req.block, hit.raw, "{path}: the request record is the bytes the server received");
        assert_eq!(req.get("warc-date"), resp.get("warc-date"), "{path}: one WARC-Date per capture");
        let head = String::from_utf8_lossy(&req.block);
        assert!(head.starts_with(&format!("GET {path} HTTP/1.1\r\n")), "origin-form request line: {head}");
        assert!(head.contains(&format!("\r\nHost: {}\r\n", server.addr)), "{head}");
        assert!(head.contains("\r\nUser-Agent: harvestd/"), "title-case headers: {head}");
        assert!(head.contains("\r\nAccept-Encoding: gzip\r\n"), "{head}");
    }
    let conns: std::collections::HashSet<usize> = hits.iter().map(|h| h.conn).collect();
    assert_eq!(conns.len(), hits.len(), "one connection per exchange (keep-alive comes later)");
    check_digests(&recs);
    check_groups(&recs);
    for f in warc_files(&warcs) {
        warcio_check(&f, &recs).unwrap();
    }
}
