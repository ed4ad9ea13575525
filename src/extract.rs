//! Outlinks: URLs found in a capture, with their hop type (DESIGN §Scope; Heritrix's hop codes).
//!
//! HTML is streamed through lol_html (non-strict; attribute values entity-decoded, HTML standard
//! §13.2.5.72), in the document's encoding (BOM, then the `Content-Type` charset, then a
//! `<meta charset>` prescan of the first 1024 bytes, HTML standard §13.2.3; UTF-8 otherwise). Links:
//! `a`/`area` href (`L`); page requisites (`E`): `img` src and srcset, `source` src and srcset,
//! `iframe`/`frame`/`embed`/`video`/`audio`/`track`/`input` src, `video` poster, `object` data,
//! lazy-loading `data-src`/`data-srcset` (and `data-lazy-*`), `background` attributes, `link`
//! `imagesrcset`, `script` src, `link` href with a requisite `rel` (stylesheet, icon, preload, modulepreload, manifest; other
//! `link`s are `L`), CSS `url()` / `@import` in `<style>` elements, `style` attributes and
//! stylesheets; redirects (`R`): a 3xx `Location`, the `Refresh` header and `<meta http-equiv=refresh>`.
//! The first `<base href>` applies. Relative URLs resolve by the WHATWG URL rules with the
//! document's encoding for the query (URL standard §4.4, [`resolve`]): odd links (bad escapes,
//! spaces, tabs and newlines, raw bytes, emoji, IDN hosts, IPv6 literals, very long ones) come out
//! as a browser would send them, or are skipped with a reason ([`Skipped`]); none stops extraction. Content codings are decoded for extraction
//! only, up to `max_decoded_size` bytes (the record keeps the bytes as received). Non-HTTP links
//! (mailto, tel, javascript, data, blob) are dropped.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Read;

use encoding_rs::Encoding;
use url::Url;

use crate::fetch::Exchange;

/// A link hop: `L` navigation link, `E` embed (page requisite), `R` redirect.
pub type Hop = char;

/// The response's `Content-Encoding`, lower-cased (empty without one).
fn content_coding(ex: &Exchange) -> String {
    ex.framed().and_then(|f| f.header("content-encoding")).unwrap_or_default().to_ascii_lowercase()
}

/// How many bytes [`outlinks`] reads from `ex` when that is bounded by what was recorded (no
/// content coding, and not a sitemap, which is gunzipped by its magic bytes); `None` when a small
/// body may inflate (up to `max_decoded_size`). For choosing where the scan runs.
pub fn scan_bytes(ex: &Exchange, sitemap: bool) -> Option<usize> {
    let coding = content_coding(ex);
    (!sitemap && matches!(coding.as_str(), "" | "identity")).then_some(ex.block.len())
}

/// The decoded body of `ex` (content coding removed), at most `cap` bytes: borrowed from the
/// recorded bytes when the payload is one piece (not chunked) and not compressed. `None` for a
/// coding we do not decode (we only ask for gzip).
pub fn decoded_body(ex: &Exchange, cap: u64) -> Option<Cow<'_, [u8]>> {
    let coding = content_coding(ex);
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    match coding.as_str() {
        "" | "identity" => match ex.payload_slices()[..] {
            [] => Some(Cow::Borrowed(&[])),
            [one] => Some(Cow::Borrowed(&one[..one.len().min(cap)])),
            ref pieces => {
                let total: usize = pieces.iter().map(|p| p.len()).sum();
                let mut out = Vec::with_capacity(total.min(cap));
                for p in pieces {
                    let room = cap - out.len();
                    out.extend_from_slice(&p[..p.len().min(room)]);
                }
                Some(Cow::Owned(out))
            }
        },
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            // A truncated or corrupt stream yields what decoded before the error.
            let _ = flate2::read::MultiGzDecoder::new(&ex.payload()[..]).take(cap as u64).read_to_end(&mut out);
            Some(Cow::Owned(out))
        }
        _ => None,
    }
}

/// Most URLs taken from one sitemap (the sitemaps protocol's own limit).
pub const MAX_SITEMAP_URLS: usize = 50_000;

/// What one parse of a capture yields: its outlinks and whether it asks robots not to follow them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageLinks {
    /// Every outlink, resolved against the capture's URL (or `<base>`), with its hop.
    pub links: Vec<(Url, Hop)>,
    /// `X-Robots-Tag: nofollow` (or `none`), or `<meta name="robots" content="nofollow">` (or
    /// `name="harvestd"`) in HTML.
    pub nofollow: bool,
}

/// Every outlink of a capture, resolved against its URL (or `<base>`), with its hop, and whether
/// the capture says nofollow; an HTML body is parsed once for both. When `sitemap` (the capture was
/// reached through a sitemap hop), an XML sitemap or sitemap index (gzip-compressed or not) yields
/// its `<loc>` URLs as `M` hops.
pub fn outlinks(ex: &Exchange, max_decoded: u64, sitemap: bool) -> PageLinks {
    let Some(f) = ex.framed() else { return PageLinks::default() };
    let header_nofollow = f
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("x-robots-tag") && says_nofollow(&String::from_utf8_lossy(v)));
    let done =
        |links: Vec<(Url, Hop)>, meta: bool| PageLinks { links: keep_http(links), nofollow: header_nofollow || meta };
    if sitemap && (200..300).contains(&f.status) {
        if let Some(body) = decoded_body(ex, max_decoded) {
            let body = gunzip_if_gzip(body, max_decoded);
            if let Some(locs) = sitemap_locs(&body) {
                return done(locs.iter().filter_map(|l| ex.url.join(l).ok()).map(|u| (u, 'M')).collect(), false);
            }
        }
    }
    let mut out = Vec::new();
    if (300..400).contains(&f.status) {
        if let Some(loc) = f.header_url("location") {
            if let Ok(u) = ex.url.join(&loc) {
                out.push((u, 'R'));
            }
        }
    }
    if let Some(target) = f.header_url("refresh").as_deref().and_then(refresh_url) {
        if let Ok(u) = ex.url.join(&target) {
            out.push((u, 'R'));
        }
    }
    let ctype = f.header("content-type").unwrap_or_default().to_ascii_lowercase();
    let is_html = ctype.contains("html");
    let is_css = ctype.contains("text/css");
    if !(is_html || is_css) {
        return done(out, false);
    }
    let Some(body) = decoded_body(ex, max_decoded) else {
        return done(out, false);
    };
    let mut meta = false;
    if is_html {
        let encoding = sniff_charset(&ctype, &body);
        let scan = html_scan(&body, &ex.url, encoding);
        out.extend(scan.links);
        meta = scan.nofollow;
    } else {
        let text = String::from_utf8_lossy(&body);
        out.extend(css_urls(&text).into_iter().filter_map(|u| ex.url.join(&u).ok()).map(|u| (u, 'E')));
    }
    done(out, meta)
}

