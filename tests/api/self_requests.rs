//! Board reaching the user service by self requests (`user_service_url = "http://self.alt"`),
//! for hosts that offer no `*.spin.internal` chaining: the key fetch behind a post, read-repair
//! and the change feed all travel to the app's own listener and are routed there. A value that
//! is neither a URL nor that form refuses what needs the user service with a 503 that names it.

use std::time::Duration;

use e2e::host::{AppSpec, RunningApp};
use e2e::wait::eventually;

/// Spin's spelling of a self request with a host (crates/factor-outbound-http/src/wasi.rs); as
/// an `allowed_outbound_hosts` entry it grants exactly that.
const SELF: &str = "http://self.alt";

fn board_reaching_users_by(url: &str) -> AppSpec {
    AppSpec {
        env: vec![
            ("SPIN_VARIABLE_USER_SERVICE_URL".to_owned(), url.to_owned()),
            (
                "SPIN_VARIABLE_AUTHOR_SYNC_INTERVAL".to_owned(),
                "0.2".to_owned(),
            ),
        ],
        ..AppSpec::default()
    }
}

#[test]
fn posting_read_repair_and_the_feed_reach_the_user_service_by_self_requests() {
    let app = RunningApp::start(board_reaching_users_by(SELF));
    let ann = app.client.sign_up("ann@example.org", "Ann");
    // The first post's key is unknown to board: it fetches `GET /users/keys` by self request.
    let post = app.client.write_post(ann, "by self")["id"]
        .as_i64()
        .unwrap();
    assert!(
        app.component_stderr("board-component")
            .contains("signing keys fetched"),
        "{}",
        app.log()
    );
    let credentials = e2e::client::basic("ann@example.org", e2e::client::PASSWORD);
    let renamed = app.client.rename_as(ann, Some(&credentials), "Annie");
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    // The rename reaches board through the feed, pulled by self request after a read.
    eventually(Duration::from_secs(5), || {
        app.client.get(&format!("/boards/{post}")).json()["author"]["name"] == "Annie"
    })
    .unwrap_or_else(|| panic!("the rename did not reach board:\n{}", app.log()));
    // Read-repair: with the replica's row gone, the author is looked up by self request.
    app.store("boards")
        .execute(&format!("DELETE FROM authors WHERE id = {ann}"));
    let page = app.client.get("/boards?limit=10").json();
    assert_eq!(page["boards"][0]["author"]["name"], "Annie", "{page}");
}

#[test]
fn a_user_service_url_that_is_not_a_url_refuses_posts_with_a_503_naming_it() {
    // Spin checks a templated `allowed_outbound_hosts` entry only when a request is made, and
    // denies the component every request when it is malformed: the app starts, and so does
    // devhost. Board refuses what needs the user service, saying which setting is wrong.
    for value in ["self", "user-component.spin.internal"] {
        let app = RunningApp::start(board_reaching_users_by(value));
        let ann = app.client.sign_up("ann@example.org", "Ann");
        let refused = app.client.try_write_post(ann, "nowhere");
        let problem = refused.problem(503);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("user_service_url"),
            "{value}: {problem}"
        );
        assert!(refused.header("retry-after").is_some());
        assert_eq!(app.client.post_count(), 0, "{value}: nothing was written");
        assert_eq!(app.client.get(&format!("/users/{ann}")).status, 200);
    }
}
