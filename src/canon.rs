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
//! Session ids ([`KeyOptions`], config `strip_session_ids` / `session_id_params`): a site that puts
//! a fresh session id in every link (`?sid=…`, `;jsessionid=…`) would make every page a new URL, a
//! crawl trap. With stripping on, listed query parameters and `;name=value` path parameters are
//! left out of the key (never out of the URL fetched), as Heritrix's `StripSessionIDs` and
//! `StripSessionCFIDs` and IA's `surt` canonicaliser (`URLRegexTransformer`) do.
//!
//! [`cdx_key`] is pywb's SURT (scheme dropped, `www` stripped, host reversed, path and query
//! lower-cased, query sorted), a port of the Python `surt` package that cdxj-indexer uses. It keys
//! CDXJ lines only: as a seen key it would make every http→https redirect target look seen.

mod surt;

pub use surt::cdx_key;
use url::Url;

/// Version of the [`seen_key`] algorithm. Bump it whenever the key of any URL could change.
pub const SEEN_KEY_VERSION: u32 = 1;

/// The frontier identity of `url` under `opts` (see the module doc). `url` must already be parsed by
/// the WHATWG rules (the `url` crate), which lowercases and IDNA-encodes the host, drops a default
/// port and resolves dot segments; this adds fragment removal, percent-encoding normalisation and,
/// when `opts` lists session parameters, their removal from the path and the query.
pub fn seen_key(url: &Url, opts: &KeyOptions) -> String {
    let mut u = url.clone();
    u.set_fragment(None);
    let mut path = normalize_percent(u.path());
    if !opts.session_params.is_empty() && path.contains(';') {
        path = opts.strip_path_params(&path);
    }
    u.set_path(&path);
    if let Some(q) = u.query() {
        let mut q = normalize_percent(q);
        if !opts.session_params.is_empty() {
            q = opts.strip_query_params(&q);
        }
        // A query left empty by stripping is no query: `/p?sid=…` and `/p` are one page.
        let stripped_all = q.is_empty() && !url.query().unwrap_or("").is_empty();
        u.set_query(if stripped_all { None } else { Some(&q) });
    }
    u.to_string()
}

/// One session-id parameter name of `session_id_params`: `name`, `name*` (any name starting with
/// `name`, e.g. ASP's `ASPSESSIONIDxxxxxxxx`), optionally `:N` (stripped only when its value is at
/// least N ASCII letters and digits, as Heritrix and IA strip `sid` only for 32 of them: `sid` also
/// names story ids such as Slashdot's `sid=07/05/25/1346243`). Names compare ASCII case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParam {
    /// The name, lower-cased, without `*` or `:N`.
    pub name: String,
    /// Whether `name` is a prefix (`*`).
    pub prefix: bool,
    /// Least value length (ASCII letters and digits only) stripped; 0: any value.
    pub min_len: usize,
}

impl SessionParam {
    /// Parses `name`, `name*`, `name:N` or `name*:N` (name: ASCII letters, digits, `_`, `-`, `.`).
    pub fn parse(spec: &str) -> Result<SessionParam, String> {
        let (head, min_len) = match spec.trim().split_once(':') {
            Some((h, n)) => (h, n.parse::<usize>().map_err(|_| format!("{spec:?}: {n:?} is not a length"))?),
            None => (spec.trim(), 0),
        };
        let (name, prefix) = match head.strip_suffix('*') {
            Some(n) => (n, true),
            None => (head, false),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
            return Err(format!(
                "{spec:?} is not a parameter name such as \"jsessionid\", \"aspsessionid*\" or \"sid:32\""
            ));
        }
        Ok(SessionParam { name: name.to_ascii_lowercase(), prefix, min_len })
    }

    /// The spec this was parsed from, normalised (as recorded in the state directory).
    pub fn spec(&self) -> String {
        let star = if self.prefix { "*" } else { "" };
        let len = if self.min_len > 0 { format!(":{}", self.min_len) } else { String::new() };
        format!("{}{star}{len}", self.name)
    }

    /// Whether the parameter `name=value` is this session id.
    pub fn matches(&self, name: &str, value: &str) -> bool {
        let name_ok = if self.prefix {
            name.len() >= self.name.len() && name[..self.name.len()].eq_ignore_ascii_case(&self.name)
        } else {
            name.eq_ignore_ascii_case(&self.name)
        };
        name_ok
            && (self.min_len == 0 || (value.len() >= self.min_len && value.bytes().all(|b| b.is_ascii_alphanumeric())))
    }
}

/// The options of [`seen_key`], recorded in the state directory ([`KeyOptions::recorded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOptions {
    /// Session-id parameters left out of keys; empty: stripping is off.
    pub session_params: Vec<SessionParam>,
}

/// The default `session_id_params`: the names Heritrix's `StripSessionIDs` / `StripSessionCFIDs`
/// and IA's `surt` strip (Java's `jsessionid`, PHP's `PHPSESSID`, phpBB's and others' `sid` with a
/// 32-character value, classic ASP's `ASPSESSIONIDxxxxxxxx`, ColdFusion's `CFID` and `CFTOKEN`),
/// plus the generic `sessionid`.
pub const DEFAULT_SESSION_PARAMS: &[&str] =
    &["jsessionid", "phpsessid", "sid:32", "sessionid", "aspsessionid*", "cfid", "cftoken"];

impl KeyOptions {
    /// No option: keys as [`SEEN_KEY_VERSION`] 1 always made them.
    pub fn none() -> KeyOptions {
        KeyOptions { session_params: vec![] }
    }

