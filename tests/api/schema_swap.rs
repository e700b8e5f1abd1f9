//! A service's next version, which changes its schema, swapped in under load, rolled back and
//! swapped in again: split mode (`make swap`), blue-green, on the run's host and database, two
//! replicas per service sharing a libSQL server (one per file). The next versions are real
//! builds (`make test` makes them; docs/schema-changes.md): user's has a bio, board's a post
//! summary, each one compatible migration more than the release.
//!
//! Through each step no client request fails and no request in the gateway's log does; the
//! migration runs once across every replica and colour; a rollback serves the migrated schema in
//! the release's own shape and keeps what was written through the new field; every write the
//! load had acknowledged is readable after each step; and board, old or new, follows renames
//! through user's change feed, old or new (tolerant readers both ways). Then user's breaking
//! version: once it has migrated, a swap back to any older build is refused at that build's
//! health check, and the breaking build serves on.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use e2e::client::Client;
use e2e::gateway_load::{swap_under_load, Checked, GatewayLoad};
use e2e::split::SplitScript;
use e2e::wait::eventually;
use e2e::{built_wasm, other_build};
use serde_json::{json, Value};

/// Load between swaps.
const PHASE: Duration = Duration::from_secs(2);
/// How long board may show an author's old name: split mode's feed interval (2 s), the pull,
/// and the gateway's health checks of a colour just put in.
const REPLICA_STALENESS: Duration = Duration::from_secs(6);
/// What every service's log says, once, when a request migrates its schema.
const MIGRATED: &str = "schema migrated from version";

#[derive(Clone, Copy, Debug)]
enum Service {
    User,
    Board,
}

impl Service {
    fn component(self) -> &'static str {
        match self {
            Service::User => "user-component",
            Service::Board => "board-component",
        }
    }

    fn health(self) -> &'static str {
        match self {
            Service::User => "/users/health",
            Service::Board => "/boards/health",
        }
    }

    fn wasm(self, build: &str) -> PathBuf {
        let crate_name = self.component().replace('-', "_");
        match build {
            "release" => built_wasm(&crate_name),
            other => other_build(other, &crate_name),
        }
    }

    /// The next version's field, as a client sends and reads it.
    fn field(self) -> &'static str {
        match self {
            Service::User => "bio",
            Service::Board => "summary",
        }
    }

    /// Sends a write through the next version's field (`value`) as a client of that version
    /// would; returns the answer and where to read what it wrote.
    fn write_new_field(self, gateway: &Client, author: i64, value: &str) -> (u16, String) {
        let reply = match self {
            Service::User => gateway.post_json(
                "/users",
                &json!({
                    "email": format!("{value}@example.org"), "name": "New",
                    "password": e2e::client::PASSWORD, "bio": value,
                }),
            ),
            Service::Board => gateway.send_json_as(
                "POST",
                "/boards",
                Some(&gateway.bearer(author)),
                &json!({ "userId": author, "title": "t", "content": "c", "summary": value }),
            ),
        };
        let location = reply.header("location").unwrap_or_default().to_owned();
        (reply.status, location)
    }
}

/// The swaps of one run, as the note reports them.
struct Steps<'a> {
    split: &'a SplitScript,
    load: &'a GatewayLoad,
    report: Vec<String>,
}

impl Steps<'_> {
    /// Swaps `service` to `build` under the load, checks it serves, that every acknowledged
    /// write is readable and that board follows a rename; returns the migrations logged.
    fn swap(&mut self, service: Service, build: &str) -> usize {
        let (during, said) = swap_under_load(
            self.split,
            service.component(),
            &service.wasm(build),
            &self.load.done,
        );
        let version = self.split.version(service.health());
        let expected = if build == "release" {
            "+local".to_owned()
        } else {
            format!("+{build}")
        };
        assert!(
            version.ends_with(&expected),
            "{version} after a swap to {build}"
        );
        thread::sleep(PHASE);
        let (users, posts) = self.load.acknowledged();
        assert_all_readable(&self.split.gateway, &users, &posts, build);
        let caught_up = self.follows_a_rename(&format!("{build}-{}", self.report.len()));
        let migrations = self.split.service_log_lines(service.component(), MIGRATED);
        // "... was gone 0.123 s after the new build was ready": how long the old colour served
        // beside the new one, on the schema the new one may have migrated.
        let overlap = said.rsplit("was gone ").next().unwrap_or_default().trim();
        self.report.push(format!(
            "{} to {build}: {during} requests during the swap, old colour gone {overlap}; \
             rename on board after {caught_up:?}; migrations logged {migrations}",
            service.component()
        ));
        migrations
    }

    /// Renames the author and waits until board shows it: board's replica reads user's
    /// change feed, whichever versions serve.
    fn follows_a_rename(&self, name: &str) -> Duration {
        let gateway = &self.split.gateway;
        let bearer = gateway.bearer(self.load.author);
        let reply = gateway.rename_as(self.load.author, Some(&bearer), name);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let renamed = Instant::now();
        eventually(REPLICA_STALENESS, || {
            gateway.get(&format!("/boards/{}", self.load.post)).json()["author"]["name"] == name
        })
        .unwrap_or_else(|| panic!("board never showed the rename to {name}"));
        renamed.elapsed()
    }
}

