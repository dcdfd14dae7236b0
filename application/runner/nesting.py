"""Running the step primitives inside a run (:mod:`kern.application.runner.primitives`
builds them): :func:`run_node` runs a plain step or a primitive at its ``path`` in
the run's tree, through the :class:`Recorder` the runner lends it, which records
every step as it completes and yields the run events.

Each primitive does what Agno 3.1.10's does with function steps: what it hands
from step to step (:func:`chain`, Agno's ``_update_step_input_from_outputs``),
the result it gives (its content, its ``steps``), when it stops.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Generator
from typing import Any, Protocol

from kern.application.runner.primitives import (
    PRIMITIVE_TYPES,
    Condition,
    Loop,
    Parallel,
    Primitive,
    Router,
    Steps,
    resolve_all,
)
from kern.application.runner.steps import ResolvedStep, Step, StepInput
from kern.domain.values import StateChanges
from kern.projections.run_events import RunEvent
from kern.projections.runs import StepOutput

Events = Generator[RunEvent, None, StepOutput]
"""A step being run: it yields run events and returns its output."""


class Recorder(Protocol):
    """What the runner lends a primitive to run and record steps."""

    def run_leaf(self, step: ResolvedStep, step_input: StepInput, path: str) -> Events:
        """Run one plain step at ``path`` and record it; its output."""
        ...

    def record_node(
        self,
        node: ResolvedStep,
        step_input: StepInput,
        output: StepOutput | None,
        path: str,
        started: float,
        failure: BaseException | None = None,
    ) -> Generator[RunEvent, None, None]:
        """Record a primitive's own step, after its inner ones (``started``: when it
        began, by ``time.perf_counter``)."""
        ...

    def node_event(
        self, event: str, node: ResolvedStep, path: str, **fields: Any
    ) -> Generator[RunEvent, None, None]:
        """A run event about a primitive (not stored), once the steps before it are."""
        ...

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` as the run calls user code (awaited under arun)."""
        ...


def run_node(rec: Recorder, node: ResolvedStep, step_input: StepInput, path: str) -> Events:
    """Run ``node`` (a plain step or a primitive) at ``path``; its output."""
    if node.step_type not in PRIMITIVE_TYPES:
        if step_input.previous_step_outputs:  # as Agno's Step.execute does
            step_input.previous_step_content = _deepest(
                list(step_input.previous_step_outputs.values())[-1]
            )
        return (yield from rec.run_leaf(node, step_input, path))
    primitive: Primitive = node.executor
    started = time.perf_counter()
    yield from rec.node_event(f"{primitive.step_type}ExecutionStarted", node, path)
    try:
        output = yield from _RUNNERS[primitive.step_type](rec, node, step_input, path)
    except BaseException as exc:
        yield from rec.record_node(node, step_input, None, path, started, failure=exc)
        raise
    yield from rec.record_node(node, step_input, output, path, started)
    return output


def _deepest(output: StepOutput) -> Any:
    while output.steps:
        output = output.steps[-1]
    return output.content


def chain(step_input: StepInput, outputs: StepOutput, named: dict[Any, StepOutput]) -> StepInput:
    """The input of the next inner step (Agno's ``_update_step_input_from_outputs``)."""
    return StepInput(
        input=step_input.input,
        previous_step_content=outputs.content,
        previous_step_outputs={**step_input.previous_step_outputs, **named},
        session_state=step_input.session_state,
        workflow_session=step_input._workflow_session,
        views=step_input._views,
    )


def _fresh(step_input: StepInput, session_state: dict[str, Any] | None = None) -> StepInput:
    return StepInput(
        input=step_input.input,
        previous_step_content=step_input.previous_step_content,
        previous_step_outputs=dict(step_input.previous_step_outputs),
        session_state=step_input.session_state if session_state is None else session_state,
        workflow_session=step_input._workflow_session,
        views=step_input._views,
    )


def _in_order(
    rec: Recorder, steps: list[ResolvedStep], step_input: StepInput, path: str
) -> Generator[RunEvent, None, list[StepOutput]]:
    """Run ``steps`` one after another, chaining their outputs, until one asks to stop."""
    results: list[StepOutput] = []
    current = _fresh(step_input)
    named: dict[Any, StepOutput] = {}
    for node in steps:
        output = yield from run_node(rec, node, current, f"{path}.{len(results) + 1}")
        results.append(output)
        named[_key(node)] = output
        if output.stop:
            break
        current = chain(current, output, named)
    return results


def _key(node: ResolvedStep) -> Any:
    """The name Agno files a step's output under (None for an unnamed primitive)."""
    if node.step_type in PRIMITIVE_TYPES:
        return node.executor.name
    return node.name


def _summary(
    kind: str, name: str | None, results: list[StepOutput], content: str, **extra: Any
) -> StepOutput:
    return StepOutput(
        step_name=name,
        step_type=kind,
        content=content,
        success=all(r.success for r in results) if results else True,
        stop=any(r.stop for r in results) if results else False,
        steps=results,
        **extra,
    )


def _run_steps(rec: Recorder, node: ResolvedStep, step_input: StepInput, path: str) -> Events:
    steps: Steps = node.executor
    inner = resolve_all(steps.steps)
    if not inner:
        return StepOutput(step_name=steps.name or "Steps", content="No steps to execute")
    results = yield from _in_order(rec, inner, step_input, path)
    content = f"Steps {steps.name} completed with {len(results)} results"
    return _summary("Steps", steps.name, results, content)


