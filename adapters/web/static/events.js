// The raw event log with its provenance, a page at a time; events after the
// version shown are marked.

import { get, seg } from "./api.js";
import { brief, fill, h, id, isoTime, pre } from "./dom.js";

const LIMIT = 25;

export class EventLog {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.after = 0;
    this.earlier = []; // where each earlier page started, for "Earlier"
    this.nextAfter = null;
    this.shown = null;
    this.head = 0;
    this.body = h("tbody", {});
    this.status = h("span", { testid: "events-range" });
    this.prev = h("button", { testid: "events-prev", onclick: () => this.back() }, "← Earlier");
    this.next = h("button", { testid: "events-next", onclick: () => this.forward() },
      "Later →");
    this.type = h("select", { testid: "events-type", onchange: () => this.filter() },
      h("option", { value: "" }, "every event type"));
    this.run = h("select", { testid: "events-run", onchange: () => this.filter() },
      h("option", { value: "" }, "every run"));
    this.root = h("div", { class: "events" },
      h("div", { class: "filters" }, h("label", {}, "event type", this.type),
        h("label", {}, "run", this.run)),
      h("table", { class: "grid", testid: "events-table" },
        h("thead", {}, h("tr", {}, ["Version", "Recorded", "Event", "Run", "User", "Payload",
          "Provenance", "Hash"].map((title) => h("th", {}, title)))),
        this.body),
      h("nav", { class: "pager" }, this.prev, this.status, this.next));
    this.typesLoaded = this.loadTypes();
  }

  /** The event types Kern records, as the filter's choices. */
  async loadTypes() {
    try {
      const info = await get("info");
      for (const name of info.event_types ?? []) {
        this.type.append(h("option", { value: name }, name));
      }
    } catch {
      // the log still shows every event; the filter just offers no types
    }
  }

  /** The runs of the session shown, as the run filter's choices. */
  setRuns(runs) {
    const chosen = this.run.value;
    fill(this.run, h("option", { value: "" }, "every run"),
      runs.map((run, index) => h("option", { value: run.run_id },
        `run ${index + 1} · ${run.run_id.slice(0, 8)}`)));
    this.run.value = runs.some((run) => run.run_id === chosen) ? chosen : "";
  }

  get filtered() {
    return Boolean(this.type.value || this.run.value);
  }

  /** A filter changed: the first page of what it keeps. */
  filter() {
    this.earlier = [];
    this.load(0);
  }

  forward() {
    if (this.nextAfter === null) return;
    this.earlier.push(this.after);
    this.load(this.nextAfter);
  }

  back() {
    this.load(this.earlier.pop() ?? 0);
  }

  async load(after) {
    const start = Math.max(0, after);
    try {
      const page = await get(`sessions/${seg(this.sessionId)}/events`, {
        after: start, limit: LIMIT, event_type: this.type.value, run_id: this.run.value,
      });
      this.after = start;
      this.head = page.head_version;
      this.nextAfter = page.next_after;
      fill(this.body, page.events.map((entry) => row(entry)));
      this.paging(page.events);
      this.mark(this.shown);
    } catch (error) {
      fill(this.body, h("tr", {}, h("td", { colspan: "8", class: "error", testid: "events-error" },
        error.message)));
    }
  }

  paging(events) {
    const first = events[0]?.version;
    const last = events.at(-1)?.version;
    if (!events.length) {
      fill(this.status, this.filtered ? "no events match" : `no events after ${this.after}`);
    } else if (this.filtered) {
      fill(this.status, `${events.length} matching, versions ${first} to ${last} of ${this.head}`);
    } else {
      fill(this.status, `events ${first} to ${last} of ${this.head}`);
    }
    this.prev.disabled = this.earlier.length === 0;
    this.next.disabled = this.nextAfter === null;
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
    if (this.filtered || version <= this.after + LIMIT) this.load(this.after);
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
