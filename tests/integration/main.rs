//! The integration tests: one binary, a module per capability (STYLE habit 10). They crawl real
//! servers on 127.0.0.x with the built `harvestd` binary, read the WARC files back, reopen the sled
//! state, and run `warcio check`.

mod api;
mod capture;
mod config_file;
mod crawl_log;
mod destinations;
mod first_capture;
mod fixture_crawl;
mod hostile;
mod index;
mod kill_loop;
mod limits;
mod operations;
mod politeness;
mod replay;
mod revisit;
mod service;
mod site;
mod support;
mod traps;
mod verify;
mod wacz;
