//! `runtime-config.toml`: where each SQLite label lives, a local file or a libSQL server, and
//! where each key-value label lives. Only `[sqlite_database.<label>]` and `[key_value_store.<label>]`
//! of `type = "spin"` are read; any other section, type or key is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub sqlite_database: BTreeMap<String, Database>,
    #[serde(default)]
    pub key_value_store: BTreeMap<String, KeyValueStore>,
}

/// A key-value store; only Spin's own type: a SQLite file, or memory when `path` is left out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum KeyValueStore {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
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
    /// A libSQL server (Turso, `sqld`), reached over HTTP.
    Libsql {
        url: String,
        token: String,
    },
}

impl std::fmt::Display for Location {
    /// For people: the token is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Memory => f.write_str("in memory"),
            Location::Libsql { url, .. } => write!(f, "libSQL at {url}"),
        }
    }
}

impl Database {
    /// Spin resolves a relative `path` against the directory `spin up` runs in, not against
    /// the runtime config file's folder; `cwd` is that directory.
    pub fn location(&self, label: &str, cwd: &Path) -> Result<Location> {
        match self {
            Database::Spin { path: Some(path) } => Ok(Location::File(cwd.join(path))),
            Database::Spin { path: None } => Ok(Location::Memory),
            Database::Libsql { url, token } => {
                // Spin's `check_url`: the client speaks HTTP, and Turso's `libsql://` form is
                // refused at start-up rather than at the first query.
                if let Some(host) = url.strip_prefix("libsql://") {
                    anyhow::bail!(
                        "sqlite database `{label}`: Spin takes libSQL urls over HTTP only; for \
                         `{url}` write `https://{host}`"
                    );
                }
                anyhow::ensure!(
                    url.starts_with("http://") || url.starts_with("https://"),
                    "sqlite database `{label}`: the libSQL url `{url}` must start with http:// or \
                     https://"
                );
                Ok(Location::Libsql {
                    url: url.clone(),
                    token: token.clone(),
                })
            }
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

    fn libsql(url: &str) -> Result<Location> {
        let config: RuntimeConfig = toml::from_str(&format!(
            "[sqlite_database.users]\ntype = \"libsql\"\nurl = \"{url}\"\ntoken = \"t\"\n"
        ))
        .unwrap();
        config.sqlite_database["users"].location("users", Path::new("/"))
    }

    #[test]
    fn a_libsql_label_is_a_server_at_its_url_and_shows_no_token() {
        let location = libsql("https://x.turso.io").unwrap();
        assert_eq!(
            location,
            Location::Libsql {
                url: "https://x.turso.io".into(),
                token: "t".into()
            }
        );
        assert_eq!(location.to_string(), "libSQL at https://x.turso.io");
    }

    #[test]
    fn a_libsql_url_that_is_not_http_is_refused_with_the_fix() {
        let error = libsql("libsql://x.turso.io").unwrap_err().to_string();
        assert!(error.contains("https://x.turso.io"), "{error}");
    }

    #[test]
    fn unknown_keys_types_and_sections_are_errors() {
        let bad = [
            "[sqlite_database.users]\ntype = \"spin\"\npth = \"x\"\n",
            "[sqlite_database.users]\ntype = \"postgres\"\n",
            "[key_value_store.default]\ntype = \"redis\"\n",
            "[key_value_store.default]\ntype = \"spin\"\nfile = \"x\"\n",
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
