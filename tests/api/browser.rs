//! The web page in a real browser: Debian's headless Chromium through ChromeDriver, against the
//! app on the run's host. A person signs up, signs in, writes a post and finds it on top; a
//! refused field says why beside itself; text from the API stays text; with the user service
//! stopped in split mode the board keeps working and the status strip says which service is
//! down; the page fits 360 px, has labels, AA contrast and works from the keyboard; and it
//! never asks any host but its own. Each step saves a screenshot under
//! `target/test-output/<test>/`.

use e2e::browser::Browser;
use e2e::client::{Client, PASSWORD};
use e2e::host::RunningApp;
use e2e::process;
use e2e::split::SplitScript;
use e2e::swap_test_wasm;
use serde_json::{json, Value};

const TAB: &str = "\u{e004}";
/// The status strip with every part answering.
const ALL_UP: &[(&str, &str)] = &[
    ("web page", "up"),
    ("user service", "up"),
    ("board service", "up"),
];
const ENTER: &str = "\u{e007}";

/// A browser `width` by `height` on the page that `client` talks to.
fn open(client: &Client, test: &str, width: u32, height: u32) -> Browser {
    let browser = Browser::start(test, width, height);
    browser.goto(&format!("{}/", client.base()));
    browser
}

/// Signs up through the page's form and returns on the sign-in page it leads to.
fn sign_up(browser: &Browser, email: &str, name: &str) {
    browser.click("nav a[href='#/sign-up']");
    browser.wait_for_text("h1", "Sign up");
    browser.fill("#email", email);
    browser.fill("#name", name);
    browser.fill("#password", PASSWORD);
    browser.click("form button[type=submit]");
    browser.wait_for_text("h1", "Sign in");
}

/// Signs in through the page's form, from wherever the page is.
fn sign_in(browser: &Browser, email: &str) {
    browser.run("location.hash = '#/sign-in';", vec![]);
    browser.wait_for_text("h1", "Sign in");
    browser.fill("#email", email);
    browser.fill("#password", PASSWORD);
    browser.click("form button[type=submit]");
    browser.wait_for_text("#who", "Signed in as");
}

/// Writes a post through the page's form and waits until the board says it is published and
/// lists it: the notice shows as soon as the board page is built, before its `GET /boards`
/// returns, so a test that read the list on the notice alone could find it still empty.
fn write(browser: &Browser, title: &str, content: &str) {
    browser.click("nav a[href='#/write']");
    browser.wait_for_text("h1", "Write a post");
    browser.fill("#title", title);
    browser.fill("#content", content);
    browser.click("form button[type=submit]");
    browser.wait_for_text(".notice", "Your post is published.");
    browser.wait_for_text(".posts", title);
}

/// Sends the post form with a title of 201 characters (one too many) and waits for the
/// title's error.
fn send_a_title_too_long(browser: &Browser) {
    browser.fill("#title", &"t".repeat(201));
    browser.fill("#content", "The text is fine.");
    browser.click("form button[type=submit]");
    browser.wait_for(
        "the title's error",
        "return document.querySelector('#title-error').textContent;",
    );
}

/// The posts the board page shows, top first: (title, author).
fn listed(browser: &Browser) -> Vec<(String, String)> {
    let posts = browser.run(
        "return [...document.querySelectorAll('.posts li')].map(li => \
           [li.querySelector('h2').textContent, li.querySelector('.author').textContent]);",
        vec![],
    );
    serde_json::from_value(posts).unwrap()
}

/// Every request the browser sent went to `client`'s address; returns how many there were.
fn assert_only_own_host(browser: &Browser, client: &Client) -> usize {
    let requests = browser.requests();
    assert!(!requests.is_empty(), "the performance log saw no request");
    let own = format!("{}/", client.base());
    let elsewhere: Vec<&String> = requests
        .iter()
        .filter(|url| !url.starts_with(&own))
        .collect();
    assert!(elsewhere.is_empty(), "requests beyond {own}: {elsewhere:?}");
    requests.len()
}

