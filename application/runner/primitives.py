"""The step primitives: ``Steps``, ``Parallel``, ``Condition``, ``Loop``, ``Router``.

They take Agno 3.1.10's constructor arguments and do what Agno's do with
function steps: the same step results (a primitive's ``StepOutput`` holds
its inner results in ``steps``), the same contents, the same
``previous_step_content`` and ``previous_step_outputs`` handed from step to
step (:func:`chain`). :func:`run_primitive` runs one inside a run, through
the :class:`Recorder` the runner gives it, which records every step, inner
ones included, as it completes, with its ``path`` in the tree ("2.1.3").

Where Kern differs from Agno, on purpose:

- A Parallel runs its steps one after another, each on its own copy of the
  session state; their changes are merged in order once all are done (a key
  two steps set holds the later step's value). Agno runs them in threads.
- A step that raises inside a primitive ends the run as ERROR, as a top-level
  step does; the primitives around it are recorded as failed first.
- CEL expressions (a ``str`` evaluator, selector or end condition) and human
  review are not supported: InvalidStepError says so.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, ClassVar, Protocol

from kern.application.runner.steps import ResolvedStep, Step, StepInput, resolve_step
from kern.domain.errors import InvalidStepError
from kern.domain.values import StateChanges
from kern.projections.run_events import RunEvent
from kern.projections.runs import StepOutput

Events = Generator[RunEvent, None, StepOutput]
"""A step being run: it yields run events and returns its output."""


class Primitive:
    """What the five primitives share: a name, a description and inner steps."""

    step_type: ClassVar[str] = ""
    name: str | None
    description: str | None

    def _named(self, name: str | None, description: str | None) -> None:
        kind = type(self).__name__
        for what, text in (("name", name), ("description", description)):
            if text is not None and not isinstance(text, str):
                raise InvalidStepError(f"{kind} {what} must be a str, got {type(text).__name__}")
        self.name, self.description = name, description

    @property
    def result_name(self) -> str | None:
        """The step name of its result (and of its run events): its name."""
        return self.name

    def inner_steps(self) -> list[Any]:
        """Every step it may run, on any branch, as given."""
        raise NotImplementedError

    def resolved_inner_steps(self) -> list[ResolvedStep]:
        """:meth:`inner_steps` as the runner runs them (the workflow's fingerprint
        covers them)."""
        return resolve_all(self.inner_steps())

    def functions(self) -> list[Callable[..., Any]]:
        """Its own functions: an evaluator, selector or end condition."""
        found = (getattr(self, n, None) for n in ("evaluator", "selector", "end_condition"))
        return [fn for fn in found if callable(fn)]

    def check(self) -> None:
        """InvalidStepError for an inner step Kern cannot run (any depth)."""
        for position, step in enumerate(self.inner_steps()):
            if isinstance(step, Primitive):
                step.check()
            else:
                resolve_step(position, step)

    def is_async(self) -> bool:
        """True when some inner step (or callable) can only be awaited."""
        return any(node.is_async for node in resolve_all(self.inner_steps()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, steps={len(self.inner_steps())})"


def _step_list(steps: Any, *, what: str) -> list[Any]:
    if steps is None:
        return []
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence):
        raise InvalidStepError(f"{what} must be a list of steps, got {type(steps).__name__}")
    return list(steps)


def _callable_or_none(value: Any, *, what: str) -> None:
    if isinstance(value, str):
        raise InvalidStepError(f"{what} is a CEL expression ({value!r}): Kern takes a function")
    if value is not None and not callable(value):
        raise InvalidStepError(f"{what} must be a function, got {type(value).__name__}")


class Steps(Primitive):
    """Its steps in order, each getting the one before's output (Agno's ``Steps``)."""

    step_type = "Steps"

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        steps: Sequence[Any] | None = None,
    ) -> None:
        self._named(name, description)
        self.steps = _step_list(steps, what=f"Steps {name!r} steps")
        self.check()

    def inner_steps(self) -> list[Any]:
        return list(self.steps)


class Parallel(Primitive):
    """Its steps on the same input, each with its own copy of the session state,
    merged when all are done (Agno's ``Parallel``): ``Parallel(a, b, name="both")``
    or ``Parallel("both", a, b)``."""

    step_type = "Parallel"

    def __init__(self, *args: Any, name: str | None = None, description: str | None = None):
        steps = list(args)
        given = name
        if steps and isinstance(steps[0], str):
            given, steps = steps[0], steps[1:]
        self._named(name if name is not None else given, description)
        if not steps:
            raise InvalidStepError(f"Parallel {self.name!r} needs at least one step")
        self.steps = steps
        self.check()

    @property
    def result_name(self) -> str | None:
        """Its name, or "Parallel" (as Agno names the result of an unnamed one)."""
        return self.name or "Parallel"

    def inner_steps(self) -> list[Any]:
        return list(self.steps)


class Condition(Primitive):
    """``steps`` when ``evaluator`` (a bool, or a function of the StepInput returning
    one) holds, else ``else_steps`` (Agno's ``Condition``)."""

    step_type = "Condition"

    def __init__(
        self,
        steps: Sequence[Any],
        evaluator: bool | Callable[[StepInput], Any] = True,
        else_steps: Sequence[Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self._named(name, description)
        if not isinstance(evaluator, bool):
            _callable_or_none(evaluator, what=f"Condition {name!r} evaluator")
            if evaluator is None:
                raise InvalidStepError(
                    f"Condition {name!r} evaluator must be a function or a bool, got None"
                )
        self.steps = _step_list(steps, what=f"Condition {name!r} steps")
        self.evaluator = evaluator
        self.else_steps = _step_list(else_steps, what=f"Condition {name!r} else_steps") or None
        self.check()

    def inner_steps(self) -> list[Any]:
        return [*self.steps, *(self.else_steps or [])]


class Loop(Primitive):
    """Its steps again and again: until ``end_condition(iteration_results)`` is true
    or ``max_iterations`` have run (Agno's ``Loop``). Each iteration starts from the
    Loop's input, or with ``forward_iteration_output`` from the last iteration's."""

    step_type = "Loop"

    def __init__(
        self,
        steps: Sequence[Any],
        name: str | None = None,
        description: str | None = None,
        max_iterations: int = 3,
        end_condition: Callable[[list[StepOutput]], Any] | None = None,
        forward_iteration_output: bool = False,
    ) -> None:
        self._named(name, description)
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int):
            raise InvalidStepError(
                f"Loop {name!r} max_iterations must be an int, got {type(max_iterations).__name__}"
            )
        if max_iterations < 1:
            raise InvalidStepError(f"Loop {name!r} max_iterations must be 1 or more")
        _callable_or_none(end_condition, what=f"Loop {name!r} end_condition")
        if not isinstance(forward_iteration_output, bool):
            raise InvalidStepError(f"Loop {name!r} forward_iteration_output must be a bool")
        self.steps = _step_list(steps, what=f"Loop {name!r} steps")
        self.max_iterations = max_iterations
        self.end_condition = end_condition
        self.forward_iteration_output = forward_iteration_output
        self.check()

    def inner_steps(self) -> list[Any]:
        return list(self.steps)


class Router(Primitive):
    """The choices ``selector`` picks (Agno's ``Router``): it gets the StepInput (and
    ``step_choices``, when it has that parameter) and returns a choice's name, a
    step, or a list of them; a list among ``choices`` runs as one ``Steps``."""

    step_type = "Router"

    def __init__(
        self,
        choices: Sequence[Any],
        selector: Callable[..., Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        self._named(name, description)
        _callable_or_none(selector, what=f"Router {name!r} selector")
        if selector is None:
            raise InvalidStepError(f"Router {name!r} needs a selector function")
        self.choices = _step_list(choices, what=f"Router {name!r} choices")
        self.selector = selector
        self.check()

    def inner_steps(self) -> list[Any]:
        return self.prepared()

    def prepared(self) -> list[Any]:
        """The choices, a list among them wrapped in a ``Steps`` as Agno names it."""
        return [
            Steps(name=f"steps_group_{i}", steps=choice) if isinstance(choice, list) else choice
            for i, choice in enumerate(self.choices)
        ]


PRIMITIVE_TYPES = frozenset(cls.step_type for cls in (Steps, Parallel, Condition, Loop, Router))
"""The ``step_type`` recorded for a primitive's own step."""


def resolve_all(steps: Sequence[Any]) -> list[ResolvedStep]:
    """Each step as the runner runs it (a primitive stays one step)."""
    return [resolve_step(position, step) for position, step in enumerate(steps)]


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