fn keep_http(links: Vec<(Url, Hop)>) -> Vec<(Url, Hop)> {
    links
        .into_iter()
        .filter(|(u, _)| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .map(|(mut u, h)| {
            u.set_fragment(None);
            (u, h)
        })
        .collect()
}

/// A `.xml.gz` sitemap is often served as `application/gzip` with no content coding: gunzip it by
/// its magic bytes (at most `cap` bytes).
fn gunzip_if_gzip(body: Cow<'_, [u8]>, cap: u64) -> Cow<'_, [u8]> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return body;
    }
    let mut out = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(&body[..]).take(cap).read_to_end(&mut out);
    Cow::Owned(out)
}

/// The `<loc>` values of an XML sitemap (`<urlset>`) or sitemap index (`<sitemapindex>`), at most
/// [`MAX_SITEMAP_URLS`]; `None` when the document is neither (sitemaps.org protocol).
pub fn sitemap_locs(xml: &[u8]) -> Option<Vec<String>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut root: Option<String> = None;
    let mut in_loc = false;
    let mut current = String::new();
    let mut locs = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name: String = e.local_name().into_inner().to_ascii_lowercase();
                if root.is_none() {
                    if name != "urlset" && name != "sitemapindex" {
                        return None;
                    }
                    root = Some(name.clone());
                }
                if name == "loc" {
                    in_loc = true;
                    current.clear();
                }
            }
            Ok(Event::End(e)) if in_loc && e.local_name().into_inner().eq_ignore_ascii_case("loc") => {
                in_loc = false;
                let loc = current.trim();
                if !loc.is_empty() {
                    locs.push(loc.to_string());
                    if locs.len() >= MAX_SITEMAP_URLS {
                        break;
                    }
                }
            }
            Ok(Event::Text(t)) if in_loc => current.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) if in_loc => current.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if in_loc => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    current.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                    current.push_str(s);
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    root.map(|_| locs)
}

/// Whether a robots directive list (`X-Robots-Tag` value, or robots meta `content`) says nofollow.
fn says_nofollow(v: &str) -> bool {
    v.split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .any(|t| t == "nofollow" || t == "none" || t.ends_with(": nofollow"))
}

/// `link rel` values that make the link a page requisite (`E`).
fn link_rel_is_embed(rel: &str) -> bool {
    rel.split_ascii_whitespace().any(|r| {
        matches!(
            r.to_ascii_lowercase().as_str(),
            "stylesheet"
                | "icon"
                | "shortcut"
                | "apple-touch-icon"
                | "preload"
                | "modulepreload"
                | "manifest"
                | "prefetch"
        )
    })
}

/// The URL of a `Refresh` header or `<meta http-equiv=refresh>` content (`5; url=/next`), if any
/// (HTML standard §4.2.5.3, shared declarative refresh steps, simplified).
pub fn refresh_url(content: &str) -> Option<String> {
    let rest = content.trim_start().trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let rest = rest.trim_start().strip_prefix([';', ',']).unwrap_or(rest).trim_start();
    let rest = match rest.get(..3) {
        Some(p) if p.eq_ignore_ascii_case("url") => {
            let r = rest[3..].trim_start();
            r.strip_prefix('=').map(str::trim_start).unwrap_or(rest)
        }
        _ => rest,
    };
    let rest = rest.trim();
    let url = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
        _ => rest,
    };
    (!url.is_empty()).then(|| url.to_string())
}

/// The document's character encoding: BOM, then the `charset` of `content_type`, then a
/// `<meta charset>` / `<meta http-equiv=Content-Type>` in the first 1024 bytes; UTF-8 otherwise.
pub fn sniff_charset(content_type: &str, body: &[u8]) -> &'static Encoding {
    if let Some((enc, _)) = Encoding::for_bom(body) {
        return enc;
    }
    let label_after = |s: &str| -> Option<&'static Encoding> {
        let i = s.to_ascii_lowercase().find("charset")?;
        let rest = s[i + 7..].trim_start().strip_prefix('=')?.trim_start();
        let label: String = rest
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| !matches!(c, '"' | '\'' | ';' | ' ' | '>' | '/'))
            .collect();
        Encoding::for_label(label.trim().as_bytes())
    };
    if let Some(enc) = label_after(content_type) {
        return enc;
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(1024)]);
    let lower = head.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find("<meta") {
        let start = at + i;
        let end = lower[start..].find('>').map(|e| start + e).unwrap_or(lower.len());
        if let Some(enc) = label_after(&head[start..end]) {
            // A page declaring UTF-16 in a meta tag is read as UTF-8 (HTML standard §13.2.3.2).
            return if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE { encoding_rs::UTF_8 } else { enc };
        }
        at = end;
    }
    encoding_rs::UTF_8
}

/// Links in a UTF-8 HTML document (see [`html_links_in`]).
pub fn html_links(body: &[u8], doc_url: &Url) -> Vec<(Url, Hop)> {
    html_links_in(body, doc_url, encoding_rs::UTF_8)
}

/// Links in an HTML document in `encoding`, resolved against the first `<base href>` (itself
/// resolved against `doc_url`) or `doc_url`, queries encoded in `encoding`.
pub fn html_links_in(body: &[u8], doc_url: &Url, encoding: &'static Encoding) -> Vec<(Url, Hop)> {
    html_scan(body, doc_url, encoding).links
}

