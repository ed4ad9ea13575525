//! robots.txt (RFC 9309): what a fetched robots.txt means, and whether it allows a URL.
//!
//! The `robotstxt` crate (Google's matcher, ported) sits behind this wrapper, which strips a UTF-8
//! byte-order mark, normalises percent-encoding in URLs and in rule patterns alike, always allows `/robots.txt` itself (RFC 9309 §2.3.1... the file must be
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
    /// Unreachable (5xx, 429, network failure): everything disallowed, fetched again with backoff.
    Unreachable(String),
    /// Cannot be fetched for a reason retrying will not change (the destination policy refuses the
    /// address, the certificate fails strict verification): everything disallowed at once.
    Blocked(String),
}

/// A cached robots.txt decision for one authority (stored under `r:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotsEntry {
    /// When it was fetched, ms since the epoch.
    pub fetched_ms: u64,
    /// What it said.
    pub rules: RobotsRules,
    /// Its Crawl-delay for our group (else `*`), ms, uncapped.
    #[serde(default)]
    pub crawl_delay_ms: Option<u64>,
    /// While unreachable: since when (the first failed fetch), ms since the epoch.
    #[serde(default)]
    pub failed_since_ms: Option<u64>,
    /// While unreachable: failed fetches so far.
    #[serde(default)]
    pub failures: u32,
    /// The last rules fetched successfully, obeyed while the file is unreachable (RFC 9309 §2.4).
    #[serde(default)]
    pub previous: Option<RobotsRules>,
}

impl RobotsEntry {
    /// An entry for a fetch that just returned `rules`, carrying what `old` knew of failures and
    /// of the last good rules.
    pub fn after_fetch(now_ms: u64, rules: RobotsRules, old: Option<&RobotsEntry>) -> RobotsEntry {
        let crawl_delay_ms = match &rules {
            RobotsRules::Rules(body) => crawl_delay(body, crate::config::PRODUCT_TOKEN).map(|d| d.as_millis() as u64),
            _ => None,
        };
        match rules {
            RobotsRules::Unreachable(_) => {
                let previous = old.and_then(|o| match &o.rules {
                    RobotsRules::Unreachable(_) => o.previous.clone(),
                    good => Some(good.clone()),
                });
                RobotsEntry {
                    fetched_ms: now_ms,
                    rules,
                    crawl_delay_ms: old.and_then(|o| o.crawl_delay_ms),
                    failed_since_ms: Some(old.and_then(|o| o.failed_since_ms).unwrap_or(now_ms)),
                    failures: old.map(|o| o.failures).unwrap_or(0) + 1,
                    previous,
                }
            }
            rules => RobotsEntry {
                fetched_ms: now_ms,
                rules,
                crawl_delay_ms,
                failed_since_ms: None,
                failures: 0,
                previous: None,
            },
        }
    }
}

/// The `Sitemap:` URLs of a robots.txt body, in order (they apply to every group).
pub fn sitemaps(body: &str) -> Vec<String> {
    struct H(Vec<String>);
    impl robotstxt::RobotsParseHandler for H {
        fn handle_robots_start(&mut self) {}
        fn handle_robots_end(&mut self) {}
        fn handle_user_agent(&mut self, _line: u32, _ua: &str) {}
        fn handle_allow(&mut self, _line: u32, _v: &str) {}
        fn handle_disallow(&mut self, _line: u32, _v: &str) {}
        fn handle_sitemap(&mut self, _line: u32, v: &str) {
            if !v.trim().is_empty() && self.0.len() < 1000 {
                self.0.push(v.trim().to_string());
            }
        }
        fn handle_unknown_action(&mut self, _line: u32, _a: &str, _v: &str) {}
    }
    let body = body.to_string();
    std::panic::catch_unwind(move || {
        let mut h = H(Vec::new());
        robotstxt::parse_robotstxt(&body, &mut h);
        h.0
    })
    .unwrap_or_default()
}

