//! The README and `docs/` stay readable and their links stay true: every relative link and
//! anchor names a file and heading that exist, every doc links back to the README and is linked
//! from it, and no line of prose or code is over 100 characters (a Markdown table row cannot
//! wrap, so table rows are exempt).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use e2e::workspace;

const WIDTH: usize = 100;

/// The README and every Markdown file under `docs/`.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(workspace().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    docs.insert(0, workspace().join("README.md"));
    docs
}

/// Link targets in `text`: inline `[text](target)` and reference definitions `[name]: target`,
/// outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        // Code spans hold paths and commands, not links.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        if let Some(rest) = prose.trim_start().strip_prefix('[') {
            if let Some((_, target)) = rest.split_once("]: ") {
                found.push(target.trim().to_owned());
            }
        }
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

/// GitHub's anchor of each heading: lower case, punctuation dropped, spaces to hyphens.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim().to_lowercase();
        let slug: String = title
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        found.insert(slug);
    }
    found
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_relative_link_and_anchor_in_the_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            if !file.exists() {
                broken.push(format!("{}: {target} (no such file)", doc.display()));
            } else if !anchor.is_empty() && !anchors(&read(&file)).contains(anchor) {
                broken.push(format!("{}: {target} (no such heading)", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_doc_links_back_to_the_readme_and_the_readme_lists_every_doc() {
    let readme = read(&workspace().join("README.md"));
    let listed = links(&readme);
    for doc in documents().into_iter().skip(1) {
        let name = doc.file_name().unwrap().to_str().unwrap().to_owned();
        let text = read(&doc);
        assert!(text.starts_with("# "), "{name} starts with its title");
        assert!(
            links(&text).iter().any(|l| l == "../README.md"),
            "{name} links back to the README"
        );
        assert!(
            listed.contains(&format!("docs/{name}")),
            "the README links to docs/{name}"
        );
    }
}

#[test]
fn no_line_of_the_readme_or_docs_is_over_100_characters() {
    let mut long = Vec::new();
    for doc in documents() {
        for (number, line) in read(&doc).lines().enumerate() {
            if line.chars().count() > WIDTH && !line.starts_with('|') {
                long.push(format!("{}:{}", doc.display(), number + 1));
            }
        }
    }
    assert!(
        long.is_empty(),
        "lines over {WIDTH} characters:\n{}",
        long.join("\n")
    );
}