def _run_condition(rec: Recorder, node: ResolvedStep, step_input: StepInput, path: str) -> Events:
    condition: Condition = node.executor
    evaluator = condition.evaluator
    met = evaluator if isinstance(evaluator, bool) else rec.call(evaluator, step_input)
    if met is True:
        branch, chosen = "if", condition.steps
    elif condition.else_steps:
        branch, chosen = "else", condition.else_steps
    else:
        skipped = f"Condition {condition.name} not met - skipped {len(condition.steps)} steps"
        return StepOutput(step_name=condition.name, step_type="Condition", content=skipped)
    results = yield from _in_order(rec, resolve_all(chosen), step_input, path)
    content = f"Condition {condition.name} completed with {len(results)} results ({branch} branch)"
    return _summary("Condition", condition.name, results, content)


def _run_router(rec: Recorder, node: ResolvedStep, step_input: StepInput, path: str) -> Events:
    router: Router = node.executor
    choices = router.prepared()
    by_name: dict[str, Any] = {}
    for resolved, choice in zip(resolve_all(choices), choices, strict=True):
        name = choice.name if isinstance(choice, Primitive) else resolved.name
        if name:
            by_name.setdefault(name, choice)
    kwargs: dict[str, Any] = {}
    if _has_parameter(router.selector, "step_choices"):
        kwargs["step_choices"] = choices
    assert router.selector is not None
    picked = _selected(rec.call(router.selector, step_input, **kwargs), by_name)
    if not picked:
        content = f"Router {router.name} completed with 0 results (no steps selected)"
        return StepOutput(step_name=router.name, step_type="Router", content=content)
    results = yield from _in_order(rec, resolve_all(picked), step_input, path)
    content = f"Router {router.name} completed with {len(results)} results"
    return _summary("Router", router.name, results, content)


def _selected(picked: Any, by_name: dict[str, Any]) -> list[Any]:
    """The steps a selector's answer names (Agno's ``_resolve_selector_result``):
    unknown names and other answers select nothing."""
    if isinstance(picked, str):
        return [by_name[picked]] if picked in by_name else []
    if isinstance(picked, Primitive | Step):
        return [picked]
    if isinstance(picked, list):
        return [step for item in picked for step in _selected(item, by_name)]
    return []


def _has_parameter(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _run_loop(rec: Recorder, node: ResolvedStep, step_input: StepInput, path: str) -> Events:
    loop: Loop = node.executor
    inner = resolve_all(loop.steps)
    flattened: list[StepOutput] = []
    iteration = 0
    start = _fresh(step_input)
    while iteration < loop.max_iterations:
        yield from rec.node_event("LoopIterationStarted", node, path, iteration=iteration + 1)
        results: list[StepOutput] = []
        current = start
        named: dict[Any, StepOutput] = {}
        stopped = False
        for child in inner:
            output = yield from run_node(rec, child, current, f"{path}.{len(flattened) + 1}")
            results.append(output)
            flattened.append(output)
            named[_key(child)] = output
            if output.stop:
                stopped = True
                break
            current = chain(current, output, named)
        iteration += 1
        yield from rec.node_event("LoopIterationCompleted", node, path, iteration=iteration)
        if loop.end_condition is not None and _ends(rec, loop.end_condition, results):
            break
        if stopped:
            break
        if loop.forward_iteration_output:
            start = current
    content = f"Loop {loop.name} completed {iteration} iterations with {len(flattened)} total steps"
    return _summary("Loop", loop.name, flattened, content)


def _ends(rec: Recorder, end_condition: Callable[..., Any], results: list[StepOutput]) -> bool:
    """Whether the loop ends; an end condition that raises does not end it (as Agno)."""
    try:
        return bool(rec.call(end_condition, results))
    except Exception:
        return False


def _run_parallel(rec: Recorder, node: ResolvedStep, step_input: StepInput, path: str) -> Events:
    parallel: Parallel = node.executor
    shared = step_input.session_state
    original = copy.deepcopy(shared)
    results: list[StepOutput] = []
    changes: list[StateChanges] = []
    for position, child in enumerate(resolve_all(parallel.steps)):
        own = copy.deepcopy(original)
        output = yield from run_node(rec, child, _fresh(step_input, own), f"{path}.{position + 1}")
        results.append(output)
        changes.append(StateChanges.between(original, own))
    for change in changes:  # each step's own changes, in the order given
        merged = change.apply_to(shared)
        shared.clear()
        shared.update(merged)
    return _aggregate(parallel, results)


def _aggregate(parallel: Parallel, results: list[StepOutput]) -> StepOutput:
    """The Parallel's own output (Agno's ``_aggregate_results``)."""
    name = parallel.result_name
    content = _parallel_content(results)
    if len(results) == 1:
        only = results[0]
        return StepOutput(
            step_name=name,
            step_type="Parallel",
            content=content,
            executor_name=name,
            success=only.success,
            error=only.error,
            stop=only.stop,
            steps=results,
        )
    return StepOutput(
        step_name=name,
        step_type="Parallel",
        executor_type="parallel",
        executor_name=name,
        content=content,
        success=all(r.success is not False for r in results),
        stop=any(r.stop for r in results),
        steps=results,
    )


def _parallel_content(results: list[StepOutput]) -> str:
    text = "## Parallel Execution Results\n\n"
    for i, output in enumerate(results):
        status = "❌ FAILURE:" if output.success is False else "✅ SUCCESS:"
        text += f"### {status} {output.step_name or f'Step {i + 1}'}\n"
        content = output.content
        text += (
            f"{content}\n\n"
            if content is not None and str(content).strip()
            else "*(No content)*\n\n"
        )
    return text.strip()


_RUNNERS: dict[str, Callable[[Recorder, ResolvedStep, StepInput, str], Events]] = {
    "Steps": _run_steps,
    "Parallel": _run_parallel,
    "Condition": _run_condition,
    "Loop": _run_loop,
    "Router": _run_router,
}
