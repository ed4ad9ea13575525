//! Scope: whether a discovered URL is queued (DESIGN §Scope).
//!
//! Each seed has its own scope (host by default; domain or URL prefix selectable); the crawl's scope
//! is their union. A seed's redirect target (up to [`MAX_SEED_REDIRECTS`] hops: http→https, to
//! `www.`) becomes a seed with the same kind of scope. A URL outside it is still accepted when its hop path ends in at most
//! [`MAX_TRANS_HOPS`] non-link hops (`E` embeds, `R` redirects), so a page's off-site stylesheet,
//! images and fonts are kept (Heritrix's TransclusionDecideRule). Then `max_hops` and the exclusion
//! regexes apply. Rejections carry their reason for the log.
//!
//! Then the crawl-trap rules ([`TrapRules`], Heritrix's `TooManyPathSegmentsDecideRule`,
//! `PathologicalPathDecideRule` and `UURI` length cap): a URL inside scope but too deep, with a
//! repeating run of path segments, too long, or with too many query parameters is refused, and
//! unlike a scope rejection the refusal is recorded on the URL ([`TrapRule`], the outcome
//! `trap_rejected`). The fifth rule, the per-host URL budget (`max_urls_per_host`), needs the
//! crawl's counts and is applied by the frontier when it queues.

use std::collections::{HashMap, HashSet};

use regex::Regex;
use url::Url;

use crate::config::{ScopeKind, Seed};

/// Most trailing non-link hops allowed outside the seeds' scope.
pub const MAX_TRANS_HOPS: usize = 2;
/// Most redirect hops from a seed whose targets become seeds themselves.
pub const MAX_SEED_REDIRECTS: usize = 5;

impl ScopeKind {
    /// The name used in the configuration file and in the state directory.
    pub fn name(&self) -> &'static str {
        match self {
            ScopeKind::Host => "host",
            ScopeKind::Domain => "domain",
            ScopeKind::Prefix => "prefix",
        }
    }

    /// The kind named `name` (see [`ScopeKind::name`]).
    pub fn from_name(name: &str) -> Option<ScopeKind> {
        match name {
            "host" => Some(ScopeKind::Host),
            "domain" => Some(ScopeKind::Domain),
            "prefix" => Some(ScopeKind::Prefix),
            _ => None,
        }
    }
}

/// Why a URL is not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Outside every seed's scope and not a short enough embed/redirect tail.
    OutOfScope,
    /// More hops from the seed than `max_hops`.
    TooManyHops(usize),
    /// Matches an exclusion regex.
    Excluded(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::OutOfScope => f.write_str("out of scope"),
            Rejection::TooManyHops(n) => write!(f, "{n} hops from the seed, over max_hops"),
            Rejection::Excluded(r) => write!(f, "matches exclusion {r:?}"),
        }
    }
}

/// A crawl-trap rule, named after its configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrapRule {
    /// More path segments than `max_path_depth`.
    MaxPathDepth,
    /// A segment, or run of segments, occurring more than `max_path_repetitions` times in a row.
    MaxPathRepetitions,
    /// A URL longer than `max_url_length` bytes.
    MaxUrlLength,
    /// More query parameters than `max_query_params`.
    MaxQueryParams,
    /// The host has had `max_urls_per_host` URLs queued over the crawl.
    MaxUrlsPerHost,
}

impl TrapRule {
    /// The configuration key (and crawl.log annotation `trap:KEY`) of the rule.
    pub fn key(&self) -> &'static str {
        match self {
            TrapRule::MaxPathDepth => "max_path_depth",
            TrapRule::MaxPathRepetitions => "max_path_repetitions",
            TrapRule::MaxUrlLength => "max_url_length",
            TrapRule::MaxQueryParams => "max_query_params",
            TrapRule::MaxUrlsPerHost => "max_urls_per_host",
        }
    }

    /// The outcome name of a URL it refused (`trap_` + the key), for the per-URL log line.
    pub fn outcome_name(&self) -> &'static str {
        match self {
            TrapRule::MaxPathDepth => "trap_max_path_depth",
            TrapRule::MaxPathRepetitions => "trap_max_path_repetitions",
            TrapRule::MaxUrlLength => "trap_max_url_length",
            TrapRule::MaxQueryParams => "trap_max_query_params",
            TrapRule::MaxUrlsPerHost => "trap_max_urls_per_host",
        }
    }
}

/// The URL-shape trap rules (the per-host budget is the frontier's). Each limit of 0 turns its rule
/// off, except `max_url_length`, which is always on (a request line has to end somewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapRules {
    /// Most path segments (`/a/b/c` has 3; a trailing `/` adds an empty one).
    pub max_path_depth: usize,
    /// Most consecutive occurrences of one segment or run of segments (`/a/b/a/b` has `a/b` twice).
    pub max_path_repetitions: usize,
    /// Longest URL, bytes of its serialisation (fragment excluded).
    pub max_url_length: usize,
    /// Most `&`-separated query parameters.
    pub max_query_params: usize,
}

