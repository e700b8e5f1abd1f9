// The page: a router over the address's fragment (`#/posts/12`), so every page has an address
// to share and the server serves one file for all of them; the navigation, the status strip.

import { signInPage, signUpPage } from "./account.js";
import { boardPage, postPage, writePage } from "./board.js";
import { onChange, session, signOut } from "./session.js";
import { startStatusStrip } from "./status.js";

const ROUTES = [
  [/^#\/$/, boardPage, "Newest posts"],
  [/^#\/posts\/([1-9][0-9]*)$/, postPage, "Post"],
  [/^#\/write$/, writePage, "Write a post"],
  [/^#\/sign-up$/, signUpPage, "Sign up"],
  [/^#\/sign-in$/, signInPage, "Sign in"],
];

function route(hash) {
  for (const [pattern, page, title] of ROUTES) {
    const match = pattern.exec(hash);
    if (match) return { page, title, params: match.slice(1) };
  }
  return null;
}

function show({ moveFocus }) {
  const hash = location.hash || "#/";
  const found = route(hash);
  if (found === null) {
    // The skip link's `#view` is the browser's to follow; any other unknown address, or a
    // page opened at `#view`, shows the board.
    if (moveFocus && !hash.startsWith("#/")) return;
    location.replace("#/");
    return;
  }
  const view = document.getElementById("view");
  view.replaceChildren();
  document.title = `${found.title} · Users and boards`;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === hash) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  found.page(view, ...found.params);
  // After a change of page, the keyboard and the screen reader start at its heading.
  if (moveFocus) (view.querySelector("h1") ?? view).focus();
}

function showWho(now) {
  for (const item of document.querySelectorAll("[data-signed-in]")) item.hidden = now === null;
  for (const item of document.querySelectorAll("[data-signed-out]")) item.hidden = now !== null;
  document.getElementById("who").textContent = now === null ? "" : `Signed in as ${now.name}`;
}

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  location.hash = "#/";
});
onChange(showWho);
showWho(session());
window.addEventListener("hashchange", () => show({ moveFocus: true }));
show({ moveFocus: false });
startStatusStrip(document.getElementById("status"));
