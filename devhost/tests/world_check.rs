//! Each built component imports nothing beyond the world in `wit/` that states its
//! capabilities, nor beyond what Spin 3.6.3 provides (the Spin that SpinKube's
//! containerd-shim-spin embeds). Needs the release `.wasm` files (`make build`).

use std::path::{Path, PathBuf};

use devhost::{loader, world};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn built_component(crate_name: &str) -> Vec<u8> {
    let path = workspace().join(format!("target/wasm32-wasip1/release/{crate_name}.wasm"));
    let module = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the components first (make build)",
            path.display()
        )
    });
    loader::componentize(&module).unwrap()
}

fn undeclared(crate_name: &str, world_name: &str) -> Vec<String> {
    world::undeclared_imports(
        &built_component(crate_name),
        &workspace().join("wit"),
        world_name,
    )
    .unwrap()
}

#[test]
fn the_user_component_stays_within_its_world() {
    assert_eq!(
        undeclared("user_component", "user-component"),
        Vec::<String>::new()
    );
}

#[test]
fn the_board_component_stays_within_its_world() {
    assert_eq!(
        undeclared("board_component", "board-component"),
        Vec::<String>::new()
    );
}

#[test]
fn the_web_component_stays_within_its_world() {
    assert_eq!(
        undeclared("web_component", "web-component"),
        Vec::<String>::new()
    );
}

#[test]
fn the_check_catches_an_import_the_world_does_not_grant() {
    // Board calls the user service; the user service's world grants no outbound HTTP.
    let extra = undeclared("board_component", "user-component");
    assert_eq!(extra, ["wasi:http/outgoing-handler@0.2".to_owned()]);
}

/// The imports of world `spin:up/platform@3.6.0` in Spin 3.6.3's `wit/` (tag v3.6.3, includes
/// expanded, stable features only, as wit-parser resolves it): what a Spin 3.6.3 host, and so
/// containerd-shim-spin (whose `Cargo.toml` pins Spin 3.6.3's crates), links for a component.
/// Kept as data: read once from Spin's source, which the repository does not carry.
const SPIN_3_6_3_PLATFORM: &[&str] = &[
    "fermyon:spin/key-value@2.0.0",
    "fermyon:spin/llm@2.0.0",
    "fermyon:spin/mqtt@2.0.0",
    "fermyon:spin/mysql@2.0.0",
    "fermyon:spin/postgres@2.0.0",
    "fermyon:spin/rdbms-types@2.0.0",
    "fermyon:spin/redis@2.0.0",
    "fermyon:spin/sqlite@2.0.0",
    "fermyon:spin/variables@2.0.0",
    "spin:postgres/postgres@3.0.0",
    "spin:postgres/postgres@4.0.0",
    "spin:sqlite/sqlite@3.0.0",
    "wasi:cli/environment@0.2.0",
    "wasi:cli/environment@0.2.6",
    "wasi:cli/exit@0.2.0",
    "wasi:cli/exit@0.2.6",
    "wasi:cli/stderr@0.2.0",
    "wasi:cli/stderr@0.2.6",
    "wasi:cli/stdin@0.2.0",
    "wasi:cli/stdin@0.2.6",
    "wasi:cli/stdout@0.2.0",
    "wasi:cli/stdout@0.2.6",
    "wasi:cli/terminal-input@0.2.0",
    "wasi:cli/terminal-input@0.2.6",
    "wasi:cli/terminal-output@0.2.0",
    "wasi:cli/terminal-output@0.2.6",
    "wasi:cli/terminal-stderr@0.2.0",
    "wasi:cli/terminal-stderr@0.2.6",
    "wasi:cli/terminal-stdin@0.2.0",
    "wasi:cli/terminal-stdin@0.2.6",
    "wasi:cli/terminal-stdout@0.2.0",
    "wasi:cli/terminal-stdout@0.2.6",
    "wasi:clocks/monotonic-clock@0.2.0",
    "wasi:clocks/monotonic-clock@0.2.6",
    "wasi:clocks/wall-clock@0.2.0",
    "wasi:clocks/wall-clock@0.2.6",
    "wasi:config/store@0.2.0-draft-2024-09-27",
    "wasi:filesystem/preopens@0.2.0",
    "wasi:filesystem/preopens@0.2.6",
    "wasi:filesystem/types@0.2.0",
    "wasi:filesystem/types@0.2.6",
    "wasi:http/outgoing-handler@0.2.0",
    "wasi:http/outgoing-handler@0.2.6",
    "wasi:http/types@0.2.0",
    "wasi:http/types@0.2.6",
    "wasi:io/error@0.2.0",
    "wasi:io/error@0.2.6",
    "wasi:io/poll@0.2.0",
    "wasi:io/poll@0.2.6",
    "wasi:io/streams@0.2.0",
    "wasi:io/streams@0.2.6",
    "wasi:keyvalue/atomics@0.2.0-draft2",
    "wasi:keyvalue/batch@0.2.0-draft2",
    "wasi:keyvalue/store@0.2.0-draft2",
    "wasi:random/insecure-seed@0.2.0",
    "wasi:random/insecure-seed@0.2.6",
    "wasi:random/insecure@0.2.0",
    "wasi:random/insecure@0.2.6",
    "wasi:random/random@0.2.0",
    "wasi:random/random@0.2.6",
    "wasi:sockets/instance-network@0.2.0",
    "wasi:sockets/instance-network@0.2.6",
    "wasi:sockets/ip-name-lookup@0.2.0",
    "wasi:sockets/ip-name-lookup@0.2.6",
    "wasi:sockets/network@0.2.0",
    "wasi:sockets/network@0.2.6",
    "wasi:sockets/tcp-create-socket@0.2.0",
    "wasi:sockets/tcp-create-socket@0.2.6",
    "wasi:sockets/tcp@0.2.0",
    "wasi:sockets/tcp@0.2.6",
    "wasi:sockets/udp-create-socket@0.2.0",
    "wasi:sockets/udp-create-socket@0.2.6",
    "wasi:sockets/udp@0.2.0",
    "wasi:sockets/udp@0.2.6",
];

#[test]
fn every_component_imports_only_what_spin_3_6_3_provides() {
    let provided: std::collections::BTreeSet<String> = SPIN_3_6_3_PLATFORM
        .iter()
        .map(|name| world::without_patch(name))
        .collect();
    for crate_name in ["user_component", "board_component", "web_component"] {
        let imports = world::component_imports(&built_component(crate_name)).unwrap();
        assert!(
            imports.contains("fermyon:spin/variables@2.0") || crate_name == "web_component",
            "{crate_name}: {imports:?}"
        );
        let missing: Vec<&String> = imports.difference(&provided).collect();
        assert!(
            missing.is_empty(),
            "{crate_name} imports what Spin 3.6.3 does not provide: {missing:?}"
        );
    }
    assert!(
        !provided.contains("wasi:http/types@0.3"),
        "stable features only"
    );
}
