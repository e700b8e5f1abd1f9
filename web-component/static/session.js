// Who is signed in: the sign-in token and what it says, kept in this module's memory only.
// Never in localStorage, sessionStorage or a cookie: it ends with the tab (or a reload), and no
// other page or later visitor of this browser profile can read it.

let current = null;
let expiry = null;
const listeners = new Set();

/** The session, or null when signed out or the token has expired. */
export function session() {
  return current !== null && Date.now() < current.expiresAt ? current : null;
}

/** Starts a session with a token from `POST /users/tokens`. */
export function signIn(token, expiresIn) {
  const claims = claimsOf(token);
  current = {
    token,
    userId: Number(claims.sub),
    name: claims.name,
    expiresAt: Date.now() + expiresIn * 1000,
  };
  clearTimeout(expiry);
  expiry = setTimeout(signOut, expiresIn * 1000);
  changed();
}

export function signOut() {
  clearTimeout(expiry);
  current = null;
  changed();
}

export function onChange(listener) {
  listeners.add(listener);
}

function changed() {
  for (const listener of listeners) listener(session());
}

/** The token's claims, read (not verified: the services verify it) for the page to show whose
 *  it is. The payload is base64url-encoded UTF-8 JSON. */
function claimsOf(token) {
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}
