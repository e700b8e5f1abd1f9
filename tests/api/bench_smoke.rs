//! A seconds-long run of the benchmark command on this run's host and database, so it cannot
//! rot: every endpoint is loaded, no request fails, and the results file has every figure.
//! Timings are not asserted.

use std::process::Command;

use e2e::host::Host;
use e2e::sqld::Backend;
use e2e::workspace;
use serde_json::Value;

#[test]
fn the_benchmark_runs_and_reports_every_figure() {
    let host = if Host::detect().is_spin() {
        "spin"
    } else {
        "devhost"
    };
    let database = match Backend::detect() {
        Backend::File => "file",
        Backend::Libsql => "libsql",
    };
    let run = run_the_benchmark_briefly(host, database);
    let result = &run["hosts"][0];
    assert_eq!(result["host"], host);
    let measured = &result["by_database"][0];
    assert_eq!(measured["database"], database);
    assert_eq!(measured["endpoints"].as_array().unwrap().len(), 6);
    for endpoint in measured["endpoints"].as_array().unwrap() {
        let run = &endpoint["runs"][0];
        assert!(run["rps"].as_f64().unwrap() > 0.0, "{endpoint}");
        assert_eq!(run["errors"], 0, "{endpoint}");
        assert!(run["host_cpu_ms"].as_f64().is_some(), "{endpoint}");
    }
    let burst = &measured["after_writes"];
    for when in ["before", "after"] {
        assert!(burst[when]["rps"].as_f64().unwrap() > 0.0, "{burst}");
        assert_eq!(burst[when]["errors"], 0, "{burst}");
    }
    match database {
        "libsql" => {
            for statement in ["GET /boards/{id}", "POST /boards"] {
                let alone = &measured["sqld_alone"][statement];
                assert!(alone["rps"].as_f64().unwrap() > 0.0, "{alone}");
                assert_eq!(alone["errors"], 0, "{alone}");
            }
        }
        _ => assert!(measured["sqld_alone"].is_null()),
    }
    // The read model's reads at one connection through split mode's gateway.
    for endpoint in ["GET /users/{id}", "GET /boards/{id}"] {
        let through = &result["gateway_c1"][endpoint];
        assert!(through["rps"].as_f64().unwrap() > 0.0, "{through}");
        assert_eq!(through["errors"], 0, "{through}");
    }
    for figure in ["cold_ms", "warm_ms"] {
        assert!(result["startup"][figure].as_f64().unwrap() > 0.0);
    }
    assert!(result["footprint"]["peak_rss_mb"].as_f64().unwrap() > 0.0);
    assert!(result["argon2"]["hashes_per_second_c1"].as_f64().unwrap() > 0.0);
    assert_eq!(result["argon2"]["params"], "m=7168,t=5,p=1");
    let memory = &result["signup_memory"];
    assert!(
        memory["mb_per_concurrent_sign_up"].as_f64().is_some(),
        "{memory}"
    );
    for concurrency in ["1", "2"] {
        let peak = memory["by_concurrency"][concurrency]["peak_mb"].as_f64();
        assert!(peak.unwrap() > 0.0, "{memory}");
    }
}

/// `make bench` at a second per run on `host` and `database`; the results file it wrote.
fn run_the_benchmark_briefly(host: &str, database: &str) -> Value {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new("python3")
        .arg(workspace().join("bench/run.py"))
        .args(["--seconds", "1", "--warmup", "1", "--concurrency", "1,2"])
        .args([
            "--startup-runs",
            "1",
            "--hosts",
            host,
            "--databases",
            database,
        ])
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let json = std::fs::read_dir(out.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "json"))
        .expect("a results file");
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}
