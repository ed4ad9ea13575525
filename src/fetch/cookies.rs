//! The crawl's cookie jar (RFC 6265, through the `cookie_store` crate) and the import of a
//! Netscape `cookies.txt`.
//!
//! Cookies a server sets are sent back on later requests in scope of their domain and path, as a
//! browser would, so sites that gate content behind a cookie (consent banners, sessions) are
//! captured; the `Cookie` header is part of the recorded request. A `cookies.txt` exported from a
//! browser (the format curl and wget read: seven tab-separated fields per line, `#HttpOnly_`
//! prefix allowed) seeds the jar at start.

use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use cookie_store::CookieStore;
use url::Url;

use super::framer::Framed;

/// One cookie from a `cookies.txt` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedCookie {
    /// Domain as written (a leading dot, or the include-subdomains flag, makes it a domain cookie).
    pub domain: String,
    /// Whether subdomains receive it.
    pub include_subdomains: bool,
    /// Path.
    pub path: String,
    /// Sent over https only.
    pub secure: bool,
    /// Expiry, seconds since the epoch (0: a session cookie).
    pub expires: u64,
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// Parses a Netscape `cookies.txt`. Errors name the 1-based line.
pub fn parse_cookies_txt(text: &str) -> Result<Vec<ImportedCookie>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 {
            return Err(format!("line {}: {} tab-separated fields, a cookies.txt line has 7", i + 1, f.len()));
        }
        let flag = |v: &str| v.eq_ignore_ascii_case("TRUE");
        let expires =
            f[4].trim().parse::<u64>().map_err(|_| format!("line {}: expiry {:?} is not a number", i + 1, f[4]))?;
        out.push(ImportedCookie {
            domain: f[0].trim().to_ascii_lowercase(),
            include_subdomains: flag(f[1]),
            path: f[2].to_string(),
            secure: flag(f[3]),
            expires,
            name: f[5].to_string(),
            value: f[6].to_string(),
        });
    }
    Ok(out)
}

/// A jar holding `initial` cookies (expired ones are dropped by the jar).
pub fn jar_with(initial: &[ImportedCookie]) -> CookieStore {
    let mut jar = CookieStore::new();
    for c in initial {
        let host = c.domain.trim_start_matches('.');
        let scheme = if c.secure { "https" } else { "http" };
        let Ok(url) = Url::parse(&format!("{scheme}://{host}{}", if c.path.starts_with('/') { &c.path } else { "/" }))
        else {
            continue;
        };
        let mut s = format!("{}={}; Path={}", c.name, c.value, c.path);
        if c.include_subdomains || c.domain.starts_with('.') {
            s.push_str(&format!("; Domain={host}"));
        }
        if c.secure {
            s.push_str("; Secure");
        }
        if c.expires > 0 {
            s.push_str(&format!("; Expires={}", httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(c.expires))));
        }
        let _ = jar.parse(&s, &url);
    }
    jar
}

/// Largest cookie (name and value) stored, bytes (RFC 6265 §6.1 asks for at least 4096).
pub const MAX_COOKIE: usize = 4096;
/// Largest `Cookie` header sent, bytes; cookies beyond it are left out.
pub const MAX_COOKIE_HEADER: usize = 8192;
/// Most cookies kept for one host (RFC 6265 §6.1 asks for at least 50 per domain); a new name
/// beyond it is dropped, a cookie already held is still updated.
pub const MAX_COOKIES_PER_HOST: usize = 50;
/// Most cookies kept by the crawl's jar (RFC 6265 §6.1: at least 3000); with 4 KiB each, the jar
/// stays under 12 MiB whatever the sites send.
pub const MAX_COOKIES: usize = 3000;

/// The `Cookie` header value for a request to `url`, if the jar has cookies for it (at most
/// [`MAX_COOKIE_HEADER`] bytes).
pub fn request_header(jar: &Mutex<CookieStore>, url: &Url) -> Option<String> {
    let jar = jar.lock().ok()?;
    let mut out = String::new();
    for (n, v) in jar.get_request_values(url) {
        let pair = format!("{n}={v}");
        if out.len() + pair.len() + 2 > MAX_COOKIE_HEADER {
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&pair);
    }
    (!out.is_empty()).then_some(out)
}

