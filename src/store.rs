//! The sled database: opening it, its one tree and key layout, and the state-directory metadata.
//!
//! All crawl state lives in one sled tree (`crawl`) under key prefixes, so that everything one
//! capture changes — its outcome, its outlinks, host queues, counters — is one atomic
//! `apply_batch` (sled's `Batch` covers one tree; DESIGN §Durability order):
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `f:` | 16-bit bucket (BE) | the seen set: 64-bit fingerprints of seen keys with their state (queued, finished and its recrawl round), packed (`frontier::packed`) |
//! | `e:` | host `\0` first seq (u64 BE) | a queue segment: up to 64 queued [`crate::frontier::CrawlUri`]s with their sequences, packed and deflated |
//! | `u:` | seen_key | [`crate::frontier::UrlRecord`] (versioned JSON): a finished URL's outcome |
//! | `d:` | due ms (u64 BE) host | empty: hosts ordered by due time |
//! | `h:` | host | [`crate::frontier::HostState`] |
//! | `l:` | seen_key | a leased URL, as builds before leases were kept in memory wrote it; read and removed at start-up |
//! | `r:` | robots authority | cached robots.txt ([`crate::robots::RobotsEntry`]) |
//! | `m:` | name | metadata: key version, frontier layout, counters, sequence, WARC serial |
//!
//! Frontier layout 1 (builds before `m:frontier_layout`) had a `u:` key per seen URL and a `q:`
//! key per queued URL; [`crate::frontier::Frontier::open`] converts it. sled 0.34 keeps about 60
//! bytes of RAM per key whether cached or not, so the seen set and the queues are packed: 1 M
//! queued URLs are some 80,000 keys, not 2 M.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::canon::{KeyOptions, SEEN_KEY_VERSION};

/// Lets sled's memory reclamation keep up after `writes` writes. sled 0.34 copies a tree node on
/// every write and hands the old copy to crossbeam-epoch, whose collector frees at most 512
/// objects per collection, and only when some thread pins: under a steady stream of writes the
/// garbage outgrows the frees and RSS climbs with the database (measured on 1 M queued URLs in
/// batches of 1,000 with a 1 MB cache: 1.5 GB of RSS without this, 154 MiB with it). Each pin and
/// flush here offers one collection; a few microseconds each when there is nothing to free.
pub fn collect_garbage(writes: usize) {
    for _ in 0..(writes / 64 + 4).min(1_024) {
        crossbeam_epoch::pin().flush();
    }
}

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled could not open the directory (locked by another process, unreadable, corrupt).
    #[error("cannot open the state directory {dir}: {cause}")]
    Open {
        /// The directory.
        dir: String,
        /// sled's error.
        cause: String,
    },
    /// The directory was written with another `seen_key` version or options.
    #[error("the state directory {dir} was written with seen_key {found}, this build uses {expected}; use a new state directory (a silent re-key would re-crawl everything)")]
    KeyVersion {
        /// The directory.
        dir: String,
        /// What it records.
        found: String,
        /// What this build uses.
        expected: String,
    },
    /// The directory was written with other `seen_key` options (session-id stripping).
    #[error("the state directory {dir} was written with seen_key options {found:?}, the configuration asks for {expected:?}: set strip_session_ids and session_id_params as they were for this crawl, or use a new state directory (a silent re-key would crawl its URLs again)")]
    KeyOptions {
        /// The directory.
        dir: String,
        /// The options it records (`KeyMeta.options`).
        found: Vec<String>,
        /// The options the configuration asks for.
        expected: Vec<String>,
    },
    /// A sled read or write failed.
    #[error("state database error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not decode.
    #[error("state database holds an undecodable value under {key}: {cause}")]
    Decode {
        /// The key.
        key: String,
        /// The decoder's message.
        cause: String,
    },
}

