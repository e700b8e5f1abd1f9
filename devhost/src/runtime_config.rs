//! `runtime-config.toml`: where each SQLite label lives. Only `[sqlite_database.<label>]` is
//! read; any other section, or an unknown key, is an error, as it is in Spin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub sqlite_database: BTreeMap<String, Database>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Database {
    /// A local file; no `path` means a database in memory.
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// A remote libSQL / Turso database, as used in the cloud (`deploy/`).
    Libsql { url: String, token: String },
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config {}", path.display()))?;
        toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a runtime config devhost understands",
                path.display()
            )
        })
    }
}

/// Where a label's data lives once paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    Memory,
}

impl Database {
    /// Spin resolves a relative `path` against the directory `spin up` runs in, not against
    /// the runtime config file's folder; `cwd` is that directory.
    pub fn location(&self, label: &str, cwd: &Path) -> Result<Location> {
        match self {
            Database::Spin { path: Some(path) } => Ok(Location::File(cwd.join(path))),
            Database::Spin { path: None } => Ok(Location::Memory),
            Database::Libsql { url, .. } => anyhow::bail!(
                "sqlite database `{label}` is libsql ({url}); devhost runs local files only. \
                 Use deploy/ on Spin, or a `type = \"spin\"` runtime config here."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_runtime_config_has_a_file_per_service() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime-config.toml");
        let config = RuntimeConfig::load(&path).unwrap();
        let cwd = Path::new("/run/here");
        assert_eq!(
            config.sqlite_database["users"]
                .location("users", cwd)
                .unwrap(),
            Location::File(PathBuf::from("/run/here/.spin/users.db"))
        );
        assert_eq!(
            config.sqlite_database["boards"]
                .location("boards", cwd)
                .unwrap(),
            Location::File(PathBuf::from("/run/here/.spin/boards.db"))
        );
    }

    #[test]
    fn libsql_is_parsed_but_refused_with_a_clear_message() {
        let config: RuntimeConfig = toml::from_str(
            "[sqlite_database.users]\ntype = \"libsql\"\nurl = \"https://x.turso.io\"\ntoken = \"t\"\n",
        )
        .unwrap();
        let error = config.sqlite_database["users"]
            .location("users", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("libsql"), "{error}");
    }

    #[test]
    fn unknown_keys_types_and_sections_are_errors() {
        let bad = [
            "[sqlite_database.users]\ntype = \"spin\"\npth = \"x\"\n",
            "[sqlite_database.users]\ntype = \"postgres\"\n",
            "[key_value_store.default]\ntype = \"spin\"\n",
        ];
        for text in bad {
            assert!(toml::from_str::<RuntimeConfig>(text).is_err(), "{text}");
        }
    }

    fn deploy_config(name: &str) -> RuntimeConfig {
        RuntimeConfig::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn the_cloud_runtime_config_is_libsql_for_both_labels() {
        let config = deploy_config("runtime-config.cloud.toml");
        for label in ["users", "boards"] {
            assert!(
                matches!(config.sqlite_database[label], Database::Libsql { .. }),
                "{label}"
            );
        }
    }

    #[test]
    fn each_spinkube_runtime_config_holds_only_its_own_database() {
        for (file, label) in [
            ("spinkube/user-service.runtime-config.toml", "users"),
            ("spinkube/board-service.runtime-config.toml", "boards"),
        ] {
            let config = deploy_config(file);
            let labels: Vec<&String> = config.sqlite_database.keys().collect();
            assert_eq!(labels, [label], "{file}");
            assert!(matches!(
                config.sqlite_database[label],
                Database::Libsql { .. }
            ));
        }
    }

    #[test]
    fn no_path_means_memory() {
        let config: RuntimeConfig =
            toml::from_str("[sqlite_database.users]\ntype = \"spin\"\n").unwrap();
        assert_eq!(
            config.sqlite_database["users"]
                .location("users", Path::new("/"))
                .unwrap(),
            Location::Memory
        );
    }
}
