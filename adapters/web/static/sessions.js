// The sessions page: search by name, filter by user and workflow, page through.

import { get, seg } from "./api.js";
import { badge, fill, h, id, unixTime } from "./dom.js";

const LIMIT = 20;

/** Render the sessions list into ``view``; filters and page come from the hash query.
 * A scoped server shows only the caller's sessions, so it gets no user filter. */
export async function sessionsPage(view, params, scoped) {
  const filters = {
    name: params.get("name") ?? "",
    user: params.get("user") ?? "",
    workflow: params.get("workflow") ?? "",
  };
  const page = Math.max(1, Number(params.get("page")) || 1);
  document.title = "Sessions · Kern";
  const list = h("div", { testid: "sessions-list" }, h("p", { class: "muted" }, "Loading…"));
  fill(view, h("section", { class: "page", testid: "sessions-page" },
    h("h1", {}, "Sessions"), searchForm(filters, scoped), list));
  try {
    const found = await get("sessions", {
      session_name: filters.name, user_id: filters.user, workflow_id: filters.workflow,
      limit: LIMIT, page,
    });
    fill(list, table(found.sessions), pager(filters, found));
  } catch (error) {
    fill(list, h("p", { class: "error", testid: "error" }, error.message));
  }
}

function searchForm(filters, scoped) {
  const field = (name, label, placeholder) => h("label", {},
    label, h("input", { name, type: "search", value: filters[name], placeholder,
      testid: `sessions-${name}` }));
  return h("form", {
    class: "filters",
    onsubmit(event) {
      event.preventDefault();
      const data = new FormData(event.target);
      location.hash = hashOf(Object.fromEntries(data), 1);
    },
  },
  field("name", "Name", "part of the session name"),
  scoped ? null : field("user", "User", "user_id"),
  field("workflow", "Workflow", "workflow_id"),
  h("button", { type: "submit", testid: "sessions-apply" }, "Search"));
}

function hashOf(filters, page) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  if (page > 1) query.set("page", String(page));
  const text = query.toString();
  return `#/${text ? `?${text}` : ""}`;
}

function table(sessions) {
  if (sessions.length === 0) {
    return h("p", { class: "muted", testid: "sessions-empty" }, "No sessions match.");
  }
  return h("table", { class: "grid", testid: "sessions-table" },
    h("thead", {}, h("tr", {},
      ["Session", "Name", "User", "Workflow", "Runs", "Last run", "Updated"]
        .map((title) => h("th", {}, title)))),
    h("tbody", {}, sessions.map(row)));
}

function row(session) {
  const link = `#/sessions/${seg(session.session_id)}`;
  return h("tr", { testid: "session-row", "data-session-id": session.session_id },
    h("td", {}, h("a", { href: link, testid: "session-link" }, id(session.session_id))),
    h("td", { testid: "session-name" }, session.session_name || "—"),
    h("td", {}, session.user_id ? id(session.user_id) : h("span", { class: "muted" }, "none")),
    h("td", {}, session.workflow_name || session.workflow_id || ""),
    h("td", { class: "num" }, session.runs),
    h("td", {}, session.last_status ? badge(session.last_status) : ""),
    h("td", { class: "time" }, unixTime(session.updated_at)));
}

function pager(filters, found) {
  return h("nav", { class: "pager" },
    h("button", {
      testid: "sessions-prev", disabled: found.page <= 1,
      onclick: () => { location.hash = hashOf(filters, found.page - 1); },
    }, "← Previous"),
    h("span", { testid: "sessions-page-number" }, `Page ${found.page}`),
    h("button", {
      testid: "sessions-next", disabled: !found.has_more,
      onclick: () => { location.hash = hashOf(filters, found.page + 1); },
    }, "Next →"));
}
