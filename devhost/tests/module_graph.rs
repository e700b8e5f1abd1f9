//! devhost's modules import one way: no module reaches, directly or through others, a module
//! that reaches it back. Read from the sources (`crate::` paths outside test modules), so a new
//! circle fails here, with the whole graph in the message.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Module name → the modules of this crate its non-test code names. A module is a file, or a
/// folder with a `mod.rs`, whose files count as one module.
fn module_graph(src: &Path) -> Graph {
    let sources: BTreeMap<String, String> = std::fs::read_dir(src)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_stem()?.to_str()?.to_owned();
            let files: Vec<PathBuf> = if path.is_dir() && path.join("mod.rs").exists() {
                std::fs::read_dir(&path)
                    .unwrap()
                    .map(|entry| entry.unwrap().path())
                    .filter(|file| file.extension().is_some_and(|ext| ext == "rs"))
                    .collect()
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                vec![path]
            } else {
                return None;
            };
            let code = files
                .iter()
                .map(|file| non_test_code(&std::fs::read_to_string(file).unwrap()))
                .collect();
            Some((name, code))
        })
        .filter(|(name, _)| name != "lib" && name != "main")
        .collect();
    sources
        .iter()
        .map(|(module, code)| {
            let named = crate_paths(code)
                .into_iter()
                .filter(|name| name != module && sources.contains_key(name))
                .collect();
            (module.clone(), named)
        })
        .collect()
}

/// A file's code before its test module.
fn non_test_code(text: &str) -> String {
    text.split("#[cfg(test)]").next().unwrap().to_owned()
}

/// The first segment of every `crate::…` path, including each of a `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let identifier = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                names.extend(group.split(',').map(|item| identifier(item.trim())));
            }
            None => {
                names.insert(identifier(rest));
            }
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

/// A path that leaves a module and comes back to it, if there is one.
fn find_circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        graph: &Graph,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            let mut circle = path[start..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(circle) = visit(graph, next, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
}

fn describe(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(module, uses)| {
            let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
            format!("{module} -> {}", uses.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn devhost_modules_import_one_way() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10, "the sources were not found: {graph:?}");
    assert!(
        graph["sqlite"].contains("runtime_config"),
        "a folder module is read whole: {graph:?}"
    );
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "import circle: {}\n\nthe module graph:\n{}",
            circle.join(" -> "),
            describe(&graph)
        );
    }
}

#[test]
fn the_check_finds_a_circle_and_reads_grouped_imports() {
    let graph: Graph = [
        ("app", vec!["state"]),
        ("state", vec!["sqlite"]),
        ("sqlite", vec!["app"]),
        ("server", vec!["app"]),
    ]
    .into_iter()
    .map(|(m, uses)| (m.to_owned(), uses.into_iter().map(str::to_owned).collect()))
    .collect();
    let circle = find_circle(&graph).unwrap();
    assert_eq!(circle.first(), circle.last());
    assert_eq!(circle.len(), 4, "{circle:?}");
    let names = crate_paths(
        "use crate::{loader, telemetry};\nuse crate::app::App;\nx = crate::state::linker()",
    );
    let expected: BTreeSet<String> = ["app", "loader", "state", "telemetry"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(names, expected);
}
