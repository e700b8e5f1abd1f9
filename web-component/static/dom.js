// Building the page's elements. Text from the API only ever becomes a text node: nothing here
// parses a string as HTML (the page's Trusted Types policy would refuse it anyway).

/** `h("a", { href: "#/" }, "Board")`: an element with attributes and children (strings become
 *  text). An attribute of `false`, `null` or `undefined` is left out; one starting with `on`
 *  (`onclick`) is an event listener. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

/** A date as people read it, in a `<time>` that keeps the exact instant. */
export function time(iso) {
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime())
    ? iso
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return h("time", { datetime: iso }, text);
}
