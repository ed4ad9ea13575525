//! `cdx_key`: a port of the Python `surt` package (0.3.1) as cdxj-indexer 1.5.0 and pywb 2.10 call
//! it, `surt.surt(url)` with no options: `handyurl.parse`, then `DefaultIAURLCanonicalizer`
//! (`GoogleURLCanonicalizer`, then `IAURLCanonicalizer` with its defaults), then
//! `geturl_bytes(surt=True, with_scheme=False)`. cdxj-indexer falls back to the URL itself when
//! `surt` raises (a bad port, an empty URL after trimming); so does this port.
//!
//! Each step names the Python function it follows. Hosts that are not ASCII go through Python's
//! `idna` codec (IDNA 2003: nameprep, unassigned code points allowed, then punycode); nameprep here
//! uses RFC 3454's tables (the `stringprep` crate) and today's NFKC, where Python uses Unicode 3.2's
//! NFKC and today's lower-casing: the two differ only for characters whose mappings changed since
//! Unicode 3.2. Numeric hosts follow glibc's `inet_aton`, which Python's `gethostbyname_ex` reaches
//! for names made of digits and dots (no DNS query is made for them, here or there).

use std::sync::LazyLock;

use regex::bytes::Regex;

/// `handyurl.urlsplit`'s regex (RFC 2396 Appendix B, scheme limited to legal characters).
static SPLIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s-u)^(([a-zA-Z][a-zA-Z0-9+.-]*):)?((//([^/?#]*))?([^?#]*)(\?([^#]*))?)?(#(.*))?$").unwrap()
});
/// `handyurl._RE_HAS_PROTOCOL`.
static HAS_PROTOCOL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)^([a-zA-Z][a-zA-Z0-9+\-.]*):").unwrap());
/// `handyurl._RE_MULTIPLE_PROTOCOLS`.
static MULTIPLE_PROTOCOLS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)^(https?://)+").unwrap());
/// `GoogleURLCanonicalizer.OCTAL_IP` and `DECIMAL_IP`.
static OCTAL_IP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u)^(0[0-7]*)(\.[0-7]+)?(\.[0-7]+)?(\.[0-7]+)?$").unwrap());
static DECIMAL_IP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u)^([1-9][0-9]*)(\.[0-9]+)?(\.[0-9]+)?(\.[0-9]+)?$").unwrap());
/// `IAURLCanonicalizer._RE_WWWDIGITS` (matched at the start).
static WWW_DIGITS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)^www[0-9]*\.").unwrap());
/// `URLRegexTransformer._RES_PATH_SESSIONID` (case-insensitive, ASCII).
static PATH_SESSION: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    [
        Regex::new(r"(?i-u)^(.*/)(\((?:[a-z]\([0-9a-z]{24}\))+\)/)([^\?]+\.aspx.*)$").unwrap(),
        Regex::new(r"(?i-u)^(.*/)(\([0-9a-z]{24}\)/)([^\?]+\.aspx.*)$").unwrap(),
    ]
});
/// `URLRegexTransformer._RES_QUERY_SESSIONID` (case-insensitive, ASCII).
static QUERY_SESSION: LazyLock<[Regex; 5]> = LazyLock::new(|| {
    [
        Regex::new(r"(?i-u)^(.*)(?:jsessionid=[0-9a-zA-Z]{32})(?:&(.*))?$").unwrap(),
        Regex::new(r"(?i-u)^(.*)(?:phpsessid=[0-9a-zA-Z]{32})(?:&(.*))?$").unwrap(),
        Regex::new(r"(?i-u)^(.*)(?:sid=[0-9a-zA-Z]{32})(?:&(.*))?$").unwrap(),
        Regex::new(r"(?i-u)^(.*)(?:ASPSESSIONID[a-zA-Z]{8}=[a-zA-Z]{24})(?:&(.*))?$").unwrap(),
        Regex::new(r"(?i-u)^(.*)(?:cfid=[^&]+&cftoken=[^&]+)(?:&(.*))?$").unwrap(),
    ]
});

/// The CDX key (SURT) of `url`, as cdxj-indexer 1.5.0 writes it: `surt.surt(url)`, or `url`
/// itself when that raises. An empty URL gives `-`; a `filedesc…` URL is kept as it is.
///
/// `http://www.Example.com:80/A/b/?b=2&a=1` → `com,example)/a/b?a=1&b=2`.
pub fn cdx_key(url: &str) -> String {
    if url.is_empty() {
        return "-".into();
    }
    if url.starts_with("filedesc") {
        return url.into();
    }
    match surt_bytes(url.as_bytes()) {
        // Every part is percent-escaped to ASCII, so the key is always UTF-8.
        Some(k) => String::from_utf8(k).unwrap_or_else(|_| url.to_string()),
        None => url.to_string(),
    }
}