/// What one pass over an HTML document finds: its links (as [`html_links_in`] gives them) and
/// whether a robots meta tag (`name="robots"` or `name="harvestd"`) says nofollow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlScan {
    /// The links with their hops.
    pub links: Vec<(Url, Hop)>,
    /// A robots meta tag says nofollow (or none).
    pub nofollow: bool,
}

/// lol_html's `element!`, with its selector parsed once per process instead of once per document
/// (15 selectors; parsing them was ~2% of a crawl's CPU).
macro_rules! cached_element {
    ($selector:literal, $handler:expr) => {
        (cached_selector!($selector), lol_html::ElementContentHandlers::default().element(element_handler($handler)))
    };
}

/// lol_html's `text!`, with its selector parsed once per process.
macro_rules! cached_text {
    ($selector:literal, $handler:expr) => {
        (cached_selector!($selector), lol_html::ElementContentHandlers::default().text(text_handler($handler)))
    };
}

/// A selector parsed the first time this place is reached, borrowed afterwards.
macro_rules! cached_selector {
    ($selector:literal) => {{
        static SELECTOR: std::sync::LazyLock<lol_html::Selector> =
            std::sync::LazyLock::new(|| $selector.parse().expect("a valid selector"));
        std::borrow::Cow::Borrowed(&*SELECTOR)
    }};
}

/// Pins an element handler's closure type (what `element!` does with its `type_hint`).
fn element_handler<'h, F>(f: F) -> F
where
    F: FnMut(&mut lol_html::html_content::Element<'_, '_>) -> lol_html::HandlerResult + 'h,
{
    f
}

/// Pins a text handler's closure type.
fn text_handler<'h, F>(f: F) -> F
where
    F: FnMut(&mut lol_html::html_content::TextChunk<'_>) -> lol_html::HandlerResult + 'h,
{
    f
}

/// Parses an HTML document in `encoding` once for [`HtmlScan`].
pub fn html_scan(body: &[u8], doc_url: &Url, encoding: &'static Encoding) -> HtmlScan {
    use lol_html::{AsciiCompatibleEncoding, HtmlRewriter, Settings};
    // lol_html needs an ASCII-compatible encoding; a UTF-16 document is decoded first.
    let (body, encoding): (std::borrow::Cow<'_, [u8]>, &'static Encoding) = match AsciiCompatibleEncoding::new(encoding)
    {
        Some(_) => (body.into(), encoding),
        None => {
            let (text, _, _) = encoding.decode(body);
            (text.into_owned().into_bytes().into(), encoding_rs::UTF_8)
        }
    };
    let ascii_enc = AsciiCompatibleEncoding::new(encoding).expect("checked above");
    let found: RefCell<Vec<(String, Hop)>> = RefCell::new(Vec::new());
    let base: RefCell<Option<String>> = RefCell::new(None);
    let style: RefCell<String> = RefCell::new(String::new());
    let nofollow = std::cell::Cell::new(false);
    let attr = |el: &lol_html::html_content::Element, name: &str| {
        // HTML strips ASCII whitespace around a URL attribute (not, say, a no-break space).
        el.get_attribute(name)
            .map(|v| html_escape::decode_html_entities(&v).trim_matches(|c: char| c.is_ascii_whitespace()).to_string())
    };
    {
        let mut rewriter = HtmlRewriter::new(
            Settings {
                element_content_handlers: vec![
                    cached_element!("a[href], area[href]", |el| {
                        found.borrow_mut().extend(attr(el, "href").map(|v| (v, 'L')));
                        Ok(())
                    }),
                    cached_element!("img, source", |el| {
                        found.borrow_mut().extend(attr(el, "src").map(|v| (v, 'E')));
                        if let Some(s) = attr(el, "srcset") {
                            found.borrow_mut().extend(srcset_urls(&s).into_iter().map(|v| (v, 'E')));
                        }
                        Ok(())
                    }),
                    cached_element!(
                        "iframe[src], frame[src], embed[src], video[src], audio[src], track[src], input[src]",
                        |el| {
                            found.borrow_mut().extend(attr(el, "src").map(|v| (v, 'E')));
                            Ok(())
                        }
                    ),
                    // Lazy-loading images (WordPress and most news sites): the real URL waits in
                    // data-* attributes until a script swaps it in.
                    cached_element!("[data-src], [data-lazy-src], [data-srcset], [data-lazy-srcset]", |el| {
                        let mut f = found.borrow_mut();
                        f.extend(["data-src", "data-lazy-src"].iter().filter_map(|a| attr(el, a)).map(|v| (v, 'E')));
                        for a in ["data-srcset", "data-lazy-srcset"] {
                            if let Some(s) = attr(el, a) {
                                f.extend(srcset_urls(&s).into_iter().map(|v| (v, 'E')));
                            }
                        }
                        Ok(())
                    }),
                    cached_element!("body[background], table[background], td[background], th[background]", |el| {
                        found.borrow_mut().extend(attr(el, "background").map(|v| (v, 'E')));
                        Ok(())
                    }),
                    cached_element!("link[imagesrcset]", |el| {
                        let s = attr(el, "imagesrcset").unwrap_or_default();
                        found.borrow_mut().extend(srcset_urls(&s).into_iter().map(|v| (v, 'E')));
                        Ok(())
                    }),
                    cached_element!("video[poster]", |el| {
                        found.borrow_mut().extend(attr(el, "poster").map(|v| (v, 'E')));
                        Ok(())
                    }),
                    cached_element!("object[data]", |el| {
                        found.borrow_mut().extend(attr(el, "data").map(|v| (v, 'E')));
                        Ok(())
                    }),
                    cached_element!("meta[http-equiv][content]", |el| {
                        if attr(el, "http-equiv").is_some_and(|h| h.eq_ignore_ascii_case("refresh")) {
                            let target = attr(el, "content").as_deref().and_then(refresh_url);
                            found.borrow_mut().extend(target.map(|v| (v, 'R')));
                        }
                        Ok(())
                    }),
                    cached_element!("[style]", |el| {
                        let css = attr(el, "style").unwrap_or_default();
                        found.borrow_mut().extend(css_urls(&css).into_iter().map(|v| (v, 'E')));
                        Ok(())
                    }),
                    cached_element!("script[src]", |el| {
                        found.borrow_mut().extend(attr(el, "src").map(|v| (v, 'E')));
                        Ok(())
                    }),
                    cached_element!("link[href]", |el| {
                        let hop = if link_rel_is_embed(&attr(el, "rel").unwrap_or_default()) { 'E' } else { 'L' };
                        found.borrow_mut().extend(attr(el, "href").map(|v| (v, hop)));
                        Ok(())
                    }),
                    cached_element!("meta[name][content]", |el| {
                        let name = el.get_attribute("name").unwrap_or_default().to_ascii_lowercase();
                        if (name == "robots" || name == crate::config::PRODUCT_TOKEN)
                            && says_nofollow(&el.get_attribute("content").unwrap_or_default())
                        {
                            nofollow.set(true);
                        }
                        Ok(())
                    }),
                    cached_element!("base[href]", |el| {
                        let mut b = base.borrow_mut();
                        if b.is_none() {
                            *b = attr(el, "href");
                        }
                        Ok(())
                    }),
                    cached_text!("style", |t| {
                        style.borrow_mut().push_str(t.as_str());
                        Ok(())
                    }),
                ],
                encoding: ascii_enc,
                strict: false,
                // Deeply nested markup (a few KB of gzip inflating to millions of open `<b>`
                // tags) grows lol_html's open-element stack without bound: it stops here instead,
                // and the links found before are kept.
                memory_settings: lol_html::MemorySettings {
                    max_allowed_memory_usage: HTML_SCAN_MEMORY,
                    ..lol_html::MemorySettings::new()
                },
                ..Settings::new()
            },
            |_: &[u8]| {},
        );
        // lol_html only fails on its memory limit or handler errors; keep what was found. After a
        // failed write the rewriter must not be used again (`end` would panic).
        if rewriter.write(&body).is_ok() {
            let _ = rewriter.end();
        }
    }
    let base_url =
        base.into_inner().and_then(|b| parse_with(doc_url, &b, encoding).ok()).unwrap_or_else(|| doc_url.clone());
    let mut links = found.into_inner();
    links.extend(css_urls(&style.into_inner()).into_iter().map(|u| (u, 'E')));
    let links = links.into_iter().filter_map(|(v, h)| resolve(&base_url, &v, encoding).ok().map(|u| (u, h))).collect();
    HtmlScan { links, nofollow: nofollow.get() }
}

/// The most memory (bytes) lol_html may use for one document's parser state (buffered tag,
/// open-element stack): far above what real pages need, far below what a nesting bomb takes.
const HTML_SCAN_MEMORY: usize = 16 << 20;

/// Why a link found in a document yields no outlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// Nothing but spaces and control characters: a reference to the document itself.
    Empty,
    /// The WHATWG URL parser rejects it (a bad port, host or IPv6 address).
    Unparseable(url::ParseError),
    /// Another scheme than http or https (`javascript`, `data`, `mailto`, `tel`, …), lower-cased.
    NotHttp(String),
}

