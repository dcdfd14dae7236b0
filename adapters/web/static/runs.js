// The runs of a session as a timeline, and what one step saw (its exact input,
// starting state and output), read from the step view endpoint.

import { get, seg } from "./api.js";
import { badge, brief, duration, fill, h, id, isoTime, pre, unixTime } from "./dom.js";

export class RunsTimeline {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.root = h("ol", { class: "timeline", testid: "runs" });
  }

  render(runs) {
    if (runs.length === 0) {
      fill(this.root, h("li", { class: "muted", testid: "no-runs" },
        "No run had started at this version."));
      return;
    }
    fill(this.root, runs.map((run, index) => this.run(run, index + 1)));
  }

  run(run, number) {
    const steps = run.step_results ?? [];
    const slot = h("div", { class: "step-slot" });
    return h("li", { class: `run run-${String(run.status).toLowerCase()}`, testid: "run",
      "data-run-id": run.run_id },
    h("div", { class: "run-head" },
      h("strong", {}, `Run ${number}`), badge(run.status, "run-status"), id(run.run_id),
      h("span", { class: "time" }, unixTime(run.created_at)),
      h("span", { testid: "run-duration" }, duration(run.metrics?.duration)),
      h("span", { testid: "run-steps-count" }, `${steps.length} step${steps.length === 1 ? "" : "s"}`)),
    h("div", { class: "run-io" },
      h("div", {}, h("h4", {}, "Input"), pre(run.input, "run-input")),
      h("div", {}, h("h4", {}, "Output"), pre(run.content, "run-output"))),
    run.error ? h("p", { class: "error", testid: "run-error" },
      `${run.error_type ? `${run.error_type}: ` : ""}${run.error}`) : null,
    h("div", { class: "steps" }, steps.map((step) => this.stepTree(run, step, null, slot))),
    slot);
  }

  // A step, and the steps a step primitive (Steps, Parallel, Loop...) ran inside
  // it, each with its path ("2.1.3"): the step view opens any of them.
  stepTree(run, step, path, slot) {
    const button = this.stepButton(run, step, path, slot);
    if (!step.steps?.length) return button;
    const own = path ?? String(step.step_index + 1);
    return h("div", { class: "step-group", testid: "step-group" }, button,
      h("div", { class: "substeps" },
        step.steps.map((inner, i) => this.stepTree(run, inner, `${own}.${i + 1}`, slot))));
  }

  stepButton(run, step, path, slot) {
    const ok = step.success !== false;
    const key = path ?? step.step_index;
    if (!step.step_type) {  // a primitive whose own step is not recorded (yet)
      return h("span", { class: "step step-open", testid: "step-open", "data-step": String(key),
        title: "a step primitive still running (or never finished): the steps it ran so far" },
      `${key} · unfinished`);
    }
    return h("button", {
      class: `step ${ok ? "" : "step-failed"}`, testid: "step-button", "data-step": String(key),
      title: ok ? "what this step received and returned" : `failed: ${step.error}`,
      onclick: (event) => this.open(run.run_id, key, slot, event.currentTarget),
    }, `${key} · ${step.step_name ?? step.executor_name ?? step.step_type ?? "step"} `,
    h("span", { class: ok ? "ok" : "error" }, ok ? "✓" : "✗"),
    h("span", { class: "muted" }, ` ${duration(step.metrics?.duration)}`));
  }

  async open(runId, index, slot, button) {
    for (const other of this.root.querySelectorAll(".step-slot")) other.replaceChildren();
    for (const other of this.root.querySelectorAll(".step.active")) other.classList.remove("active");
    button.classList.add("active");
    fill(slot, h("p", { class: "muted" }, "Loading the step…"));
    try {
      const view = await get(
        `sessions/${seg(this.sessionId)}/runs/${seg(runId)}/steps/${index}`);
      fill(slot, stepView(view, () => { slot.replaceChildren(); button.classList.remove("active"); }));
    } catch (error) {
      fill(slot, h("p", { class: "error", testid: "error" }, error.message));
    }
  }
}

function stepView(view, close) {
  const executor = `${view.executor_type}${view.executor_name ? ` ${view.executor_name}` : ""}`;
  return h("article", { class: "step-view", testid: "step-view" },
    h("header", {},
      h("h3", { testid: "step-title" },
        `Step ${view.path?.includes(".") ? view.path : view.step_index} · `
        + `${view.step_name ?? "unnamed"} (${executor})`),
      h("button", { class: "close", onclick: close, "aria-label": "close" }, "×")),
    h("p", { class: "muted" },
      `recorded at version ${view.version}, ${isoTime(view.recorded_at)}; took `
      + `${duration(view.duration)}; `, view.success
        ? h("span", { class: "ok" }, "succeeded")
        : h("span", { class: "error" }, "failed")),
    view.error ? h("div", {}, h("h4", {}, "Error"), pre(view.error, "step-error")) : null,
    h("div", { class: "step-grid" },
      h("div", {}, h("h4", {}, "Input, exactly as the executor received it"),
        pre(view.input, "step-input")),
      h("div", {}, h("h4", {}, "Output"), pre(view.content, "step-output")),
      view.history_context
        ? h("div", {}, h("h4", {}, "History context in the input"),
          pre(view.history_context, "step-history"))
        : null,
      h("div", {}, h("h4", {}, "Session state at the start of the step"),
        pre(view.session_state, "step-state"))),
    h("p", { class: "muted" }, `run ${brief(view.run_id)}`));
}
