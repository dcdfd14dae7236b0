// The raw event log with its provenance, a page at a time; events after the
// version shown are marked.

import { get, seg } from "./api.js";
import { brief, fill, h, id, isoTime, pre } from "./dom.js";

const LIMIT = 25;

export class EventLog {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.after = 0;
    this.shown = null;
    this.head = 0;
    this.body = h("tbody", {});
    this.status = h("span", { testid: "events-range" });
    this.prev = h("button", { testid: "events-prev", onclick: () => this.load(this.after - LIMIT) },
      "← Earlier");
    this.next = h("button", { testid: "events-next", onclick: () => this.load(this.after + LIMIT) },
      "Later →");
    this.root = h("div", { class: "events" },
      h("table", { class: "grid", testid: "events-table" },
        h("thead", {}, h("tr", {}, ["Version", "Recorded", "Event", "Run", "User", "Payload",
          "Provenance", "Hash"].map((title) => h("th", {}, title)))),
        this.body),
      h("nav", { class: "pager" }, this.prev, this.status, this.next));
  }

  async load(after) {
    const start = Math.max(0, after);
    try {
      const page = await get(`sessions/${seg(this.sessionId)}/events`,
        { after: start, limit: LIMIT });
      this.after = start;
      this.head = page.head_version;
      fill(this.body, page.events.map((entry) => row(entry)));
      this.paging(page.events);
      this.mark(this.shown);
    } catch (error) {
      fill(this.body, h("tr", {}, h("td", { colspan: "8", class: "error", testid: "events-error" },
        error.message)));
    }
  }

  paging(events) {
    const last = events.at(-1)?.version ?? this.after;
    fill(this.status, events.length
      ? `events ${this.after + 1} to ${last} of ${this.head}` : `no events after ${this.after}`);
    this.prev.disabled = this.after === 0;
    this.next.disabled = last >= this.head;
  }

  /** Grey out the events recorded after ``version`` (the version the page shows). */
  mark(version) {
    this.shown = version;
    for (const tr of this.body.querySelectorAll("tr[data-version]")) {
      const later = version !== null && Number(tr.dataset.version) > version;
      tr.classList.toggle("later", later);
      tr.title = later ? `recorded after version ${version}, the one shown` : "";
    }
  }

  /** A new event was recorded: reload the page when it would show it. */
  grow(version) {
    if (version <= this.head) return;
    this.head = version;
    if (version <= this.after + LIMIT) this.load(this.after);
    else this.next.disabled = false;
  }
}

function row(entry) {
  return h("tr", { testid: "event-row", "data-version": entry.version },
    h("td", { class: "num" }, entry.version),
    h("td", { class: "time" }, isoTime(entry.timestamp)),
    h("td", { testid: "event-type" }, entry.event_type),
    h("td", {}, entry.run_id ? id(entry.run_id) : ""),
    h("td", {}, entry.user_id ? id(entry.user_id) : ""),
    h("td", {}, details(brief(entry.payload, 60), entry.payload)),
    h("td", {}, details(provenanceLine(entry.provenance), entry.provenance)),
    h("td", {}, h("span", { class: "id", title: entry.hash }, entry.hash.slice(0, 12))));
}

function provenanceLine(provenance) {
  const parts = [];
  if (provenance?.kern_version) parts.push(`kern ${provenance.kern_version}`);
  if (provenance?.workflow_fingerprint) parts.push(provenance.workflow_fingerprint.slice(0, 10));
  return parts.join(" · ") || "—";
}

function details(summary, value) {
  return h("details", {}, h("summary", {}, summary), pre(value));
}