impl TrapRules {
    /// No rule but a URL length of 8192 bytes (what the crawler had before the rules).
    pub const OFF: TrapRules =
        TrapRules { max_path_depth: 0, max_path_repetitions: 0, max_url_length: 8192, max_query_params: 0 };

    /// The first rule `url` breaks, with what was measured, cheapest checks first.
    pub fn check(&self, url: &Url) -> Result<(), (TrapRule, String)> {
        let len = url.as_str().len() - url.fragment().map(|f| f.len() + 1).unwrap_or(0);
        if len > self.max_url_length {
            return Err((TrapRule::MaxUrlLength, format!("{len} bytes, over {}", self.max_url_length)));
        }
        if self.max_query_params > 0 {
            let n = url.query().map(|q| q.split('&').filter(|p| !p.is_empty()).count()).unwrap_or(0);
            if n > self.max_query_params {
                return Err((
                    TrapRule::MaxQueryParams,
                    format!("{n} query parameters, over {}", self.max_query_params),
                ));
            }
        }
        let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
        if self.max_path_depth > 0 && segments.len() > self.max_path_depth {
            let n = segments.len();
            return Err((TrapRule::MaxPathDepth, format!("{n} path segments, over {}", self.max_path_depth)));
        }
        if self.max_path_repetitions > 0 {
            if let Some((run, times)) = repeated_run(&segments, self.max_path_repetitions + 1) {
                return Err((
                    TrapRule::MaxPathRepetitions,
                    format!("{:?} {times} times in a row, over {}", run.join("/"), self.max_path_repetitions),
                ));
            }
        }
        Ok(())
    }
}

/// The first run of segments (shortest first) that occurs at least `times` times in a row, with
/// how many times it does. O(n² / times) segment comparisons for n segments.
fn repeated_run<'a>(segments: &[&'a str], times: usize) -> Option<(Vec<&'a str>, usize)> {
    let n = segments.len();
    for period in 1..=n / times.max(1) {
        // `same` counts the segments in a row equal to the one `period` before them: a block of
        // `period` segments repeated k times in a row gives (k - 1) × period of them.
        let mut same = 0;
        for i in period..n {
            if segments[i] == segments[i - period] {
                same += 1;
                if same >= (times - 1) * period {
                    let start = i + 1 - times * period;
                    let mut k = times;
                    while start + (k + 1) * period <= n
                        && segments[start + k * period..start + (k + 1) * period] == segments[start..start + period]
                    {
                        k += 1;
                    }
                    return Some((segments[start..start + period].to_vec(), k));
                }
            } else {
                same = 0;
            }
        }
    }
    None
}

/// The crawl's scope rules. Seeds are indexed (by host, by domain, by URL prefix's host) so that
/// adding a seed and deciding a URL cost the same with a hundred thousand seeds as with one.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Each seed URL with its scope kind.
    seeds: HashMap<String, ScopeKind>,
    /// Hosts of `host` seeds.
    hosts: HashSet<String>,
    /// Domains of `domain` seeds (`www.` stripped).
    domains: HashSet<String>,
    /// Prefixes of `prefix` seeds, by host.
    prefixes: HashMap<String, Vec<String>>,
    /// Recrawl schedules of the seeds that have one, by seed URL.
    recrawls: HashMap<String, crate::config::Recrawl>,
    max_hops: usize,
    exclude: Vec<Regex>,
    /// The URL-shape trap rules ([`TrapRules::OFF`] until [`Scope::with_traps`]).
    traps: TrapRules,
}

fn strip_www(h: &str) -> &str {
    h.strip_prefix("www.").unwrap_or(h)
}

impl Scope {
    /// Scope over `seeds` with `max_hops` and exclusion regexes.
    pub fn new(seeds: Vec<Seed>, max_hops: usize, exclude: Vec<Regex>) -> Self {
        let mut scope = Self {
            seeds: HashMap::new(),
            hosts: HashSet::new(),
            domains: HashSet::new(),
            prefixes: HashMap::new(),
            recrawls: HashMap::new(),
            max_hops,
            exclude,
            traps: TrapRules::OFF,
        };
        for s in seeds {
            scope.add_seed(s); // a seed given twice (file and command line) counts once
        }
        scope
    }

    /// The scope with the trap rules `traps`.
    pub fn with_traps(mut self, traps: TrapRules) -> Self {
        self.traps = traps;
        self
    }

    /// The first trap rule `url` breaks (see [`TrapRules::check`]); for URLs [`Scope::accept`]ed.
    pub fn trap(&self, url: &Url) -> Result<(), (TrapRule, String)> {
        self.traps.check(url)
    }

