//! Each component builds on its own: `spin build -c <id>` runs only that component's build,
//! which compiles only that crate, and a change in one component's folder is watched by that
//! component alone.

use e2e::workspace;

fn manifest() -> toml::Value {
    toml::from_str(&std::fs::read_to_string(workspace().join("spin.toml")).unwrap()).unwrap()
}

/// The app's components: the two services and the web page.
const COMPONENTS: [&str; 3] = ["user-component", "board-component", "web-component"];

#[test]
fn each_component_has_its_own_build_of_its_own_crate() {
    let manifest = manifest();
    for id in COMPONENTS {
        let component = &manifest["component"][id];
        let build = &component["build"];
        let command = build["command"].as_str().unwrap();
        assert!(command.contains(&format!("-p {id}")), "{id}: {command}");
        for other in COMPONENTS.iter().filter(|other| **other != id) {
            assert!(!command.contains(other), "{id} builds {other}: {command}");
        }
        assert_eq!(build["workdir"].as_str(), Some(id));
        let crate_name = id.replace('-', "_");
        let source = component["source"].as_str().unwrap();
        assert_eq!(
            source,
            format!("target/wasm32-wasip1/release/{crate_name}.wasm")
        );
        for glob in build["watch"].as_array().unwrap() {
            let glob = glob.as_str().unwrap();
            for other in COMPONENTS.iter().filter(|other| **other != id) {
                assert!(
                    !glob.contains(other),
                    "{id} watches {other}'s files: {glob}"
                );
            }
        }
    }
}

/// The files a component's build reads: the sources cargo's dep-info lists for its last build,
/// inside this workspace, and the manifests, lock file and toolchain file that steer it.
fn build_inputs(id: &str) -> Vec<std::path::PathBuf> {
    let crate_name = id.replace('-', "_");
    let dep_info = workspace().join(format!("target/wasm32-wasip1/release/{crate_name}.d"));
    let dep_info = std::fs::read_to_string(&dep_info).unwrap();
    let (_, sources) = dep_info.split_once(": ").unwrap();
    let mut inputs: Vec<_> = sources
        .split_whitespace()
        .map(std::path::PathBuf::from)
        .filter(|path| {
            path.starts_with(workspace()) && !path.starts_with(workspace().join("target"))
        })
        .collect();
    assert!(inputs
        .iter()
        .any(|path| path.starts_with(workspace().join(id))));
    for manifest in [
        format!("{id}/Cargo.toml"),
        "service-kit/Cargo.toml".into(),
        "Cargo.toml".into(),
        "Cargo.lock".into(),
        "rust-toolchain.toml".into(),
    ] {
        inputs.push(workspace().join(manifest));
    }
    inputs
}

#[test]
fn each_component_watches_every_file_its_build_reads() {
    let manifest = manifest();
    for id in COMPONENTS {
        let build = &manifest["component"][id]["build"];
        let workdir = workspace().join(build["workdir"].as_str().unwrap());
        let mut watched = globset::GlobSetBuilder::new();
        for glob in build["watch"].as_array().unwrap() {
            // Spin resolves watch globs against the build's workdir.
            let pattern = without_dot_dot(&workdir.join(glob.as_str().unwrap()));
            watched.add(globset::Glob::new(pattern.to_str().unwrap()).unwrap());
        }
        let watched = watched.build().unwrap();
        for input in build_inputs(id) {
            assert!(
                watched.is_match(&input),
                "{id}: a change to {} rebuilds it but `watch` misses it",
                input.display()
            );
        }
    }
}

/// `a/b/../c` as `a/c`, without touching the file system (the pattern has `*` in it).
fn without_dot_dot(path: &std::path::Path) -> std::path::PathBuf {
    let mut normal = std::path::PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn building_one_component_leaves_the_others_artifact_alone() {
    let user_wasm = e2e::built_wasm("user_component");
    let board_wasm = e2e::built_wasm("board_component");
    let web_wasm = e2e::built_wasm("web_component");
    let (user_before, board_before, web_before) = (
        modified(&user_wasm),
        modified(&board_wasm),
        modified(&web_wasm),
    );
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
    assert!(!log.contains("Compiling web-component"), "{log}");
    assert_ne!(modified(&board_wasm), board_before, "board was not rebuilt");
    assert_eq!(
        modified(&user_wasm),
        user_before,
        "building board-component touched user_component.wasm"
    );
    assert_eq!(
        modified(&web_wasm),
        web_before,
        "building board-component touched web_component.wasm"
    );
}
