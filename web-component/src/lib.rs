//! The web page: the single-page front end under `static/`, served as files and nothing else.
//! It holds no state, opens no database and calls nothing: the browser calls the two services'
//! APIs on the same address, so the services stay exactly as independent as without it.

mod files;
mod policy;

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let version = service_kit::service_version!();
    service_kit::respond::serve(incoming, out, &version, |request| {
        let if_none_match = request.header("if-none-match").and_then(|v| v.as_str());
        files::answer(request.method(), request.path(), if_none_match)
    })
    .await;
}
