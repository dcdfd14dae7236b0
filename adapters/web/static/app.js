// The Kern web timeline: a hash router over two pages, the sessions list and a session.
//
//   #/                          the sessions list (filters and page in the query:
//   #/?name=&user=&workflow=&page=
//   #/sessions/<id>?v=<version> one session, as of a version (the latest without v)

import { get } from "./api.js";
import { fill, h } from "./dom.js";
import { sessionsPage } from "./sessions.js";
import { SessionPage } from "./session.js";

const view = document.getElementById("view");
let current = null; // the SessionPage on screen, kept while only its version changes
const info = get("info"); // who is asking: asked once

/** The route of a hash: {path, params}. */
function parseHash(hash) {
  const text = hash.replace(/^#/, "") || "/";
  const [path, query = ""] = text.split("?", 2);
  return { path, params: new URLSearchParams(query) };
}

async function route() {
  const { path, params } = parseHash(location.hash);
  const match = path.match(/^\/sessions\/([^/]+)$/);
  if (match) {
    const sessionId = decodeURIComponent(match[1]);
    const version = params.get("v");
    if (current?.sessionId !== sessionId || current.broken) {
      current?.close();
      current = new SessionPage(sessionId);
      fill(view, current.root);
    }
    await current.show(version === null ? null : Number(version));
    return;
  }
  current?.close();
  current = null;
  const scoped = await info.then((about) => about.scoped, () => false);
  await sessionsPage(view, params, scoped);
}

async function who() {
  const slot = document.querySelector("[data-testid=who]");
  try {
    const about = await info;
    fill(slot, about.scoped ? `signed in as ${about.user_id}` : "all users (admin)",
      h("span", { class: "muted" }, ` · Kern ${about.kern_version}`));
  } catch (error) {
    fill(slot, h("span", { class: "error" }, error.message));
  }
}

window.addEventListener("hashchange", route);
who();
route();