/// Stores the cookies a response sets (`Set-Cookie`, any status). A `Domain` attribute is
/// ignored: every cookie a server sets is host-only, so no site can set cookies for others
/// (`Domain=com`, `Domain=co.uk`) without a public-suffix list. Oversized cookies are dropped, and
/// so are new names past [`MAX_COOKIES_PER_HOST`] or [`MAX_COOKIES`].
pub fn store_response(jar: &Mutex<CookieStore>, url: &Url, f: &Framed) {
    if !f.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("set-cookie")) {
        return;
    }
    let Ok(mut jar) = jar.lock() else { return };
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let mut total = 0;
    let mut names = std::collections::HashSet::new();
    for c in jar.iter_unexpired() {
        total += 1;
        if c.domain.as_cow().is_some_and(|d| d.eq_ignore_ascii_case(&host)) {
            names.insert(c.name().to_string());
        }
    }
    for (n, v) in &f.headers {
        if !n.eq_ignore_ascii_case("set-cookie") || v.len() > MAX_COOKIE + 512 {
            continue;
        }
        let Ok(mut c) = cookie_store::RawCookie::parse(String::from_utf8_lossy(v).into_owned()) else { continue };
        if c.name().len() + c.value().len() > MAX_COOKIE {
            continue;
        }
        c.unset_domain();
        let known = names.contains(c.name());
        if !known && (names.len() >= MAX_COOKIES_PER_HOST || total >= MAX_COOKIES) {
            tracing::debug!(url = %url, cookie = c.name(), "cookie not kept: the jar is full for this host or the crawl");
            continue;
        }
        if jar.insert_raw(&c, url).is_ok() && !known {
            names.insert(c.name().to_string());
            total += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(jar: &Mutex<CookieStore>, url: &str, header: &str) {
        let head = format!("HTTP/1.1 200 OK\r\nSet-Cookie: {header}\r\nContent-Length: 0\r\n\r\n");
        let f = crate::fetch::framer::frame_response(head.as_bytes(), false, true).unwrap();
        store_response(jar, &Url::parse(url).unwrap(), &f);
    }

    #[test]
    fn a_site_cannot_set_cookies_for_others() {
        let jar = Mutex::new(CookieStore::new());
        set(&jar, "http://evil.example.com/", "tld=1; Domain=com; Path=/");
        set(&jar, "http://evil.example.co.uk/", "psl=1; Domain=co.uk; Path=/");
        set(&jar, "http://evil.example.com/", "own=1; Path=/");
        let h = |u: &str| request_header(&jar, &Url::parse(u).unwrap());
        assert_eq!(h("http://victim.com/"), None);
        assert_eq!(h("http://victim.co.uk/"), None);
        // Its own cookies (a Domain attribute made host-only) go back to the site that set them.
        let own = h("http://evil.example.com/x").unwrap();
        assert!(own.contains("own=1") && own.contains("tld=1"), "{own}");
        assert_eq!(h("http://sub.evil.example.com/"), None);
    }

    #[test]
    fn oversized_cookies_are_dropped_and_the_header_is_capped() {
        let jar = Mutex::new(CookieStore::new());
        set(&jar, "http://a.example/", &format!("big={}; Path=/", "x".repeat(5000)));
        assert_eq!(request_header(&jar, &Url::parse("http://a.example/").unwrap()), None);
        for i in 0..100 {
            set(&jar, "http://a.example/", &format!("c{i}={}; Path=/", "v".repeat(1000)));
        }
        let h = request_header(&jar, &Url::parse("http://a.example/").unwrap()).unwrap();
        assert!(h.len() <= MAX_COOKIE_HEADER, "{}", h.len());
    }

    #[test]
    fn the_jar_is_capped_per_host_and_in_total_but_known_cookies_still_update() {
        let jar = Mutex::new(CookieStore::new());
        for i in 0..80 {
            set(&jar, "http://a.example/", &format!("c{i}=1; Path=/"));
        }
        let count = |j: &Mutex<CookieStore>| j.lock().unwrap().iter_unexpired().count();
        assert_eq!(count(&jar), MAX_COOKIES_PER_HOST);
        set(&jar, "http://a.example/", "c0=updated; Path=/");
        let h = request_header(&jar, &Url::parse("http://a.example/").unwrap()).unwrap();
        assert!(h.contains("c0=updated") && !h.contains("c79="), "{h}");
        // Many hosts: the crawl-wide cap holds.
        for host in 0..70 {
            for i in 0..MAX_COOKIES_PER_HOST {
                set(&jar, &format!("http://h{host}.example/"), &format!("c{i}=1; Path=/"));
            }
        }
        assert_eq!(count(&jar), MAX_COOKIES);
    }

    #[test]
    fn cookies_txt_lines() {
        let text = "# Netscape HTTP Cookie File\n.example.org\tTRUE\t/\tFALSE\t0\tconsent\tyes\n#HttpOnly_news.example.org\tFALSE\t/archives\tTRUE\t4102444800\tsid\tabc\n\n";
        let c = parse_cookies_txt(text).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].domain.as_str(), c[0].include_subdomains, c[0].name.as_str()),
            (".example.org", true, "consent")
        );
        assert_eq!((c[1].path.as_str(), c[1].secure, c[1].expires), ("/archives", true, 4102444800));
        assert!(parse_cookies_txt("a\tb\n").unwrap_err().starts_with("line 1"));
    }

    #[test]
    fn imported_cookies_go_to_matching_requests_only() {
        let text = ".example.org\tTRUE\t/\tFALSE\t0\tconsent\tyes\nnews.example.org\tFALSE\t/archives\tTRUE\t4102444800\tsid\tabc\n";
        let jar = Mutex::new(jar_with(&parse_cookies_txt(text).unwrap()));
        let h = |u: &str| request_header(&jar, &Url::parse(u).unwrap());
        assert_eq!(h("http://www.example.org/x").as_deref(), Some("consent=yes"));
        assert_eq!(h("http://news.example.org/archives/1").as_deref(), Some("consent=yes"));
        let secure = h("https://news.example.org/archives/1").unwrap();
        assert!(secure.contains("sid=abc") && secure.contains("consent=yes"), "{secure}");
        assert_eq!(h("http://other.example/"), None);
    }
}
