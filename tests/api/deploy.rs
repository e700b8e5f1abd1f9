//! The deployment files: every YAML validates against the Kubernetes and SpinApp schemas; each
//! SpinApp's selective deployment (its `components` and `variables`) starts on a host and
//! answers its probes, which proves it passes Spin's start-up rule for chaining; liveness asks
//! the host and readiness the database; the user service's memory limit covers the sign-up
//! burst the benchmark measured.

use std::process::Command;

use e2e::client::Client;
use e2e::host::{write_file, AppSpec, RunningApp};
use e2e::workspace;
use serde_yaml_ng::Value;

fn validator(deploy_dir: Option<&std::path::Path>) -> std::process::Output {
    let python = workspace().join(".venv/bin/python");
    assert!(
        python.exists(),
        "the Python tools are not installed: run `make tools`"
    );
    let mut command = Command::new(python);
    command.arg(workspace().join("tests/deploy_check.py"));
    if let Some(dir) = deploy_dir {
        command.env("DEPLOY_DIR", dir);
    }
    command.output().expect("the validator runs")
}

fn spin_apps() -> Vec<Value> {
    let dir = workspace().join("deploy/spinkube");
    let mut apps = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        let Ok(document) = serde_yaml_ng::from_str::<Value>(&text) else {
            continue;
        };
        if document["kind"].as_str() == Some("SpinApp") {
            apps.push(document);
        }
    }
    apps
}

