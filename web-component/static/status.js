// The status strip: whether each part of the app answers its health check, and which build
// answered (`x-service-version`), asked again every few seconds. With one service down the
// other keeps working: the strip is where a person sees that.

import { h } from "./dom.js";

const PARTS = [
  { name: "web page", method: "HEAD", path: "/" },
  { name: "user service", method: "GET", path: "/users/health" },
  { name: "board service", method: "GET", path: "/boards/health" },
];
const EVERY_MS = 3000;
const TIMEOUT_MS = 2500;

export function startStatusStrip(list) {
  for (const part of PARTS) {
    part.state = h("span", { class: "state" }, "checking");
    part.version = h("code", { class: "version" });
    part.item = h("li", { class: "service", "data-state": "unknown" }, h("span", {}, part.name), part.state, part.version);
    list.append(part.item);
  }
  const refresh = async () => {
    await Promise.all(PARTS.map(check));
    setTimeout(refresh, EVERY_MS);
  };
  refresh();
}

async function check(part) {
  const { up, detail, version } = await health(part);
  // Only a change is written, so a screen reader hears when a service goes down or comes back,
  // not every few seconds.
  const state = up ? "up" : "down";
  if (part.item.dataset.state !== state) part.item.dataset.state = state;
  const text = up ? "up" : `down (${detail})`;
  if (part.state.textContent !== text) part.state.textContent = text;
  const shown = version ?? "";
  if (part.version.textContent !== shown) part.version.textContent = shown;
}

async function health({ method, path }) {
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  try {
    const response = await fetch(path, { method, cache: "no-store", credentials: "omit", signal });
    await response.arrayBuffer();
    return { up: response.ok, detail: String(response.status), version: response.headers.get("x-service-version") };
  } catch (error) {
    return { up: false, detail: error.name === "TimeoutError" ? "no answer in time" : "unreachable", version: null };
  }
}
