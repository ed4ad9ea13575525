//! The destination policy (DESIGN §Destinations): refused addresses get no connection attempt.

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use harvestd::frontier::{Frontier, Outcome, UrlState};

use crate::support::*;

#[test]
fn loopback_seed_without_allow_private_is_refused_naming_the_switch() {
    let server =
        Server::start("127.0.0.1", Arc::new(|_: &str, _: &[u8]| Reply::raw(http_response(200, "OK", &[], b"hi"))));
    let dir = tempfile::tempdir().unwrap();
    let out = crawl(&[server.url("/")], &dir.path().join("w"), &dir.path().join("s"), &["--delay", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-private"), "{err}");
    assert!(err.contains("loopback"), "{err}");
    assert_eq!(server.conns.load(Ordering::SeqCst), 0, "no connection to a refused seed");
}

#[test]
fn links_and_redirects_to_unspecified_and_metadata_addresses_are_never_connected() {
    // Listeners that would see a connection to 0.0.0.0:P (Linux delivers it to a local listener)
    // or [::]:P (delivered to ::1).
    let zero_listener =
        Server::start("127.0.0.1", Arc::new(|_: &str, _: &[u8]| Reply::raw(http_response(200, "OK", &[], b""))));
    let v6_listener = TcpListener::bind("[::1]:0")
        .ok()
        .map(|l| Server::serve(l, Arc::new(|_: &str, _: &[u8]| Reply::raw(http_response(200, "OK", &[], b"")))));
    let zp = zero_listener.addr.port();
    let v6p = v6_listener.as_ref().map(|s| s.addr.port()).unwrap_or(9);
    let page = format!(
        "<html><body><img src=\"http://0.0.0.0:{zp}/zero.png\"><img src=\"http://[::]:{v6p}/v6.png\">\
         <img src=\"http://169.254.169.254/latest/meta-data/\"><a href=\"/go-metadata\">r</a></body></html>"
    );
    let server = Server::start(
        "127.0.0.1",
        Arc::new(move |path: &str, _: &[u8]| match path {
            "/" => Reply::raw(http_response(200, "OK", &[("Content-Type", "text/html")], page.as_bytes())),
            "/go-metadata" => {
                Reply::raw(http_response(302, "Found", &[("Location", "http://169.254.169.254/latest/user-data")], b""))
            }
            _ => Reply::raw(http_response(404, "Not Found", &[], b"")),
        }),
    );
    // Embeds (E) and redirects (R) may leave the seed's host scope, so these URLs are queued.
    let dir = tempfile::tempdir().unwrap();
    let (warcs, state) = (dir.path().join("w"), dir.path().join("s"));
    let out = crawl(&[server.url("/")], &warcs, &state, &["--delay", "0", "--allow-private"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(zero_listener.conns.load(Ordering::SeqCst), 0, "0.0.0.0 was connected to");
    if let Some(v6) = &v6_listener {
        assert_eq!(v6.conns.load(Ordering::SeqCst), 0, "[::] was connected to");
    }
    // The fetch layer's refusal is recorded on the URLs (their robots.txt is the first fetch tried).
    let store = harvestd::store::Store::open(&state, 1 << 20).unwrap();
    let f = Frontier::open(store, Arc::new(harvestd::clock::SystemClock)).unwrap();
    let refused: Vec<String> = f
        .finished()
        .map(|r| r.unwrap())
        .filter(|(_, fin)| matches!(fin.outcome, Outcome::DestinationRefused(_)))
        .map(|(k, _)| k)
        .collect();
    for want in [
        format!("http://0.0.0.0:{zp}/robots.txt"),
        format!("http://[::]:{v6p}/robots.txt"),
        "http://169.254.169.254/robots.txt".to_string(),
    ] {
        assert!(refused.contains(&want), "{want} not refused; refused: {refused:?}");
    }
    for page in [format!("http://0.0.0.0:{zp}/zero.png"), "http://169.254.169.254/latest/user-data".to_string()] {
        match f.url_record(&page).unwrap().map(|r| r.state) {
            Some(UrlState::Finished(fin)) => {
                assert!(
                    matches!(fin.outcome, Outcome::RobotsPrerequisiteFailed(ref d) if d.contains("refused")),
                    "{page}: {:?}",
                    fin.outcome
                )
            }
            other => panic!("{page}: {other:?}"),
        }
    }
}
