#[spin_sdk::http_component] fn h(_r: spin_sdk::http::Request) -> spin_sdk::http::Response { spin_sdk::http::Response::new(200, "") }
