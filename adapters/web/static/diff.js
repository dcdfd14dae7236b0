// Two runs side by side: what changed in their inputs, outputs, state and status,
// run-level fields first, then step by step (from the diff endpoint).

import { get, seg } from "./api.js";
import { badge, brief, fill, h, pre } from "./dom.js";

const OUTCOMES = { equal: "same", changed: "changed", only_a: "only in A", only_b: "only in B" };

export class DiffPanel {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.a = h("select", { testid: "diff-a", "aria-label": "run A" });
    this.b = h("select", { testid: "diff-b", "aria-label": "run B" });
    this.button = h("button", { testid: "diff-compare", onclick: () => this.compare() },
      "Compare");
    this.result = h("div", { testid: "diff-result" });
    this.root = h("div", { class: "diff", testid: "diff" },
      h("div", { class: "diff-pick" }, h("label", {}, "A ", this.a), h("label", {}, "B ", this.b),
        this.button),
      this.result);
  }

  /** The runs to choose from; a choice still there is kept, else the first and the last. */
  setRuns(runs) {
    const keep = [this.a.value, this.b.value];
    const options = (select) => fill(select, runs.map((run, index) => h("option",
      { value: run.run_id }, `Run ${index + 1} · ${run.status} · ${brief(run.input, 40)}`)));
    options(this.a);
    options(this.b);
    const ids = runs.map((run) => run.run_id);
    this.a.value = ids.includes(keep[0]) ? keep[0] : (ids[0] ?? "");
    this.b.value = ids.includes(keep[1]) ? keep[1] : (ids.at(-1) ?? "");
    this.button.disabled = runs.length === 0;
    this.result.replaceChildren(); // a diff of runs as they were at another version is gone
  }

  async compare() {
    fill(this.result, h("p", { class: "muted" }, "Comparing…"));
    try {
      const diff = await get(`sessions/${seg(this.sessionId)}/diff`,
        { a: this.a.value, b: this.b.value });
      fill(this.result, render(diff, this.a.selectedOptions[0]?.text,
        this.b.selectedOptions[0]?.text));
    } catch (error) {
      fill(this.result, h("p", { class: "error", testid: "error" }, error.message));
    }
  }
}

function render(diff, labelA, labelB) {
  const rows = [
    ...diff.run.map((change) => row("the run", "changed", change)),
    ...diff.steps.flatMap((step) => stepRows(step)),
  ];
  return [
    h("p", { testid: "diff-summary" }, diff.changed
      ? `The runs differ: ${diff.run.length} run field(s) and `
        + `${diff.steps.filter((s) => s.outcome !== "equal").length} step(s).`
      : "The runs are the same: every step received and returned the same."),
    h("table", { class: "grid diff-table", testid: "diff-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Where"), h("th", {}, ""), h("th", {}, "Field"),
        h("th", {}, `A: ${labelA ?? diff.run_a}`), h("th", {}, `B: ${labelB ?? diff.run_b}`))),
      h("tbody", {}, rows)),
  ];
}

function stepRows(step) {
  const where = `step ${step.index_a ?? step.index_b} · ${step.name ?? ""}`;
  if (step.changes.length === 0) return [row(where, step.outcome, null)];
  return step.changes.map((change) => row(where, step.outcome, change));
}

function row(where, outcome, change) {
  return h("tr", { class: `diff-${outcome}`, testid: "diff-row", "data-field": change?.field },
    h("td", {}, where),
    h("td", {}, badge(OUTCOMES[outcome] ?? outcome)),
    h("td", {}, change ? change.field : "—"),
    h("td", {}, change ? pre(change.a, "diff-a-value") : ""),
    h("td", {}, change ? pre(change.b, "diff-b-value") : ""));
}
