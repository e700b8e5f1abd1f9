//! The end-to-end suites, one module each, built as one test binary (one link instead of one
//! per suite). Every test runs the built `.wasm` through a real host (devhost, or Spin: see
//! `e2e::host`), with real SQLite files or libSQL servers and real HTTP. Names are `<suite>::<test>`, which is
//! what `scripts/test`'s skip list uses.

mod author_replica;
mod bench_smoke;
mod board_tokens;
mod boards_api;
mod browser;
mod builds;
mod concurrency;
mod contract;
mod crashes;
mod deploy;
mod docs;
mod hostile_input;
mod independence;
mod libsql;
mod lifecycle;
mod live_swap;
mod read_model;
mod schema_swap;
mod schema_versions;
mod self_requests;
mod sign_in;
mod spin_semantics;
mod split_mode;
mod traces;
mod user_changes;
mod users_api;
mod web_page;
