//! The example `config.toml` is a test (STYLE habit 8).

use std::path::Path;

use harvestd::config::{Config, RawConfig, CONFIG_KEYS};

fn example() -> (String, std::path::PathBuf) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    (std::fs::read_to_string(&p).unwrap(), p)
}

#[test]
fn example_config_parses_and_seeds_the_story() {
    let (_, p) = example();
    let c = Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.seeds.len(), 1);
    assert_eq!(c.seeds[0].url.as_str(), "https://enabbaladi.net/archives/357566");
    assert_eq!(c.warnings().len(), 1, "an empty contact_url warns");
}

#[test]
fn example_config_lists_every_key() {
    let (text, _) = example();
    for key in CONFIG_KEYS {
        let listed = text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("{key} =")) || (*key == "seeds" && l.starts_with("[[seeds]]"))
        });
        assert!(listed, "config.toml does not list `{key}`");
    }
}

#[test]
fn example_config_values_are_the_defaults() {
    let (text, _) = example();
    let mut raw = RawConfig::parse(&text, "config.toml").unwrap();
    raw.seeds.clear();
    let from_file = toml::to_string(&raw).unwrap();
    let defaults = toml::to_string(&RawConfig::parse("", "empty").unwrap()).unwrap();
    assert_eq!(from_file, defaults, "config.toml must show the default of every key");
}

#[test]
fn check_config_names_the_bad_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "workers = 2\nmax_delay = \"forever\"\n").unwrap();
    let out = crate::support::harvestd().arg("check-config").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:2: key `max_delay`"), "{err}");
    let out = crate::support::harvestd()
        .arg("check-config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("min_delay = \"1s\""));
    assert!(String::from_utf8_lossy(&out.stderr).contains("contact_url is empty"));
}