#[test]
fn a_new_user_signs_up_signs_in_posts_and_sees_the_post_on_top_with_their_name() {
    let app = RunningApp::start_default();
    let bob = app.client.sign_up("bob@example.org", "Bob");
    app.client.write_post(bob, "An older post");
    let mut browser = open(
        &app.client,
        "a_new_user_signs_up_signs_in_and_posts",
        1000,
        800,
    );
    browser.wait_for_text(".posts", "An older post");
    browser.screenshot("board");
    sign_up(&browser, "ann@example.org", "Ann");
    browser.wait_for_text(".notice", "Welcome, Ann");
    assert_eq!(
        browser.run("return document.querySelector('#email').value;", vec![]),
        "ann@example.org",
        "the sign-in form starts with the email just signed up"
    );
    browser.screenshot("signed-up");
    browser.fill("#password", PASSWORD);
    browser.click("form button[type=submit]");
    browser.wait_for_text("#who", "Signed in as Ann");
    browser.screenshot("signed-in");
    write(
        &browser,
        "Hello from the page",
        "Written in a real browser.\nTwo lines.",
    );
    let posts = listed(&browser);
    assert_eq!(
        posts,
        [
            ("Hello from the page".to_owned(), "Ann".to_owned()),
            ("An older post".to_owned(), "Bob".to_owned()),
        ]
    );
    browser.screenshot("posted");

    browser.click(".posts li a");
    browser.wait_for_text("h1", "Hello from the page");
    assert_eq!(
        browser.text(".content"),
        "Written in a real browser.\nTwo lines."
    );
    browser.screenshot("post");

    // The token lived in the page's memory only: nothing of it is stored, and a reload ends it.
    let stored = browser.run(
        "return [localStorage.length, sessionStorage.length, document.cookie];",
        vec![],
    );
    assert_eq!(stored, json!([0, 0, ""]));
    browser.run("location.reload();", vec![]);
    browser.wait_for(
        "the page again, signed out",
        "return document.querySelector('[data-signed-out]')?.hidden === false;",
    );
    let sent = assert_only_own_host(&browser, &app.client);
    assert!(sent >= 10, "{sent} requests");
    let stored = app.client.get("/boards").json();
    assert_eq!(stored["boards"][0]["title"], "Hello from the page");
}

#[test]
fn a_title_of_201_characters_shows_its_error_beside_the_title_field_and_nothing_is_written() {
    let app = RunningApp::start_default();
    app.client.sign_up("ann@example.org", "Ann");
    let mut browser = open(&app.client, "a_title_of_201_characters", 1000, 800);
    sign_in(&browser, "ann@example.org");

    browser.click("nav a[href='#/write']");
    send_a_title_too_long(&browser);
    browser.screenshot("title-refused");

    let field = browser.run(
        "const title = document.querySelector('#title'); \
         const error = title.nextElementSibling; \
         return { invalid: title.getAttribute('aria-invalid'), \
                  describedBy: title.getAttribute('aria-describedby').split(' '), \
                  besideId: error.id, beside: error.textContent, \
                  focused: document.activeElement === title, \
                  contentError: document.querySelector('#content-error').textContent, \
                  alert: document.querySelector('form .alert').textContent };",
        vec![],
    );
    assert_eq!(field["invalid"], "true");
    assert_eq!(
        field["besideId"], "title-error",
        "the error sits right below the field"
    );
    assert!(field["describedBy"]
        .as_array()
        .unwrap()
        .contains(&json!("title-error")));
    assert!(field["beside"].as_str().unwrap().contains("200"), "{field}");
    assert_eq!(
        field["focused"], true,
        "the field to correct gets the focus"
    );
    assert_eq!(
        (&field["contentError"], &field["alert"]),
        (&json!(""), &json!(""))
    );
    assert_eq!(app.client.post_count(), 0);
    assert_only_own_host(&browser, &app.client);
}

