//! What harvestd tells its service manager (systemd's `sd_notify(3)` protocol, through the
//! `sd-notify` crate): `READY=1` once recovery is done and the crawl runs, `STATUS=` with counts,
//! `WATCHDOG=1` from the crawl's heartbeat, `EXTEND_TIMEOUT_USEC=` while start-up recovery runs,
//! `STOPPING=1` when a stop begins. Every call is a no-op when `NOTIFY_SOCKET` is not set (a
//! terminal, a test, another service manager), and a failed send is only logged: telling systemd
//! is never a reason to stop crawling.
//!
//! The heartbeat ([`heartbeat_period`]) is the loop that proves the crawl is alive: each iteration
//! takes the frontier's lock and reads its counters (a wedged frontier or a sled write that never
//! returns stalls it), then sends `STATUS=` and, when the unit sets `WatchdogSec=`, `WATCHDOG=1`.
//! It wakes at least every half watchdog interval, even when nothing is due, so an idle daemon
//! stays alive and a wedged one is restarted by systemd.

use std::time::Duration;

use sd_notify::NotifyState;

/// Sends `states` to the service manager, if there is one (`NOTIFY_SOCKET`); failures are logged.
pub fn notify(states: &[NotifyState<'_>]) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else { return };
    if let Err(e) = send(&socket, states) {
        tracing::debug!(cause = %e, "could not notify the service manager");
    }
}

/// One datagram of `NAME=value` lines to `socket`: a path, or an abstract name written `@name`
/// (`sd_notify(3)`; the `sd-notify` crate formats the lines but connects to paths only).
fn send(socket: &std::ffi::OsStr, states: &[NotifyState<'_>]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
    let sock = UnixDatagram::unbound()?;
    match socket.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            sock.connect_addr(&SocketAddr::from_abstract_name(name)?)?;
        }
        None => sock.connect(socket)?,
    }
    let sent = sock.send(msg.as_bytes())?;
    if sent != msg.len() {
        return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short datagram"));
    }
    Ok(())
}

/// `READY=1` with a first status line.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STATUS=` (free text shown by `systemctl status`).
pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// `RELOADING=1` with `MONOTONIC_USEC=` (systemd 253 and later require it), before a reload; the
/// reload ends with [`ready`].
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// `STOPPING=1` with the reason as status.
pub fn stopping(why: &str) {
    notify(&[NotifyState::Stopping, NotifyState::Status(why)]);
}

/// `WATCHDOG=1`: the heartbeat's iteration completed.
pub fn watchdog() {
    notify(&[NotifyState::Watchdog]);
}

/// `EXTEND_TIMEOUT_USEC=`: start-up (recovery) needs `by` more time; sent repeatedly while it runs.
pub fn extend_timeout(by: Duration) {
    let usec = by.as_micros().min(u32::MAX as u128) as u32;
    notify(&[NotifyState::ExtendTimeoutUsec(usec)]);
}

/// The watchdog interval systemd expects pings within (`WATCHDOG_USEC`, for this process), if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

/// How often the heartbeat runs: every 5 s for `STATUS=`, and at least every half watchdog
/// interval when a watchdog is set (never more often than every 50 ms).
pub fn heartbeat_period(watchdog: Option<Duration>) -> Duration {
    let base = Duration::from_secs(5);
    match watchdog {
        Some(w) => (w / 2).clamp(Duration::from_millis(50), base),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_runs_at_least_every_half_watchdog_interval() {
        assert_eq!(heartbeat_period(None), Duration::from_secs(5));
        assert_eq!(heartbeat_period(Some(Duration::from_secs(30))), Duration::from_secs(5));
        assert_eq!(heartbeat_period(Some(Duration::from_secs(2))), Duration::from_secs(1));
        assert_eq!(heartbeat_period(Some(Duration::from_millis(10))), Duration::from_millis(50));
    }
}