/// `href` resolved against `base` as a browser does (URL standard §4.4, the `url` crate): leading
/// and trailing C0 controls and spaces dropped, tabs and newlines removed anywhere, `\` read as `/`
/// in http(s), spaces and non-ASCII percent-encoded (UTF-8 in the path, `encoding` in the query),
/// bad percent-escapes (`%zz`, a lone `%`) kept as written, hosts lower-cased and IDNA-encoded,
/// IPv4 in any of its forms normalised, a default port dropped, dot segments resolved. The
/// fragment is dropped. Never panics, whatever `href` holds.
pub fn resolve(base: &Url, href: &str, encoding: &'static Encoding) -> Result<Url, Skipped> {
    if href.trim_matches(|c: char| c <= ' ').is_empty() {
        return Err(Skipped::Empty);
    }
    let mut u = parse_with(base, href, encoding).map_err(Skipped::Unparseable)?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Skipped::NotHttp(u.scheme().to_string()));
    }
    u.set_fragment(None);
    Ok(u)
}

/// `v` parsed against `base`, its query encoded in `encoding`.
fn parse_with(base: &Url, v: &str, encoding: &'static Encoding) -> Result<Url, url::ParseError> {
    let opts = Url::options().base_url(Some(base));
    if encoding == encoding_rs::UTF_8 {
        opts.parse(v)
    } else {
        let encode: &dyn Fn(&str) -> std::borrow::Cow<'_, [u8]> = &|s| encoding.encode(s).0;
        opts.encoding_override(Some(encode)).parse(v)
    }
}

/// Image candidate URLs of a `srcset` value, by the HTML standard's parsing algorithm (§4.8.4.3.10):
/// a URL runs to whitespace; trailing commas end the candidate; descriptors run to a comma outside
/// parentheses. Commas inside a URL are kept.
pub fn srcset_urls(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c);
    loop {
        while i < b.len() && (is_ws(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i >= b.len() {
            return out;
        }
        let start = i;
        while i < b.len() && !is_ws(b[i]) {
            i += 1;
        }
        let mut url = &s[start..i];
        let mut ended = false;
        if url.ends_with(',') {
            url = url.trim_end_matches(',');
            ended = true;
        }
        if !url.is_empty() {
            out.push(url.to_string());
        }
        if !ended {
            // Skip descriptors up to a comma outside parentheses.
            let mut depth = 0i32;
            while i < b.len() {
                match b[i] {
                    b'(' => depth += 1,
                    b')' => depth -= 1,
                    b',' if depth <= 0 => break,
                    _ => {}
                }
                i += 1;
            }
        }
    }
}

/// URLs referenced by CSS text: `url(...)` (quoted or not, CSS escapes decoded) and `@import "..."`.
pub fn css_urls(css: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = css.to_ascii_lowercase();
    let b = css.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if lower[i..].starts_with("/*") {
            i = lower[i + 2..].find("*/").map(|p| i + 2 + p + 2).unwrap_or(b.len());
            continue;
        }
        if lower[i..].starts_with("url(") {
            i += 4;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let (v, next) = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                css_string(css, i)
            } else {
                let end = css[i..].find(')').map(|p| i + p).unwrap_or(b.len());
                (css_unescape(css[i..end].trim()), end)
            };
            if !v.is_empty() {
                out.push(v);
            }
            i = next;
            continue;
        }
        if lower[i..].starts_with("@import") {
            i += 7;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let (v, next) = css_string(css, i);
                if !v.is_empty() {
                    out.push(v);
                }
                i = next;
            }
            continue;
        }
        i += css[i..].chars().next().map(char::len_utf8).unwrap_or(1);
    }
    out
}

