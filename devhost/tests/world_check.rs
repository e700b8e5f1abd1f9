//! Each built component imports nothing beyond the world in `wit/` that states its
//! capabilities. Needs the release `.wasm` files (`make build`).

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
