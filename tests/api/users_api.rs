//! The user service's API, end to end: sign-up, look-up, batch look-up, health.

use e2e::host::RunningApp;
use serde_json::json;

#[test]
fn sign_up_answers_201_with_location_and_the_account_but_no_password() {
    let app = RunningApp::start_default();
    let reply = app.client.post_json(
        "/users",
        &json!({ "email": "  Ann@Example.ORG ", "name": " Ann ", "password": "correct horse" }),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let user = reply.json();
    let id = user["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(user["email"], "ann@example.org");
    assert_eq!(user["name"], "Ann");
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["createdAt", "email", "id", "name"]);
    assert!(!reply.text().contains("correct horse"));
    assert!(!reply.text().contains("argon2"));
}

#[test]
fn a_user_is_public_by_id_without_email() {
    let app = RunningApp::start_default();
    let created = app.client.sign_up_account("bob@example.org", "Bob");
    let reply = app.client.get(&format!("/users/{}", created["id"]));
    assert_eq!(reply.status, 200);
    let user = reply.json();
    assert_eq!(user["id"], created["id"]);
    assert_eq!(user["name"], "Bob");
    assert_eq!(user["createdAt"], created["createdAt"]);
    assert!(user.get("email").is_none(), "{user}");
    assert!(user.get("password").is_none() && user.get("passwordHash").is_none());
}

#[test]
fn an_email_can_sign_up_once_whatever_its_case() {
    let app = RunningApp::start_default();
    app.client.sign_up_account("cat@example.org", "Cat");
    let again = app.client.post_json(
        "/users",
        &json!({ "email": "CAT@example.org", "name": "Cat 2", "password": "12345678" }),
    );
    let problem = again.problem(409);
    assert_eq!(problem["type"], "/problems/email-taken");
}

#[test]
fn invalid_fields_are_all_reported_with_422() {
    let app = RunningApp::start_default();
    let reply = app.client.post_json(
        "/users",
        &json!({ "email": "nope", "name": "", "password": "short", "admin": true }),
    );
    let problem = reply.problem(422);
    let errors = &problem["errors"];
    for field in ["email", "name", "password", "admin"] {
        assert!(errors[field].is_array(), "no error for {field}: {problem}");
    }
    assert!(
        !reply.text().contains("short"),
        "the password must not be echoed"
    );
}

#[test]
fn missing_and_mistyped_fields_are_422() {
    let app = RunningApp::start_default();
    let problem = app
        .client
        .post_json("/users", &json!({ "email": 5, "name": null }))
        .problem(422);
    assert_eq!(problem["errors"]["email"][0], "must be a string");
    assert_eq!(problem["errors"]["name"][0], "must be a string");
    assert_eq!(problem["errors"]["password"][0], "is required");
}

#[test]
fn an_unknown_user_is_404_and_a_bad_id_is_400() {
    let app = RunningApp::start_default();
    app.client.get("/users/999999").problem(404);
    for bad in ["0", "-1", "abc", "1.5", "99999999999999999999"] {
        app.client.get(&format!("/users/{bad}")).problem(400);
    }
    app.client.get("/users/1/extra").problem(404);
}

#[test]
fn users_are_looked_up_in_batches_returning_only_those_that_exist() {
    let app = RunningApp::start_default();
    let a = app.client.sign_up("a@example.org", "A");
    let b = app.client.sign_up("b@example.org", "B");
    let reply = app.client.get(&format!("/users?ids={b},{a},424242,{a}"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let users = reply.json()["users"].as_array().unwrap().clone();
    let ids: Vec<i64> = users.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [a, b]);
    assert!(users.iter().all(|u| u.get("email").is_none()));
    let encoded = app.client.get(&format!("/users?ids={a}%2C{b}"));
    assert_eq!(encoded.json()["users"].as_array().unwrap().len(), 2);
}

#[test]
fn a_batch_look_up_needs_1_to_100_valid_ids() {
    let app = RunningApp::start_default();
    app.client.get("/users").problem(400);
    app.client.get("/users?ids=").problem(400);
    app.client.get("/users?ids=1,x").problem(400);
    let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    app.client
        .get(&format!("/users?ids={}", too_many.join(",")))
        .problem(400);
    let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    assert_eq!(
        app.client
            .get(&format!("/users?ids={}", hundred.join(",")))
            .status,
        200
    );
}

#[test]
fn health_touches_the_database() {
    let app = RunningApp::start_default();
    let reply = app.client.get("/users/health");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["status"], "ok");
    assert!(
        app.store("users").exists(),
        "health created the users database"
    );
}

#[test]
fn unsupported_methods_are_405_with_allow() {
    let app = RunningApp::start_default();
    let reply = app.client.send("DELETE", "/users", None, b"");
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    let reply = app
        .client
        .send("PUT", "/users/1", Some("application/json"), b"{}");
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET, PATCH"));
    let reply = app.client.send("POST", "/users/changes", None, b"");
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET"));
}

#[test]
fn every_response_names_the_component_version() {
    let app = RunningApp::start_default();
    let version = app.client.service_version("/users/health");
    assert!(version.starts_with("user-component/0.1.0+"));
}