/// A parsed URL as `handyurl` holds it (`None` and empty differ, as in Python).
struct HandyUrl {
    scheme: Vec<u8>,
    host: Option<Vec<u8>>,
    port: Option<u32>,
    path: Option<Vec<u8>>,
    query: Option<Vec<u8>>,
}

/// `_surt_bytes` after its early returns; `None` where Python raises.
fn surt_bytes(url: &[u8]) -> Option<Vec<u8>> {
    let mut h = parse(url)?;
    google_canonicalize(&mut h);
    ia_canonicalize(&mut h);
    Some(geturl_surt(&h))
}

fn some_nonempty(b: Option<&[u8]>) -> Option<Vec<u8>> {
    b.filter(|b| !b.is_empty()).map(<[u8]>::to_vec)
}

/// Python's `bytes.strip()` (ASCII whitespace at both ends).
fn strip_ascii_ws(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map(|i| i + 1).unwrap_or(start);
    &b[start..end.max(start)]
}

/// `handyurl.parse`.
fn parse(url: &[u8]) -> Option<HandyUrl> {
    let url: Vec<u8> = strip_ascii_ws(url).iter().copied().filter(|c| !matches!(c, b'\n' | b'\r' | b'\t')).collect();
    if url.is_empty() {
        return None; // `scheme.startswith` on None raises
    }
    let url = if HAS_PROTOCOL.is_match(&url) { url } else { [b"http://".as_slice(), &url].concat() };
    let url = match MULTIPLE_PROTOCOLS.captures(&url) {
        // A repeated group keeps its last repetition.
        Some(c) => [c.get(1).unwrap().as_bytes(), &url[c.get(0).unwrap().end()..]].concat(),
        None => url,
    };
    let c = SPLIT.captures(&url)?;
    let scheme = c.get(2).map(|m| m.as_bytes().to_vec())?;
    let mut netloc = c.get(5).map(|m| m.as_bytes()).unwrap_or_default();
    while let Some(n) = netloc.strip_suffix(b":") {
        netloc = n;
    }
    // SplitResultBytes._hostinfo, .port and .hostname.
    let hostinfo = match netloc.iter().rposition(|&b| b == b'@') {
        Some(i) => &netloc[i + 1..],
        None => netloc,
    };
    let (hostname, port) = match hostinfo.iter().position(|&b| b == b'[') {
        Some(i) => {
            let bracketed = &hostinfo[i + 1..];
            let (name, rest) = partition(bracketed, b']');
            (name, partition(rest, b':').1)
        }
        None => partition(hostinfo, b':'),
    };
    let port = if port.is_empty() {
        None
    } else if port.iter().all(u8::is_ascii_digit) {
        let digits = std::str::from_utf8(port).ok()?.trim_start_matches('0');
        if digits.len() > 5 {
            return None; // out of range 0-65535
        }
        let p: u32 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        if p > 65535 {
            return None;
        }
        (p != 0).then_some(p)
    } else {
        return None; // "Port could not be cast to integer value"
    };
    // Lower-cased up to a `%` (an IPv6 zone keeps its case).
    let mut host = (!hostname.is_empty()).then(|| {
        let cut = hostname.iter().position(|&b| b == b'%').unwrap_or(hostname.len());
        [hostname[..cut].to_ascii_lowercase().as_slice(), &hostname[cut..]].concat()
    });
    let mut path = some_nonempty(c.get(6).map(|m| m.as_bytes()));
    // "deal with http:////////////////www.vikings.com"
    if scheme.starts_with(b"http") && host.is_none() {
        if let Some(p) = &path {
            let trimmed = &p[p.iter().position(|&b| b != b'/').unwrap_or(p.len())..];
            let (h, rest) = partition(trimmed, b'/');
            host = Some(h.to_vec());
            path = Some([b"/".as_slice(), rest].concat());
        }
    }
    Some(HandyUrl { scheme, host, port, path, query: some_nonempty(c.get(8).map(|m| m.as_bytes())) })
}

/// Python's `bytes.partition(sep)` without the separator: (before, after); no separator gives
/// (all, empty).
fn partition(b: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == sep) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

