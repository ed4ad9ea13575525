//! Scope: whether a discovered URL is queued (DESIGN §Scope).
//!
//! Each seed has its own scope (host by default; domain or URL prefix selectable); the crawl's scope
//! is their union. A seed's redirect target (up to [`MAX_SEED_REDIRECTS`] hops: http→https, to
//! `www.`) becomes a seed with the same kind of scope. A URL outside it is still accepted when its hop path ends in at most
//! [`MAX_TRANS_HOPS`] non-link hops (`E` embeds, `R` redirects), so a page's off-site stylesheet,
//! images and fonts are kept (Heritrix's TransclusionDecideRule). Then `max_hops` and the exclusion
//! regexes apply. Rejections carry their reason for the log.

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
        };
        for s in seeds {
            scope.add_seed(s); // a seed given twice (file and command line) counts once
        }
        scope
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
}
