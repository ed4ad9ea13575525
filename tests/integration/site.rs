//! The fixture site server: serves `tests/fixtures/<dir>` like a small news site would.
//!
//! HTML is gzip-encoded when the request accepts it (the article also chunked), `/old-story` is a
//! 301 to the article, `/missing` and unknown paths are 404s, `{{SECOND}}` in HTML is replaced by
//! the second authority's `host:port`. Connections are kept alive (every response is length-framed
//! or chunked).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::support::{chunked, gzip, http_response, Handler, Reply};

fn keep(bytes: Vec<u8>) -> Reply {
    Reply { bytes, delay: std::time::Duration::ZERO, close: false }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" => "application/javascript",
        "png" => "image/png",
        "jpg" => "image/jpeg",
        "gif" => "image/gif",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The fixture directory `name`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A handler serving `root`, replacing `{{SECOND}}` with `second` in HTML.
pub fn site_handler(root: PathBuf, second: String) -> Handler {
    Arc::new(move |target: &str, raw: &[u8]| {
        let path = target.split('?').next().unwrap_or("/");
        if path == "/old-story" {
            return keep(http_response(
                301,
                "Moved Permanently",
                &[("Location", "/archives/357566"), ("Content-Type", "text/html")],
                b"<a href=\"/archives/357566\">moved</a>",
            ));
        }
        let mut file = root.join(path.trim_start_matches('/'));
        if path.ends_with('/') {
            file = file.join("index.html");
        } else if file.extension().is_none() {
            file.set_extension("html");
        }
        let Ok(mut body) = std::fs::read(&file) else {
            return keep(http_response(
                404,
                "Not Found",
                &[("Content-Type", "text/html")],
                b"<html><body>not found</body></html>",
            ));
        };
        let ctype = content_type(&file);
        if ctype.starts_with("text/html") {
            body = String::from_utf8_lossy(&body).replace("{{SECOND}}", &second).into_bytes();
        }
        let accepts_gzip = String::from_utf8_lossy(raw).to_ascii_lowercase().contains("accept-encoding: gzip");
        if ctype.starts_with("text/html") && accepts_gzip {
            let z = gzip(&body);
            if path == "/archives/357566" {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Encoding: gzip\r\nVary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                .into_bytes();
                out.extend_from_slice(&chunked(&z, 512));
                return keep(out);
            }
            return keep(http_response(
                200,
                "OK",
                &[("Content-Type", ctype), ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")],
                &z,
            ));
        }
        keep(http_response(200, "OK", &[("Content-Type", ctype)], &body))
    })
}
