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

#[test]
fn building_one_component_leaves_the_others_artifact_alone() {
    let user_wasm = e2e::built_wasm("user_component");
    let before = std::fs::metadata(&user_wasm).unwrap().modified().unwrap();
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--target",
            "wasm32-wasip1",
            "--release",
            "-p",
            "board-component",
        ])
        .current_dir(workspace().join("board-component"))
        .status()
        .unwrap();
    assert!(status.success());
    let after = std::fs::metadata(&user_wasm).unwrap().modified().unwrap();
    assert_eq!(
        before, after,
        "building board-component touched user_component.wasm"
    );
}
