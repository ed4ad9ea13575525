//! robots.txt (RFC 9309): what a fetched robots.txt means, and whether it allows a URL.
//!
//! The `robotstxt` crate (Google's matcher, ported) sits behind this wrapper, which strips a UTF-8
//! byte-order mark, always allows `/robots.txt` itself (RFC 9309 §2.3.1... the file must be
//! reachable), caps the body at 500 KiB (§2.5) and each line at 16 KiB, and catches the crate's
//! panics (a hostile file must not stop a worker). Status handling (§2.3.1.2–2.3.1.4): 2xx parse;
//! 4xx allow all; 5xx and network failure disallow all — until the retry budget exists, the
//! authority's URLs end as "robots prerequisite failed". 3xx is not followed yet and counts as
//! unavailable (allow all), noted in the issue tracker.

use serde::{Deserialize, Serialize};

/// Most bytes of a robots.txt parsed (RFC 9309 §2.5: at least 500 kibibytes).
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;
/// Longest line kept; longer lines are cut.
pub const MAX_LINE: usize = 16 * 1024;

/// What a robots.txt fetch told us about an authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RobotsRules {
    /// No usable file (4xx, or a 3xx not followed): everything allowed.
    AllowAll,
    /// A file to obey (already BOM-stripped and capped).
    Rules(String),
    /// Unreachable (5xx, 429, network failure): everything disallowed.
    Unreachable(String),
}

/// A cached robots.txt decision for one authority (stored under `r:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotsEntry {
    /// When it was fetched, ms since the epoch.
    pub fetched_ms: u64,
    /// What it said.
    pub rules: RobotsRules,
}

/// Interprets a robots.txt response: `status` (`None` when no response arrived) and the decoded
/// body.
pub fn interpret(status: Option<u16>, body: &[u8], failure: &str) -> RobotsRules {
    match status {
        Some(200..=299) => RobotsRules::Rules(prepare(body)),
        Some(300..=499) if status != Some(429) => RobotsRules::AllowAll,
        Some(s) => RobotsRules::Unreachable(format!("robots.txt answered {s}")),
        None => RobotsRules::Unreachable(failure.to_string()),
    }
}

/// BOM stripped, capped at [`MAX_ROBOTS_BYTES`], lines capped at [`MAX_LINE`], lossy UTF-8.
pub fn prepare(body: &[u8]) -> String {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let body = &body[..body.len().min(MAX_ROBOTS_BYTES)];
    let text = String::from_utf8_lossy(body);
    text.split_inclusive('\n')
        .map(|l| if l.len() > MAX_LINE { &l[..l.floor_char_boundary(MAX_LINE)] } else { l })
        .collect()
}

/// Whether `rules` allow `url` for the product token `agent` (RFC 9309 §2.2: the crawler's group,
/// else `*`; longest match wins).
pub fn allowed(rules: &RobotsRules, agent: &str, url: &url::Url) -> bool {
    if url.path() == "/robots.txt" {
        return true;
    }
    match rules {
        RobotsRules::AllowAll => true,
        RobotsRules::Unreachable(_) => false,
        RobotsRules::Rules(body) => {
            let (body, agent, u) = (body.clone(), agent.to_string(), url.to_string());
            std::panic::catch_unwind(move || {
                robotstxt::DefaultMatcher::default().one_agent_allowed_by_robots(&body, &agent, &u)
            })
            .unwrap_or(true) // the crate panicked on this file: treat it as unusable (RFC 9309 §2.4)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(s: &str) -> RobotsRules {
        interpret(Some(200), s.as_bytes(), "")
    }

    macro_rules! robots_cases {
        ($($name:ident: $body:expr, $url:expr => $want:expr,)*) => {$(
            #[test]
            fn $name() {
                let u = url::Url::parse($url).unwrap();
                assert_eq!(allowed(&rules($body), "harvestd", &u), $want);
            }
        )*};
    }

    robots_cases! {
        disallow_prefix: "User-agent: *\nDisallow: /private/\n", "http://a.example/private/x" => false,
        allow_elsewhere: "User-agent: *\nDisallow: /private/\n", "http://a.example/public" => true,
        own_group_wins: "User-agent: *\nDisallow: /\n\nUser-agent: harvestd\nAllow: /\n", "http://a.example/x" => true,
        own_group_case_insensitive: "User-agent: HarvestD\nDisallow: /x\n", "http://a.example/x" => false,
        longest_match_wins: "User-agent: *\nDisallow: /a\nAllow: /a/b\n", "http://a.example/a/b/c" => true,
        wildcard_and_end: "User-agent: *\nDisallow: /*.pdf$\n", "http://a.example/doc.pdf" => false,
        end_anchor_not_prefix: "User-agent: *\nDisallow: /*.pdf$\n", "http://a.example/doc.pdf?x" => true,
        bom_is_ignored: "\u{feff}User-agent: *\nDisallow: /b\n", "http://a.example/b" => false,
        crlf_lines: "User-agent: *\r\nDisallow: /c\r\n", "http://a.example/c" => false,
        robots_txt_always_allowed: "User-agent: *\nDisallow: /\n", "http://a.example/robots.txt" => true,
        empty_file_allows: "", "http://a.example/x" => true,
    }

    #[test]
    fn status_classes() {
        let u = url::Url::parse("http://a.example/x").unwrap();
        assert!(allowed(&interpret(Some(404), b"", ""), "harvestd", &u));
        assert!(allowed(&interpret(Some(403), b"", ""), "harvestd", &u));
        assert!(!allowed(&interpret(Some(503), b"", ""), "harvestd", &u));
        assert!(!allowed(&interpret(Some(429), b"", ""), "harvestd", &u));
        assert!(!allowed(&interpret(None, b"", "connect refused"), "harvestd", &u));
    }

    #[test]
    fn huge_lines_and_bodies_are_capped() {
        let long = format!("User-agent: *\nDisallow: /{}\n", "a".repeat(100_000));
        assert!(prepare(long.as_bytes()).len() < 20_000);
        let big = "# filler\n".repeat(100_000);
        assert_eq!(prepare(big.as_bytes()).len(), MAX_ROBOTS_BYTES);
    }
}