/// `GoogleURLCanonicalizer.canonicalize`.
fn google_canonicalize(h: &mut HandyUrl) {
    if let Some(q) = h.query.take() {
        h.query = Some(escape_once(&unescape_repeatedly(&q)));
    }
    if let Some(host) = h.host.take().filter(|h| !h.is_empty()) {
        let mut host = unescape_repeatedly(&host);
        if !host.is_ascii() {
            if let Some(a) = idna_encode(&decode_utf8_ignore(&host)) {
                host = a;
            }
        }
        let host = strip_dots(&replace_double_dots(&host)).to_vec();
        h.host = Some(match attempt_ip_formats(&host) {
            Some(ip) => ip.into_bytes(),
            None => escape_once(&host.to_ascii_lowercase()),
        });
    }
    let path = h.path.take().map(|p| unescape_repeatedly(&p));
    let path =
        if h.host.as_ref().is_some_and(|h| !h.is_empty()) { Some(normalize_path(path.as_deref())) } else { path };
    h.path = path.map(|p| escape_once(&p));
}

/// Python's `bytes.decode('utf-8', 'ignore')`: invalid sequences dropped.
fn decode_utf8_ignore(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
    }
    out
}

/// Python's `bytes.replace(b'..', b'.')` (non-overlapping, left to right).
fn replace_double_dots(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' && b.get(i + 1) == Some(&b'.') {
            out.push(b'.');
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn strip_dots(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&c| c != b'.').unwrap_or(b.len());
    let end = b.iter().rposition(|&c| c != b'.').map(|i| i + 1).unwrap_or(start);
    &b[start..end]
}

/// `GoogleURLCanonicalizer.attemptIPFormats`: an all-digit host is a 32-bit number (masked);
/// dotted decimal or octal forms go through glibc's `inet_aton` (via `gethostbyname_ex`).
fn attempt_ip_formats(host: &[u8]) -> Option<String> {
    if !host.is_empty() && host.iter().all(u8::is_ascii_digit) {
        let v = host.iter().fold(0u32, |v, d| v.wrapping_mul(10).wrapping_add(u32::from(d - b'0')));
        return Some(std::net::Ipv4Addr::from(v).to_string());
    }
    if DECIMAL_IP.is_match(host) || OCTAL_IP.is_match(host) {
        return inet_aton(host).map(|v| std::net::Ipv4Addr::from(v).to_string());
    }
    None
}

/// glibc's `__inet_aton_exact` for strings of digits and dots: each part decimal, or octal with a
/// leading `0`; `a`, `a.b` (24-bit b), `a.b.c` (16-bit c) or `a.b.c.d`.
fn inet_aton(s: &[u8]) -> Option<u32> {
    let mut parts: Vec<u64> = Vec::new();
    let mut i = 0;
    loop {
        if !s.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let base = if s[i] == b'0' { 8 } else { 10 };
        let mut val: u64 = 0;
        while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
            if base == 8 && c >= b'8' {
                return None;
            }
            val = val.wrapping_mul(base).wrapping_add(u64::from(c - b'0'));
            i += 1;
        }
        match s.get(i) {
            Some(b'.') => {
                if parts.len() > 2 || val > 0xff {
                    return None;
                }
                parts.push(val);
                i += 1;
            }
            None => {
                let max = [0xffff_ffffu64, 0xff_ffff, 0xffff, 0xff][parts.len()];
                if val > max {
                    return None;
                }
                let mut addr = val as u32;
                for (k, p) in parts.iter().enumerate() {
                    addr |= (*p as u32) << (24 - 8 * k);
                }
                return Some(addr);
            }
            Some(_) => return None,
        }
    }
}

/// Python's `idna` codec (`str.encode('idna')`, RFC 3490 ToASCII per label with nameprep and
/// AllowUnassigned); `None` where it raises `UnicodeError`.
fn idna_encode(host: &str) -> Option<Vec<u8>> {
    if host.is_empty() {
        return Some(Vec::new());
    }
    if host.is_ascii() {
        let labels: Vec<&str> = host.split('.').collect();
        let (last, init) = labels.split_last().expect("split yields one piece at least");
        if init.iter().any(|l| l.is_empty() || l.len() >= 64) || last.len() >= 64 {
            return None;
        }
        return Some(host.as_bytes().to_vec());
    }
    let mut labels: Vec<&str> = host.split(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}']).collect();
    let trailing_dot = labels.last().is_some_and(|l| l.is_empty());
    if trailing_dot {
        labels.pop();
    }
    let mut out = Vec::new();
    for label in labels {
        if !out.is_empty() {
            out.push(b'.');
        }
        out.extend_from_slice(&to_ascii(label)?);
    }
    if trailing_dot {
        out.push(b'.');
    }
    Some(out)
}

