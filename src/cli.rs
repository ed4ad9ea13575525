//! The command line (clap): `run`, `crawl`, `check-config`, the control commands, and the archive
//! tools `verify`, `index` and `wacz`. A public contract used by scripts and benchmarks; see README.md
//! for the meaning of every flag.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use url::Url;

use crate::api::client::{self, Call};
use crate::clock::SystemClock;
use crate::config::{parse_resolve, Config, RawConfig, ScopeKind, Seed};
use crate::crawler::{self, Mode, StartError};

/// Exit code for a bad configuration or command line.
pub const EXIT_CONFIG: i32 = 2;
/// Exit code for a state directory that cannot be used (locked, corrupt, other key version).
pub const EXIT_STATE: i32 = 3;
/// Exit code for a failed crawl (the WARC writer failed).
pub const EXIT_FAILED: i32 = 1;
/// Exit code for a forced stop (a second SIGINT/SIGTERM).
pub const EXIT_FORCED: i32 = 130;

/// harvestd: a polite, crash-safe web-archiving crawler writing WARC files.
#[derive(Debug, Parser)]
#[command(
    name = "harvestd",
    version,
    about,
    after_help = "Exit codes: 0 done (or stopped cleanly by SIGINT/SIGTERM; the summary says how many URLs are left), \
                  1 the crawl failed (WARC writing) or `index` met an unreadable file, 2 bad configuration, command line, seed or WARC directory, \
                  3 unusable state directory (locked by another crawl, unreadable, other key version), \
                  130 forced stop by a second SIGINT/SIGTERM."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the crawler daemon on a configuration file: crawls its seeds, then stays idle (until
    /// SIGINT/SIGTERM) when the frontier is empty.
    Run {
        /// The configuration file (TOML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Exit once every URL has finished instead of idling.
        #[arg(long)]
        exit_when_done: bool,
    },
    /// Crawl the given URLs once and exit when every URL has succeeded, failed or been excluded.
    /// The same state directory resumes an interrupted crawl.
    Crawl {
        /// Seed URLs (http or https); each is scoped to its host.
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
        /// Settings from this configuration file (its seeds are not crawled).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Directory for WARC files [default: ./warcs, or the config's warc_dir].
        #[arg(long, value_name = "DIR")]
        warc_dir: Option<PathBuf>,
        /// Directory for the crawl state [default: ./harvestd-state, or the config's state_dir].
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Directory for crawl.log [default: ./logs, or the config's log_dir].
        #[arg(long, value_name = "DIR")]
        log_dir: Option<PathBuf>,
        /// Fixed politeness delay per host, seconds, from the end of a response to the next request
        /// (0 = none); replaces the adaptive delay.
        #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
        delay: Option<f64>,
        /// Allow private, loopback and link-local destinations (never 0.0.0.0, `::` or the cloud
        /// metadata addresses).
        #[arg(long)]
        allow_private: bool,
        /// Resolve HOST:PORT to ADDR (as curl's --resolve); repeatable.
        #[arg(long, value_name = "HOST:PORT:ADDR")]
        resolve: Vec<String>,
    },
    /// Check a configuration file: print the effective configuration, or the bad key and its line.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Show the running daemon's status (through its control API).
    Status {
        /// How to reach the daemon.
        #[command(flatten)]
        api: ApiArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Pause the running daemon: no new requests until `resume` (fetches in flight finish).
    Pause {
        /// How to reach the daemon.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Resume a paused daemon.
    Resume {
        /// How to reach the daemon.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Seeds of the running daemon.
    Seed {
        /// What to do with seeds.
        #[command(subcommand)]
        action: SeedAction,
    },
    /// Exclude URLs matching regular expressions from the running crawl, queued ones included.
    Exclude {
        /// Regular expressions (matched against the whole URL).
        #[arg(required = true, value_name = "REGEX")]
        patterns: Vec<String>,
        /// How to reach the daemon.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print the CDXJ index of WARC files (what `cdxj-indexer --sort` prints: merged, sorted
    /// bytewise, `filename` = each file's base name). A file that is missing or cannot be read to
    /// its end is reported on stderr with the offset of the bad record, and exit code 1; the lines
    /// of every record read before it (and of the other files) are still printed.
    Index {
        /// WARC files (`.warc.gz`, one gzip member per record).
        #[arg(required = true, value_name = "WARC")]
        files: Vec<PathBuf>,
    },
    /// Make the running daemon re-read its configuration file and wait for its answer (for
    /// `ExecReload=`); an invalid file is rejected (exit 2) and the old configuration kept.
    Reload {
        /// How to reach the daemon.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Check WARC files (`.warc.gz` or uncompressed) against WARC 1.1: header grammar, framing,
    /// block and payload digests, HTTP messages, unique record IDs and references across the files.
    /// Prints one line per problem on stdout (`FILE:OFFSET: error|warning: message`, OFFSET being
    /// the gzip member's or the record's byte offset), then a summary line. Exit 0 without errors,
    /// 1 with any error, 2 for a usage error (no file, an unreadable path).
    Verify {
        /// The WARC files.
        #[arg(required = true, value_name = "WARC")]
        files: Vec<PathBuf>,
    },
    /// Package WARC files as a WACZ 1.1.1 file (ReplayWeb.page opens it directly): the WARCs
    /// stored uncompressed under `archive/`, their CDXJ index, a page list and `datapackage.json`.
    /// WARC files holding the originals that revisits cite are looked for beside the given ones and
    /// added; a revisit whose original is found nowhere is an error (exit 1), as is an unreadable
    /// WARC file.
    Wacz {
        /// The package to write (written as FILE.tmp, then renamed).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// The package's title [default: the output's file stem].
        #[arg(long)]
        title: Option<String>,
        /// The WARC files.
        #[arg(required = true, value_name = "WARC")]
        files: Vec<PathBuf>,
    },
}

/// How the control commands find the daemon.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// The daemon's configuration file (its `api_listen` and `api_token` are used).
    #[arg(long, value_name = "FILE", default_value = "config.toml")]
    config: PathBuf,
    /// The API's base URL, instead of the configuration's `api_listen` (e.g. http://127.0.0.1:8427).
    #[arg(long, value_name = "URL")]
    api: Option<String>,
}

/// `harvestd seed …`.
#[derive(Debug, Subcommand)]
pub enum SeedAction {
    /// Add seeds to the running crawl: queued unless already seen; kept across restarts.
    Add {
        /// Seed URLs (http or https).
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
        /// Their scope: host, domain or prefix.
        #[arg(long, default_value = "host")]
        scope: String,
        /// Recrawl them this often (e.g. 1h); without it they are crawled once.
        #[arg(long, value_name = "DURATION")]
        recrawl_interval: Option<String>,
        /// Hops from each seed re-fetched on every recrawl (0: the seed alone).
        #[arg(long, value_name = "N", default_value_t = 1)]
        recrawl_hops: u32,
        /// How to reach the daemon.
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// Waits for SIGINT or SIGTERM and resolves `first`; a second signal ends the process at once
/// (exit 130: what was not committed is fetched again after the next start's recovery).
async fn watch_signals(first: tokio::sync::oneshot::Sender<()>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received; send it again to stop at once"),
        _ = int.recv() => tracing::info!("SIGINT received; send it again to stop at once"),
    }
    let _ = first.send(());
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("harvestd: second signal: stopping at once; the next start recovers the open WARC file");
    std::process::exit(EXIT_FORCED);
}

fn fail(code: i32, msg: impl std::fmt::Display) -> i32 {
    eprintln!("harvestd: {msg}");
    code
}

/// Runs the command line; returns the process exit code.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Status { api, json } => client::run(&api.config, api.api.as_deref(), Call::Status { json }),
        Command::Pause { api } => client::run(&api.config, api.api.as_deref(), Call::Pause),
        Command::Resume { api } => client::run(&api.config, api.api.as_deref(), Call::Resume),
        Command::Seed { action: SeedAction::Add { urls, scope, recrawl_interval, recrawl_hops, api } } => {
            client::run(&api.config, api.api.as_deref(), Call::Seeds { urls, scope, recrawl_interval, recrawl_hops })
        }
        Command::Exclude { patterns, api } => client::run(&api.config, api.api.as_deref(), Call::Exclude { patterns }),
        Command::Reload { api } => client::run(&api.config, api.api.as_deref(), Call::Reload),
        Command::Verify { files } => verify(&files),
        Command::Index { files } => index(&files),
        Command::Wacz { output, title, files } => wacz(&output, title, &files),
        Command::Run { config, exit_when_done } => {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => return fail(EXIT_CONFIG, e),
            };
            let mode = if exit_when_done { Mode::ExitWhenDone } else { Mode::Daemon };
            if let Some(w) = cfg.seed_warning() {
                tracing::warn!("{w}");
            }
            let seeds = cfg.seeds.clone();
            crawl_with(cfg, seeds, mode)
        }
        Command::Crawl { urls, config, warc_dir, state_dir, log_dir, delay, allow_private, resolve } => {
            let mut cfg = match &config {
                Some(p) => match Config::load(p) {
                    Ok(c) => c,
                    Err(e) => return fail(EXIT_CONFIG, e),
                },
                None => Config::defaults(),
            };
            cfg.seeds.clear();
            if let Some(d) = warc_dir {
                cfg.warc_dir = d;
            }
            if let Some(d) = state_dir {
                cfg.state_dir = d;
            }
            if let Some(d) = log_dir {
                cfg.log_dir = d;
            }
            if let Some(secs) = delay {
                if !(secs.is_finite() && secs >= 0.0) {
                    return fail(EXIT_CONFIG, format!("--delay {secs}: must be a number of seconds ≥ 0"));
                }
                cfg.pacing.fixed = Some(Duration::from_secs_f64(secs));
            }
            if allow_private {
                cfg.allow_private.all = true;
            }
            for r in &resolve {
                match parse_resolve(r) {
                    Ok((h, p, a)) => {
                        cfg.resolve.insert((h, p), a);
                    }
                    Err(e) => return fail(EXIT_CONFIG, format!("--resolve {e}")),
                }
            }
            let mut seeds = Vec::new();
            for u in &urls {
                match parse_seed(u) {
                    Ok(url) => seeds.push(Seed { url, scope: ScopeKind::Host, recrawl: None }),
                    Err(e) => return fail(EXIT_CONFIG, e),
                }
            }
            crawl_with(cfg, seeds, Mode::ExitWhenDone)
        }
    }
}

/// A seed URL from the command line, with a message that says what is wrong.
fn parse_seed(u: &str) -> Result<Url, String> {
    match Url::parse(u) {
        Ok(url) if !matches!(url.scheme(), "http" | "https") => {
            Err(format!("{u:?}: only http and https URLs can be crawled, not {}:", url.scheme()))
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => Err(format!("{u:?} has no host name")),
        Ok(url) => Ok(url),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            Err(format!("{u:?} is not a URL; did you mean \"http://{u}\"?"))
        }
        Err(e) => Err(format!("{u:?} is not a URL: {e}")),
    }
}

fn crawl_with(cfg: Config, seeds: Vec<Seed>, mode: Mode) -> i32 {
    // `harvestd crawl` on a terminal shows a progress line; elsewhere (a service, a pipe) it is quiet.
    let progress = (mode == Mode::ExitWhenDone && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        crate::progress::install(bar.clone());
        bar
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("building the tokio runtime");
    let result = rt.block_on(async {
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(watch_signals(first_tx));
        let shutdown = async {
            let _ = first_rx.await;
        };
        crawler::run(cfg, seeds, mode, Arc::new(SystemClock), shutdown, progress).await
    });
    // The crawl is over (WARC files closed, state flushed). Work it abandoned at the shutdown
    // grace may still run on the blocking pool (link extraction of a huge page): not waited for.
    rt.shutdown_background();
    match result {
        Ok(summary) => {
            println!("harvestd: {summary}");
            if summary.failure.is_some() {
                EXIT_FAILED
            } else {
                0
            }
        }
        Err(e @ StartError::Store(_)) => fail(EXIT_STATE, e),
        Err(e @ (StartError::SeedRefused { .. } | StartError::WarcDir { .. } | StartError::LogDir { .. })) => {
            fail(EXIT_CONFIG, e)
        }
        Err(e) => fail(EXIT_FAILED, e),
    }
}

/// `harvestd verify`: usage errors (exit 2) before any check, then the problems and the summary on
/// stdout; exit 1 when any error was found.
fn verify(files: &[PathBuf]) -> i32 {
    for f in files {
        match std::fs::File::open(f).and_then(|h| h.metadata()) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return fail(EXIT_CONFIG, format!("{}: not a file", f.display())),
            Err(e) => return fail(EXIT_CONFIG, format!("{}: {e}", f.display())),
        }
    }
    // A file named twice is checked once (its records are not duplicates of themselves).
    let mut seen = std::collections::HashSet::new();
    let files: Vec<PathBuf> =
        files.iter().filter(|f| seen.insert(f.canonicalize().unwrap_or_else(|_| f.to_path_buf()))).cloned().collect();
    let report = crate::warc::verify::verify(&files);
    let mut out = std::io::stdout().lock();
    for p in &report.problems {
        let _ = writeln!(out, "{}", report.line(p));
    }
    let _ = writeln!(out, "{}", report.summary());
    if report.count(crate::warc::verify::Severity::Error) > 0 {
        EXIT_FAILED
    } else {
        0
    }
}

/// `harvestd index`: every readable record's line, merged and sorted; each problem on stderr.
fn index(files: &[PathBuf]) -> i32 {
    use std::io::Write;
    let mut lines = Vec::new();
    let mut code = 0;
    for f in files {
        let idx = crate::warc::cdxj::index_file(f);
        lines.extend(idx.lines);
        if let Some(e) = idx.error {
            code = fail(EXIT_FAILED, e);
        }
    }
    crate::warc::cdxj::sort_lines(&mut lines);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = lines.iter().try_for_each(|l| out.write_all(l.as_bytes())).and_then(|_| out.flush());
    match written {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => fail(EXIT_FAILED, format!("writing the index: {e}")),
    }
}

/// `harvestd wacz`: the package, then one line saying what it holds.
fn wacz(output: &std::path::Path, title: Option<String>, files: &[PathBuf]) -> i32 {
    let title = title.unwrap_or_else(|| {
        output.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "harvestd".into())
    });
    match crate::warc::wacz::write_wacz(output, files, &title) {
        Ok(s) => {
            println!(
                "{}: {} WARC file(s), {} page(s), {} index line(s), {} bytes",
                output.display(),
                s.warcs.len(),
                s.pages,
                s.index_lines,
                s.bytes
            );
            0
        }
        Err(e) => fail(EXIT_FAILED, e),
    }
}

fn check_config(file: &std::path::Path) -> i32 {
    let (raw, text) = match RawConfig::load(file) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_CONFIG, e),
    };
    let cfg = match Config::from_raw(&raw, &file.display().to_string(), &text) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_CONFIG, e),
    };
    for w in cfg.warnings().into_iter().chain(cfg.seed_warning()) {
        eprintln!("harvestd: warning: {w}");
    }
    println!("# effective configuration of {} (defaults filled in)", file.display());
    println!("# User-Agent: {}", cfg.user_agent);
    match toml::to_string(&raw) {
        Ok(t) => print!("{t}"),
        Err(e) => return fail(EXIT_FAILED, format!("printing the configuration: {e}")),
    }
    0
}
