//! The `harvestd` binary: logging set up, then the command line ([`harvestd::cli`]).

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(|| harvestd::progress::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Connections, WARC files and sled want descriptors: the soft limit (often 1024) is raised
    // towards the hard one, as far as 65,536.
    if let Err(e) = rlimit::increase_nofile_limit(65_536) {
        tracing::debug!(cause = %e, "could not raise the open-file limit");
    }
    let cli = harvestd::cli::Cli::parse();
    std::process::exit(harvestd::cli::main_with(cli));
}