/// `encodings.idna.ToASCII`.
fn to_ascii(label: &str) -> Option<Vec<u8>> {
    let ok_len = |l: &[u8]| (1..64).contains(&l.len());
    if label.is_ascii() {
        return ok_len(label.as_bytes()).then(|| label.as_bytes().to_vec());
    }
    let label = nameprep(label)?;
    if label.is_ascii() {
        return ok_len(label.as_bytes()).then(|| label.into_bytes());
    }
    if label.starts_with("xn--") {
        return None;
    }
    let encoded = format!("xn--{}", idna::punycode::encode_str(&label)?);
    ok_len(encoded.as_bytes()).then(|| encoded.into_bytes())
}

/// `encodings.idna.nameprep` (RFC 3491, unassigned code points allowed).
fn nameprep(label: &str) -> Option<String> {
    use stringprep::tables as t;
    use unicode_normalization::UnicodeNormalization;
    let mapped: String =
        label.chars().filter(|&c| !t::commonly_mapped_to_nothing(c)).flat_map(t::case_fold_for_nfkc).collect();
    let label: String = mapped.nfkc().collect();
    let prohibited = |c: char| {
        t::non_ascii_space_character(c)
            || t::non_ascii_control_character(c)
            || t::private_use(c)
            || t::non_character_code_point(c)
            || t::surrogate_code(c)
            || t::inappropriate_for_plain_text(c)
            || t::inappropriate_for_canonical_representation(c)
            || t::change_display_properties_or_deprecated(c)
            || t::tagging_character(c)
    };
    if label.chars().any(prohibited) {
        return None;
    }
    if label.chars().any(t::bidi_r_or_al) {
        let first_last = [label.chars().next(), label.chars().next_back()];
        if label.chars().any(t::bidi_l) || first_last.iter().any(|c| !c.is_some_and(t::bidi_r_or_al)) {
            return None;
        }
    }
    Some(label)
}

/// `GoogleURLCanonicalizer.normalizePath`: dot segments resolved (a `..` above the root is kept),
/// empty segments dropped except a trailing one.
fn normalize_path(path: Option<&[u8]>) -> Vec<u8> {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return b"/".to_vec();
    };
    let mut kept: Vec<&[u8]> = Vec::new();
    for p in path.split(|&b| b == b'/').skip(1) {
        match p {
            b"." => {}
            b".." => {
                if kept.pop().is_none() {
                    kept.push(p);
                }
            }
            _ => kept.push(p),
        }
    }
    let mut out = b"/".to_vec();
    if let Some((last, init)) = kept.split_last() {
        for p in init.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(p);
            out.push(b'/');
        }
        out.extend_from_slice(last);
    }
    out
}

/// `GoogleURLCanonicalizer.escapeOnce`: `quote_from_bytes` with `!"$&'()*+,-./:;<=>?@[\]^_`{|}~`
/// safe; everything else outside the alphanumerics becomes `%XX`.
fn escape_once(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for &c in b {
        if c.is_ascii_alphanumeric() || b"!\"$&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(&c) {
            out.push(c);
        } else {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        }
    }
    out
}

/// `GoogleURLCanonicalizer.unescapeRepeatedly`: `unquote_to_bytes` until nothing changes.
fn unescape_repeatedly(b: &[u8]) -> Vec<u8> {
    let mut cur = b.to_vec();
    loop {
        let next = unquote_to_bytes(&cur);
        if next == cur {
            return cur;
        }
        cur = next;
    }
}

