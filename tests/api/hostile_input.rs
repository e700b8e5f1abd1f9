//! Bad input, on purpose: every request of the corpus gets its documented 4xx problem, never a
//! 5xx, and the databases are byte-for-byte what they were. Secrets never leave the service.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use e2e::client::Reply;
use e2e::host::RunningApp;
use serde_json::json;

const JSON: Option<&str> = Some("application/json");
const SECRET: &str = "hunter2-Secret-Passw0rd";

/// One hostile request and the status it must get.
struct Case {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    /// Credentials an endpoint checks before it reads the body.
    authorization: Option<String>,
    body: Vec<u8>,
    status: u16,
}

/// An endpoint that takes a JSON body, and the credentials it checks before it reads it.
struct JsonEndpoint {
    method: &'static str,
    path: String,
    authorization: Option<String>,
}

impl JsonEndpoint {
    fn case(&self, content_type: Option<&'static str>, body: &[u8], status: u16) -> Case {
        Case {
            authorization: self.authorization.clone(),
            ..case(self.method, &self.path, content_type, body, status)
        }
    }
}

/// Every endpoint that takes JSON, as its own client calls it. A write to the boards checks
/// its body before its token, a rename its credentials first (user `ann`'s, password SECRET).
fn json_endpoints(ann: i64) -> [JsonEndpoint; 4] {
    let endpoint = |method, path: &str, authorization| JsonEndpoint {
        method,
        path: path.to_owned(),
        authorization,
    };
    let basic = e2e::client::basic("ann@example.org", SECRET);
    [
        endpoint("POST", "/users", None),
        endpoint("POST", "/users/tokens", None),
        endpoint("PATCH", &format!("/users/{ann}"), Some(basic)),
        endpoint("POST", "/boards", None),
    ]
}

fn case(
    method: &'static str,
    path: &str,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: u16,
) -> Case {
    Case {
        method,
        path: path.to_owned(),
        content_type,
        authorization: None,
        body: body.into(),
        status,
    }
}

/// A body of exactly `len` bytes: a sign-up whose name is padded to fit.
fn sized_sign_up(len: usize) -> Vec<u8> {
    let skeleton =
        json!({ "email": "pad@example.org", "name": "", "password": SECRET }).to_string();
    let name = "n".repeat(len - skeleton.len());
    let body = json!({ "email": "pad@example.org", "name": name, "password": SECRET }).to_string();
    assert_eq!(body.len(), len);
    body.into_bytes()
}