/// A quoted CSS string starting at `at` (the quote): its unescaped value and the index after it.
fn css_string(css: &str, at: usize) -> (String, usize) {
    let b = css.as_bytes();
    let q = b[at];
    let mut i = at + 1;
    while i < b.len() && b[i] != q {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    let end = i.min(b.len());
    (css_unescape(&css[at + 1..end]), (end + 1).min(b.len()))
}

/// Decodes CSS escapes: `\` + up to 6 hex digits (+ one optional whitespace), or `\` + a character.
fn css_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        while hex.len() < 6 && chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
            hex.push(chars.next().expect("peeked"));
        }
        if hex.is_empty() {
            match chars.next() {
                Some('\n') | None => {}
                Some(other) => out.push(other),
            }
        } else {
            if chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let cp = u32::from_str_radix(&hex, 16).unwrap_or(0xfffd);
            out.push(char::from_u32(cp).filter(|&c| c != '\0').unwrap_or('\u{fffd}'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(html: &str) -> Vec<(String, Hop)> {
        let base = Url::parse("http://example.com/dir/page.html").unwrap();
        html_links(html.as_bytes(), &base).into_iter().map(|(u, h)| (u.to_string(), h)).collect()
    }

    macro_rules! html_cases {
        ($($name:ident: $html:expr => [$(($url:expr, $hop:expr)),*],)*) => {$(
            #[test]
            fn $name() {
                let want: Vec<(String, Hop)> = vec![$(($url.to_string(), $hop)),*];
                assert_eq!(links($html), want);
            }
        )*};
    }

    html_cases! {
        a_href_is_link: r#"<a href="other.html">x</a>"# => [("http://example.com/dir/other.html", 'L')],
        area_href_is_link: r#"<map><area href="/m"></map>"# => [("http://example.com/m", 'L')],
        img_src_is_embed: r#"<img src="i.png">"# => [("http://example.com/dir/i.png", 'E')],
        img_srcset: r#"<img srcset="a.jpg 1x, b.jpg 2x">"# => [("http://example.com/dir/a.jpg", 'E'), ("http://example.com/dir/b.jpg", 'E')],
        script_src: r#"<script src="/app.js"></script>"# => [("http://example.com/app.js", 'E')],
        link_stylesheet_is_embed: r#"<link rel="stylesheet" href="s.css">"# => [("http://example.com/dir/s.css", 'E')],
        link_icon_is_embed: r#"<link rel="shortcut icon" href="/favicon.ico">"# => [("http://example.com/favicon.ico", 'E')],
        link_alternate_is_link: r#"<link rel="alternate" href="/feed">"# => [("http://example.com/feed", 'L')],
        base_relative: r#"<base href="/other/"><a href="x">"# => [("http://example.com/other/x", 'L')],
        base_absolute: r#"<base href="http://cdn.example/b/"><img src="i.png">"# => [("http://cdn.example/b/i.png", 'E')],
        first_base_wins: r#"<base href="/one/"><base href="/two/"><a href="x">"# => [("http://example.com/one/x", 'L')],
        entities_decoded: r#"<a href="/q?a=1&amp;b=2">"# => [("http://example.com/q?a=1&b=2", 'L')],
        style_element_urls: "<style>body{background:url('bg.png')}</style>" => [("http://example.com/dir/bg.png", 'E')],
        fragment_only_link_resolves: r#"<a href="">"# => [],
        uppercase_tags: r#"<A HREF="/up">"# => [("http://example.com/up", 'L')],
        iframe_src: r#"<iframe src="/frame.html"></iframe>"# => [("http://example.com/frame.html", 'E')],
        embed_src: r#"<embed src="/movie.swf">"# => [("http://example.com/movie.swf", 'E')],
        video_src_and_poster: r#"<video src="/v.mp4" poster="/p.jpg"></video>"# => [("http://example.com/v.mp4", 'E'), ("http://example.com/p.jpg", 'E')],
        audio_src: r#"<audio src="/a.mp3"></audio>"# => [("http://example.com/a.mp3", 'E')],
        track_src: r#"<video><track src="/subs.vtt"></video>"# => [("http://example.com/subs.vtt", 'E')],
        source_src: r#"<video><source src="/v.webm" type="video/webm"></video>"# => [("http://example.com/v.webm", 'E')],
        source_srcset: r#"<picture><source srcset="/a.avif 1x, /b.avif 2x"></picture>"# => [("http://example.com/a.avif", 'E'), ("http://example.com/b.avif", 'E')],
        object_data: r#"<object data="/doc.pdf"></object>"# => [("http://example.com/doc.pdf", 'E')],
        link_preload: r#"<link rel="preload" href="/f.woff2" as="font">"# => [("http://example.com/f.woff2", 'E')],
        link_modulepreload: r#"<link rel="modulepreload" href="/m.js">"# => [("http://example.com/m.js", 'E')],
        link_manifest: r#"<link rel="manifest" href="/site.webmanifest">"# => [("http://example.com/site.webmanifest", 'E')],
        meta_refresh: r#"<meta http-equiv="Refresh" content="0; URL='/moved'">"# => [("http://example.com/moved", 'R')],
        meta_refresh_without_url: r#"<meta http-equiv="refresh" content="30">"# => [],
        style_attribute: r#"<div style="background-image: url(/hero.jpg)"></div>"# => [("http://example.com/hero.jpg", 'E')],
        style_attribute_entities: r#"<div style="background: url(&quot;/q.png&quot;)"></div>"# => [("http://example.com/q.png", 'E')],
        lazy_data_src: r#"<img src="/blank.gif" data-src="/real.jpg" data-srcset="/r-480.jpg 480w, /r-960.jpg 960w">"# => [("http://example.com/blank.gif", 'E'), ("http://example.com/real.jpg", 'E'), ("http://example.com/r-480.jpg", 'E'), ("http://example.com/r-960.jpg", 'E')],
        lazy_data_lazy_src: r#"<img data-lazy-src="/lazy.jpg">"# => [("http://example.com/lazy.jpg", 'E')],
        body_background: r#"<body background="/paper.gif">"# => [("http://example.com/paper.gif", 'E')],
        input_image: r#"<input type="image" src="/go.png">"# => [("http://example.com/go.png", 'E')],
        link_imagesrcset: r#"<link rel="preload" as="image" href="/h.jpg" imagesrcset="/h-1x.jpg 1x, /h-2x.jpg 2x">"# => [("http://example.com/h-1x.jpg", 'E'), ("http://example.com/h-2x.jpg", 'E'), ("http://example.com/h.jpg", 'E')],
        non_ascii_path_utf8: r#"<a href="/سوريا">"# => [("http://example.com/%D8%B3%D9%88%D8%B1%D9%8A%D8%A7", 'L')],
    }

    use url::ParseError;
    use ParseError as PE;
    use Skipped::{Empty, NotHttp, Unparseable};

    /// Odd links, resolved against `http://example.com/dir/page.html` in a UTF-8 document, as a
    /// browser's (WHATWG) URL parser does: an outlink, or why there is none.
    macro_rules! odd_link_cases {
        ($($name:ident: $href:expr => $want:expr,)*) => {$(
            #[test]
            fn $name() {
                let base = Url::parse("http://example.com/dir/page.html").unwrap();
                let got = resolve(&base, $href, encoding_rs::UTF_8);
                let want: Result<&str, Skipped> = $want;
                assert_eq!(got.as_ref().map(Url::as_str).map_err(Clone::clone), want, "{:?}", $href);
                if let Ok(u) = got {
                    // The rest of the path a link takes never panics on it either.
                    let keys = crate::canon::KeyOptions::stripping(vec![crate::canon::SessionParam::parse("sid").unwrap()]);
                    Url::parse(&crate::canon::seen_key(&u, &keys)).expect("a seen key is a URL");
                    let _ = crate::canon::cdx_key(u.as_str());
                    let _ = crate::scope::TrapRules::OFF.check(&u);
                }
            }
        )*};
    }

    odd_link_cases! {
        odd_bad_escape_kept: "/a%zz" => Ok("http://example.com/a%zz"),
        odd_lone_percent_kept: "/100%" => Ok("http://example.com/100%"),
        odd_lone_percent_in_query: "/s?q=50%" => Ok("http://example.com/s?q=50%"),
        odd_truncated_escape: "/a%4" => Ok("http://example.com/a%4"),
        odd_space_in_path: "/a b" => Ok("http://example.com/a%20b"),
        odd_space_in_query: "/s?q=a b" => Ok("http://example.com/s?q=a%20b"),
        odd_surrounding_spaces_and_controls: " \u{1}/x \n" => Ok("http://example.com/x"),
        odd_tab_and_newlines_inside_removed: "/a\tb\nc\r" => Ok("http://example.com/abc"),
        odd_tab_inside_scheme: "ht\ttp://other.example/" => Ok("http://other.example/"),
        odd_no_break_space_is_not_stripped: "\u{a0}x" => Ok("http://example.com/dir/%C2%A0x"),
        odd_emoji_path: "/😀/x" => Ok("http://example.com/%F0%9F%98%80/x"),
        odd_emoji_query: "/s?q=😀" => Ok("http://example.com/s?q=%F0%9F%98%80"),
        odd_idn_host: "http://bücher.example/" => Ok("http://xn--bcher-kva.example/"),
        odd_idn_host_upper_case: "http://BÜCHER.Example/" => Ok("http://xn--bcher-kva.example/"),
        odd_punycode_host_kept: "http://xn--bcher-kva.example/" => Ok("http://xn--bcher-kva.example/"),
        odd_percent_encoded_host_decoded: "http://%65xample.com/" => Ok("http://example.com/"),
        odd_ipv6_default_port_dropped: "http://[::1]:80/" => Ok("http://[::1]/"),
        odd_ipv6_other_port: "http://[0:0::1]:8080/x" => Ok("http://[::1]:8080/x"),
        odd_ipv4_hex_short_form: "http://0x7f.1/" => Ok("http://127.0.0.1/"),
        odd_protocol_relative: "//cdn.example/a.js" => Ok("http://cdn.example/a.js"),
        odd_backslashes_are_slashes: "\\a\\b" => Ok("http://example.com/a/b"),
        odd_dot_segments: "../up/./x" => Ok("http://example.com/up/x"),
        odd_fragment_only: "#top" => Ok("http://example.com/dir/page.html"),
        odd_query_only: "?p=2" => Ok("http://example.com/dir/page.html?p=2"),
        odd_same_scheme_relative: "http:foo" => Ok("http://example.com/dir/foo"),
        odd_other_special_scheme_is_absolute: "https:other.example" => Ok("https://other.example/"),
        odd_three_slashes: "http:///x" => Ok("http://x/"),
        odd_trailing_dot_host_kept: "http://example.com./" => Ok("http://example.com./"),
        odd_javascript: "javascript:void(0)" => Err(NotHttp("javascript".into())),
        odd_javascript_spaced_upper_case: " JavaScript:alert(1)" => Err(NotHttp("javascript".into())),
        odd_data: "data:text/html,<b>hi</b>" => Err(NotHttp("data".into())),
        odd_mailto: "mailto:a@example.com" => Err(NotHttp("mailto".into())),
        odd_tel: "tel:+4930123" => Err(NotHttp("tel".into())),
        odd_unknown_scheme: "foo:bar" => Err(NotHttp("foo".into())),
        odd_empty: "" => Err(Empty),
        odd_only_spaces: " \t\n " => Err(Empty),
        odd_port_too_big: "http://example.com:99999/" => Err(Unparseable(PE::InvalidPort)),
        odd_space_in_host: "http://exa mple.com/" => Err(Unparseable(PE::IdnaError)),
        odd_unclosed_ipv6: "http://[::1/" => Err(Unparseable(PE::InvalidIpv6Address)),
        odd_no_host: "http://" => Err(Unparseable(PE::EmptyHost)),
        odd_bad_punycode: "http://xn--a.example/" => Err(Unparseable(PE::IdnaError)),
    }

    #[test]
    fn a_very_long_href_resolves_whole_and_is_left_to_max_url_length() {
        let base = Url::parse("http://example.com/").unwrap();
        let href = format!("/{}?q={}", "a".repeat(20_000), "b".repeat(20_000));
        let u = resolve(&base, &href, encoding_rs::UTF_8).unwrap();
        assert_eq!(u.as_str().len(), "http://example.com".len() + href.len());
        let rules = crate::scope::TrapRules { max_url_length: 8192, ..crate::scope::TrapRules::OFF };
        assert_eq!(rules.check(&u).unwrap_err().0, crate::scope::TrapRule::MaxUrlLength);
    }

    #[test]
    fn raw_bytes_in_a_non_utf8_page_and_invalid_utf8_never_break_extraction() {
        let base = Url::parse("http://example.com/").unwrap();
        // windows-1252: é is 0xE9; the path is UTF-8-escaped, the query keeps the page's encoding.
        let body = b"<a href=\"/caf\xe9?q=\xe9\">x</a><a href=\"/%zz \xe9\">y</a>";
        let enc = sniff_charset("text/html; charset=windows-1252", body);
        let got: Vec<String> = html_links_in(body, &base, enc).into_iter().map(|(u, _)| u.to_string()).collect();
        assert_eq!(got, ["http://example.com/caf%C3%A9?q=%E9", "http://example.com/%zz%20%C3%A9"]);
        // A page said to be UTF-8 with bytes that are not: each becomes U+FFFD, escaped.
        let body = b"<a href=\"/x\xff\xfe\">x</a><img src=\"\xc3\">";
        let got: Vec<String> = html_links(body, &base).into_iter().map(|(u, _)| u.to_string()).collect();
        assert_eq!(got, ["http://example.com/x%EF%BF%BD%EF%BF%BD", "http://example.com/%EF%BF%BD"]);
    }

    #[test]
    fn a_page_of_odd_links_keeps_the_good_ones_and_drops_the_rest() {
        let html = "<a href=\"javascript:go()\">j</a><a href=\"data:,x\">d</a><a href=\"http://[::1/\">v6</a>\
                    <a href=\"http://exa mple.com/\">h</a><a href=\"\n\t\">e</a><a href=\" /ok\tay \">ok</a>\
                    <img srcset=\"%zz 1x, http://bücher.example/i.png 2x\"><div style=\"background:url('\\\n')\"></div>";
        assert_eq!(
            links(html),
            vec![
                ("http://example.com/okay".to_string(), 'L'),
                ("http://example.com/dir/%zz".to_string(), 'E'),
                ("http://xn--bcher-kva.example/i.png".to_string(), 'E'),
            ]
        );
    }

    #[test]
    fn charset_from_header_encodes_the_query() {
        // "س" (U+0633) is 0xD3 in windows-1256; paths stay UTF-8, queries take the page's encoding.
        let (body, _, _) = encoding_rs::WINDOWS_1256.encode("<a href=\"/بحث?q=س\">x</a>");
        let base = Url::parse("http://example.com/").unwrap();
        let enc = sniff_charset("text/html; charset=windows-1256", &body);
        assert_eq!(enc, encoding_rs::WINDOWS_1256);
        let links = html_links_in(&body, &base, enc);
        assert_eq!(links[0].0.as_str(), "http://example.com/%D8%A8%D8%AD%D8%AB?q=%D3");
    }

    macro_rules! charset_cases {
        ($($name:ident: $ctype:expr, $body:expr => $want:expr,)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(sniff_charset($ctype, $body).name(), $want);
            }
        )*};
    }

    charset_cases! {
        charset_default_utf8: "text/html", b"<p>hi" => "UTF-8",
        charset_header: "text/html; charset=\"ISO-8859-6\"", b"<p>" => "ISO-8859-6",
        charset_bom_wins: "text/html; charset=windows-1256", b"\xEF\xBB\xBF<p>" => "UTF-8",
        charset_meta: "text/html", b"<html><head><meta charset=windows-1256>" => "windows-1256",
        charset_meta_http_equiv: "text/html", b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-6\">" => "ISO-8859-6",
        charset_meta_utf16_is_utf8: "text/html", b"<meta charset=utf-16>" => "UTF-8",
    }

    #[test]
    fn sitemap_urlset_and_index() {
        let urlset = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://a.example/archives/1</loc><lastmod>2020-01-24</lastmod></url>
  <url><loc> https://a.example/search?q=1&amp;page=2 </loc></url>
  <url><loc><![CDATA[https://a.example/cdata]]></loc></url>
</urlset>"#;
        assert_eq!(
            sitemap_locs(urlset).unwrap(),
            vec!["https://a.example/archives/1", "https://a.example/search?q=1&page=2", "https://a.example/cdata"]
        );
        let index = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>https://a.example/s1.xml.gz</loc></sitemap></sitemapindex>"#;
        assert_eq!(sitemap_locs(index).unwrap(), vec!["https://a.example/s1.xml.gz"]);
        assert_eq!(sitemap_locs(b"<rss><channel><link>x</link></channel></rss>"), None);
        assert_eq!(sitemap_locs(b"<html><body>not xml at all"), None);
    }

    #[test]
    fn refresh_header_values() {
        assert_eq!(refresh_url("5; url=/next").as_deref(), Some("/next"));
        assert_eq!(refresh_url("0;URL=\"http://a.example/x\"").as_deref(), Some("http://a.example/x"));
        assert_eq!(refresh_url("3, /plain").as_deref(), Some("/plain"));
        assert_eq!(refresh_url("10").as_deref(), None);
    }

    #[test]
    fn scan_bytes_bounds_only_uncoded_pages() {
        let exchange = |response: &[u8]| Exchange {
            url: Url::parse("http://example.com/a").unwrap(),
            peer: "127.0.0.1:80".parse().unwrap(),
            date: chrono::Utc::now(),
            duration: std::time::Duration::ZERO,
            request: b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec(),
            block: response.to_vec(),
            material: crate::fetch::Material::Response(Box::new(
                crate::fetch::framer::frame_response(response, false, true).unwrap(),
            )),
            truncated: None,
            tls_verdict: None,
        };
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(scan_bytes(&exchange(plain), false), Some(plain.len()));
        assert_eq!(scan_bytes(&exchange(plain), true), None, "a sitemap is gunzipped by its magic bytes");
        let gz = b"HTTP/1.1 200 OK\r\nContent-Encoding: GZip\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(scan_bytes(&exchange(gz), false), None);
    }

    #[test]
    fn a_nesting_bomb_stops_the_scan_at_its_memory_limit_keeping_the_links_before() {
        let base = Url::parse("http://h.example/").unwrap();
        let mut page = b"<a href=/before>x</a>".to_vec();
        page.extend(b"<b>".repeat(2_000_000));
        page.extend(b"<a href=/after>y</a>");
        let got: Vec<String> =
            html_scan(&page, &base, encoding_rs::UTF_8).links.iter().map(|(u, _)| u.to_string()).collect();
        assert_eq!(got, ["http://h.example/before"], "the scan went on past {HTML_SCAN_MEMORY} bytes of parser state");
        // The same page, not nested: both links.
        let flat = String::from_utf8(page).unwrap().replace("<b>", "<br>");
        assert_eq!(html_scan(flat.as_bytes(), &base, encoding_rs::UTF_8).links.len(), 2);
    }

    #[test]
    fn one_parse_finds_the_links_and_a_robots_meta_nofollow() {
        let base = Url::parse("http://h.example/d/").unwrap();
        let scan = html_scan(
            b"<meta name=ROBOTS content='noindex, NoFollow'><a href=a>a</a><img src=/i.png>",
            &base,
            encoding_rs::UTF_8,
        );
        assert!(scan.nofollow);
        let got: Vec<String> = scan.links.iter().map(|(u, h)| format!("{h} {u}")).collect();
        assert_eq!(got, ["L http://h.example/d/a", "E http://h.example/i.png"]);
        for other in ["<meta name=description content=nofollow>", "<meta name=robots content=noindex>"] {
            assert!(!html_scan(other.as_bytes(), &base, encoding_rs::UTF_8).nofollow, "{other}");
        }
        let ours = format!("<meta name={} content=nofollow>", crate::config::PRODUCT_TOKEN);
        assert!(html_scan(ours.as_bytes(), &base, encoding_rs::UTF_8).nofollow);
    }

    #[test]
    fn non_http_links_are_dropped() {
        let ex_links = keep_http(
            ["mailto:a@b.c", "tel:+1", "javascript:void(0)", "data:text/plain,hi", "http://ok.example/#frag"]
                .iter()
                .map(|s| (Url::parse(s).unwrap(), 'L'))
                .collect(),
        );
        assert_eq!(ex_links, vec![(Url::parse("http://ok.example/").unwrap(), 'L')]);
    }

    macro_rules! srcset_cases {
        ($($name:ident: $input:expr => [$($want:expr),*],)*) => {$(
            #[test]
            fn $name() {
                let want: Vec<String> = vec![$($want.to_string()),*];
                assert_eq!(srcset_urls($input), want);
            }
        )*};
    }

    srcset_cases! {
        srcset_width_descriptors: "small.jpg 480w, large.jpg 1080w" => ["small.jpg", "large.jpg"],
        srcset_no_descriptor: "only.jpg" => ["only.jpg"],
        srcset_comma_in_url: "img,1.jpg 1x, img,2.jpg 2x" => ["img,1.jpg", "img,2.jpg"],
        srcset_trailing_comma_ends_candidate: "a.jpg,b.jpg 2x" => ["a.jpg,b.jpg"],
        srcset_url_with_trailing_commas: "a.jpg,, b.jpg" => ["a.jpg", "b.jpg"],
        srcset_leading_whitespace_commas: "  ,a.jpg 1x" => ["a.jpg"],
        srcset_parenthesised_descriptor: "a.jpg (x, y), b.jpg" => ["a.jpg", "b.jpg"],
    }

    macro_rules! css_cases {
        ($($name:ident: $input:expr => [$($want:expr),*],)*) => {$(
            #[test]
            fn $name() {
                let want: Vec<String> = vec![$($want.to_string()),*];
                assert_eq!(css_urls($input), want);
            }
        )*};
    }

    css_cases! {
        css_unquoted: "a{background:url(bg.png)}" => ["bg.png"],
        css_double_quoted: r#"a{background:url("bg 1.png")}"# => ["bg 1.png"],
        css_single_quoted: "a{background:URL( 'x.png' )}" => ["x.png"],
        css_escape_hex: r"a{background:url(b\67 .png)}" => ["bg.png"],
        css_escape_char: r#"a{background:url("a\"b.png")}"# => ["a\"b.png"],
        css_import_string: "@import 'base.css'; @import url(more.css);" => ["base.css", "more.css"],
        css_comment_skipped: "/* url(no.png) */ a{b:url(yes.png)}" => ["yes.png"],
        css_several: "@font-face{src:url(f.woff2) format('woff2'),url(f.woff)}" => ["f.woff2", "f.woff"],
    }
}
