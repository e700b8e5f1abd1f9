//! The running app conforms to `openapi.yaml`: schemathesis generates requests from the spec
//! (examples, boundary coverage, fuzzing, stateful sequences through the spec's links) and
//! checks every answer: no server error, statuses, content types, headers and bodies as
//! documented, schema-invalid input refused, undocumented methods refused.

use std::path::PathBuf;
use std::process::Command;

use e2e::host::{manifest_with_sources, AppSpec, RunningApp};
use e2e::{other_build, workspace};

/// Test cases per operation and phase; fixed seed so a failure can be replayed.
const MAX_EXAMPLES: &str = "100";
const SEED: &str = "20261125";
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,unsupported_method,negative_data_rejection";

fn schemathesis() -> PathBuf {
    let venv = workspace().join(".venv/bin/schemathesis");
    if venv.exists() {
        return venv;
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("schemathesis"))
        .find(|candidate| candidate.is_file())
        .expect("schemathesis is not installed: run `make tools`")
}

#[test]
fn the_app_conforms_to_its_openapi_contract() {
    assert_conforms(&RunningApp::start_default());
}

/// Old clients are unaffected by the next versions (docs/schema-changes.md): both services'
/// next builds, each on the schema it migrates to, answer the release's contract as the
/// release does, board's reading user's change feed and keys as they now are.
#[test]
fn the_services_next_versions_conform_to_the_releases_contract() {
    let dir = tempfile::tempdir().unwrap();
    let next = |crate_name| other_build("next", crate_name);
    let sources = [
        ("user-component", next("user_component")),
        ("board-component", next("board_component")),
    ];
    let app = RunningApp::start(AppSpec {
        manifest: manifest_with_sources(dir.path(), &sources),
        dir: Some(dir.path().to_path_buf()),
        ..AppSpec::default()
    });
    assert!(app
        .client
        .service_version("/users/health")
        .ends_with("+next"));
    assert!(app
        .client
        .service_version("/boards/health")
        .ends_with("+next"));
    assert_conforms(&app);
}

/// Runs schemathesis against `app` and fails on any problem it finds.
fn assert_conforms(app: &RunningApp) {
    let output = Command::new(schemathesis())
        .arg("--config-file")
        .arg(workspace().join("tests/schemathesis.toml"))
        .arg("run")
        .arg(workspace().join("openapi.yaml"))
        .args(["--url", app.client.base()])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--generation-database", "none", "--no-color"])
        .current_dir(&app.dir)
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let cases = report
        .lines()
        .skip_while(|line| !line.starts_with("Test cases:"))
        .nth(1)
        .unwrap_or("(no summary)")
        .trim();
    eprintln!("schemathesis: {cases}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}\nhost log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        app.log()
    );
    assert!(cases.contains("generated"), "{report}");
}
