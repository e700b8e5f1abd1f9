//! The end-to-end harness: starts the app on a host in a fresh directory, on a free port, waits
//! until it answers, and gives the tests a small HTTP client. The same tests run on devhost
//! (default) and on Spin (`SPIN_BIN`, or `spin` on `PATH`), on local files and on libSQL servers
//! (`sqld`, when the machine has one); nothing in them depends on which.

pub mod browser;
pub mod client;
pub mod db;
pub mod double;
pub mod gateway_load;
pub mod host;
pub mod jwt;
pub mod load;
pub mod process;
pub mod split;
pub mod sqld;
pub mod wait;

use std::path::{Path, PathBuf};

/// The repository root, where `spin.toml` and `runtime-config.toml` live.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A built release `.wasm` of the workspace, e.g. `probe_component`.
pub fn built_wasm(crate_name: &str) -> PathBuf {
    made_by_make_build(&format!("target/wasm32-wasip1/release/{crate_name}.wasm"))
}

/// The second build of a service `make build` makes for the swap tests, whose build id (in
/// `x-service-version`) is `swap-test`, e.g. `user_component`.
pub fn swap_test_wasm(crate_name: &str) -> PathBuf {
    other_build("swap-test", crate_name)
}

/// Another build `make test` makes of a component, by its build id: `swap-test`, or a
/// service's `next` version or user's `breaking` one (docs/schema-changes.md).
pub fn other_build(build: &str, crate_name: &str) -> PathBuf {
    made_by_make_build(&format!("target/{build}/{crate_name}.wasm"))
}

fn made_by_make_build(relative: &str) -> PathBuf {
    let path = workspace().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}
