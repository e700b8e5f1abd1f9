//! Traces across the two services, on the run's host: with `OTEL_EXPORTER_OTLP_ENDPOINT` set,
//! the host exports spans over OTLP/HTTP to a real receiver, and a board request and the user
//! service call it makes are one trace: the user service's span descends from board's through
//! the client span of board's outbound call. In one process (service chaining) and in split
//! mode (two processes behind the gateway, `traceparent` on the wire).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::client::Client;
use e2e::host::{free_port, AppSpec, RunningApp};
use e2e::split::SplitScript;
use e2e::wait::eventually;
use e2e::{jwt, process, workspace};
use serde_json::Value;

/// How long spans may take to reach the receiver (the batch delay is set to 100 ms).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(20);

/// OTLP span kinds.
const CLIENT: i64 = 3;

/// `tests/otlp_receiver.py` on a free port, writing each span it receives as a JSON line.
struct Receiver {
    child: Child,
    endpoint: String,
    spans_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spans_file = dir.path().join("spans.jsonl");
        let addr = free_port();
        let child = Command::new(workspace().join(".venv/bin/python"))
            .arg(workspace().join("tests/otlp_receiver.py"))
            .arg(addr.port().to_string())
            .arg(&spans_file)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("the venv's python (make tools) runs the receiver");
        eventually(EXPORT_TIMEOUT, || {
            std::net::TcpStream::connect(addr).is_ok()
        })
        .expect("the OTLP receiver did not start");
        Self {
            child,
            endpoint: format!("http://{addr}"),
            spans_file,
            _dir: dir,
        }
    }

    /// What a host needs to export here, quickly.
    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), self.endpoint.clone()),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ]
    }

    fn spans(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.spans_file)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Waits until the trace of the request whose server span is `method path` holds a call
    /// from board to the user service whose path starts with `called`; returns that trace.
    fn trace_of(&self, method: &str, route: &str, called: &str, log: impl Fn() -> String) -> Trace {
        eventually(EXPORT_TIMEOUT, || {
            let spans = self.spans();
            spans
                .iter()
                .filter(|span| span["name"] == format!("{method} {route}"))
                .map(|server| Trace::of(&spans, server))
                // Each process exports its spans in its own batches: wait for all three.
                .find(|trace| {
                    trace.call_to(called).is_some()
                        && trace.user_span().is_some()
                        && trace.named(BOARD_SPAN).is_some()
                })
        })
        .unwrap_or_else(|| {
            panic!(
                "no trace of {method} {route} calling {called} with the user service's span; \
                 spans received:\n{}\nhost log:\n{}",
                self.spans()
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
                log()
            )
        })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        process::signal_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The span of board's execution of a request.
const BOARD_SPAN: &str = "execute_wasm_component board-component";

/// The spans of one trace.
struct Trace(Vec<Value>);

impl Trace {
    fn of(spans: &[Value], member: &Value) -> Self {
        Trace(
            spans
                .iter()
                .filter(|span| span["traceId"] == member["traceId"])
                .cloned()
                .collect(),
        )
    }

    fn named(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|span| span["name"] == name)
    }

    fn parent(&self, span: &Value) -> Option<&Value> {
        self.0
            .iter()
            .find(|candidate| candidate["spanId"] == span["parentSpanId"])
    }

    fn board_span(&self) -> &Value {
        self.named(BOARD_SPAN)
            .expect("board's execution has a span")
    }

    fn user_span(&self) -> Option<&Value> {
        self.named("execute_wasm_component user-component")
    }

    /// Board's outbound call whose URL path starts with `path`.
    fn call_to(&self, path: &str) -> Option<&Value> {
        self.0.iter().find(|span| {
            span["kind"] == CLIENT
                && span["attributes"]["url.full"]
                    .as_str()
                    .and_then(|url| url.split_once("://"))
                    .and_then(|(_, rest)| rest.split_once('/'))
                    .is_some_and(|(_, rest)| format!("/{rest}").starts_with(path))
        })
    }

    /// The user service's span is a child of board's outbound call (directly, or through the
    /// user service's server span when the call crossed the network), and that call a child of
    /// board's execution.
    fn assert_user_span_is_a_child_of_boards_call(&self, called: &str) {
        let board = self.board_span();
        let call = self.call_to(called).expect("board's call has a span");
        assert_eq!(
            call["parentSpanId"], board["spanId"],
            "{call} under {board}"
        );
        let user = self
            .user_span()
            .expect("the user service's execution has a span");
        let mut parent = self
            .parent(user)
            .expect("the user span has its parent in the trace");
        if parent["spanId"] != call["spanId"] {
            assert_eq!(
                parent["kind"], 2,
                "only a server span may sit between: {parent}"
            );
            assert_eq!(
                parent["attributes"]["url.path"]
                    .as_str()
                    .map(|p| p.starts_with(called)),
                Some(true),
                "{parent}"
            );
            parent = self
                .parent(parent)
                .expect("the server span has its parent in the trace");
        }
        assert_eq!(parent["spanId"], call["spanId"], "{user} under {call}");
    }
}

/// Signs up an author, writes a post, reads the list: the write fetches the user service's
/// signing keys (board has none yet), the first read pulls its change feed.
fn write_and_read(client: &Client) {
    let ann = client.sign_up("ann@example.org", "Ann");
    let post = client.write_post(ann, "traced");
    assert_eq!(post["userId"], ann);
    let list = client.get("/boards");
    assert_eq!(list.status, 200, "{}", list.text());
}

fn assert_one_trace_per_board_request(receiver: &Receiver, log: impl Fn() -> String) {
    let write = receiver.trace_of("POST", "/boards", "/users/keys", &log);
    write.assert_user_span_is_a_child_of_boards_call("/users/keys");
    let read = receiver.trace_of("GET", "/boards", "/users/changes", &log);
    read.assert_user_span_is_a_child_of_boards_call("/users/changes");
}

#[test]
fn a_board_request_and_its_user_service_call_are_one_trace_in_one_process() {
    let receiver = Receiver::start();
    let app = RunningApp::start(AppSpec {
        env: receiver.env(),
        ..AppSpec::default()
    });
    write_and_read(&app.client);
    assert_one_trace_per_board_request(&receiver, || app.log());
    // The sign-in and the key fetch are in the spans; the private key is not.
    let spans: Vec<String> = receiver.spans().iter().map(Value::to_string).collect();
    let spans = spans.join("\n");
    for form in jwt::written_forms(&jwt::first_signing_seed(&app.store("users"))) {
        assert!(
            !spans.contains(&form),
            "the private key ({form}) is in a span"
        );
    }
}

#[test]
fn a_board_request_and_its_user_service_call_are_one_trace_in_split_mode() {
    let receiver = Receiver::start();
    let env = receiver.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let split = SplitScript::start_with_env(&env);
    write_and_read(&split.gateway);
    assert_one_trace_per_board_request(&receiver, || split.log());
    split.stop();
}
