//! Each component builds on its own: `spin build -c <id>` runs only that component's build,
//! which compiles only that crate, and a change in one component's folder is watched by that
//! component alone.

use e2e::workspace;

fn manifest() -> toml::Value {
    toml::from_str(&std::fs::read_to_string(workspace().join("spin.toml")).unwrap()).unwrap()
}

#[test]
fn each_component_has_its_own_build_of_its_own_crate() {
    let manifest = manifest();
    for (id, other) in [
        ("user-component", "board-component"),
        ("board-component", "user-component"),
    ] {
        let component = &manifest["component"][id];
        let build = &component["build"];
        let command = build["command"].as_str().unwrap();
        assert!(command.contains(&format!("-p {id}")), "{id}: {command}");
        assert!(!command.contains(other), "{id} builds {other}: {command}");
        assert_eq!(build["workdir"].as_str(), Some(id));
        let crate_name = id.replace('-', "_");
        let source = component["source"].as_str().unwrap();
        assert_eq!(
            source,
            format!("target/wasm32-wasip1/release/{crate_name}.wasm")
        );
        for glob in build["watch"].as_array().unwrap() {
            let glob = glob.as_str().unwrap();
            assert!(
                !glob.contains(other),
                "{id} watches {other}'s files: {glob}"
            );
        }
    }
}

fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn building_one_component_leaves_the_others_artifact_alone() {
    let user_wasm = e2e::built_wasm("user_component");
    let board_wasm = e2e::built_wasm("board_component");
    let (user_before, board_before) = (modified(&user_wasm), modified(&board_wasm));
    // Board's source made newer than its artifact, so its build has real work to do (an
    // up-to-date build would leave every artifact alone whatever the structure).
    std::fs::File::options()
        .append(true)
        .open(workspace().join("board-component/src/lib.rs"))
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--target",
            "wasm32-wasip1",
            "--release",
            "-p",
            "board-component",
        ])
        .current_dir(workspace().join("board-component"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("Compiling board-component"), "{log}");
    assert!(!log.contains("Compiling user-component"), "{log}");
    assert_ne!(modified(&board_wasm), board_before, "board was not rebuilt");
    assert_eq!(
        modified(&user_wasm),
        user_before,
        "building board-component touched user_component.wasm"
    );
}
