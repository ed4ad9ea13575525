//! The terminal's progress line and the log lines around it: while `harvestd crawl` shows a
//! progress bar (indicatif) on a terminal, each log line is written with the bar cleared and then
//! redrawn, so the two never garble each other. Without a bar, log lines go straight to stderr.

use std::io::Write;
use std::sync::OnceLock;

static BAR: OnceLock<indicatif::ProgressBar> = OnceLock::new();

/// Makes `bar` the one log lines are written around (once per process).
pub fn install(bar: indicatif::ProgressBar) {
    let _ = BAR.set(bar);
}

/// The log writer: stderr, around the progress bar when there is one.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get().filter(|b| !b.is_finished()) {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)).map(|_| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
