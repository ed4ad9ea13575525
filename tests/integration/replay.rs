//! Replay in pywb (the standard replay tool): the fixture's Arabic article and its redirect.

use std::io::Read;

use crate::site::{fixture, site_handler};
use crate::support::*;

#[test]
fn pywb_replays_the_arabic_article_and_the_redirect() {
    let second = Server::start("127.0.0.2", site_handler(fixture("second"), String::new()));
    let main = Server::start("127.0.0.1", site_handler(fixture("site"), second.addr.to_string()));
    let dir = tempfile::tempdir().unwrap();
    let warcs = dir.path().join("warcs");
    let out = crawl(&[main.url("/")], &warcs, &dir.path().join("state"), &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A pywb collection holding our WARCs (indexed by pywb itself).
    let (_pywb, port) = pywb_collection(&dir.path().join("pywb"), &warc_files(&warcs));

    let recs = read_warcs(&warcs);
    let article_url = main.url("/archives/357566");
    let art = recs
        .iter()
        .find(|r| r.get("warc-type") == Some("response") && r.get("warc-target-uri") == Some(article_url.as_str()))
        .unwrap();
    let ts: String = art.get("warc-date").unwrap().chars().filter(|c| c.is_ascii_digit()).take(14).collect();

    // id_ mode: the original response; our client sends no Accept-Encoding, so pywb decodes the
    // gzip content coding (or, if it keeps it, we decode it) and the body is the page as served.
    let (status, headers, body) = http_get(port, &format!("/coll/{ts}id_/{article_url}"));
    assert_eq!(status, 200);
    let body = if header(&headers, "content-encoding") == Some("gzip") {
        let mut d = Vec::new();
        flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut d).unwrap();
        d
    } else {
        body
    };
    let served = std::fs::read_to_string(fixture("site").join("archives/357566.html"))
        .unwrap()
        .replace("{{SECOND}}", &second.addr.to_string());
    assert_eq!(String::from_utf8(body).unwrap(), served, "id_ replay is the article as the server sent it");
    assert!(served.contains("جيفري يؤكد عدم تزايد أنشطة تنظيم"));

    // mp_ mode (rewritten for the replay frame): 200.
    let (status, _, body) = http_get(port, &format!("/coll/{ts}mp_/{article_url}"));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("جيفري"));

    // The 301 replays as a redirect to the article.
    let old = main.url("/old-story");
    let (status, headers, _) = http_get(port, &format!("/coll/{ts}id_/{old}"));
    assert_eq!(status, 301, "{headers:?}");
    assert!(header(&headers, "location").unwrap_or("").ends_with("/archives/357566"), "{headers:?}");
}