#[test]
fn a_refused_sign_in_says_why_and_once_throttled_the_button_waits_out_retry_after() {
    let app = RunningApp::start_default();
    app.client.sign_up("ann@example.org", "Ann");
    let mut browser = open(&app.client, "a_refused_sign_in", 1000, 800);
    browser.run("location.hash = '#/sign-in';", vec![]);
    browser.fill("#email", "ann@example.org");
    browser.fill("#password", "not the password");
    let mut alerts = Vec::new();
    while alerts.len() < 10 {
        browser.wait_for(
            "the button ready",
            "return !document.querySelector('form button').disabled;",
        );
        browser.click("form button[type=submit]");
        let alert = browser.wait_for(
            "the answer",
            "return document.querySelector('form .alert').textContent;",
        );
        alerts.push(alert.as_str().unwrap().to_owned());
        if alerts.last().unwrap().contains("Try again in") {
            break;
        }
    }
    let throttled = alerts.last().unwrap();
    assert!(
        alerts[0].contains("The email or the password is wrong."),
        "{alerts:?}"
    );
    assert!(
        throttled.starts_with("Too many failed sign-ins"),
        "{alerts:?}"
    );
    let button = browser.run(
        "const b = document.querySelector('form button'); return [b.disabled, b.textContent];",
        vec![],
    );
    assert_eq!(button[0], true, "the button waits: {button}");
    assert!(button[1].as_str().unwrap().contains(" s)"), "{button}");
    browser.screenshot("throttled");
    // The wait ends when Retry-After says, and the right password then signs in.
    browser.wait_for(
        "the button ready again",
        "return !document.querySelector('form button').disabled;",
    );
    browser.fill("#password", PASSWORD);
    browser.click("form button[type=submit]");
    browser.wait_for_text("#who", "Signed in as Ann");
}

#[test]
fn text_from_the_api_shows_as_text_and_never_as_markup() {
    let app = RunningApp::start_default();
    let eve = app.client.sign_up("eve@example.org", "<i>Eve</i>");
    let title = "<img src=/injected.png onerror=\"window.injected=1\">";
    let content = "<script>window.injected=2</script><b>bold?</b>";
    let id = app.client.write_post_with(eve, title, content)["id"]
        .as_i64()
        .unwrap();
    let mut browser = open(&app.client, "text_from_the_api_shows_as_text", 1000, 800);
    browser.wait_for_text(".posts", "<img");
    assert_eq!(
        listed(&browser),
        [(title.to_owned(), "<i>Eve</i>".to_owned())]
    );
    browser.goto(&format!("{}/#/posts/{id}", app.client.base()));
    browser.wait_for_text("h1", "<img");
    assert_eq!(browser.text(".content"), content);
    browser.screenshot("post-as-text");
    let markup = browser.run(
        "return [document.querySelectorAll('main img, main script, main b, main i').length, \
                 window.injected ?? null];",
        vec![],
    );
    assert_eq!(markup, json!([0, null]));
    assert!(!browser
        .requests()
        .iter()
        .any(|url| url.contains("injected")));
}

#[test]
fn in_split_mode_with_the_user_service_stopped_the_board_still_lists_and_takes_posts_and_the_strip_names_it(
) {
    let split = SplitScript::start();
    let ann = split.gateway.sign_up("ann@example.org", "Ann");
    split.gateway.write_post(ann, "Before the outage");
    let mut browser = open(&split.gateway, "with_the_user_service_stopped", 1000, 800);
    sign_in(&browser, "ann@example.org");
    wait_for_strip(&browser, ALL_UP);
    browser.screenshot("all-up");

    let users = split.pids("user-component");
    for &pid in &users {
        process::freeze_group(pid);
    }
    wait_for_strip(
        &browser,
        &[
            ("web page", "up"),
            ("user service", "down"),
            ("board service", "up"),
        ],
    );
    let strip = browser.text("#status");
    assert!(strip.contains("user service"), "{strip}");
    write(
        &browser,
        "During the outage",
        "The user service is stopped.",
    );
    assert_eq!(
        listed(&browser),
        [
            ("During the outage".to_owned(), "Ann".to_owned()),
            ("Before the outage".to_owned(), "Ann".to_owned()),
        ]
    );
    browser.screenshot("user-service-down");
    // Signing in needs the user service: the page says it is unavailable and waits out the
    // gateway's Retry-After before the button sends again.
    browser.click("#sign-out");
    browser.run("location.hash = '#/sign-in';", vec![]);
    browser.fill("#email", "ann@example.org");
    browser.fill("#password", PASSWORD);
    browser.click("form button[type=submit]");
    let alert = browser.wait_for(
        "why signing in failed",
        "return document.querySelector('form .alert').textContent;",
    );
    assert!(
        alert
            .as_str()
            .unwrap()
            .starts_with("The user service is unavailable right now. Try again in"),
        "{alert}"
    );
    browser.screenshot("sign-in-while-user-service-down");

    for &pid in &users {
        process::signal_group(pid, libc::SIGCONT);
    }
    wait_for_strip(&browser, ALL_UP);
    browser.screenshot("user-service-back");

    // The strip names the build that answers: a swap of the board service shows within seconds.
    browser.wait_for_text("#status", "board-component/0.1.0+local");
    let swapped = split.swap("board-component", &swap_test_wasm("board_component"));
    assert!(swapped.status.success(), "{swapped:?}");
    browser.wait_for_text("#status", "board-component/0.1.0+swap-test");
    browser.screenshot("board-service-swapped");
    assert_only_own_host(&browser, &split.gateway);
}

