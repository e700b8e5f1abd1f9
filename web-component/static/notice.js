// A message for the next page shown: "Your post is published." after the page changes to the
// board. Shown once, in a polite live region.

import { h } from "./dom.js";

let pending = "";

export function sayNext(text) {
  pending = text;
}

export function takeNotice() {
  const text = pending;
  pending = "";
  return h("p", { class: "notice", role: "status" }, text);
}