fn corpus(ann: i64) -> Vec<Case> {
    let mut cases = Vec::new();
    let endpoints = json_endpoints(ann);
    // Malformed, truncated, not JSON at all, or JSON that is not an object: 400.
    for body in [
        &b"{"[..],
        b"{\"email\":",
        b"{\"a\":1,}",
        b"nul",
        b"{'email':'x'}",
        b"",
        b"[]",
        b"\"x\"",
        b"42",
        b"null",
        b"true",
        b"{\"email\":1e999}",
        b"{\"name\":\"\xff\xfe\"}",
        b"\xef\xbb\xbf{}",
    ] {
        cases.extend(
            endpoints
                .iter()
                .map(|endpoint| endpoint.case(JSON, body, 400)),
        );
    }
    // Wrong types, nulls, missing and unknown fields, bad values: 422.
    let users_422 = [
        json!({}),
        json!({ "email": 1, "name": [], "password": {} }),
        json!({ "email": null, "name": null, "password": null }),
        json!({ "email": "a@b.org", "name": "A", "password": SECRET, "role": "admin" }),
        json!({ "email": "a@b.org", "name": "A", "password": "short" }),
        json!({ "email": "a@b.org", "name": "A", "password": "p".repeat(129) }),
        json!({ "email": "x' OR '1'='1", "name": "A", "password": SECRET }),
        json!({ "email": "a@b.org", "name": "A\u{0}B", "password": SECRET }),
        json!({ "email": "a\n@b.org", "name": "A", "password": SECRET }),
        json!({ "email": "a@b.org", "name": "x".repeat(10_000), "password": SECRET }),
        json!({ "email": format!("{}@b.org", "a".repeat(300)), "name": "A", "password": SECRET }),
        json!({ "email": "a@b.org", "name": "  ", "password": SECRET }),
    ];
    for body in users_422 {
        cases.push(case("POST", "/users", JSON, body.to_string(), 422));
    }
    let boards_422 = [
        json!({}),
        json!({ "userId": "1", "title": "t", "content": "c" }),
        json!({ "userId": 1.5, "title": "t", "content": "c" }),
        json!({ "userId": 1e30, "title": "t", "content": "c" }),
        json!({ "userId": 99999999999999999999u128 as f64, "title": "t", "content": "c" }),
        json!({ "userId": -1, "title": "t", "content": "c" }),
        json!({ "userId": 0, "title": "t", "content": "c" }),
        json!({ "userId": null, "title": null, "content": null }),
        json!({ "userId": 1, "title": "", "content": "c" }),
        json!({ "userId": 1, "title": "t".repeat(201), "content": "c" }),
        json!({ "userId": 1, "title": "t", "content": "c".repeat(20_001) }),
        json!({ "userId": 1, "title": "a\u{1b}[31m", "content": "c" }),
        json!({ "userId": 1, "title": "t", "content": "bell\u{7}" }),
        json!({ "userId": 1, "title": "t", "content": "c", "id": 5 }),
    ];
    for body in boards_422 {
        cases.push(case("POST", "/boards", JSON, body.to_string(), 422));
    }
    // A valid body without a sign-in token: 401.
    let unsigned =
        json!({ "userId": 424242, "title": "Robert'); DROP TABLE boards;--", "content": "c" });
    cases.push(case("POST", "/boards", JSON, unsigned.to_string(), 401));
    cases.push(case(
        "POST",
        "/boards",
        JSON,
        "{\"userId\": 99999999999999999999, \"title\": \"t\", \"content\": \"c\"}",
        422,
    ));
    // Sizes around the 64 KiB limit: just under is read (and fails validation), just over is 413.
    cases.push(case("POST", "/users", JSON, sized_sign_up(64 * 1024), 422));
    cases.push(case(
        "POST",
        "/users",
        JSON,
        sized_sign_up(64 * 1024 + 1),
        413,
    ));
    let over_the_limit = vec![b' '; 64 * 1024 + 1];
    cases.extend(
        endpoints
            .iter()
            .map(|endpoint| endpoint.case(JSON, &over_the_limit, 413)),
    );
    // Wrong or missing media type: 415.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonp"),
    ] {
        let body = json!({ "email": "m@example.org", "name": "M", "password": SECRET }).to_string();
        cases.extend(
            endpoints
                .iter()
                .map(|endpoint| endpoint.case(content_type, body.as_bytes(), 415)),
        );
    }
    // Ids that are not positive integers: 400; paths below an id: 404.
    for id in [
        "0",
        "-1",
        "abc",
        "1.0",
        "1e3",
        "%00",
        "%27%20OR%201=1",
        "99999999999999999999999",
        "+1",
    ] {
        cases.push(case("GET", &format!("/users/{id}"), None, "", 400));
        cases.push(case("GET", &format!("/boards/{id}"), None, "", 400));
    }
    cases.push(case("GET", "/users/1/password", None, "", 404));
    cases.push(case("GET", "/boards/1/2", None, "", 404));
    // Bad query parameters: 400.
    let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    for query in [
        "",
        "?ids=",
        "?ids=0",
        "?ids=-1",
        "?ids=a",
        "?ids=1,,2",
        "?ids=1;DROP%20TABLE%20users",
    ] {
        cases.push(case("GET", &format!("/users{query}"), None, "", 400));
    }
    cases.push(case(
        "GET",
        &format!("/users?ids={}", too_many.join(",")),
        None,
        "",
        400,
    ));
    for query in [
        "limit=0",
        "limit=1000",
        "limit=-5",
        "limit=ten",
        "cursor=zz",
        "cursor=-1",
        "userId=abc",
        "userId=0",
    ] {
        cases.push(case("GET", &format!("/boards?{query}"), None, "", 400));
    }
    // Methods a path does not support: 405 with Allow.
    for (method, path) in [
        ("PUT", "/users"),
        ("DELETE", "/users/1"),
        ("POST", "/users/1"),
        ("POST", "/users/health"),
        ("PATCH", "/boards"),
        ("DELETE", "/boards/1"),
        ("PUT", "/boards/health"),
    ] {
        cases.push(case(method, path, JSON, "{}", 405));
    }
    cases
}