#[test]
fn the_board_shows_ten_posts_at_a_time_and_pages_on_with_the_cursor() {
    let app = RunningApp::start_default();
    let ann = app.client.sign_up("ann@example.org", "Ann");
    for n in 1..=12 {
        app.client.write_post(ann, &format!("Post {n}"));
    }
    let mut browser = open(&app.client, "the_board_pages_with_the_cursor", 1000, 800);
    browser.wait_for_text(".posts", "Post 12");
    let titles = |browser: &Browser| -> Vec<String> {
        listed(browser)
            .into_iter()
            .map(|(title, _)| title)
            .collect()
    };
    let newest: Vec<String> = (3..=12).rev().map(|n| format!("Post {n}")).collect();
    assert_eq!(titles(&browser), newest);
    browser.screenshot("first-page");
    browser.click("main > button");
    browser.wait_for(
        "all twelve posts",
        "return document.querySelectorAll('.posts li').length === 12;",
    );
    let all: Vec<String> = (1..=12).rev().map(|n| format!("Post {n}")).collect();
    assert_eq!(titles(&browser), all);
    assert_eq!(
        browser.run(
            "return document.querySelector('main > button').hidden;",
            vec![]
        ),
        true,
        "no older posts left to show"
    );
    browser.screenshot("all-pages");
}

/// Waits until the status strip shows each named part in its state (`up` or `down`).
fn wait_for_strip(browser: &Browser, expected: &[(&str, &str)]) {
    let expected: Value = expected
        .iter()
        .map(|(name, state)| json!([name, state]))
        .collect();
    let script = format!(
        "const shown = [...document.querySelectorAll('#status .service')].map(item => \
           [item.firstElementChild.textContent, item.dataset.state]); \
         return JSON.stringify(shown) === JSON.stringify({expected});"
    );
    browser.wait_for(&format!("the status strip as {expected}"), &script);
}

