// Building the page: elements from data, always as text (session data is user input).

/**
 * An element: h("td", {class: "id", testid: "x", onclick: fn}, "text", child, [more]).
 * Strings and numbers become text nodes; null, undefined and false are left out.
 * Nothing is ever parsed as HTML.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "testid") node.dataset.testid = value;
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.append(child);
    else node.append(document.createTextNode(String(child)));
  }
}

/** Replace everything inside ``node`` with ``children``. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A JSON value as indented text in a <pre>; strings are shown as they are. */
export function pre(value, testid) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  return h("pre", { class: "value", testid }, text ?? "null");
}

/** A status badge: COMPLETED, ERROR, CANCELLED, RUNNING, PENDING, or ok / failed. */
export function badge(text, testid) {
  const kind = String(text ?? "none").toLowerCase();
  return h("span", { class: `badge badge-${kind}`, testid }, text ?? "none");
}

/** An id, in a monospace span that never wraps. */
export function id(text, testid) {
  return h("span", { class: "id", title: text, testid }, text);
}

/** Unix seconds as "2026-01-31 12:00:00Z" (UTC, so every reader sees the same). */
export function unixTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return isoTime(new Date(seconds * 1000).toISOString()).replace(".000Z", "Z");
}

/** An ISO 8601 time as "2026-01-31 12:00:00.123Z". */
export function isoTime(text) {
  return text ? text.replace("T", " ").replace(/\.(\d{3})\d*Z$/, ".$1Z") : "";
}

/** Seconds as µs, ms or s. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(0)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(2)} ms`;
  return `${seconds.toFixed(2)} s`;
}

/** A short one-line form of a JSON value, for table cells. */
export function brief(value, max = 80) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) return "";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