/// Every user in `users` through `GET /users?ids=` and every post in `posts` through the pages
/// of `GET /boards`: a few requests, however many writes the load made.
fn assert_all_readable(gateway: &Client, users: &[i64], posts: &[i64], after: &str) {
    for chunk in users.chunks(100) {
        let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let found = gateway.get(&format!("/users?ids={}", ids.join(","))).json();
        let found: BTreeSet<i64> = found["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["id"].as_i64().unwrap())
            .collect();
        let lost: Vec<&i64> = chunk.iter().filter(|id| !found.contains(id)).collect();
        assert!(
            lost.is_empty(),
            "users lost after the swap to {after}: {lost:?}"
        );
    }
    let mut listed = BTreeSet::new();
    let mut cursor = String::new();
    loop {
        let page = gateway.get(&format!("/boards?limit=100{cursor}")).json();
        for post in page["boards"].as_array().unwrap() {
            listed.insert(post["id"].as_i64().unwrap());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let lost: Vec<&i64> = posts.iter().filter(|id| !listed.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "posts lost after the swap to {after}: {lost:?}"
    );
}

#[test]
fn each_services_next_version_swapped_in_rolled_back_and_in_again_under_load_fails_no_request() {
    let split = SplitScript::start();
    let load = GatewayLoad::start_on(&split);
    let author = load.author;
    thread::sleep(PHASE);
    let mut steps = Steps {
        split: &split,
        load: &load,
        report: Vec::new(),
    };
    for service in [Service::User, Service::Board] {
        let field = service.field();
        // 1. release -> next: the migration runs once, whatever mix of colours serves.
        assert_eq!(
            steps.swap(service, "next"),
            2,
            "start-up's migration and the next's"
        );
        let (status, written) = service.write_new_field(&split.gateway, author, "kept");
        assert_eq!(status, 201);
        assert_eq!(split.gateway.get(&written).json()[field], "kept");
        // 2. next -> release, a rollback: the release serves the migrated schema in its own
        // shape, refuses the field it does not know and migrates nothing down.
        assert_eq!(steps.swap(service, "release"), 2);
        let read = split.gateway.get(&written).json();
        assert_eq!(read.get(field), None, "the release's shape: {read}");
        let (status, _) = service.write_new_field(&split.gateway, author, "refused");
        assert_eq!(status, 422, "a field the release does not know");
        // 3. release -> next again: what was written through the field is still there.
        assert_eq!(steps.swap(service, "next"), 2);
        assert_eq!(split.gateway.get(&written).json()[field], "kept");
    }
    // The last pairing the loop did not make: board's next version reading the release's feed.
    steps.swap(Service::User, "release");
    thread::sleep(PHASE);
    let report = steps.report.join("\n  ");
    let Checked { tally, requests } = load.stop_and_check(&split);
    eprintln!(
        "schema swaps: {} client requests answered, 0 failed; the gateway logged {} requests, \
         0 failed\n  {report}",
        tally.answered,
        requests.len(),
    );
    split.stop();
}

#[test]
fn after_a_breaking_migration_a_swap_back_to_an_older_build_is_refused_and_the_newer_serves_on() {
    let split = SplitScript::start();
    let user = Service::User;
    let migrations = || split.service_log_lines(user.component(), MIGRATED);
    let swap = |build: &str| split.swap(user.component(), &user.wasm(build));

    // As the README says it, `make swap COMPONENT=user-component BUILD=breaking`.
    let swapped = split.swap_to(user.component(), "breaking");
    assert!(swapped.status.success(), "{swapped:?}");
    // Its first write migrates, past a breaking step.
    let ann = split.gateway.sign_up("ann@example.org", "Ann");
    assert_eq!(migrations(), 2);

    for older in ["release", "next"] {
        let refused = swap(older);
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{older} was put into service");
        assert!(
            said.contains("refuses the database's schema")
                && said.contains("older than its database's schema allows"),
            "{said}"
        );
        assert!(split.version(user.health()).ends_with("+breaking"));
        assert_eq!(split.gateway.get(&format!("/users/{ann}")).status, 200);
    }
    let written: Value = split.gateway.get(&format!("/users/{ann}")).json();
    assert_eq!(written["name"], "Ann");
    assert_eq!(migrations(), 2, "nothing migrated down");
    split.stop();
}