/// The Crawl-delay of the group that applies to `agent` (its own group, else `*`), from a
/// robots.txt body. Not part of RFC 9309; widely sent, and honoured here up to `max_crawl_delay`.
pub fn crawl_delay(body: &str, agent: &str) -> Option<std::time::Duration> {
    #[derive(Default)]
    struct H {
        agent: String,
        in_group: Vec<String>,
        last_was_agent: bool,
        own: Option<f64>,
        star: Option<f64>,
    }
    impl robotstxt::RobotsParseHandler for H {
        fn handle_robots_start(&mut self) {}
        fn handle_robots_end(&mut self) {}
        fn handle_user_agent(&mut self, _line: u32, ua: &str) {
            if !self.last_was_agent {
                self.in_group.clear();
            }
            self.in_group.push(ua.trim().to_ascii_lowercase());
            self.last_was_agent = true;
        }
        fn handle_allow(&mut self, _line: u32, _v: &str) {
            self.last_was_agent = false;
        }
        fn handle_disallow(&mut self, _line: u32, _v: &str) {
            self.last_was_agent = false;
        }
        fn handle_sitemap(&mut self, _line: u32, _v: &str) {}
        fn handle_unknown_action(&mut self, _line: u32, action: &str, value: &str) {
            self.last_was_agent = false;
            if !action.trim().eq_ignore_ascii_case("crawl-delay") {
                return;
            }
            let Ok(secs) = value.trim().parse::<f64>() else { return };
            if !(secs.is_finite() && secs >= 0.0) {
                return;
            }
            if self.in_group.contains(&self.agent) {
                self.own.get_or_insert(secs);
            } else if self.in_group.iter().any(|g| g == "*") {
                self.star.get_or_insert(secs);
            }
        }
    }
    let mut h = H { agent: agent.to_ascii_lowercase(), ..H::default() };
    let body = body.to_string();
    let parsed = std::panic::catch_unwind(move || {
        robotstxt::parse_robotstxt(&body, &mut h);
        h
    })
    .ok()?;
    parsed.own.or(parsed.star).map(|s| std::time::Duration::from_secs_f64(s.min(86_400.0)))
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
    text.split_inclusive(['\n', '\r'])
        .map(|l| if l.len() > MAX_LINE { &l[..l.floor_char_boundary(MAX_LINE)] } else { l })
        .map(normalize_rule_line)
        .collect()
}

/// An `Allow`/`Disallow` line with its pattern's percent-encoding normalised as URLs are
/// (RFC 9309 §2.2.2: octets are compared after percent-decoding unreserved characters); other
/// lines unchanged.
fn normalize_rule_line(line: &str) -> std::borrow::Cow<'_, str> {
    let Some((key, value)) = line.split_once(':') else { return line.into() };
    let k = key.trim().to_ascii_lowercase();
    if (k == "allow" || k == "disallow") && value.contains('%') {
        format!("{key}:{}", crate::canon::normalize_percent(value)).into()
    } else {
        line.into()
    }
}