    /// Session-id stripping with the given parameters (sorted and deduplicated, so the recorded
    /// form does not depend on the order they were written in).
    pub fn stripping(mut params: Vec<SessionParam>) -> KeyOptions {
        params.sort_by_key(SessionParam::spec);
        params.dedup();
        KeyOptions { session_params: params }
    }

    /// The options as recorded in the state directory (`KeyMeta.options`):
    /// `["strip_session_ids=off"]` without stripping, else `["strip_session_ids=SPEC,SPEC,…"]`.
    /// (An empty list is what state directories made before these options existed record.)
    pub fn recorded(&self) -> Vec<String> {
        if self.session_params.is_empty() {
            return vec!["strip_session_ids=off".into()];
        }
        let specs: Vec<String> = self.session_params.iter().map(SessionParam::spec).collect();
        vec![format!("strip_session_ids={}", specs.join(","))]
    }

    /// The options recorded as `recorded` (the inverse of [`KeyOptions::recorded`]); `Err` names
    /// an option this build does not know.
    pub fn from_recorded(recorded: &[String]) -> Result<KeyOptions, String> {
        let mut params = Vec::new();
        for o in recorded {
            let Some(list) = o.strip_prefix("strip_session_ids=") else {
                return Err(format!("unknown seen_key option {o:?}"));
            };
            if list == "off" {
                continue;
            }
            for spec in list.split(',') {
                params.push(SessionParam::parse(spec)?);
            }
        }
        Ok(KeyOptions::stripping(params))
    }

    fn is_session(&self, name: &str, value: &str) -> bool {
        self.session_params.iter().any(|p| p.matches(name, value))
    }

    /// `query` without its session-id parameters (`&`-separated `name=value` pairs).
    fn strip_query_params(&self, query: &str) -> String {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
                !self.is_session(n, v)
            })
            .collect();
        kept.join("&")
    }

    /// `path` without its session-id path parameters (`;jsessionid=…` up to the next `;` or `/`).
    fn strip_path_params(&self, path: &str) -> String {
        let segments: Vec<String> = path
            .split('/')
            .map(|seg| {
                let mut parts = seg.split(';');
                let mut out = parts.next().unwrap_or("").to_string();
                for param in parts {
                    let (n, v) = param.split_once('=').unwrap_or((param, ""));
                    if !self.is_session(n, v) {
                        out.push(';');
                        out.push_str(param);
                    }
                }
                out
            })
            .collect();
        segments.join("/")
    }
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
                assert_eq!(seen_key(&url, &KeyOptions::none()), $want);
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

    fn default_stripping() -> KeyOptions {
        KeyOptions::stripping(DEFAULT_SESSION_PARAMS.iter().map(|s| SessionParam::parse(s).unwrap()).collect())
    }

    macro_rules! session_cases {
        ($($name:ident: $input:expr => $want:expr,)*) => {$(
            #[test]
            fn $name() {
                let url = Url::parse($input).unwrap();
                assert_eq!(seen_key(&url, &default_stripping()), $want);
            }
        )*};
    }

    session_cases! {
        strips_jsessionid_query: "http://e.example/p?a=1&JSESSIONID=0123456789abcdef&b=2" => "http://e.example/p?a=1&b=2",
        strips_jsessionid_path_param: "http://e.example/shop/item;jsessionid=A1B2C3D4.node1?x=1" => "http://e.example/shop/item?x=1",
        keeps_other_path_params: "http://e.example/a;v=1;jsessionid=Z/b" => "http://e.example/a;v=1/b",
        strips_phpsessid_alone_drops_the_query: "http://e.example/p?PHPSESSID=abc123" => "http://e.example/p",
        strips_long_sid: "http://e.example/p?sid=9682993c8daa2c5497996114facdc805&t=5" => "http://e.example/p?t=5",
        keeps_short_sid_a_story_id: "http://e.example/article.pl?sid=07/05/25/1346243" => "http://e.example/article.pl?sid=07/05/25/1346243",
        strips_asp_session_prefix: "http://e.example/p?ASPSESSIONIDQQGGQGPA=EOHBLBDDPFCLHKPGGKLILNAM&q=1" => "http://e.example/p?q=1",
        strips_cfid_cftoken: "http://e.example/p?CFID=12412453&CFTOKEN=15501799&page=2" => "http://e.example/p?page=2",
        keeps_sidebar_param: "http://e.example/p?sidebar=1" => "http://e.example/p?sidebar=1",
        keeps_an_empty_query_as_it_was: "http://e.example/p?" => "http://e.example/p?",
    }

    #[test]
    fn options_are_recorded_sorted_and_read_back() {
        let o = default_stripping();
        let rec = o.recorded();
        assert_eq!(rec, vec!["strip_session_ids=aspsessionid*,cfid,cftoken,jsessionid,phpsessid,sessionid,sid:32"]);
        assert_eq!(KeyOptions::from_recorded(&rec).unwrap(), o);
        assert_eq!(KeyOptions::none().recorded(), vec!["strip_session_ids=off"]);
        assert_eq!(KeyOptions::from_recorded(&KeyOptions::none().recorded()).unwrap(), KeyOptions::none());
        assert_eq!(KeyOptions::from_recorded(&[]).unwrap(), KeyOptions::none(), "states made before the options");
        assert!(KeyOptions::from_recorded(&["lowercase_path".into()]).is_err());
        assert!(SessionParam::parse("bad name").is_err());
        assert!(SessionParam::parse("sid:x").is_err());
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
