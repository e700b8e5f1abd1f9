//! Application variables and `fermyon:spin/variables@2.0.0`. As in Spin: an application
//! variable comes from `SPIN_VARIABLE_<NAME>` (in the environment, else in a `.env` file in the
//! working directory: crates/variables-env) or its manifest default; a component sees only
//! the variables listed under its own `[component.X.variables]`, whose values are templates
//! over the application variables.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::bindings::fermyon::spin::variables::{self, Error};
use crate::manifest::Variable;

/// The environment prefix Spin's environment-variable provider reads.
const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// What Spin's environment provider sees: the process environment first, then the `.env` file
/// in `dir`. A missing or unreadable file adds nothing, as in Spin.
pub fn environment(dir: &Path) -> impl Fn(&str) -> Option<String> {
    let dotenv: HashMap<String, String> = dotenvy::from_path_iter(dir.join(".env"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .collect();
    move |key| std::env::var(key).ok().or_else(|| dotenv.get(key).cloned())
}

/// The application variables, resolved once at start-up.
#[derive(Debug, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    /// `lookup` reads the process environment in production and a map in tests.
    pub fn resolve(
        declared: &BTreeMap<String, Variable>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (name, variable) in declared {
            check_name(name).with_context(|| format!("application variable `{name}`"))?;
            let from_env = lookup(&format!("{ENV_PREFIX}{}", name.to_ascii_uppercase()));
            match from_env.or_else(|| variable.default.clone()) {
                Some(value) => values.insert(name.clone(), value),
                None => bail!(
                    "variable `{name}` is required; set {ENV_PREFIX}{}",
                    name.to_ascii_uppercase()
                ),
            };
        }
        Ok(Self { values })
    }

    /// The declared defaults alone: what Spin checks templated settings against when it loads
    /// the app (an entry whose variable has no default is not checked then).
    pub fn defaults(declared: &BTreeMap<String, Variable>) -> Self {
        let values = declared
            .iter()
            .filter_map(|(name, variable)| Some((name.clone(), variable.default.clone()?)))
            .collect();
        Self { values }
    }

    /// Fills in every `{{ name }}` of `template`; an unknown name is an error.
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .with_context(|| format!("unclosed `{{{{` in `{template}`"))?;
            let name = after[..end].trim();
            let value = self
                .values
                .get(name)
                .with_context(|| format!("`{template}` uses undefined variable `{name}`"))?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The variables one component may read, with their templates expanded.
    pub fn for_component(&self, declared: &BTreeMap<String, String>) -> Result<ComponentVariables> {
        let mut values = HashMap::new();
        for (name, template) in declared {
            check_name(name).with_context(|| format!("component variable `{name}`"))?;
            values.insert(name.clone(), self.expand(template)?);
        }
        Ok(ComponentVariables(Arc::new(values)))
    }
}

/// What one component's `variables.get` can answer.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables(Arc<HashMap<String, String>>);

impl ComponentVariables {
    pub fn get(&self, name: &str) -> Result<String, Error> {
        check_name(name).map_err(|e| Error::InvalidName(e.to_string()))?;
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Undefined(format!("no variable for {name:?}")))
    }
}

/// Spin's rule for variable names: lower-case ASCII letters, digits and underscores,
/// starting with a letter.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if starts_well && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        Ok(())
    } else {
        bail!("invalid variable name {name:?}: use lower-case letters, digits and `_`")
    }
}

/// One request's variables capability: `ComponentVariables` is already per component and
/// cheap to clone, so it is the state itself.
impl variables::Host for ComponentVariables {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(ComponentVariables::get(self, &name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(entries: &[(&str, Option<&str>)]) -> BTreeMap<String, Variable> {
        entries
            .iter()
            .map(|(name, default)| {
                let variable = Variable {
                    default: default.map(str::to_owned),
                    required: default.is_none(),
                    secret: false,
                };
                (name.to_string(), variable)
            })
            .collect()
    }

    #[test]
    fn a_default_applies_unless_the_environment_overrides_it() {
        let vars = declared(&[("user_service_url", Some("http://a"))]);
        let app = AppVariables::resolve(&vars, |_| None).unwrap();
        assert_eq!(app.expand("{{ user_service_url }}").unwrap(), "http://a");
        let app = AppVariables::resolve(&vars, |key| {
            (key == "SPIN_VARIABLE_USER_SERVICE_URL").then(|| "http://b".to_owned())
        })
        .unwrap();
        assert_eq!(app.expand("{{user_service_url}}/x").unwrap(), "http://b/x");
    }

    #[test]
    fn a_required_variable_without_a_value_stops_start_up() {
        let vars = declared(&[("token", None)]);
        let error = AppVariables::resolve(&vars, |_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("SPIN_VARIABLE_TOKEN"), "{error}");
    }

    #[test]
    fn a_component_sees_only_its_own_variables() {
        let app = AppVariables::resolve(&declared(&[("a", Some("1")), ("b", Some("2"))]), |_| None)
            .unwrap();
        let mine = BTreeMap::from([("a".to_owned(), "{{ a }}".to_owned())]);
        let component = app.for_component(&mine).unwrap();
        assert_eq!(component.get("a").unwrap(), "1");
        assert!(matches!(component.get("b"), Err(Error::Undefined(_))));
        assert!(matches!(
            component.get("Bad-Name"),
            Err(Error::InvalidName(_))
        ));
    }

    #[test]
    fn a_template_over_an_undefined_variable_is_an_error() {
        let app = AppVariables::default();
        assert!(app.expand("{{ nope }}").is_err());
        assert!(app.expand("{{ open").is_err());
        assert_eq!(app.expand("plain").unwrap(), "plain");
    }
}
