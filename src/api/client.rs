//! The command-line side of the control API: `harvestd status|pause|resume|seed add|exclude|reload`
//! find the running daemon through its configuration file (`api_listen`, `api_token`) and call it
//! with reqwest, never through a proxy (`http_proxy` is ignored: the token would go to it). Exit codes: 0 done, 1 the daemon could not be reached or failed, 2 it refused the
//! request (a bad URL, pattern or configuration file: its message says which).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::config::Config;
use crate::crawler::Status;

/// One request to the daemon's API.
#[derive(Debug, Clone)]
pub enum Call {
    /// `GET /status`; `json`: print the JSON instead of the summary.
    Status {
        /// Print raw JSON.
        json: bool,
    },
    /// `POST /pause`.
    Pause,
    /// `POST /resume`.
    Resume,
    /// `POST /seeds`.
    Seeds {
        /// The seed URLs.
        urls: Vec<String>,
        /// `host`, `domain` or `prefix`.
        scope: String,
        /// Recrawl interval (`"1h"`), if any.
        recrawl_interval: Option<String>,
        /// Hops re-fetched each round.
        recrawl_hops: u32,
    },
    /// `POST /exclusions`.
    Exclude {
        /// Regular expressions.
        patterns: Vec<String>,
    },
    /// `POST /reload` (waits for the daemon's answer).
    Reload,
}

/// The `api_listen` and `api_token` of the configuration file: from the whole validated file, or,
/// when another key is invalid (the file being reloaded may be), from those two keys alone.
fn api_settings(config: &Path) -> Result<(Option<std::net::SocketAddr>, Option<String>), String> {
    match Config::load(config) {
        Ok(c) => Ok((c.api_listen, c.api_token)),
        Err(full) => {
            let (raw, _) = crate::config::RawConfig::load(config).map_err(|_| full.to_string())?;
            let listen = raw.api_listen_text();
            let addr = match listen.trim() {
                "" => None,
                a => Some(a.parse().map_err(|_| full.to_string())?),
            };
            Ok((addr, Some(raw.api_token_text()).filter(|t| !t.is_empty())))
        }
    }
}

/// Where the API is and its token: `api` (a base URL) when given, else the configuration file's
/// `api_listen`; the token from `$HARVESTD_API_TOKEN`, else the file's `api_token`.
fn endpoint(config: &Path, api: Option<&str>) -> Result<(String, Option<String>), String> {
    let env_token = std::env::var("HARVESTD_API_TOKEN").ok().filter(|t| !t.is_empty());
    if let Some(a) = api {
        let file_token = api_settings(config).ok().and_then(|(_, t)| t);
        return Ok((a.trim_end_matches('/').to_string(), env_token.or(file_token)));
    }
    let (listen, file_token) = api_settings(config)?;
    let token = env_token.or(file_token);
    let base = match listen {
        Some(addr) => {
            let host = if addr.ip().is_unspecified() {
                if addr.is_ipv6() {
                    "[::1]".to_string()
                } else {
                    "127.0.0.1".into()
                }
            } else if addr.is_ipv6() {
                format!("[{}]", addr.ip())
            } else {
                addr.ip().to_string()
            };
            format!("http://{host}:{}", addr.port())
        }
        None => return Err(format!("{}: api_listen is \"\": the control API is off", config.display())),
    };
    Ok((base, token))
}

/// Runs `call` against the daemon configured in `config`; prints the answer; returns the exit code.
pub fn run(config: &Path, api: Option<&str>, call: Call) -> i32 {
    let (base, token) = match endpoint(config, api) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("harvestd: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("harvestd: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        // A reload reads and checks a file and queues seeds: give it time.
        let client = match reqwest::Client::builder().timeout(Duration::from_secs(120)).no_proxy().build() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("harvestd: {e}");
                return 1;
            }
        };
        let (method, path, body) = match &call {
            Call::Status { .. } => (reqwest::Method::GET, "/status", None),
            Call::Pause => (reqwest::Method::POST, "/pause", None),
            Call::Resume => (reqwest::Method::POST, "/resume", None),
            Call::Seeds { urls, scope, recrawl_interval, recrawl_hops } => (
                reqwest::Method::POST,
                "/seeds",
                Some(serde_json::json!({
                    "urls": urls,
                    "scope": scope,
                    "recrawl_interval": recrawl_interval,
                    "recrawl_hops": recrawl_hops,
                })),
            ),
            Call::Exclude { patterns } => {
                (reqwest::Method::POST, "/exclusions", Some(serde_json::json!({ "patterns": patterns })))
            }
            Call::Reload => (reqwest::Method::POST, "/reload", None),
        };
        let mut req = client.request(method, format!("{base}{path}"));
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("harvestd: cannot reach the daemon at {base}: {e}");
                return 1;
            }
        };
        let code = resp.status();
        let value: Value = match resp.json().await {
            Ok(v) => v,
            Err(e) => {
                eprintln!("harvestd: the daemon at {base} answered {code} without JSON: {e}");
                return 1;
            }
        };
        if !code.is_success() {
            let msg = value.get("error").and_then(Value::as_str).unwrap_or("(no message)");
            eprintln!("harvestd: {msg}");
            return if code.is_client_error() { 2 } else { 1 };
        }
        match call {
            Call::Status { json: true } => println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default()),
            Call::Status { json: false } => match serde_json::from_value::<Status>(value) {
                Ok(s) => print!("{}", describe(&s)),
                Err(e) => {
                    eprintln!("harvestd: unexpected status answer: {e}");
                    return 1;
                }
            },
            Call::Pause => println!("paused: no new requests until `harvestd resume`"),
            Call::Resume => println!("resumed"),
            Call::Seeds { .. } => println!(
                "{} seeds queued, {} already known",
                value["queued"].as_u64().unwrap_or(0),
                value["known"].as_u64().unwrap_or(0)
            ),
            Call::Exclude { .. } => println!("{} new exclusions", value["added"].as_u64().unwrap_or(0)),
            Call::Reload => println!("reloaded: {}", value["reloaded"].as_str().unwrap_or("")),
        }
        0
    })
}

/// The human form of a status.
pub fn describe(s: &Status) -> String {
    let mut out = format!("state: {}\n", s.state);
    out += &format!(
        "URLs: {} done ({} fetched, {} failed), {} queued, {} in flight; {} in the last minute; {} refused as traps\n",
        s.urls.done,
        s.urls.fetched,
        s.urls.failed,
        s.urls.queued,
        s.urls.in_flight,
        s.urls_last_minute,
        s.urls.trap_refused
    );
    out += &format!("hosts: {} active, {} snoozed; {} seeds\n", s.hosts.active, s.hosts.snoozed, s.seeds);
    out += &format!(
        "written: {} records, {}; current WARC: {}\n",
        s.records,
        bytesize::ByteSize::b(s.bytes),
        s.current_warc.as_deref().unwrap_or("-")
    );
    if let Some(l) = &s.limit {
        out += &format!("ending: {l}\n");
    }
    out
}