fn assert_no_secret(reply: &Reply, what: &str) {
    let text = reply.text();
    assert!(
        !text.contains(SECRET),
        "{what}: the password came back: {text}"
    );
    assert!(
        !text.contains("$argon2"),
        "{what}: a hash came back: {text}"
    );
}

#[test]
fn every_hostile_request_gets_its_4xx_and_changes_nothing() {
    let app = RunningApp::start_default();
    let user = app.client.post_json(
        "/users",
        &json!({ "email": "ann@example.org", "name": "Ann", "password": SECRET }),
    );
    let ann = user.json()["id"].as_i64().unwrap();
    let token = app.client.sign_in("ann@example.org", SECRET);
    let kept = app.client.send_json_as(
        "POST",
        "/boards",
        Some(&format!("Bearer {token}")),
        &json!({ "userId": ann, "title": "kept", "content": "kept" }),
    );
    assert_eq!(kept.status, 201, "{}", kept.text());
    let (users_db, boards_db) = (app.store("users"), app.store("boards"));
    let before = (users_db.dump("users"), boards_db.dump("posts"));

    let corpus = corpus(ann);
    for case in &corpus {
        let what = format!(
            "{} {} ({:?}, {} bytes)",
            case.method,
            case.path,
            case.content_type,
            case.body.len()
        );
        let headers: Vec<(&str, &str)> = [
            case.content_type.map(|value| ("content-type", value)),
            case.authorization
                .as_deref()
                .map(|value| ("authorization", value)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let reply = app
            .client
            .send_with(case.method, &case.path, &headers, &case.body);
        assert!(reply.status < 500, "{what}: server error {}", reply.text());
        reply.problem(case.status);
        if case.status == 405 {
            assert!(reply.header("allow").is_some(), "{what}: 405 without Allow");
        }
        assert_no_secret(&reply, &what);
    }
    eprintln!(
        "hostile input: {} requests, all answered with their 4xx",
        corpus.len()
    );

    let after = (users_db.dump("users"), boards_db.dump("posts"));
    assert_eq!(before, after, "the corpus changed the databases");
    assert!(
        !app.log().contains(SECRET) && !app.log().contains("$argon2"),
        "a secret reached the log"
    );
}

#[test]
fn sql_metacharacters_are_stored_as_text() {
    let app = RunningApp::start_default();
    let name = "Robert'); DROP TABLE users;--";
    let reply = app.client.post_json(
        "/users",
        &json!({ "email": "bobby@example.org", "name": name, "password": SECRET }),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let id = reply.json()["id"].as_i64().unwrap();
    assert_eq!(app.client.get(&format!("/users/{id}")).json()["name"], name);
    assert_eq!(app.store("users").row_count("users"), 1);
}

#[test]
fn passwords_are_stored_only_as_salted_argon2id_hashes_and_never_shown() {
    let app = RunningApp::start_default();
    let mut ids = Vec::new();
    for email in ["one@example.org", "two@example.org"] {
        let reply = app.client.post_json(
            "/users",
            &json!({ "email": email, "name": "Same", "password": SECRET }),
        );
        assert_eq!(reply.status, 201);
        assert_no_secret(&reply, "sign-up");
        ids.push(reply.json()["id"].as_i64().unwrap());
    }
    for path in [
        format!("/users/{}", ids[0]),
        format!("/users?ids={},{}", ids[0], ids[1]),
    ] {
        assert_no_secret(&app.client.get(&path), &path);
    }
    let users_db = app.store("users");
    let hashes: Vec<String> = ids
        .iter()
        .map(|id| users_db.text("SELECT password_hash FROM users WHERE id = ?", *id))
        .collect();
    assert_ne!(
        hashes[0], hashes[1],
        "the same password must hash differently (salt)"
    );
    for hash in &hashes {
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");
        let parsed = PasswordHash::new(hash).unwrap();
        assert!(argon2::Argon2::default()
            .verify_password(SECRET.as_bytes(), &parsed)
            .is_ok());
        assert!(argon2::Argon2::default()
            .verify_password(b"wrong password", &parsed)
            .is_err());
    }
    let log = app.log();
    assert!(
        !log.contains(SECRET) && !log.contains("$argon2"),
        "a secret reached the log:\n{log}"
    );
}
