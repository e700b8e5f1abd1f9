//! Checks a built component against the world in `wit/` that states its capabilities: every
//! interface it imports must be one its world lists. Versions are compared up to the minor
//! version, as wasmtime links `0.2.x` imports semver-compatibly.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Result};
use wit_component::DecodedWasm;
use wit_parser::Resolve;

/// The imports of `component` that `world` (in the WIT package at `wit_dir`) does not declare.
pub fn undeclared_imports(component: &[u8], wit_dir: &Path, world: &str) -> Result<Vec<String>> {
    let declared = declared_imports(wit_dir, world)?;
    Ok(component_imports(component)?
        .into_iter()
        .filter(|import| !declared.contains(import))
        .collect())
}

fn declared_imports(wit_dir: &Path, world: &str) -> Result<BTreeSet<String>> {
    let mut resolve = Resolve::new();
    let (package, _) = resolve.push_dir(wit_dir)?;
    let world = resolve.select_world(&[package], Some(world))?;
    Ok(resolve.worlds[world]
        .imports
        .keys()
        .map(|key| without_patch(&resolve.name_world_key(key)))
        .collect())
}

/// What `component` imports, versions up to the minor (`wasi:io/poll@0.2`).
pub fn component_imports(component: &[u8]) -> Result<BTreeSet<String>> {
    let DecodedWasm::Component(resolve, world) = wit_component::decode(component)? else {
        bail!("not a component");
    };
    Ok(resolve.worlds[world]
        .imports
        .keys()
        .map(|key| without_patch(&resolve.name_world_key(key)))
        .collect())
}

/// `wasi:cli/stdout@0.2.6` -> `wasi:cli/stdout@0.2`.
pub fn without_patch(name: &str) -> String {
    match name.split_once('@') {
        Some((interface, version)) => {
            let minor: Vec<&str> = version.splitn(3, '.').take(2).collect();
            format!("{interface}@{}", minor.join("."))
        }
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_up_to_the_minor() {
        assert_eq!(
            without_patch("wasi:cli/stdout@0.2.6"),
            "wasi:cli/stdout@0.2"
        );
        assert_eq!(
            without_patch("fermyon:spin/sqlite@2.0.0"),
            "fermyon:spin/sqlite@2.0"
        );
        assert_eq!(without_patch("local"), "local");
    }

    #[test]
    fn the_worlds_state_each_services_capabilities() {
        let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        let user = declared_imports(&wit, "user-component").unwrap();
        let board = declared_imports(&wit, "board-component").unwrap();
        assert!(user.contains("fermyon:spin/sqlite@2.0"));
        assert!(!user.contains("wasi:http/outgoing-handler@0.2"));
        // Its token and key lifetimes are variables.
        assert!(user.contains("fermyon:spin/variables@2.0"));
        assert!(board.contains("wasi:http/outgoing-handler@0.2"));
        assert!(board.contains("fermyon:spin/variables@2.0"));
        assert!(!board
            .iter()
            .any(|import| import.starts_with("wasi:sockets")));
    }
}