/// Whether `rules` allow `url` for the product token `agent` (RFC 9309 §2.2: the crawler's group,
/// else `*`; longest match wins).
pub fn allowed(rules: &RobotsRules, agent: &str, url: &url::Url) -> bool {
    if url.path() == "/robots.txt" {
        return true;
    }
    match rules {
        RobotsRules::AllowAll => true,
        RobotsRules::Unreachable(_) | RobotsRules::Blocked(_) => false,
        RobotsRules::Rules(body) => {
            let mut normalized = url.clone();
            normalized.set_path(&crate::canon::normalize_percent(url.path()));
            if let Some(q) = url.query() {
                normalized.set_query(Some(&crate::canon::normalize_percent(q)));
            }
            let (body, agent, u) = (body.clone(), agent.to_string(), normalized.to_string());
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
        repeated_groups_merge: "User-agent: harvestd\nDisallow: /a\n\nUser-agent: *\nDisallow: /\n\nUser-agent: harvestd\nDisallow: /b\n", "http://a.example/b" => false,
        repeated_groups_merge_keep_first: "User-agent: harvestd\nDisallow: /a\n\nUser-agent: harvestd\nDisallow: /b\n", "http://a.example/a" => false,
        star_group_not_used_when_own_exists: "User-agent: harvestd\nDisallow: /a\n\nUser-agent: *\nDisallow: /\n", "http://a.example/z" => true,
        equal_length_allow_wins: "User-agent: *\nDisallow: /p\nAllow: /p\n", "http://a.example/p" => true,
        percent_encoded_rule_matches_plain_url: "User-agent: *\nDisallow: /%7Ejoe/\n", "http://a.example/~joe/x" => false,
    }

    #[test]
    fn sitemap_lines() {
        let b = "User-agent: *\nDisallow: /x\nSitemap: https://a.example/sitemap.xml\n\nsitemap:   /relative.xml.gz\n";
        assert_eq!(sitemaps(b), vec!["https://a.example/sitemap.xml", "/relative.xml.gz"]);
    }

    #[test]
    fn crawl_delay_of_own_group_else_star() {
        let d = |b: &str| crawl_delay(b, "harvestd").map(|d| d.as_millis());
        assert_eq!(d("User-agent: *\nCrawl-delay: 5\n"), Some(5000));
        assert_eq!(d("User-agent: *\nCrawl-delay: 5\n\nUser-agent: harvestd\nCrawl-delay: 0.5\n"), Some(500));
        assert_eq!(d("User-agent: otherbot\nCrawl-delay: 9\n"), None);
        assert_eq!(d("User-agent: otherbot\nUser-agent: HARVESTD\nCrawl-delay: 2\nDisallow: /x\n"), Some(2000));
        assert_eq!(d("User-agent: *\nCrawl-delay: soon\n"), None);
        assert_eq!(d("User-agent: *\nDisallow: /\n"), None);
    }

    #[test]
    fn unreachable_entries_remember_failures_and_the_last_good_rules() {
        let good = RobotsEntry::after_fetch(
            1_000,
            interpret(Some(200), b"User-agent: *\nDisallow: /x\nCrawl-delay: 3\n", ""),
            None,
        );
        assert_eq!(good.crawl_delay_ms, Some(3000));
        let bad1 = RobotsEntry::after_fetch(2_000, interpret(Some(503), b"", ""), Some(&good));
        assert_eq!((bad1.failed_since_ms, bad1.failures), (Some(2_000), 1));
        assert_eq!(bad1.previous, Some(good.rules.clone()));
        let bad2 = RobotsEntry::after_fetch(3_000, interpret(None, b"", "refused"), Some(&bad1));
        assert_eq!((bad2.failed_since_ms, bad2.failures), (Some(2_000), 2));
        assert_eq!(bad2.previous, Some(good.rules.clone()));
        let again = RobotsEntry::after_fetch(4_000, interpret(Some(404), b"", ""), Some(&bad2));
        assert_eq!((again.failed_since_ms, again.failures, again.previous), (None, 0, None));
    }

    #[test]
    fn percent_encoding_is_normalised_on_both_sides() {
        let r = rules("User-agent: *\nDisallow: /caf%C3%A9\nDisallow: /a%3cb\n");
        assert!(!allowed(&r, "harvestd", &url::Url::parse("http://a.example/café").unwrap()));
        assert!(!allowed(&r, "harvestd", &url::Url::parse("http://a.example/caf%c3%a9").unwrap()));
        assert!(!allowed(&r, "harvestd", &url::Url::parse("http://a.example/a%3Cb").unwrap()));
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
    fn cr_only_line_ends_keep_every_line() {
        let body = format!("User-agent: *\r{}Disallow: /b\r", "# filler comment line\r".repeat(2000));
        let r = rules(&body);
        assert!(!allowed(&r, "harvestd", &url::Url::parse("http://a.example/b").unwrap()));
    }

    #[test]
    fn huge_lines_and_bodies_are_capped() {
        let long = format!("User-agent: *\nDisallow: /{}\n", "a".repeat(100_000));
        assert!(prepare(long.as_bytes()).len() < 20_000);
        let big = "# filler\n".repeat(100_000);
        assert_eq!(prepare(big.as_bytes()).len(), MAX_ROBOTS_BYTES);
    }
}
