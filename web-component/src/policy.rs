//! What the browser may do with the page: the one place that sets it.

/// Scripts, styles, images and API calls from this origin only; no inline script or style
/// (no `unsafe-inline`), no plugins, no framing, no `<base>`, and no native form submission
/// (every form is sent by the page's script, so a password can never end up in a URL). Trusted
/// Types with no policy make every HTML-parsing sink (`innerHTML` and the like) throw, so text
/// from the API can only ever reach the page as text.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
    trusted-types 'none'";

/// Headers every answer carries, beside its content type and caching.
pub const HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    // The declared content type is the only one: no sniffing a JSON answer into a script.
    ("x-content-type-options", "nosniff"),
    // The page's addresses (a post's id) are nobody else's business.
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// The file names carry no content hash (there is no build step), so the browser asks again
/// each time and gets a bodiless 304 while its copy's ETag still matches: a new build of the
/// page is seen at the next load, never a stale script beside a new page.
pub const CACHE_CONTROL: &str = "no-cache";
