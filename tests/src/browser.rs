//! A real browser for the page's tests: Debian's Chromium, headless, driven through Debian's
//! ChromeDriver over WebDriver (fantoccini). Each browser gets a driver of its own, in a process
//! group of its own (Chromium runs as the driver's children, so stopping the group leaves
//! nothing), a fresh profile, and a folder for its screenshots. The driver also records every
//! network request the browser makes (Chrome's performance log), so a test can see where the
//! page reached out to.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::host::free_port;
use crate::wait::eventually;
use crate::{process, workspace};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long the page may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Chromium's flags: headless, as root (no sandbox), and none of its own traffic to Google's
/// hosts (updates, sync, field trials), which this machine's closed network refuses and which
/// would muddy the record of what the page asked for.
const CHROMIUM_FLAGS: [&str; 11] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
];

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<fantoccini::Client>,
    driver: Child,
    driver_addr: SocketAddr,
    profile: tempfile::TempDir,
    shots: PathBuf,
    step: usize,
}

impl Browser {
    /// A browser whose viewport is `width` by `height` CSS pixels, saving its screenshots under
    /// `target/test-output/<test>/`.
    pub fn start(test: &str, width: u32, height: u32) -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the page's tests need Debian's Chromium and its driver \
                 (apt-get install chromium chromium-driver; .ci/run installs them)"
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the WebDriver client");
        let profile = tempfile::tempdir().expect("a profile directory");
        let driver_addr = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={}", driver_addr.port()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let shots = workspace().join("target/test-output").join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("a folder for screenshots");
        let mut browser = Self {
            runtime,
            client: None,
            driver,
            driver_addr,
            profile,
            shots,
            step: 0,
        };
        browser.client = Some(browser.connect(width, height));
        // Chromium opens on its own new-tab page, which loads its own resources: the record of
        // requests starts once that is gone.
        browser.goto("about:blank");
        browser.requests();
        browser
    }

    fn connect(&self, width: u32, height: u32) -> fantoccini::Client {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", self.profile.path().display()));
        // Headless Chromium keeps its window at least 500 px wide: the viewport's size is set
        // through device emulation instead, narrow ones as a phone's.
        let metrics = json!({ "width": width, "height": height, "pixelRatio": 1.0,
                              "mobile": width < 600, "touch": false });
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "mobileEmulation": { "deviceMetrics": metrics },
            },
            "goog:loggingPrefs": { "performance": "ALL" },
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let url = format!("http://{}", self.driver_addr);
        // The driver takes a moment to listen.
        let mut last_error = None;
        eventually(STEP_TIMEOUT, || {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = self.runtime.block_on(
                ClientBuilder::new(connector)
                    .capabilities(capabilities.clone())
                    .connect(&url),
            );
            attempt.map_err(|error| last_error = Some(error)).ok()
        })
        .unwrap_or_else(|| panic!("no WebDriver session with Chromium: {last_error:?}"))
    }

    fn client(&self) -> &fantoccini::Client {
        self.client.as_ref().expect("the session is open")
    }

    pub fn goto(&self, url: &str) {
        self.runtime
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs `script` in the page (`arguments[0]`... are `args`) and returns what it returns.
    pub fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.runtime
            .block_on(self.client().execute(script, args))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns something truthy, and returns that; panics naming `what`.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        eventually(STEP_TIMEOUT, || {
            let value = self.run(script, vec![]);
            let truthy = !matches!(value, Value::Null | Value::Bool(false)) && value != json!("");
            truthy.then_some(value)
        })
        .unwrap_or_else(|| {
            panic!(
                "the page did not show {what} within {STEP_TIMEOUT:?}; it shows:\n{}",
                self.visible_text()
            )
        })
    }

    /// Waits until the element `css` is there and its text contains `text`.
    pub fn wait_for_text(&self, css: &str, text: &str) {
        let script = format!(
            "const e = document.querySelector({}); return e !== null && e.textContent.includes({});",
            json!(css),
            json!(text)
        );
        self.wait_for(&format!("{text:?} in {css}"), &script);
    }

    pub fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e === null ? null : e.textContent;",
            json!(css)
        );
        match self.run(&script, vec![]) {
            Value::String(text) => text,
            _ => panic!("no {css} on the page:\n{}", self.visible_text()),
        }
    }

    pub fn visible_text(&self) -> String {
        self.run("return document.body.innerText;", vec![])
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Types `text` into the field `css`, as a person would (key events, not a value set).
    pub fn fill(&self, css: &str, text: &str) {
        let field = self.element(css);
        self.runtime.block_on(async {
            field.clear().await.unwrap();
            field.send_keys(text).await.unwrap();
        });
    }

    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.runtime.block_on(element.click()).unwrap();
    }

    /// The element `css`, once the page has it.
    fn element(&self, css: &str) -> fantoccini::elements::Element {
        let wait = self.client().wait().at_most(STEP_TIMEOUT);
        self.runtime
            .block_on(wait.for_element(Locator::Css(css)))
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    /// Presses keys on whatever has the focus (`\u{e004}` is Tab, `\u{e007}` Enter).
    pub fn press(&self, keys: &str) {
        let client = self.client();
        self.runtime.block_on(async {
            let focused = client.active_element().await.unwrap();
            focused.send_keys(keys).await.unwrap();
        });
    }

    /// Saves a screenshot of the window as `<nn>-<name>.png` and returns its path.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        self.step += 1;
        let png = self
            .runtime
            .block_on(self.client().screenshot())
            .expect("a screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).expect("the screenshot is saved");
        path
    }

    /// The URL of every request the browser sent since the last call, from Chrome's
    /// performance log (`Network.requestWillBeSent`): what the page loaded, fetched or tried
    /// to, whatever its script did.
    pub fn requests(&self) -> Vec<String> {
        let entries = self
            .runtime
            .block_on(self.client().issue_cmd(PerformanceLog))
            .expect("Chrome's performance log");
        entries
            .as_array()
            .expect("log entries")
            .iter()
            .filter_map(|entry| serde_json::from_str::<Value>(entry["message"].as_str()?).ok())
            .filter(|message| message["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|message| {
                Some(
                    message["message"]["params"]["request"]["url"]
                        .as_str()?
                        .to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        process::signal_group(self.driver.id(), libc::SIGKILL);
        let _ = self.driver.wait();
        process::wait_until_gone(self.driver.id(), self.driver_addr);
    }
}

/// ChromeDriver's `POST /session/{id}/se/log` for the `performance` log: its entries since the
/// last read.
#[derive(Debug)]
struct PerformanceLog;

impl WebDriverCompatibleCommand for PerformanceLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "performance" }).to_string()),
        )
    }
}