/// The seen_key version and options recorded in the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMeta {
    /// [`SEEN_KEY_VERSION`].
    pub version: u32,
    /// Options that change keys ([`KeyOptions::recorded`]: empty, or the session-id parameters
    /// stripped).
    pub options: Vec<String>,
}

/// The open database and its crawl tree.
#[derive(Debug, Clone)]
pub struct Store {
    /// The sled database (flushed on a clean stop).
    pub db: sled::Db,
    /// The one tree all crawl state lives in.
    pub tree: sled::Tree,
    /// The `seen_key` options the state's keys were made with (checked or adopted at open).
    keys: std::sync::Arc<KeyOptions>,
}

/// Metadata key of the seen_key version.
pub const META_KEY: &[u8] = b"m:seen_key";
/// Metadata key of the last WARC serial used.
pub const META_SERIAL: &[u8] = b"m:serial";

impl Store {
    /// Opens (creating if needed) the state directory `dir` with a page cache of `cache_bytes`,
    /// for reading what a crawl left: the `seen_key` options it records are adopted (a new directory
    /// is recorded as having none). A directory of another `seen_key` version is
    /// [`StoreError::KeyVersion`].
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Self::open_with(dir, cache_bytes, None)
    }

    /// Opens (creating if needed) the state directory `dir` for crawling with the `seen_key`
    /// options `keys`: a new directory records them; one that records others is
    /// [`StoreError::KeyOptions`] (another version: [`StoreError::KeyVersion`]), never re-keyed.
    pub fn open_checked(dir: &Path, cache_bytes: u64, keys: &KeyOptions) -> Result<Store, StoreError> {
        Self::open_with(dir, cache_bytes, Some(keys))
    }

    fn open_with(dir: &Path, cache_bytes: u64, keys: Option<&KeyOptions>) -> Result<Store, StoreError> {
        let db = sled::Config::new().path(dir).cache_capacity(cache_bytes).flush_every_ms(Some(500)).open().map_err(
            |e| {
                let cause = e.to_string();
                let cause = if cause.contains("could not acquire lock") {
                    format!("it is in use by another harvestd process (its lock is held): {cause}")
                } else {
                    cause
                };
                StoreError::Open { dir: dir.display().to_string(), cause }
            },
        )?;
        let tree = db.open_tree("crawl")?;
        let asked = keys.cloned().unwrap_or_else(KeyOptions::none);
        let want = KeyMeta { version: SEEN_KEY_VERSION, options: asked.recorded() };
        let keys = match tree.get(META_KEY)? {
            Some(v) => {
                let found: KeyMeta = serde_json::from_slice(&v)
                    .map_err(|e| StoreError::Decode { key: "m:seen_key".into(), cause: e.to_string() })?;
                if found.version != want.version {
                    return Err(StoreError::KeyVersion {
                        dir: dir.display().to_string(),
                        found: format!("{found:?}"),
                        expected: format!("{want:?}"),
                    });
                }
                // A state directory made before the options existed records none: its crawl
                // keeps the keys it was made with (no session-id stripping), whatever this
                // configuration says; re-keying it would fetch everything again.
                let legacy = found.options.is_empty();
                if legacy && keys.is_some() && asked != KeyOptions::none() {
                    tracing::warn!(
                        dir = %dir.display(),
                        "this state directory predates session-id stripping: its URL keys stay as they were \
                         (no stripping); a new state directory gets strip_session_ids"
                    );
                }
                if keys.is_some() && !legacy && found.options != want.options {
                    return Err(StoreError::KeyOptions {
                        dir: dir.display().to_string(),
                        found: found.options,
                        expected: want.options,
                    });
                }
                KeyOptions::from_recorded(&found.options)
                    .map_err(|cause| StoreError::Decode { key: "m:seen_key".into(), cause })?
            }
            None => {
                tree.insert(META_KEY, serde_json::to_vec(&want).expect("serialisable"))?;
                asked
            }
        };
        Ok(Store { db, tree, keys: std::sync::Arc::new(keys) })
    }

    /// The `seen_key` options of this state directory.
    pub fn key_options(&self) -> &KeyOptions {
        &self.keys
    }

    /// The last WARC serial recorded (0 when none).
    pub fn last_serial(&self) -> Result<u64, StoreError> {
        Ok(self
            .tree
            .get(META_SERIAL)?
            .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// Records `serial` as used (called before its file is created).
    pub fn record_serial(&self, serial: u64) -> Result<(), StoreError> {
        self.tree.insert(META_SERIAL, &serial.to_be_bytes())?;
        Ok(())
    }

    /// Writes everything to disk (a clean stop).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Decodes a JSON value stored under `key`.
pub fn decode<T: serde::de::DeserializeOwned>(key: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v)
        .map_err(|e| StoreError::Decode { key: String::from_utf8_lossy(key).to_string(), cause: e.to_string() })
}

/// Encodes a value as JSON for storing.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("state values are serialisable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_seen_key_version_is_a_startup_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path(), 1 << 20).unwrap();
            let old = KeyMeta { version: SEEN_KEY_VERSION + 1, options: vec!["strip-sessionid".into()] };
            s.tree.insert(META_KEY, encode(&old)).unwrap();
            s.flush().unwrap();
        }
        match Store::open(dir.path(), 1 << 20) {
            Err(StoreError::KeyVersion { .. }) => {}
            other => panic!("expected a key-version error, got {other:?}"),
        }
    }

    #[test]
    fn other_seen_key_options_are_a_startup_error_and_readers_adopt_them() {
        use crate::canon::SessionParam;
        let dir = tempfile::tempdir().unwrap();
        let strip = KeyOptions::stripping(vec![SessionParam::parse("sid:32").unwrap()]);
        drop(Store::open_checked(dir.path(), 1 << 20, &strip).unwrap());
        // The same options: fine, again and again.
        drop(Store::open_checked(dir.path(), 1 << 20, &strip).unwrap());
        // Stripping off, or other names: refused, naming what the directory records.
        for other in [KeyOptions::none(), KeyOptions::stripping(vec![SessionParam::parse("sid").unwrap()])] {
            match Store::open_checked(dir.path(), 1 << 20, &other) {
                Err(StoreError::KeyOptions { found, expected, .. }) => {
                    assert_eq!(found, vec!["strip_session_ids=sid:32".to_string()]);
                    assert_eq!(expected, other.recorded());
                }
                r => panic!("expected a key-options error, got {r:?}"),
            }
        }
        // A reader adopts what is recorded.
        assert_eq!(Store::open(dir.path(), 1 << 20).unwrap().key_options(), &strip);
        // Stripping off is recorded too, and holds against the default.
        let off = tempfile::tempdir().unwrap();
        drop(Store::open_checked(off.path(), 1 << 20, &KeyOptions::none()).unwrap());
        let r = Store::open_checked(off.path(), 1 << 20, &strip);
        assert!(matches!(r, Err(StoreError::KeyOptions { .. })), "{r:?}");
    }

    #[test]
    fn a_state_made_before_key_options_keeps_its_keys() {
        use crate::canon::SessionParam;
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path(), 1 << 20).unwrap();
            let old = KeyMeta { version: SEEN_KEY_VERSION, options: vec![] };
            s.tree.insert(META_KEY, encode(&old)).unwrap();
            s.flush().unwrap();
        }
        let strip = KeyOptions::stripping(vec![SessionParam::parse("sid:32").unwrap()]);
        let s = Store::open_checked(dir.path(), 1 << 20, &strip).expect("an upgraded daemon still starts");
        assert_eq!(s.key_options(), &KeyOptions::none(), "its keys stay as they were");
    }

    #[test]
    fn serial_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.last_serial().unwrap(), 0);
        s.record_serial(41).unwrap();
        assert_eq!(s.last_serial().unwrap(), 41);
    }
}