/// The page's checks of itself at the current page: (page wider than the window, controls
/// without an accessible name, texts whose contrast is below WCAG AA with their figures).
const ACCESSIBILITY_CHECK: &str = r#"
const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
const rgba = (css) => css.match(/[\d.]+/g).map(Number);
const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
const background = (element) => {
  for (let e = element; e !== null; e = e.parentElement) {
    const [r, g, b, a = 1] = rgba(getComputedStyle(e).backgroundColor);
    if (a > 0) return [r, g, b];
  }
  return [255, 255, 255];
};
const lowContrast = [];
for (const element of document.querySelectorAll("body *")) {
  const text = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== "");
  const style = getComputedStyle(element);
  if (!text || element.closest("[hidden]") || style.visibility === "hidden" || element.getClientRects().length === 0) continue;
  if (element.closest(".visually-hidden, .skip")) continue;
  const [fg, bg] = [luminance(rgba(style.color)), luminance(background(element))];
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  if (ratio < (large ? 3 : 4.5)) lowContrast.push(`${element.tagName} "${element.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
}
const unnamed = [...document.querySelectorAll("input, textarea, select, button, a[href]")]
  .filter((c) => c.getClientRects().length > 0)
  .filter((c) => !(c.labels?.length && c.labels[0].textContent.trim()) && !c.getAttribute("aria-label") && !c.textContent.trim())
  .map((c) => c.outerHTML.slice(0, 60));
return { tooWide: document.documentElement.scrollWidth > window.innerWidth, unnamed, lowContrast };
"#;

#[test]
fn the_page_fits_360_px_labels_every_control_and_passes_aa_contrast() {
    let app = RunningApp::start_default();
    let long = "Averyveryverylongwordwithoutanyspacesthatwouldpushthelayoutsideways".repeat(2);
    let ann = app.client.sign_up("ann@example.org", &long[..50]);
    let id = app.client.write_post_with(ann, &long, &long)["id"]
        .as_i64()
        .unwrap();
    let mut browser = open(&app.client, "the_page_fits_360_px", 360, 740);
    assert_eq!(browser.run("return window.innerWidth;", vec![]), 360);
    browser.wait_for_text(".posts", "Averyvery");
    wait_for_strip(&browser, ALL_UP);

    let pages = [
        ("board", "#/", "Newest posts"),
        ("post", &format!("#/posts/{id}") as &str, "Averyvery"),
        ("sign-up", "#/sign-up", "Sign up"),
        ("sign-in", "#/sign-in", "Sign in"),
        ("write-signed-out", "#/write", "Write a post"),
    ];
    for (name, hash, heading) in pages {
        check_page(&mut browser, name, hash, heading);
    }
    sign_in(&browser, "ann@example.org");
    check_page(&mut browser, "write", "#/write", "Write a post");
    send_a_title_too_long(&browser);
    check_page(&mut browser, "write-refused", "#/write", "Write a post");
}

fn check_page(browser: &mut Browser, name: &str, hash: &str, heading: &str) {
    browser.run(
        &format!(
            "if (location.hash !== {0}) location.hash = {0};",
            json!(hash)
        ),
        vec![],
    );
    browser.wait_for_text("h1", heading);
    let found = browser.run(ACCESSIBILITY_CHECK, vec![]);
    browser.screenshot(&format!("360px-{name}"));
    assert_eq!(
        found["tooWide"], false,
        "{name}: scrolls sideways at 360 px"
    );
    assert_eq!(
        found["unnamed"],
        json!([]),
        "{name}: controls without a name"
    );
    assert_eq!(found["lowContrast"], json!([]), "{name}: below WCAG AA");
}

#[test]
fn the_page_works_from_the_keyboard_alone_and_shows_where_the_focus_is() {
    let app = RunningApp::start_default();
    app.client.sign_up("ann@example.org", "Ann");
    let mut browser = open(&app.client, "the_page_works_from_the_keyboard", 1000, 800);
    browser.wait_for_text("h1", "Newest posts");

    // Tab from the top until the "Sign in" link has the focus; each stop shows an outline.
    let mut stops = Vec::new();
    loop {
        browser.press(TAB);
        let focused = focused(&browser);
        assert_ne!(focused["outline"], "none", "no visible focus on {focused}");
        stops.push(focused["text"].as_str().unwrap().to_owned());
        if focused["text"] == "Sign in" {
            break;
        }
        assert!(
            stops.len() < 12,
            "the Sign in link is not reached by Tab: {stops:?}"
        );
    }
    assert_eq!(stops[0], "Skip to the page's content", "{stops:?}");
    browser.screenshot("focus-on-sign-in");
    browser.press(ENTER);
    browser.wait_for_text("h1", "Sign in");
    browser.press(TAB);
    assert_eq!(focused(&browser)["id"], "email");
    browser.press("ann@example.org");
    browser.press(TAB);
    assert_eq!(focused(&browser)["id"], "password");
    browser.press(PASSWORD);
    browser.screenshot("sign-in-typed");
    browser.press(ENTER);
    browser.wait_for_text("#who", "Signed in as Ann");
    browser.screenshot("signed-in-by-keyboard");
}

/// What has the focus: its id, its text, and its outline style.
fn focused(browser: &Browser) -> Value {
    browser.run(
        "const e = document.activeElement; const s = getComputedStyle(e); \
         return { id: e.id, text: e.textContent.trim(), \
                  outline: s.outlineWidth === '0px' ? 'none' : s.outlineStyle };",
        vec![],
    )
}
