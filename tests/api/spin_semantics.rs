//! The Spin behaviours this app relies on, observed from inside a component (the probe
//! fixture): request headers, SQLite labels, key-value stores, variables, outbound rules,
//! chaining and start-up checks. Host-agnostic: the same assertions hold on devhost and on Spin.

use std::path::{Path, PathBuf};

use e2e::double::KeptAliveServer;
use e2e::host::{write_file, AppSpec, RunningApp};
use e2e::{built_wasm, workspace};
use serde_json::Value;

/// The `sqlite_databases` that the real `spin.toml` grants `component`.
fn granted_labels(component: &str) -> Vec<String> {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(workspace().join("spin.toml")).unwrap()).unwrap();
    manifest["component"][component]["sqlite_databases"]
        .as_array()
        .map(|labels| {
            labels
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A manifest running the probe as component `probe` with `labels`, plus a private `hidden` copy.
fn probe_manifest(dir: &Path, labels: &[String], extra: &str) -> PathBuf {
    let wasm = built_wasm("probe_component");
    let labels: Vec<String> = labels.iter().map(|l| format!("{l:?}")).collect();
    let text = format!(
        r#"spin_manifest_version = 2
[application]
name = "probe"

[variables]
greeting = {{ default = "hi" }}
unused = {{ default = "nobody reads me" }}

[[trigger.http]]
route = "/probe/..."
component = "probe"

[[trigger.http]]
route = "/item/:id"
component = "probe"

[[trigger.http]]
route = {{ private = true }}
component = "hidden"

[component.probe]
source = {wasm:?}
sqlite_databases = [{labels}]
key_value_stores = ["cache"]
allowed_outbound_hosts = ["http://hidden.spin.internal", "http://probe.spin.internal"]
[component.probe.variables]
greeting = "{{{{ greeting }}}}!"

[component.hidden]
source = {wasm:?}
{extra}
"#,
        labels = labels.join(", "),
    );
    write_file(dir, "spin.toml", &text)
}

/// The probe's labels: two files, and the key-value store `cache` in memory.
fn probe_runtime_config(dir: &Path) -> PathBuf {
    write_file(
        dir,
        "runtime-config.toml",
        &format!("{PROBE_DATABASES}[key_value_store.cache]\ntype = \"spin\"\n"),
    )
}

const PROBE_DATABASES: &str =
    "[sqlite_database.users]\ntype = \"spin\"\npath = \"data/users.db\"\n\n\
     [sqlite_database.boards]\ntype = \"spin\"\npath = \"data/boards.db\"\n\n";

fn start_probe(labels: &[String], env: Vec<(String, String)>) -> (tempfile::TempDir, RunningApp) {
    let files = tempfile::tempdir().unwrap();
    let spec = AppSpec {
        manifest: probe_manifest(files.path(), labels, ""),
        runtime_config: probe_runtime_config(files.path()),
        env,
        dir: Some(files.path().to_path_buf()),
        ..AppSpec::default()
    };
    let app = RunningApp::start(spec);
    (files, app)
}

/// Asserts that the probe's outbound call was denied by `allowed_outbound_hosts`.
fn assert_denied(called: &Value, why: &str) {
    assert!(
        called["result"].as_str().unwrap().contains("Denied"),
        "{why}: {called}"
    );
}

fn probe(app: &RunningApp, path: &str) -> Value {
    let reply = app.client.get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()
}

#[test]
fn a_wildcard_route_gets_spins_request_headers() {
    let (_files, app) = start_probe(&[], vec![]);
    let seen = probe(&app, "/probe/a/b/headers?x=1");
    let headers = &seen["headers"];
    assert_eq!(seen["path"], "/probe/a/b/headers");
    assert_eq!(headers["spin-path-info"], "/a/b/headers");
    assert_eq!(headers["spin-matched-route"], "/probe/...");
    assert_eq!(headers["spin-raw-component-route"], "/probe/...");
    assert_eq!(headers["spin-component-route"], "/probe");
    assert_eq!(headers["spin-base-path"], "/");
    assert_eq!(
        headers["spin-full-url"],
        format!("http://{}/probe/a/b/headers?x=1", app.addr)
    );
    assert!(headers["spin-client-addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
}

#[test]
fn a_segment_parameter_arrives_as_a_path_match_header() {
    let (_files, app) = start_probe(&[], vec![]);
    let headers = &probe(&app, "/item/42")["headers"];
    assert_eq!(headers["spin-path-match-id"], "42");
    assert_eq!(headers["spin-matched-route"], "/item/:id");
    assert_eq!(headers["spin-path-info"], "");
}

#[test]
fn unrouted_and_private_paths_are_an_empty_404() {
    let (_files, app) = start_probe(&[], vec![]);
    for path in ["/nowhere", "/hidden"] {
        let reply = app.client.get(path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.body.is_empty(), "{path}: {}", reply.text());
    }
}

#[test]
fn the_host_answers_its_well_known_health_path_itself() {
    let (_files, app) = start_probe(&[], vec![]);
    let reply = app.client.get("/.well-known/spin/health");
    assert_eq!((reply.status, reply.text().as_str()), (200, "OK"));
}

#[test]
fn the_board_components_grant_cannot_open_the_users_database() {
    let board = granted_labels("board-component");
    let (_files, app) = start_probe(&board, vec![]);
    assert_eq!(probe(&app, "/probe/sqlite?label=boards")["result"], "ok");
    assert_eq!(
        probe(&app, "/probe/sqlite?label=users")["result"],
        "access-denied"
    );
    assert_eq!(
        probe(&app, "/probe/sqlite?label=nonexistent")["result"],
        "access-denied"
    );
}

#[test]
fn the_user_components_grant_cannot_open_the_boards_database() {
    let user = granted_labels("user-component");
    let (_files, app) = start_probe(&user, vec![]);
    assert_eq!(probe(&app, "/probe/sqlite?label=users")["result"], "ok");
    assert_eq!(
        probe(&app, "/probe/sqlite?label=boards")["result"],
        "access-denied"
    );
}

#[test]
fn a_component_cannot_attach_another_services_database_file() {
    let board = granted_labels("board-component");
    let (files, app) = start_probe(&board, vec![]);
    assert_eq!(probe(&app, "/probe/sqlite?label=boards")["result"], "ok");
    let memory = probe(&app, "/probe/attach?label=boards&file=:memory:");
    assert_eq!(
        memory["result"], "ok",
        "in-memory ATTACH is allowed: {memory}"
    );

    let users_file = files.path().join("data/users.db");
    rusqlite::Connection::open(&users_file)
        .unwrap()
        .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1)")
        .unwrap();
    let before = std::fs::read(&users_file).unwrap();
    let result = probe(
        &app,
        &format!("/probe/attach?label=boards&file={}", users_file.display()),
    );
    assert!(
        result["result"]
            .as_str()
            .unwrap()
            .contains("not authorized"),
        "ATTACH of another file must be refused by the authorizer: {result}"
    );
    assert_eq!(std::fs::read(&users_file).unwrap(), before);
}

#[test]
fn a_database_file_replaced_under_its_name_is_what_the_next_open_reads() {
    let board = granted_labels("board-component");
    let (files, app) = start_probe(&board, vec![]);
    let file = files.path().join("data/boards.db");
    let with_table = |path: &Path, table: &str| {
        rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(&format!("CREATE TABLE {table} (x)"))
            .unwrap();
    };
    with_table(&file, "before");
    let listed = probe(&app, "/probe/tables?label=boards");
    assert_eq!(listed["tables"], serde_json::json!(["before"]), "{listed}");

    // A restore: another database moved in under the same name while the host runs.
    let restored = files.path().join("data/restored.db");
    with_table(&restored, "restored");
    std::fs::rename(&restored, &file).unwrap();
    let listed = probe(&app, "/probe/tables?label=boards");
    assert_eq!(
        listed["tables"],
        serde_json::json!(["restored"]),
        "Spin opens the path afresh for every open: {listed}"
    );
}

#[test]
fn variables_come_from_defaults_or_the_environment_and_only_declared_ones_are_visible() {
    let (_files, app) = start_probe(&[], vec![]);
    assert_eq!(probe(&app, "/probe/variable?name=greeting")["value"], "hi!");
    let unused = probe(&app, "/probe/variable?name=unused");
    assert!(
        unused["result"].as_str().unwrap().contains("Undefined"),
        "{unused}"
    );
    drop(app);
    let env = vec![("SPIN_VARIABLE_GREETING".to_owned(), "hello".to_owned())];
    let (_files, app) = start_probe(&[], env);
    assert_eq!(
        probe(&app, "/probe/variable?name=greeting")["value"],
        "hello!"
    );
}

#[test]
fn a_components_calls_to_one_host_reuse_a_kept_alive_connection() {
    // Spin pools outbound connections unless the runtime config turns `connection_pooling`
    // off (factor-outbound-http/src/wasi.rs); board's calls to the user service rely on it.
    let server = KeptAliveServer::start();
    let files = tempfile::tempdir().unwrap();
    let manifest = probe_manifest(files.path(), &[], "");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        r#"allowed_outbound_hosts = ["http://hidden.spin.internal", "http://probe.spin.internal"]"#,
        &format!(
            r#"allowed_outbound_hosts = ["http://hidden.spin.internal", "http://{}"]"#,
            server.addr
        ),
    );
    std::fs::write(&manifest, text).unwrap();
    let app = RunningApp::start(AppSpec {
        manifest,
        runtime_config: probe_runtime_config(files.path()),
        dir: Some(files.path().to_path_buf()),
        ..AppSpec::default()
    });
    for _ in 0..5 {
        let called = probe(
            &app,
            &format!("/probe/outbound?url=http://{}/ping", server.addr),
        );
        assert_eq!(called["status"], 200, "{called}");
    }
    assert_eq!(server.seen(), (1, 5), "(connections, requests)");
}

#[test]
fn outbound_calls_go_only_to_allowed_hosts_and_chaining_reaches_private_components() {
    let (_files, app) = start_probe(&[], vec![]);
    let chained = probe(&app, "/probe/outbound?url=http://hidden.spin.internal/noop");
    assert_eq!(chained["result"], "ok", "{chained}");
    assert_eq!(chained["status"], 200);
    let denied = probe(
        &app,
        &format!("/probe/outbound?url=http://{}/probe/noop", app.addr),
    );
    assert_denied(&denied, "a host the component does not list");
}

/// The probe's manifest with `allowed` as its `allowed_outbound_hosts`.
fn probe_allowed_to(files: &Path, allowed: &str) -> AppSpec {
    let manifest = probe_manifest(files, &[], "");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        r#"allowed_outbound_hosts = ["http://hidden.spin.internal", "http://probe.spin.internal"]"#,
        &format!("allowed_outbound_hosts = {allowed}"),
    );
    std::fs::write(&manifest, text).unwrap();
    AppSpec {
        manifest,
        runtime_config: probe_runtime_config(files),
        dir: Some(files.to_path_buf()),
        ..AppSpec::default()
    }
}

#[test]
fn a_url_with_no_host_or_the_host_self_alt_reaches_the_app_itself_where_self_is_allowed() {
    // Spin 4.0.2, crates/factor-outbound-http/src/wasi.rs: `is_self_request` and the
    // listener's origin; board reaches the user service so where nothing else routes.
    let files = tempfile::tempdir().unwrap();
    let app = RunningApp::start(probe_allowed_to(files.path(), r#"["http://self"]"#));
    for url in ["/probe/noop", "http://self.alt/probe/noop"] {
        let called = probe(&app, &format!("/probe/outbound?url={url}"));
        assert_eq!(called["status"], 200, "{url}: {called}");
    }
    let unrouted = probe(&app, "/probe/outbound?url=/elsewhere");
    assert_eq!(
        unrouted["status"], 404,
        "routed as a request from outside: {unrouted}"
    );
    let named = probe(&app, "/probe/outbound?url=http://self/probe/noop");
    assert_denied(&named, "the host `self` is not a self request");
    let (_files, without) = start_probe(&[], vec![]);
    let denied = probe(&without, "/probe/outbound?url=/probe/noop");
    assert_denied(&denied, "no `self` entry");
}

#[test]
fn a_templated_outbound_host_is_checked_with_its_default_at_start_and_its_value_at_each_call() {
    // Spin 4.0.2: the loader checks a templated entry with the variables' defaults
    // (outbound-networking-config `validate`); each instance parses it with the values the app
    // runs with, and a malformed one denies the component every request
    // (factor-outbound-networking `prepare`).
    let files = tempfile::tempdir().unwrap();
    let malformed_default = probe_allowed_to(files.path(), r#"["{{ greeting }}"]"#);
    let output = RunningApp::refuse_to_start(malformed_default);
    assert!(output.contains("allowed_outbound_hosts"), "{output}");

    let files = tempfile::tempdir().unwrap();
    let mut spec = probe_allowed_to(
        files.path(),
        r#"["{{ target }}", "http://hidden.spin.internal"]"#,
    );
    let manifest = std::fs::read_to_string(&spec.manifest).unwrap().replace(
        "[variables]\n",
        "[variables]\ntarget = { default = \"http://probe.spin.internal\" }\n",
    );
    std::fs::write(&spec.manifest, manifest).unwrap();
    spec.env = vec![("SPIN_VARIABLE_TARGET".to_owned(), "not-a-url".to_owned())];
    let app = RunningApp::start(spec);
    let denied = probe(&app, "/probe/outbound?url=http://hidden.spin.internal/noop");
    assert_denied(&denied, "a listed host too");
}

#[test]
fn a_label_the_runtime_config_does_not_define_stops_start_up() {
    let files = tempfile::tempdir().unwrap();
    let spec = AppSpec {
        manifest: probe_manifest(files.path(), &["ghost".to_owned()], ""),
        runtime_config: probe_runtime_config(files.path()),
        ..AppSpec::default()
    };
    let output = RunningApp::refuse_to_start(spec);
    assert!(output.contains("ghost"), "{output}");
}

#[test]
fn a_key_value_store_the_runtime_config_does_not_define_stops_start_up() {
    let files = tempfile::tempdir().unwrap();
    let spec = AppSpec {
        manifest: probe_manifest(files.path(), &[], ""),
        runtime_config: write_file(files.path(), "runtime-config.toml", PROBE_DATABASES),
        ..AppSpec::default()
    };
    let output = RunningApp::refuse_to_start(spec);
    assert!(output.contains("cache"), "{output}");
}

#[test]
fn a_key_value_store_outlives_requests_not_its_process_and_opens_only_for_its_grantees() {
    let files = tempfile::tempdir().unwrap();
    let spec = AppSpec {
        manifest: probe_manifest(files.path(), &[], ""),
        runtime_config: probe_runtime_config(files.path()),
        dir: Some(files.path().to_path_buf()),
        ..AppSpec::default()
    };
    let mut app = RunningApp::start(spec);
    let first = probe(&app, "/probe/kv?label=cache&key=k&set=one");
    assert_eq!(
        (&first["result"], &first["value"]),
        (&"ok".into(), &Value::Null)
    );
    let second = probe(&app, "/probe/kv?label=cache&key=k");
    assert_eq!(
        second["value"], "one",
        "a value outlives the request that set it"
    );
    // Only the labels in `key_value_stores`, whether or not they exist: `default` always does.
    for label in ["default", "elsewhere"] {
        let denied = probe(&app, &format!("/probe/kv?label={label}&key=k"));
        assert_eq!(denied["result"], "access-denied", "{label}");
    }
    // A `spin` store with no path lives in memory: a new process starts it empty.
    app.restart();
    let after = probe(&app, "/probe/kv?label=cache&key=k");
    assert_eq!(
        (&after["result"], &after["value"]),
        (&"ok".into(), &Value::Null)
    );
}

#[test]
fn every_undefined_label_is_reported_at_once() {
    let files = tempfile::tempdir().unwrap();
    let spec = AppSpec {
        manifest: probe_manifest(
            files.path(),
            &["ghost".to_owned(), "phantom".to_owned()],
            "",
        ),
        runtime_config: probe_runtime_config(files.path()),
        ..AppSpec::default()
    };
    let output = RunningApp::refuse_to_start(spec);
    assert!(
        output.contains("ghost") && output.contains("phantom"),
        "{output}"
    );
}

#[test]
fn running_a_subset_that_chains_to_an_unselected_component_is_refused() {
    let files = tempfile::tempdir().unwrap();
    let spec = AppSpec {
        manifest: probe_manifest(files.path(), &[], ""),
        runtime_config: probe_runtime_config(files.path()),
        component_ids: vec!["probe".to_owned()],
        ..AppSpec::default()
    };
    let output = RunningApp::refuse_to_start(spec);
    assert!(
        output.contains("service chaining to unselected component"),
        "{output}"
    );
}

#[test]
fn the_apps_board_component_runs_alone_because_it_finds_users_by_variable() {
    let spec = AppSpec {
        component_ids: vec!["board-component".to_owned()],
        ..AppSpec::default()
    };
    let app = RunningApp::start(spec);
    assert_eq!(app.client.get("/boards/health").status, 200);
    assert_eq!(app.client.get("/users/health").status, 404);
}
