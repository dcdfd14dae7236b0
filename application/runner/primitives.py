"""The step primitives: ``Steps``, ``Parallel``, ``Condition``, ``Loop``, ``Router``.

They take Agno 3.1.10's constructor arguments and do what Agno's do with
function steps: the same step results (a primitive's ``StepOutput`` holds
its inner results in ``steps``), the same contents, the same
``previous_step_content`` and ``previous_step_outputs`` handed from step to
step. This module builds and checks them; :mod:`kern.application.runner.nesting`
runs them inside a run, recording every step, inner ones included, as it
completes, with its ``path`` in the tree ("2.1.3").

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

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from kern.application.runner.steps import ResolvedStep, StepInput, resolve_step
from kern.domain.errors import InvalidStepError
from kern.projections.runs import StepOutput


class Primitive:
    """What the five primitives share: a name, a description and inner steps."""

    step_type: ClassVar[str] = ""
    name: str | None
    description: str | None

    def _named(self, name: str | None, description: str | None, human_review: Any = None) -> None:
        kind = type(self).__name__
        if human_review is not None:
            raise InvalidStepError(
                f"{kind} {name!r}: human review (human_review=) is not supported by Kern"
            )
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
        human_review: Any = None,
    ) -> None:
        self._named(name, description, human_review)
        self.steps = _step_list(steps, what=f"Steps {name!r} steps")
        self.check()

    def inner_steps(self) -> list[Any]:
        return list(self.steps)


class Parallel(Primitive):
    """Its steps on the same input, each with its own copy of the session state,
    merged when all are done (Agno's ``Parallel``): ``Parallel(a, b, name="both")``
    or ``Parallel("both", a, b)``."""

    step_type = "Parallel"

    def __init__(
        self,
        *args: Any,
        name: str | None = None,
        description: str | None = None,
        human_review: Any = None,
    ) -> None:
        steps = list(args)
        given = name
        if steps and isinstance(steps[0], str):
            given, steps = steps[0], steps[1:]
        self._named(name if name is not None else given, description, human_review)
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
        human_review: Any = None,
    ) -> None:
        self._named(name, description, human_review)
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
        human_review: Any = None,
    ) -> None:
        self._named(name, description, human_review)
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
        human_review: Any = None,
    ) -> None:
        self._named(name, description, human_review)
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
