//! The board service's API, end to end: posts written by their signed-in authors, read with
//! their names.

use e2e::host::{free_port, AppSpec, RunningApp};
use serde_json::{json, Value};

#[test]
fn a_post_is_written_with_location_and_read_back_with_its_author() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let reply = app.client.send_json_as(
        "POST",
        "/boards",
        Some(&app.client.bearer(ann)),
        &json!({ "userId": ann, "title": " Hi ", "content": "Hello\nworld" }),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let post = reply.json();
    let id = post["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/boards/{id}").as_str())
    );
    assert_eq!(post["userId"], ann);
    assert_eq!(post["title"], "Hi");
    assert_eq!(post["content"], "Hello\nworld");
    assert!(post["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(post.get("author").is_none());

    let read = app.client.get(&format!("/boards/{id}"));
    assert_eq!(read.status, 200);
    let read = read.json();
    assert_eq!(read["title"], "Hi");
    assert_eq!(read["author"], json!({ "id": ann, "name": "Ann" }));
}

#[test]
fn a_post_in_another_users_name_is_403_and_writes_nothing() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let bob = app.client.sign_up("bob@example.org", "Bob");
    let problem = app
        .client
        .send_json_as(
            "POST",
            "/boards",
            Some(&app.client.bearer(ann)),
            &json!({ "userId": bob, "title": "t", "content": "c" }),
        )
        .problem(403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("user {bob}")),
        "{problem}"
    );
    assert_eq!(app.client.post_count(), 0);
}

#[test]
fn invalid_posts_are_422_with_every_field_error() {
    let app = RunningApp::start_default();
    let long_title = "t".repeat(201);
    let problem = app
        .client
        .post_json(
            "/boards",
            &json!({ "userId": 0, "title": long_title, "content": "  ", "tags": [] }),
        )
        .problem(422);
    for field in ["userId", "title", "content", "tags"] {
        assert!(
            problem["errors"][field].is_array(),
            "no error for {field}: {problem}"
        );
    }
    let problem = app
        .client
        .post_json("/boards", &json!({ "userId": "1" }))
        .problem(422);
    assert_eq!(problem["errors"]["userId"][0], "must be an integer");
    assert_eq!(problem["errors"]["title"][0], "is required");
    assert_eq!(app.client.post_count(), 0);
}

#[test]
fn content_of_exactly_20000_characters_is_accepted_and_one_more_is_not() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let bearer = app.client.bearer(ann);
    let ok = json!({ "userId": ann, "title": "t", "content": "é".repeat(20_000) });
    let written = app
        .client
        .send_json_as("POST", "/boards", Some(&bearer), &ok);
    assert_eq!(written.status, 201, "{}", written.text());
    let over = json!({ "userId": ann, "title": "t", "content": "x".repeat(20_001) });
    app.client
        .send_json_as("POST", "/boards", Some(&bearer), &over)
        .problem(422);
}

#[test]
fn an_unknown_post_is_404_and_a_bad_id_is_400() {
    let app = RunningApp::start_default();
    app.client.get("/boards/77").problem(404);
    for bad in ["0", "-3", "x", "1e3"] {
        app.client.get(&format!("/boards/{bad}")).problem(400);
    }
}

#[test]
fn listing_pages_newest_first_with_a_cursor_and_authors() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let bob = app.client.sign_up("bob@example.org", "Bob");
    let mut written = Vec::new();
    for i in 0..5 {
        let author = if i % 2 == 0 { ann } else { bob };
        written.push(
            app.client.write_post(author, &format!("post {i}"))["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let mut seen = Vec::new();
    let mut path = "/boards?limit=2".to_owned();
    loop {
        let page = app.client.get(&path);
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        for post in page["boards"].as_array().unwrap() {
            let expected = if post["userId"] == ann { "Ann" } else { "Bob" };
            assert_eq!(post["author"]["name"], expected, "{post}");
            seen.push(post["id"].as_i64().unwrap());
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/boards?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    written.reverse();
    assert_eq!(seen, written, "every post once, newest first");
}

#[test]
fn listing_filters_by_author() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    let bob = app.client.sign_up("bob@example.org", "Bob");
    app.client.write_post(ann, "a1");
    app.client.write_post(bob, "b1");
    app.client.write_post(ann, "a2");
    let page = app.client.get(&format!("/boards?userId={ann}")).json();
    let titles: Vec<&str> = page["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["a2", "a1"]);
    assert_eq!(page["nextCursor"], Value::Null);
}

#[test]
fn listing_rejects_bad_parameters_with_400() {
    let app = RunningApp::start_default();
    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "cursor=abc",
        "cursor=0",
        "userId=-1",
    ] {
        app.client.get(&format!("/boards?{query}")).problem(400);
    }
    assert_eq!(app.client.get("/boards").json()["boards"], json!([]));
}

#[test]
fn health_answers_without_the_user_service() {
    // Board alone, pointed at an address where nothing listens.
    let app = RunningApp::start(AppSpec {
        component_ids: vec!["board-component".to_owned()],
        env: vec![(
            "SPIN_VARIABLE_USER_SERVICE_URL".to_owned(),
            format!("http://{}", free_port()),
        )],
        ..AppSpec::default()
    });
    assert_eq!(
        app.client.get("/users/health").status,
        404,
        "no user service"
    );
    assert!(app
        .client
        .service_version("/boards/health")
        .starts_with("board-component/"));
}

#[test]
fn unsupported_methods_are_405_with_allow() {
    let app = RunningApp::start_default();
    let reply = app
        .client
        .send("PATCH", "/boards/1", Some("application/json"), b"{}");
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET"));
}