#[test]
fn every_deployment_yaml_validates() {
    let output = validator(None);
    let report = String::from_utf8_lossy(&output.stdout);
    eprintln!("{report}");
    assert!(
        output.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_validator_rejects_a_misspelt_spinapp() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        std::fs::read_to_string(workspace().join("deploy/spinkube/user-service.yaml")).unwrap();
    write_file(
        dir.path(),
        "bad.yaml",
        &good.replace("replicas:", "replica:"),
    );
    assert!(!validator(Some(dir.path())).status.success());
}

#[test]
fn every_spinapp_shares_one_image_and_runs_one_component() {
    let apps = spin_apps();
    assert_eq!(apps.len(), 3);
    let images: std::collections::BTreeSet<&str> = apps
        .iter()
        .map(|app| app["spec"]["image"].as_str().unwrap())
        .collect();
    assert_eq!(
        images.len(),
        1,
        "one OCI image for the whole app: {images:?}"
    );
    let mut components: Vec<&str> = apps
        .iter()
        .flat_map(|app| app["spec"]["components"].as_sequence().unwrap())
        .map(|c| c.as_str().unwrap())
        .collect();
    components.sort();
    assert_eq!(
        components,
        ["board-component", "user-component", "web-component"]
    );
}

/// The Ingress routes as split mode's gateway does: `/users` and `/boards` to their services,
/// every other path to the page, each to the Service of a SpinApp that runs that component.
#[test]
fn the_ingress_puts_the_page_and_both_apis_on_one_address() {
    let text = std::fs::read_to_string(workspace().join("deploy/spinkube/ingress.yaml")).unwrap();
    let ingress: Value = serde_yaml_ng::from_str(&text).unwrap();
    let serving: std::collections::BTreeMap<String, String> = spin_apps()
        .iter()
        .map(|app| {
            let name = app["metadata"]["name"].as_str().unwrap().to_owned();
            (
                name,
                app["spec"]["components"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let routes: Vec<(String, String)> = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|path| {
            assert_eq!(path["pathType"].as_str(), Some("Prefix"));
            let backend = &path["backend"]["service"];
            assert_eq!(backend["port"]["number"].as_u64(), Some(80));
            let service = backend["name"].as_str().unwrap();
            let component = serving
                .get(service)
                .unwrap_or_else(|| panic!("no SpinApp named {service}"));
            (path["path"].as_str().unwrap().to_owned(), component.clone())
        })
        .collect();
    let expected = [
        ("/users", "user-component"),
        ("/boards", "board-component"),
        ("/", "web-component"),
    ]
    .map(|(path, component)| (path.to_owned(), component.to_owned()));
    assert_eq!(routes, expected);
}

/// A SpinApp has no rollout strategy of its own: spin-operator's Deployment takes Kubernetes'
/// default, RollingUpdate with maxUnavailable 25% (rounded down) and maxSurge 25% (rounded up).
/// With 2 or 3 replicas that is no pod down and one extra pod up during a rollout, and a new pod
/// takes traffic only once its readiness probe (the service's health endpoint) answers.
#[test]
fn each_spinapp_rolls_out_with_no_replica_unavailable_and_readiness_on_its_health() {
    for app in spin_apps() {
        let name = app["metadata"]["name"].as_str().unwrap();
        let replicas = app["spec"]["replicas"].as_u64().unwrap();
        let (max_unavailable, max_surge) = (replicas / 4, replicas.div_ceil(4));
        assert!(
            replicas >= 2,
            "{name}: one replica cannot roll without a gap"
        );
        assert_eq!(
            max_unavailable, 0,
            "{name}: {replicas} replicas let a rollout take one down"
        );
        assert!(max_surge >= 1, "{name}");
        let component = app["spec"]["components"][0].as_str().unwrap();
        let health = match component {
            "user-component" => "/users/health",
            "board-component" => "/boards/health",
            _ => "/",
        };
        let checks = &app["spec"]["checks"];
        assert_eq!(
            checks["readiness"]["httpGet"]["path"].as_str(),
            Some(health),
            "{name}"
        );
        assert_eq!(
            checks["liveness"]["httpGet"]["path"].as_str(),
            Some("/.well-known/spin/health"),
            "{name}: liveness asks the host, not the database"
        );
    }
}

/// The user service's memory limit covers the sign-up burst the newest benchmark measured on
/// Spin: the peak at its highest concurrency.
#[test]
fn the_user_services_memory_limit_covers_the_measured_sign_up_burst() {
    let newest = std::fs::read_dir(workspace().join("bench/results"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter_map(|path| {
            let run: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let spin = run["hosts"]
                .as_array()?
                .iter()
                .find(|host| host["host"] == "spin")?
                .clone();
            spin.get("signup_memory")?;
            Some((run["date"].as_str()?.to_owned(), spin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .expect("a benchmark with Spin's sign-up memory in bench/results");
    let (date, spin) = newest;
    let peaks = spin["signup_memory"]["by_concurrency"].as_object().unwrap();
    let (burst, figures) = peaks
        .iter()
        .max_by_key(|(concurrency, _)| concurrency.parse::<u32>().unwrap())
        .unwrap();
    let peak_mb = figures["peak_mb"].as_f64().unwrap();
    let user = spin_apps()
        .into_iter()
        .find(|app| app["spec"]["components"][0].as_str() == Some("user-component"))
        .unwrap();
    let limit = user["spec"]["resources"]["limits"]["memory"]
        .as_str()
        .unwrap();
    let limit_mb = limit.strip_suffix("Mi").unwrap().parse::<f64>().unwrap() * 1.048_576;
    assert!(
        limit_mb >= peak_mb,
        "limit {limit} ({limit_mb:.0} MB) is under the {peak_mb} MB that {burst} concurrent \
         sign-ups took on Spin in the benchmark of {date}"
    );
}

#[test]
fn each_spinapps_selection_starts_alone_and_its_probes_tell_alive_from_ready() {
    for app in spin_apps() {
        let spec = &app["spec"];
        let component_ids: Vec<String> = spec["components"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        let env: Vec<(String, String)> = spec["variables"]
            .as_sequence()
            .map(|vars| {
                vars.iter()
                    .map(|var| {
                        let name = var["name"].as_str().unwrap().to_ascii_uppercase();
                        let value = var["value"].as_str().unwrap().to_owned();
                        assert!(
                            !value.contains(".spin.internal"),
                            "{name} must be a real address: {value}"
                        );
                        (format!("SPIN_VARIABLE_{name}"), value)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let running = RunningApp::start(AppSpec {
            component_ids,
            env,
            ..AppSpec::default()
        });
        let client = Client::new(running.client.base());
        let probe = |name: &str| {
            let path = spec["checks"][name]["httpGet"]["path"].as_str().unwrap();
            client.get(path).status
        };
        assert_eq!(probe("readiness"), 200);
        assert_eq!(probe("liveness"), 200);
        // A broken database: out of rotation (not ready), but alive, so not restarted.
        let label = match spec["components"][0].as_str().unwrap() {
            "user-component" => "users",
            "board-component" => "boards",
            _ => {
                assert!(spec["runtimeConfig"].is_null(), "the page has no database");
                continue;
            }
        };
        running.break_database(label);
        assert_eq!(probe("readiness"), 503, "{}", running.log());
        assert_eq!(probe("liveness"), 200);
    }
}