/// `urllib.parse.unquote_to_bytes`: `%XX` with two hex digits decoded, left to right, once.
fn unquote_to_bytes(b: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// `IAURLCanonicalizer.canonicalize` with its defaults.
fn ia_canonicalize(h: &mut HandyUrl) {
    if let Some(host) = h.host.as_mut().filter(|h| !h.is_empty()) {
        host.make_ascii_lowercase();
        if h.scheme != b"dns" {
            if let Some(m) = WWW_DIGITS.find(host) {
                host.drain(..m.end());
            }
        }
    }
    let default_port = match h.scheme.to_ascii_lowercase().as_slice() {
        b"http" => 80,
        b"https" => 443,
        _ => 0,
    };
    if h.port == Some(default_port) {
        h.port = None;
    }
    if let Some(path) = h.path.as_mut().filter(|p| !p.is_empty()) {
        path.make_ascii_lowercase();
        for re in PATH_SESSION.iter() {
            if let Some(c) = re.captures(path) {
                *path = [c.get(1).unwrap().as_bytes(), c.get(3).unwrap().as_bytes()].concat();
            }
        }
        if path.len() > 1 && path.ends_with(b"/") {
            path.pop();
        }
    }
    if let Some(q) = h.query.take() {
        let mut q = q;
        for re in QUERY_SESSION.iter() {
            if let Some(c) = re.captures(&q) {
                let head = c.get(1).unwrap().as_bytes();
                q = match c.get(2).map(|m| m.as_bytes()).filter(|t| !t.is_empty()) {
                    Some(tail) => [head, tail].concat(),
                    None => head.to_vec(),
                };
            }
        }
        q.make_ascii_lowercase();
        let q = alpha_reorder_query(q);
        h.query = (!q.is_empty()).then_some(q);
    }
}

/// `IAURLCanonicalizer.alphaReorderQuery`: `&`-separated arguments sorted as (name, value)
/// tuples, an argument without `=` before the same name with one.
fn alpha_reorder_query(q: Vec<u8>) -> Vec<u8> {
    if q.len() <= 1 {
        return q;
    }
    let mut args: Vec<(&[u8], Option<&[u8]>)> = q
        .split(|&b| b == b'&')
        .map(|a| match a.iter().position(|&b| b == b'=') {
            Some(i) => (&a[..i], Some(&a[i + 1..])),
            None => (a, None),
        })
        .collect();
    args.sort();
    let mut out = Vec::with_capacity(q.len());
    for (i, (k, v)) in args.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k);
        if let Some(v) = v {
            out.push(b'=');
            out.extend_from_slice(v);
        }
    }
    out
}

/// `handyurl.geturl_bytes(surt=True, with_scheme=False)`: `host,reversed:port)` + path + query;
/// `scheme:` + path when there is no host.
fn geturl_surt(h: &HandyUrl) -> Vec<u8> {
    let host = h.host.as_deref().filter(|h| !h.is_empty());
    let mut s = Vec::new();
    match host {
        None => {
            s.extend_from_slice(&h.scheme);
            s.push(b':');
        }
        Some(host) => {
            let parts: Vec<&[u8]> = host.split(|&b| b == b'.').rev().collect();
            s.extend_from_slice(&parts.join(&b','));
            if let Some(p) = h.port {
                s.extend_from_slice(format!(":{p}").as_bytes());
            }
            s.push(b')');
        }
    }
    match h.path.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => s.extend_from_slice(p),
        None if h.query.is_some() => s.push(b'/'),
        None => {}
    }
    if let Some(q) = &h.query {
        s.push(b'?');
        s.extend_from_slice(q);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Undoes `gen.py`'s escaping (`\\`, `\t`, `\n`, `\r`).
    fn unescape(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        }
        out
    }

    /// Every vector `tests/fixtures/surt/gen.py` took from cdxj-indexer itself; all mismatches are
    /// reported at once.
    #[test]
    fn cdx_key_matches_every_vector() {
        let text = include_str!("../../tests/fixtures/surt/vectors.tsv");
        let mut bad = Vec::new();
        let mut n = 0;
        for line in text.lines() {
            let (input, want) = line.split_once('\t').expect("input<TAB>expected");
            let (input, want) = (unescape(input), unescape(want));
            let got = cdx_key(&input);
            if got != want {
                bad.push(format!("{input:?}\n     want {want:?}\n      got {got:?}"));
            }
            n += 1;
        }
        assert!(n >= 300, "only {n} vectors");
        assert!(bad.is_empty(), "{} of {n} vectors differ:\n{}", bad.len(), bad.join("\n"));
    }

    #[test]
    fn inet_aton_follows_glibc() {
        assert_eq!(inet_aton(b"127.0.0.1"), Some(0x7f00_0001));
        assert_eq!(inet_aton(b"1.2"), Some(0x0100_0002));
        assert_eq!(inet_aton(b"010.1.1.1"), Some(0x0801_0101));
        assert_eq!(inet_aton(b"1.09.1.1"), None, "9 is no octal digit");
        assert_eq!(inet_aton(b"1.2.65536"), None, "a.b.c takes 16 bits in c");
        assert_eq!(inet_aton(b"1.2.3.4.5"), None);
    }

    #[test]
    fn query_tuples_sort_bare_names_first() {
        assert_eq!(alpha_reorder_query(b"b=1&a=&a".to_vec()), b"a&a=&b=1");
    }
}
