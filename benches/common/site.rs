//! A generated web site: per host, HTML pages of a few KB (navigation, paragraphs, links to other
//! pages of the host, images with `srcset`), a stylesheet that pulls in a font and a background
//! image, a script, images of random bytes, and a permissive robots.txt. Every response is built
//! once, as the exact bytes a server sends (`Content-Length` framing, keep-alive), so serving it
//! costs one lookup and one write.

use std::collections::HashMap;
use std::sync::Arc;

/// A small, fast PRNG (xorshift64*), so every run builds the same site without a dependency.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

const WORDS: &[&str] = &[
    "the", "archive", "of", "a", "crawler", "polite", "record", "web", "page", "content", "digest", "payload",
    "report", "news", "city", "council", "water", "school", "budget", "vote", "and", "in", "for", "to", "with",
    "after", "before", "market", "weather", "season", "river", "bridge", "museum", "library", "festival", "election",
    "street",
];

/// What a site looks like.
#[derive(Debug, Clone, Copy)]
pub struct SiteSpec {
    /// HTML pages per host (page 0 is `/`).
    pub pages: usize,
    /// Images per host (each page shows two or three of them).
    pub images: usize,
    /// Approximate HTML page size, bytes (pages vary from half to one and a half times this).
    pub page_bytes: usize,
    /// Links from each page to other pages of the host, besides the navigation.
    pub links: usize,
}

impl SiteSpec {
    /// URLs a crawler finds on one host: pages, images, the stylesheet with its font and
    /// background, the script, and robots.txt.
    pub fn urls_per_host(&self) -> usize {
        self.pages + self.images + 4 + 1
    }
}

/// One host's responses by request target.
pub struct HostSite {
    /// Request target (`/path`) → the whole HTTP response.
    pub responses: HashMap<String, Arc<[u8]>>,
    /// The response for any other target.
    pub not_found: Arc<[u8]>,
}

/// The path of page `i` (page 0 is the home page).
pub fn page_path(i: usize) -> String {
    if i == 0 {
        "/".into()
    } else {
        format!("/section-{}/article-{i}.html", i % 8)
    }
}

fn image_path(j: usize) -> String {
    format!("/media/photo-{j}.jpg")
}

fn response(status: &str, content_type: &str, body: &[u8]) -> Arc<[u8]> {
    let head = format!(
        "HTTP/1.1 {status}\r\nServer: harvestd-bench\r\nDate: Sat, 24 Jan 2026 10:00:00 GMT\r\n\
         Last-Modified: Fri, 23 Jan 2026 08:00:00 GMT\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nCache-Control: max-age=600\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat().into()
}

fn words(rng: &mut Rng, s: &mut String, n: usize) {
    for k in 0..n {
        if k > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.range(0, WORDS.len())]);
    }
}

/// The HTML of page `i`.
fn page(spec: &SiteSpec, rng: &mut Rng, i: usize) -> Vec<u8> {
    let target = rng.range(spec.page_bytes / 2, spec.page_bytes * 3 / 2);
    let mut s = String::with_capacity(target + 1024);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
    words(rng, &mut s, 6);
    s.push_str("</title>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    s.push_str("<link rel=\"stylesheet\" href=\"/static/site.css\">\n<script src=\"/static/app.js\" defer></script>\n");
    s.push_str("</head><body>\n<header><nav><a href=\"/\">Home</a>");
    for sec in 0..8 {
        // The first page of each section stands for its index.
        s.push_str(&format!(" <a href=\"{}\">Section {sec}</a>", page_path((sec + 1).min(spec.pages - 1))));
    }
    s.push_str("</nav></header>\n<main><article>\n<h1>");
    words(rng, &mut s, 8);
    s.push_str("</h1>\n");
    // Links that make every page reachable (page i links to pages i*k+1 ..= i*k+k), then others.
    let k = spec.links.clamp(1, 10);
    let mut links: Vec<usize> = (i * k + 1..=i * k + k).filter(|&p| p < spec.pages).collect();
    while links.len() < spec.links && spec.pages > 1 {
        links.push(rng.range(0, spec.pages));
    }
    let mut images: Vec<usize> = (0..rng.range(2, 4)).map(|_| rng.range(0, spec.images.max(1))).collect();
    if spec.images == 0 {
        images.clear();
    } else if i < spec.images {
        images[0] = i; // every image is shown somewhere
    }
    let mut paragraph = 0;
    while s.len() < target || !links.is_empty() || !images.is_empty() {
        s.push_str("<p>");
        let n = rng.range(25, 60);
        words(rng, &mut s, n);
        if let Some(l) = links.pop() {
            s.push_str(&format!(" <a href=\"{}\">", page_path(l)));
            words(rng, &mut s, 3);
            s.push_str("</a> ");
            words(rng, &mut s, 6);
        }
        if let Some(l) = links.pop() {
            s.push_str(&format!(", see <a href=\"{}\" title=\"more\">", page_path(l)));
            words(rng, &mut s, 2);
            s.push_str("</a>");
        }
        s.push_str(".</p>\n");
        paragraph += 1;
        if paragraph % 3 == 1 {
            if let Some(j) = images.pop() {
                let p = image_path(j);
                s.push_str(&format!(
                    "<figure><img src=\"{p}\" srcset=\"{p} 1x\" alt=\"photo {j}\" width=\"640\" height=\"480\"><figcaption>"
                ));
                words(rng, &mut s, 5);
                s.push_str("</figcaption></figure>\n");
            }
        }
    }
    s.push_str("</article></main>\n<footer><p>&copy; 2026 harvestd bench site &middot; <a href=\"/\">home</a></p></footer>\n</body></html>\n");
    s.into_bytes()
}

/// Builds host number `host`'s site.
pub fn host_site(spec: &SiteSpec, host: usize) -> HostSite {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((host as u64 + 1) * 0x1000_0001));
    let mut responses = HashMap::new();
    for i in 0..spec.pages {
        let body = page(spec, &mut rng, i);
        responses.insert(page_path(i), response("200 OK", "text/html; charset=utf-8", &body));
    }
    for j in 0..spec.images {
        let n = rng.range(3_000, 30_000);
        let body = rng.bytes(n);
        responses.insert(image_path(j), response("200 OK", "image/jpeg", &body));
    }
    let css = "body{font:16px/1.5 'Bench',serif;background:#fff url(/static/paper.png) repeat}\n\
               @font-face{font-family:'Bench';src:url(\"/static/bench.woff2\") format(\"woff2\")}\n\
               header nav a{margin-right:1em}figure{margin:1em 0}img{max-width:100%;height:auto}\n"
        .repeat(4);
    responses.insert("/static/site.css".into(), response("200 OK", "text/css", css.as_bytes()));
    let js =
        "document.addEventListener('DOMContentLoaded',function(){var n=document.querySelectorAll('a');})\n".repeat(20);
    responses.insert("/static/app.js".into(), response("200 OK", "application/javascript", js.as_bytes()));
    responses.insert("/static/paper.png".into(), response("200 OK", "image/png", &rng.bytes(1_500)));
    responses.insert("/static/bench.woff2".into(), response("200 OK", "font/woff2", &rng.bytes(12_000)));
    responses.insert("/robots.txt".into(), response("200 OK", "text/plain", b"User-agent: *\nDisallow:\n"));
    let not_found = response("404 Not Found", "text/html", b"<html><body>not found</body></html>\n");
    HostSite { responses, not_found }
}
