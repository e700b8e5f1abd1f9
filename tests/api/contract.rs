//! The running app conforms to `openapi.yaml`: schemathesis generates requests from the spec
//! (examples, boundary coverage, fuzzing, stateful sequences through the spec's links) and
//! checks every answer: no server error, statuses, content types, headers and bodies as
//! documented, schema-invalid input refused, undocumented methods refused.

use std::path::PathBuf;
use std::process::Command;

use e2e::host::RunningApp;
use e2e::workspace;

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
    let app = RunningApp::start_default();
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
