// Forms: their fields, and what the page says when the API refuses one. A problem's `errors`
// go beside the fields they name; anything else goes at the top of the form, saying what
// happened and what to do next. The API is the one judge of what is valid (`novalidate`), so
// the messages are the same for the page, curl and any other client.

import { h } from "./dom.js";

/** A labelled input (or `textarea`) named as the API names the field, with a place for its
 *  errors that assistive technology reads with it. */
export function field({ name, label, type = "text", hint, autocomplete, multiline = false, value }) {
  const errorId = `${name}-error`;
  const hintId = hint ? `${name}-hint` : null;
  const attributes = {
    id: name,
    name,
    autocomplete,
    "aria-describedby": [hintId, errorId].filter(Boolean).join(" "),
  };
  const control = multiline
    ? h("textarea", attributes)
    : h("input", { ...attributes, type, value });
  return h(
    "div",
    { class: "field" },
    h("label", { for: name }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    control,
    h("p", { class: "field-error", id: errorId }),
  );
}

/** A form that sends itself with `submit(values)` (an API call's outcome) and, on success,
 *  hands the outcome to `done`. */
export function form({ label, fields, action, submit, done, explain }) {
  const alert = h("p", { class: "alert", role: "alert" });
  const button = h("button", { type: "submit" }, action);
  const element = h("form", { "aria-label": label, novalidate: true }, alert, ...fields, button);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(element, alert);
    button.disabled = true;
    const values = Object.fromEntries(new FormData(element));
    const result = await submit(values);
    button.disabled = false;
    if (result.ok) {
      done(result, values);
    } else {
      showProblem(element, alert, result, explain);
      waitOut(button, result.retryAfter, action);
    }
  });
  return element;
}

function clearErrors(element, alert) {
  alert.textContent = "";
  for (const error of element.querySelectorAll(".field-error")) error.textContent = "";
  for (const control of element.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
}

function showProblem(element, alert, result, explain) {
  const fieldErrors = Object.entries(result.problem?.errors ?? {});
  let first = null;
  const unplaced = [];
  for (const [name, messages] of fieldErrors) {
    const control = element.elements.namedItem(name);
    if (control === null) {
      unplaced.push(...messages);
      continue;
    }
    control.setAttribute("aria-invalid", "true");
    element.querySelector(`#${name}-error`).textContent = messages.join(" ");
    first ??= control;
  }
  if (first !== null && unplaced.length === 0) {
    first.focus();
    return;
  }
  alert.textContent = [...unplaced, explain(result)].filter(Boolean).join(" ");
}

/** With `Retry-After`, the button waits that long before it can send again, counting down. */
function waitOut(button, seconds, action) {
  if (!seconds) return;
  button.disabled = true;
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      button.disabled = false;
      button.textContent = action;
      return;
    }
    button.textContent = `${action} (in ${left} s)`;
    setTimeout(tick, 250);
  };
  tick();
}

/** What to tell a person about a call that failed, for the errors no field owns: what
 *  happened, and what to do (with `Retry-After`, when). */
export function explainFailure(result, service) {
  const wait = result.retryAfter ? `Try again in ${seconds(result.retryAfter)}.` : "Try again in a moment.";
  if (result.status === 0 && !result.timedOut) {
    return `The ${service} could not be reached. Check your connection, then try again.`;
  }
  if (result.status === 0 || result.status >= 500) {
    return `The ${service} is unavailable right now. ${wait}`;
  }
  const detail = result.problem?.detail ?? `The ${service} answered ${result.status}.`;
  return result.retryAfter ? `${detail} ${wait}` : detail;
}

function seconds(n) {
  return n === 1 ? "1 second" : `${n} seconds`;
}