    /// Adds a seed (a seed given at run time, or a seed's redirect target); a URL already a seed is
    /// not added twice.
    pub fn add_seed(&mut self, seed: Seed) {
        if self.seeds.contains_key(seed.url.as_str()) {
            // A seed added again may bring a new recrawl schedule.
            if let Some(r) = seed.recrawl {
                self.recrawls.insert(seed.url.to_string(), r);
            }
            return;
        }
        let host = seed.url.host_str().unwrap_or("").to_ascii_lowercase();
        match seed.scope {
            ScopeKind::Host => {
                self.hosts.insert(host);
            }
            ScopeKind::Domain => {
                self.domains.insert(strip_www(&host).to_string());
            }
            ScopeKind::Prefix => {
                let u = seed.url.as_str();
                let prefix = u[..u.rfind('/').map(|i| i + 1).unwrap_or(u.len())].to_string();
                self.prefixes.entry(host).or_default().push(prefix);
            }
        }
        if let Some(r) = seed.recrawl {
            self.recrawls.insert(seed.url.to_string(), r);
        }
        self.seeds.insert(seed.url.to_string(), seed.scope);
    }

    /// The recrawl schedule of the seed `seed` (a seed URL as written in a crawl URI), if it has one.
    pub fn recrawl_of(&self, seed: &str) -> Option<crate::config::Recrawl> {
        self.recrawls.get(seed).copied()
    }

