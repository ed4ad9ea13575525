//! URL keys: the frontier's `seen_key`, the CDX index's `cdx_key`, the politeness host key and the
//! robots.txt authority.
//!
//! `seen_key` identifies a URL in the frontier and the seen set (DESIGN §Two URL keys): scheme kept,
//! host lowercased and IDNA-encoded (punycode), default port and fragment dropped, dot segments
//! resolved, percent-encoding normalised (escapes of unreserved characters decoded, other escapes in
//! upper-case hex, RFC 3986 §6.2.2), path case kept. The key's version and options are recorded in
//! the state directory ([`SEEN_KEY_VERSION`]); changing them on an existing state directory is a
//! start-up error, never a silent re-key.
//!
//! [`cdx_key`] is pywb's SURT (scheme dropped, `www` stripped, host reversed, path and query
//! lower-cased, query sorted), a port of the Python `surt` package that cdxj-indexer uses. It keys
//! CDXJ lines only: as a seen key it would make every http→https redirect target look seen.

mod surt;

pub use surt::cdx_key;
use url::Url;

/// Version of the [`seen_key`] algorithm. Bump it whenever the key of any URL could change.
pub const SEEN_KEY_VERSION: u32 = 1;

/// The frontier identity of `url` (see the module doc). `url` must already be parsed by the WHATWG
/// rules (the `url` crate), which lowercases and IDNA-encodes the host, drops a default port and
/// resolves dot segments; this adds fragment removal and percent-encoding normalisation.
pub fn seen_key(url: &Url) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    let path = normalize_percent(u.path());
    u.set_path(&path);
    if let Some(q) = u.query() {
        let q = normalize_percent(q);
        u.set_query(Some(&q));
    }
    u.to_string()
}

/// The politeness key: the host name without port (DESIGN §Politeness). Empty for URLs without a
/// host (they never reach the fetcher).
pub fn host_key(url: &Url) -> String {
    url.host_str().unwrap_or("").to_ascii_lowercase()
}

/// The robots.txt authority, `scheme://host:port` with the port always written (RFC 9309 §2.3: one
/// robots.txt per scheme, host and port).
pub fn authority(url: &Url) -> String {
    format!("{}://{}:{}", url.scheme(), url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

/// The robots.txt URL of `url`'s authority (RFC 9309 §2.3: `/robots.txt` at the top of the origin).
pub fn robots_url(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_path("/robots.txt");
    u.set_query(None);
    u.set_fragment(None);
    u
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `%XX` escapes of unreserved characters and upper-cases the hex of all other escapes
/// (RFC 3986 §6.2.2.1–2). A `%` not followed by two hex digits is kept as it is.
pub fn normalize_percent(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                let v = h * 16 + l;
                if is_unreserved(v) {
                    out.push(v as char);
                } else {
                    out.push('%');
                    out.push(b[i + 1].to_ascii_uppercase() as char);
                    out.push(b[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // Copy one UTF-8 character (the url crate has already escaped non-ASCII, but be safe).
        let ch_len = utf8_len(b[i]);
        out.push_str(&s[i..(i + ch_len).min(s.len())]);
        i += ch_len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! seen_key_cases {
        ($($name:ident: $input:expr => $want:expr,)*) => {$(
            #[test]
            fn $name() {
                let url = Url::parse($input).unwrap();
                assert_eq!(seen_key(&url), $want);
            }
        )*};
    }

    seen_key_cases! {
        keeps_scheme_http: "http://example.com/a" => "http://example.com/a",
        keeps_scheme_https: "https://example.com/a" => "https://example.com/a",
        lowercases_host: "http://EXAMPLE.Com/Path" => "http://example.com/Path",
        idna_host: "http://bücher.example/" => "http://xn--bcher-kva.example/",
        drops_default_http_port: "http://example.com:80/x" => "http://example.com/x",
        drops_default_https_port: "https://example.com:443/x" => "https://example.com/x",
        keeps_other_port: "http://example.com:8080/x" => "http://example.com:8080/x",
        drops_fragment: "http://example.com/a#section" => "http://example.com/a",
        resolves_dot_segments: "http://example.com/a/./b/../c" => "http://example.com/a/c",
        empty_path_is_slash: "http://example.com" => "http://example.com/",
        decodes_unreserved_escape: "http://example.com/%7Euser/%41b" => "http://example.com/~user/Ab",
        uppercases_other_escapes: "http://example.com/a%2fb%3a" => "http://example.com/a%2Fb%3A",
        normalises_query_escapes: "http://example.com/?q=%7e%2f" => "http://example.com/?q=~%2F",
        keeps_path_case: "http://example.com/Archives/ABC" => "http://example.com/Archives/ABC",
        escapes_non_ascii_path: "http://example.com/سوريا" => "http://example.com/%D8%B3%D9%88%D8%B1%D9%8A%D8%A7",
        keeps_lone_percent: "http://example.com/100%" => "http://example.com/100%",
    }

    #[test]
    fn host_key_drops_port() {
        let u = Url::parse("http://Example.COM:8080/x").unwrap();
        assert_eq!(host_key(&u), "example.com");
    }

    #[test]
    fn authority_keeps_scheme_and_port() {
        let u = Url::parse("https://example.com/x").unwrap();
        assert_eq!(authority(&u), "https://example.com:443");
        let u = Url::parse("http://127.0.0.1:8080/x?y").unwrap();
        assert_eq!(authority(&u), "http://127.0.0.1:8080");
        assert_eq!(robots_url(&u).as_str(), "http://127.0.0.1:8080/robots.txt");
    }
}
