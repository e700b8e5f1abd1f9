//! `spin.toml`, manifest version 2: the subset this app uses, read strictly. A field Spin knows
//! but devhost does not implement is refused by name rather than silently ignored, so the app
//! never appears to work here while depending on something only Spin does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
}

/// An application variable: `required = true` or a `default`, as Spin insists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    pub route: Route,
    pub component: String,
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

/// `route = "/path"` or `route = { private = true }` (reachable only by service chaining).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Route {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: Source,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<Build>,
    #[serde(default)]
    pub files: Option<toml::Value>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub ai_models: Option<toml::Value>,
}

/// Only a local file is supported; Spin also fetches URLs and registry packages.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Source {
    Path(String),
    Remote(toml::Value),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text)
            .with_context(|| format!("{} is not a manifest devhost can run", path.display()))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// Refuses, by name, what devhost does not implement, and what Spin itself would refuse.
    fn check(&self) -> Result<()> {
        if self.spin_manifest_version != 2 {
            bail!("only spin_manifest_version = 2 is supported");
        }
        for (name, variable) in &self.variables {
            if variable.required == variable.default.is_some() {
                bail!("variable `{name}` needs exactly one of `required = true` or a `default`");
            }
        }
        for trigger in &self.trigger.http {
            if trigger.executor.is_some() {
                bail!(
                    "trigger for `{}`: `executor` is not supported by devhost",
                    trigger.component
                );
            }
            if trigger.route == (Route::Private { private: false }) {
                bail!(
                    "trigger for `{}`: route must be a path or {{ private = true }}",
                    trigger.component
                );
            }
            if !self.component.contains_key(&trigger.component) {
                bail!(
                    "trigger names component `{}`, which is not defined",
                    trigger.component
                );
            }
        }
        for (id, component) in &self.component {
            component.check(id)?;
        }
        Ok(())
    }
}

impl Component {
    fn check(&self, id: &str) -> Result<()> {
        let unsupported = [
            ("files", self.files.is_some()),
            ("ai_models", self.ai_models.is_some()),
            ("environment", !self.environment.is_empty()),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, used)| *used) {
            bail!("component `{id}`: `{field}` is not supported by devhost");
        }
        if let Source::Remote(_) = self.source {
            bail!("component `{id}`: only a local file `source` is supported by devhost");
        }
        Ok(())
    }

    /// The `.wasm` file, relative to the manifest's folder as in Spin.
    pub fn source_path(&self, manifest_dir: &Path) -> PathBuf {
        match &self.source {
            Source::Path(path) => manifest_dir.join(path),
            Source::Remote(_) => unreachable!("refused by Manifest::check"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.check()?;
        Ok(manifest)
    }

    const MINIMAL: &str = r#"
        spin_manifest_version = 2
        [application]
        name = "t"
        [[trigger.http]]
        route = "/a/..."
        component = "a"
        [component.a]
        source = "a.wasm"
    "#;

    #[test]
    fn the_apps_own_manifest_is_accepted() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml");
        let manifest = Manifest::load(&path).unwrap();
        assert_eq!(manifest.component.len(), 3);
        assert_eq!(
            manifest.component["board-component"].sqlite_databases,
            ["boards"]
        );
        assert!(manifest.component["web-component"]
            .sqlite_databases
            .is_empty());
    }

    #[test]
    fn a_minimal_manifest_is_accepted() {
        assert!(parse(MINIMAL).is_ok());
    }

    #[test]
    fn unknown_and_unsupported_fields_are_refused_by_name() {
        let unknown = format!("{MINIMAL}\nfrobnicate = true\n");
        assert!(parse(&unknown).is_err());
        let files = format!("{MINIMAL}\nfiles = [\"static/**\"]\n");
        let error = parse(&files).unwrap_err().to_string();
        assert!(error.contains("`files`"), "{error}");
    }

    #[test]
    fn a_variable_needs_a_default_or_required() {
        let neither = MINIMAL.replace("[application]", "[variables]\nx = {}\n[application]");
        assert!(parse(&neither).is_err());
        let both = MINIMAL.replace(
            "[application]",
            "[variables]\nx = { default = \"1\", required = true }\n[application]",
        );
        assert!(parse(&both).is_err());
    }

    #[test]
    fn a_trigger_for_an_undefined_component_is_refused() {
        assert!(parse(&MINIMAL.replace("component = \"a\"", "component = \"b\"")).is_err());
    }
}