    /// Every seed with a recrawl schedule, as (seed URL, schedule), in URL order.
    pub fn recrawl_seeds(&self) -> Vec<(String, crate::config::Recrawl)> {
        let mut v: Vec<_> = self.recrawls.iter().map(|(u, r)| (u.clone(), *r)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Adds an exclusion (an operator's, at run time); a pattern already there is not added twice.
    pub fn add_exclusion(&mut self, re: Regex) {
        if !self.exclude.iter().any(|r| r.as_str() == re.as_str()) {
            self.exclude.push(re);
        }
    }

    /// The first exclusion pattern `url` matches, if any.
    pub fn excluded_by(&self, url: &Url) -> Option<&str> {
        self.exclude.iter().find(|re| re.is_match(url.as_str())).map(|re| re.as_str())
    }

    /// How many seeds it has.
    pub fn seed_count(&self) -> usize {
        self.seeds.len()
    }

    /// The scope kind of the seed with exactly this URL, if it is one.
    pub fn kind_of(&self, seed_url: &str) -> Option<ScopeKind> {
        self.seeds.get(seed_url).copied()
    }

    /// Whether `url` is inside some seed's scope.
    pub fn in_seed_scope(&self, url: &Url) -> bool {
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        if self.hosts.contains(&host) {
            return true;
        }
        // The host and each parent domain: a.b.example.org, b.example.org, example.org, org.
        let mut h = host.as_str();
        loop {
            if self.domains.contains(h) {
                return true;
            }
            match h.split_once('.') {
                Some((_, parent)) => h = parent,
                None => break,
            }
        }
        self.prefixes.get(&host).is_some_and(|ps| ps.iter().any(|p| url.as_str().starts_with(p.as_str())))
    }

    /// Decides whether a URL reached by `hops` (its whole hop path, the last hop included) is queued.
    pub fn accept(&self, url: &Url, hops: &str) -> Result<(), Rejection> {
        if !self.in_seed_scope(url) {
            let trailing = hops.chars().rev().take_while(|&h| h == 'E' || h == 'R').count();
            if trailing == 0 || trailing > MAX_TRANS_HOPS {
                return Err(Rejection::OutOfScope);
            }
        }
        if hops.len() > self.max_hops {
            return Err(Rejection::TooManyHops(hops.len()));
        }
        let s = url.as_str();
        if let Some(re) = self.exclude.iter().find(|re| re.is_match(s)) {
            return Err(Rejection::Excluded(re.as_str().to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(u: &str, scope: ScopeKind) -> Seed {
        Seed { url: Url::parse(u).unwrap(), scope, recrawl: None }
    }

    fn scope() -> Scope {
        Scope::new(
            vec![
                seed("https://news.example/", ScopeKind::Host),
                seed("https://www.blog.example/", ScopeKind::Domain),
                seed("https://docs.example/guide/intro.html", ScopeKind::Prefix),
            ],
            5,
            vec![Regex::new(r"/calendar/").unwrap()],
        )
    }

    macro_rules! scope_cases {
        ($($name:ident: $url:expr, $hops:expr => $want:expr,)*) => {$(
            #[test]
            fn $name() {
                let u = Url::parse($url).unwrap();
                assert_eq!(scope().accept(&u, $hops), $want);
            }
        )*};
    }

    scope_cases! {
        same_host_link: "http://news.example/a", "L" => Ok(()),
        other_host_link_rejected: "https://other.example/a", "L" => Err(Rejection::OutOfScope),
        subdomain_not_in_host_scope: "https://cdn.news.example/a", "L" => Err(Rejection::OutOfScope),
        domain_scope_subdomain: "https://img.blog.example/a", "L" => Ok(()),
        domain_scope_bare: "https://blog.example/a", "L" => Ok(()),
        prefix_scope_inside: "https://docs.example/guide/ch2.html", "L" => Ok(()),
        prefix_scope_outside: "https://docs.example/api/x", "L" => Err(Rejection::OutOfScope),
        offsite_embed_kept: "https://cdn.example/s.css", "LE" => Ok(()),
        offsite_embed_of_embed_kept: "https://cdn.example/font.woff", "LEE" => Ok(()),
        offsite_third_trailing_hop_rejected: "https://cdn.example/font2.woff", "LEER" => Err(Rejection::OutOfScope),
        offsite_seed_redirect_kept: "https://other.example/", "R" => Ok(()),
        offsite_sitemap_rejected: "https://other.example/sitemap.xml", "M" => Err(Rejection::OutOfScope),
        offsite_sitemap_listing_rejected: "https://other.example/page", "MM" => Err(Rejection::OutOfScope),
        embed_after_sitemap_kept: "https://cdn.example/i.png", "MME" => Ok(()),
        too_many_hops: "https://news.example/deep", "LLLLLL" => Err(Rejection::TooManyHops(6)),
        excluded: "https://news.example/calendar/2026", "L" => Err(Rejection::Excluded("/calendar/".into())),
    }

    const RULES: TrapRules =
        TrapRules { max_path_depth: 6, max_path_repetitions: 2, max_url_length: 60, max_query_params: 3 };

    macro_rules! trap_cases {
        ($($name:ident: $url:expr => $want:expr,)*) => {$(
            #[test]
            fn $name() {
                let u = Url::parse($url).unwrap();
                let got = RULES.check(&u);
                let want: Result<(), (TrapRule, &str)> = $want;
                assert_eq!(got.as_ref().map(|_| ()).map_err(|(r, d)| (*r, d.as_str())), want, "{}", $url);
            }
        )*};
    }

    trap_cases! {
        trap_plain_url_passes: "http://a.example/x/y?p=1&q=2" => Ok(()),
        trap_depth_at_limit_passes: "http://a.example/1/2/3/4/5/6" => Ok(()),
        trap_too_deep: "http://a.example/1/2/3/4/5/6/7" => Err((TrapRule::MaxPathDepth, "7 path segments, over 6")),
        trap_trailing_slash_is_a_segment: "http://a.example/1/2/3/4/5/6/" => Err((TrapRule::MaxPathDepth, "7 path segments, over 6")),
        trap_segment_twice_passes: "http://a.example/a/a/b" => Ok(()),
        trap_segment_three_times: "http://a.example/x/a/a/a" => Err((TrapRule::MaxPathRepetitions, "\"a\" 3 times in a row, over 2")),
        trap_pair_twice_passes: "http://a.example/a/b/a/b/c" => Ok(()),
        trap_pair_three_times: "http://a.example/a/b/a/b/a/b" => Err((TrapRule::MaxPathRepetitions, "\"a/b\" 3 times in a row, over 2")),
        trap_empty_segments_repeat: "http://a.example/p///" => Err((TrapRule::MaxPathRepetitions, "\"\" 3 times in a row, over 2")),
        trap_non_consecutive_passes: "http://a.example/a/b/a/c/a" => Ok(()),
        trap_too_many_params: "http://a.example/?a=1&b=2&c=3&d=4" => Err((TrapRule::MaxQueryParams, "4 query parameters, over 3")),
        trap_empty_params_not_counted: "http://a.example/?a=1&&b=2&c=3&" => Ok(()),
        trap_too_long: "http://a.example/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" => Err((TrapRule::MaxUrlLength, "63 bytes, over 60")),
        trap_fragment_not_counted_in_length: "http://a.example/#aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" => Ok(()),
    }

    #[test]
    fn repeated_run_counts_all_repeats_and_off_rules_pass() {
        let segs = ["a", "b", "a", "b", "a", "b", "a", "b", "c"];
        assert_eq!(repeated_run(&segs, 3), Some((vec!["a", "b"], 4)));
        assert_eq!(repeated_run(&segs, 5), None);
        let u = Url::parse(&format!("http://a.example/{}", "a/".repeat(200))).unwrap();
        assert_eq!(TrapRules::OFF.check(&u), Ok(()));
        let rules = TrapRules { max_url_length: 8192, ..RULES };
        assert_eq!(scope().with_traps(rules).trap(&u).unwrap_err().0, TrapRule::MaxPathDepth);
    }
}
