// The session page: header and verify badge, the version scrubber, the runs timeline,
// the run diff and the event log. Built once per session; a new version refreshes it.

import { get, seg, url } from "./api.js";
import { badge, fill, h, id, isoTime, unixTime } from "./dom.js";
import { DiffPanel } from "./diff.js";
import { EventLog } from "./events.js";
import { RunsTimeline } from "./runs.js";

/** The hash of a session page, as of ``version`` (the latest when null). */
export function sessionHash(sessionId, version) {
  const base = `#/sessions/${seg(sessionId)}`;
  return version === null ? base : `${base}?v=${version}`;
}

export class SessionPage {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.token = 0;
    this.following = true;
    this.head = h("div", { class: "session-head" }, h("p", { class: "muted" }, "Loading…"));
    this.verifyBadge = h("span", { class: "verify", testid: "verify" }, badge("verifying…"));
    this.scrubber = new Scrubber(sessionId);
    this.runs = new RunsTimeline(sessionId);
    this.diff = new DiffPanel(sessionId);
    this.events = new EventLog(sessionId);
    this.root = h("section", { class: "page", testid: "session-page" },
      h("a", { href: "#/", class: "back", testid: "back" }, "← Sessions"),
      this.head, this.verifyBadge, this.scrubber.root,
      h("h2", {}, "Runs"), this.runs.root,
      h("h2", {}, "Compare two runs"), this.diff.root,
      h("h2", {}, "Event log"), this.events.root);
    this.started = false;
  }

  /** Show the session as of ``version`` (the latest when null). */
  async show(version) {
    const token = ++this.token;
    let found;
    try {
      found = await get(`sessions/${seg(this.sessionId)}`, { as_of: version });
    } catch (error) {
      if (token === this.token) this.failed(error);
      return;
    }
    if (token !== this.token) return; // a later version was asked for meanwhile
    if (!this.started) {
      this.started = true;
      this.verify();
      this.events.load(0);
      this.live(found.head_version);
    }
    this.following = version === null;
    const session = found.session;
    const runs = session.runs ?? [];
    this.renderHead(session, runs);
    this.scrubber.set(found.version, found.head_version, this.following);
    this.runs.render(runs);
    this.diff.setRuns(runs);
    this.events.setRuns(runs);
    this.events.mark(found.version);
  }

  /** The session cannot be shown (missing, another user's, a bad version): say why. */
  failed(error) {
    this.close();
    this.broken = true; // the next route to this session builds a new page
    fill(this.root, h("a", { href: "#/", class: "back", testid: "back" }, "← Sessions"),
      h("h1", {}, "Session ", id(this.sessionId, "session-id")),
      h("p", { class: "error", testid: "error" }, error.message));
  }

  renderHead(session, runs) {
    const name = session.session_data?.session_name;
    document.title = `${name || session.session_id} · Kern`;
    fill(this.head,
      h("h1", { testid: "session-title" }, name || session.session_id),
      h("dl", { class: "facts" },
        fact("session", id(session.session_id, "session-id")),
        fact("user", session.user_id ? id(session.user_id) : "none"),
        fact("workflow", `${session.workflow_name ?? ""} (${session.workflow_id ?? "no id"})`),
        fact("created", unixTime(session.created_at)),
        fact("updated", unixTime(session.updated_at)),
        fact("runs", h("span", { testid: "run-count" }, String(runs.length))),
        fact("export", h("a", {
          href: url(`sessions/${seg(session.session_id)}/export`),
          download: `${session.session_id}.jsonl`,
        }, "events as JSON lines"))));
  }

  async verify() {
    try {
      const report = await get(`sessions/${seg(this.sessionId)}/verify`);
      const session = report.sessions[0] ?? {};
      fill(this.verifyBadge, report.ok
        ? h("span", { class: "badge badge-ok", testid: "verify-badge",
          title: "every event's hash matches its content and chains to the one before" },
        `hash chain verified (${session.events} events)`)
        : [h("span", { class: "badge badge-failed", testid: "verify-badge" },
          "hash chain FAILED"),
        h("span", { class: "error", testid: "verify-problem" },
          ` at version ${session.first_bad_version}: ${session.problem}`)]);
    } catch (error) {
      fill(this.verifyBadge, h("span", { class: "badge badge-failed", testid: "verify-badge" },
        `verify failed: ${error.message}`));
    }
  }

  /** Follow the events after ``head``: the latest version refreshes, a past one only
   * learns the new head. (After a dropped connection the browser resumes from the last
   * event it got, sending its id as Last-Event-ID.) */
  live(head) {
    if (!window.EventSource) return;
    this.stream = new EventSource(url(`sessions/${seg(this.sessionId)}/stream`, { after: head }));
    this.stream.addEventListener("open", () => { this.scrubber.liveBadge.hidden = false; });
    this.stream.addEventListener("error", () => { this.scrubber.liveBadge.hidden = true; });
    let pending = null;
    this.stream.addEventListener("kern-event", (message) => {
      const entry = JSON.parse(message.data);
      this.scrubber.grow(entry.version);
      this.events.grow(entry.version);
      if (!this.following || pending) return;
      pending = setTimeout(() => { pending = null; this.show(null); }, 250);
    });
  }

  close() {
    this.stream?.close();
  }
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

/** The version scrubber: a range from 1 to the head; letting go shows that version. */
class Scrubber {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.input = h("input", {
      type: "range", min: "1", max: "1", value: "1", step: "1", testid: "version-scrubber",
      "aria-label": "session version",
      oninput: () => this.label(Number(this.input.value), "…"),
      onchange: () => {
        const version = Number(this.input.value);
        location.hash = sessionHash(sessionId, version === this.headVersion ? null : version);
      },
    });
    this.text = h("span", { testid: "version-label" });
    this.moment = h("span", { class: "muted", testid: "version-time" });
    this.latest = h("a", { testid: "version-latest", href: sessionHash(sessionId, null) },
      "show the latest");
    this.liveBadge = h("span", { class: "live", testid: "live", hidden: true,
      title: "new events are shown as they are recorded" }, "● live");
    this.root = h("div", { class: "scrubber" },
      h("label", {}, "Version", this.input), this.text, this.moment, this.latest, this.liveBadge);
    this.headVersion = 1;
  }

  set(version, head, following) {
    this.headVersion = head;
    this.shown = version;
    this.input.max = String(head);
    this.input.value = String(version);
    this.label(version, following ? " (latest)" : "");
    this.latest.hidden = following;
    this.when(version);
  }

  /** A new event was recorded: the range reaches it. */
  grow(version) {
    if (version <= this.headVersion) return;
    this.headVersion = version;
    this.input.max = String(version);
    this.label(this.shown, "");
  }

  label(version, note) {
    fill(this.text, "showing version ", h("strong", { testid: "version-shown" }, String(version)),
      ` of ${this.headVersion}${note}`);
  }

  /** When the shown version was recorded, and by which event. */
  async when(version) {
    fill(this.moment, "");
    try {
      const page = await get(`sessions/${seg(this.sessionId)}/events`,
        { after: version - 1, limit: 1 });
      const entry = page.events[0];
      if (entry && this.shown === version) {
        fill(this.moment, ` · recorded ${isoTime(entry.timestamp)} · ${entry.event_type}`);
      }
    } catch (error) {
      fill(this.moment, h("span", { class: "error" }, error.message));
    }
  }
}
