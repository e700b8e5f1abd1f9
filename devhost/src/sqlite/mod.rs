//! `fermyon:spin/sqlite@2.0.0` with Spin's rules (crates/factor-sqlite, crates/sqlite-inproc):
//! a component may open only the labels in its `sqlite_databases` (`access-denied` is checked
//! before existence), every `open` gives a connection in a fresh connection's state (rusqlite's
//! 5 s busy timeout, no pragmas), and `ATTACH` of a file is refused. A label is a local file (on
//! rusqlite, `file`; its idle connections kept in `pool`) or a libSQL server (`libsql`). This
//! module is the configuration: which labels exist, where each lives, and what a component is
//! granted; `host` serves the guest's calls.

mod file;
mod host;
mod libsql;
mod pool;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use crate::bindings::fermyon::spin::sqlite::Error;
use crate::runtime_config::{Location, RuntimeConfig};

pub use host::SqliteState;
use libsql::Server;

/// The implicit label every Spin app has, stored beside `spin.toml`.
const DEFAULT_LABEL: &str = "default";

/// What a guest's `connection` resource stands for: a connection to one label.
struct Connection {
    label: String,
    backend: Backend,
}

enum Backend {
    /// A pooled connection to a local file (or memory).
    File(file::File),
    /// A connection of its own on a libSQL server, through the label's kept client.
    Server(libsql::Connection),
}

/// Every label the app can use, where it lives, its idle file connections and its servers'
/// clients.
#[derive(Debug, Default)]
pub struct Databases {
    locations: BTreeMap<String, Location>,
    idle: Mutex<HashMap<String, Vec<Connection>>>,
    servers: BTreeMap<String, Server>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("label", &self.label)
            .finish()
    }
}

impl Databases {
    /// Resolves the runtime config's labels; `default` is implicit, as in Spin.
    pub fn resolve(config: &RuntimeConfig, manifest_dir: &Path, cwd: &Path) -> Result<Self> {
        let mut locations = BTreeMap::from([(
            DEFAULT_LABEL.to_owned(),
            Location::File(manifest_dir.join(".spin/sqlite_db.db")),
        )]);
        let mut servers = BTreeMap::new();
        for (label, database) in &config.sqlite_database {
            let location = database.location(label, cwd)?;
            if let Location::Libsql { url, token } = &location {
                servers.insert(label.clone(), Server::new(url.clone(), token.clone()));
            }
            locations.insert(label.clone(), location);
        }
        Ok(Self {
            locations,
            idle: Mutex::default(),
            servers,
        })
    }

    /// Spin refuses to start when a component lists a label nobody defined: one problem per
    /// such label.
    pub fn undefined_labels(&self, component: &str, labels: &[String]) -> Vec<String> {
        labels
            .iter()
            .filter(|label| !self.locations.contains_key(*label))
            .map(|label| {
                format!(
                    "component `{component}` uses sqlite database `{label}`, which the runtime \
                     config does not define"
                )
            })
            .collect()
    }

    /// Creates the folder of every file a component can open, as Spin does at start-up.
    pub fn prepare_files<'a>(&self, labels: impl IntoIterator<Item = &'a String>) -> Result<()> {
        for label in labels {
            if let Some(Location::File(path)) = self.locations.get(label) {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
            }
        }
        Ok(())
    }

    pub fn location(&self, label: &str) -> Option<&Location> {
        self.locations.get(label)
    }
}

/// What one component may open: its own labels, out of the app's databases.
#[derive(Debug, Clone)]
pub struct SqliteGrant {
    databases: Arc<Databases>,
    labels: Arc<BTreeSet<String>>,
}

impl SqliteGrant {
    pub fn new(databases: Arc<Databases>, labels: &[String]) -> Self {
        Self {
            databases,
            labels: Arc::new(labels.iter().cloned().collect()),
        }
    }

    /// The labels granted, in order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(String::as_str)
    }

    fn open(&self, label: &str) -> Result<Connection, Error> {
        if !self.labels.contains(label) {
            return Err(Error::AccessDenied);
        }
        self.databases.acquire(label)
    }
}

/// The file connection behind a guest's connection.
#[cfg(test)]
fn test_file(connection: &Connection) -> &rusqlite::Connection {
    match &connection.backend {
        Backend::File(file) => &file.inner,
        Backend::Server(_) => panic!("a file label gave a server connection"),
    }
}

/// A grant of `labels` out of `users` and `boards`, files in `dir`.
#[cfg(test)]
fn test_grant(dir: &Path, labels: &[&str]) -> SqliteGrant {
    let mut config = RuntimeConfig::default();
    for label in ["users", "boards"] {
        let path = Some(format!("{label}.db").into());
        config.sqlite_database.insert(
            label.to_owned(),
            crate::runtime_config::Database::Spin { path },
        );
    }
    let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    SqliteGrant::new(
        Arc::new(Databases::resolve(&config, dir, dir).unwrap()),
        &labels,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_the_component_does_not_list_is_access_denied() {
        let dir = tempfile::tempdir().unwrap();
        let board = test_grant(dir.path(), &["boards"]);
        assert!(matches!(board.open("users"), Err(Error::AccessDenied)));
        assert!(matches!(board.open("nowhere"), Err(Error::AccessDenied)));
        assert!(board.open("boards").is_ok());
    }

    #[test]
    fn a_listed_but_undefined_label_is_no_such_database() {
        let dir = tempfile::tempdir().unwrap();
        let component = test_grant(dir.path(), &["ghost"]);
        assert!(matches!(
            component.open("ghost"),
            Err(Error::NoSuchDatabase)
        ));
    }

    #[test]
    fn every_undefined_label_in_the_manifest_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let databases = test_grant(dir.path(), &[]).databases;
        let labels = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(databases
            .undefined_labels("c", &labels(&["users", "default"]))
            .is_empty());
        let problems = databases.undefined_labels("c", &labels(&["ghost", "users", "phantom"]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`ghost`") && problems[1].contains("`phantom`"));
    }
}
