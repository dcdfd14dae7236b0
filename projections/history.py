"""The runs of a session as the history text needs them, kept up to date event by event.

:class:`RunHistory` folds events incrementally (a writer keeps one per cached
session) and answers "the last ``n`` completed runs before version ``v``"
by walking back from the newest run, so handing five runs of history to a
step costs the same at run 10 as at run 10,000.

A history restored from a snapshot (:mod:`kern.projections.snapshots`) is
*partial*: it holds every run that started at or after :attr:`RunHistory.floor`
(and the runs still open), without their input and content, which are read
on demand (:class:`HistoryView`'s ``load``). A question it cannot answer,
because older runs would be needed, is answered by the full history
(``rebuild``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kern.domain.events import RunCompleted, RunStarted, SessionDeleted, SessionEvent
from kern.domain.values import RunStatus
from kern.projections.session import history_context, history_text


@dataclass
class HistoryRun:
    """What history needs of one run: when it started, when and how it ended."""

    run_id: str
    started: int
    input: Any
    ended: int | None = None
    status: RunStatus = RunStatus.running
    content: Any = None
    loaded: bool = True
    """False while ``input`` and ``content`` have not been read (a snapshot's run index)."""


class RunHistory:
    """The session's runs in start order, with their input and outcome."""

    def __init__(self) -> None:
        self.version = 0
        self.runs: list[HistoryRun] = []
        self._by_id: dict[str, HistoryRun] = {}
        self.deleted_at: int | None = None
        self.floor = 0
        """Every run that started at or after this version is held (0: every run)."""

    @classmethod
    def partial(
        cls, version: int, floor: int, runs: Iterable[HistoryRun], deleted_at: int | None
    ) -> RunHistory:
        """A history at ``version`` holding ``runs`` (in start order): every run
        started at or after ``floor``, and maybe older ones still open."""
        history = cls()
        history.version, history.floor, history.deleted_at = version, floor, deleted_at
        for run in runs:
            history.runs.append(run)
            history._by_id[run.run_id] = run
        return history

    def apply_all(self, events: Iterable[SessionEvent]) -> RunHistory:
        """Apply events in order (ones already applied are skipped); returns self."""
        for event in events:
            self.apply(event)
        return self

    def apply(self, event: SessionEvent) -> None:
        """Apply the next event of the stream."""
        if event.version <= self.version:
            return
        self.version = event.version
        if isinstance(event, RunStarted):
            run = HistoryRun(event.run_id, event.version, event.input.value)
            self.runs.append(run)
            self._by_id[run.run_id] = run
        elif isinstance(event, RunCompleted):
            done = self._by_id[event.run_id]
            done.ended, done.status, done.content = event.version, event.status, event.content.value
        elif isinstance(event, SessionDeleted):
            self.deleted_at = event.version

    def find(self, run_id: str) -> HistoryRun | None:
        """The run ``run_id`` (when it started and ended), or None if never started
        (or, in a partial history, not held: see :attr:`floor`)."""
        return self._by_id.get(run_id)

    def completed(self, upto: int, num_runs: int | None = None) -> list[HistoryRun] | None:
        """The last ``num_runs`` runs (all for None) that had COMPLETED at version
        ``upto``; None when a partial history does not reach back far enough."""
        if num_runs is not None and num_runs <= 0:
            return []
        if self.deleted_at is not None and self.deleted_at <= upto:
            return []
        found: list[HistoryRun] = []
        for run in reversed(self.runs):
            if run.started > upto:
                continue
            if run.started < self.floor:
                return None  # runs between this one and the floor are not held
            if run.status == RunStatus.completed and run.ended is not None and run.ended <= upto:
                found.append(run)
                if num_runs is not None and len(found) == num_runs:
                    break
        else:
            if self.floor > 0:
                return None
        found.reverse()
        return found


class HistoryView:
    """The history queries of a session as it stood at one version."""

    def __init__(
        self,
        history: RunHistory,
        upto: int,
        *,
        load: Callable[[Sequence[HistoryRun]], None] | None = None,
        rebuild: Callable[[], RunHistory] | None = None,
    ) -> None:
        """``load`` fills in the input and content of runs not loaded yet, and
        ``rebuild`` returns the full history: both needed only for a partial one."""
        self._history, self._upto = history, upto
        self._load, self._rebuild = load, rebuild

    def completed(self, num_runs: int | None = None) -> list[HistoryRun]:
        """The last ``num_runs`` COMPLETED runs, input and content loaded."""
        runs = self._history.completed(self._upto, num_runs)
        if runs is None:
            if self._rebuild is None:
                raise ValueError("a partial run history needs a rebuild")
            self._history = self._rebuild()
            runs = self._history.completed(self._upto, num_runs) or []
        missing = [r for r in runs if not r.loaded]
        if missing:
            if self._load is None:
                raise ValueError("a run history with runs not loaded needs a load")
            self._load(missing)
        return runs

    def get_workflow_history(self, num_runs: int | None = None) -> list[tuple[str, str]]:
        """(input, output) text pairs of the last ``num_runs`` COMPLETED runs."""
        return [(history_text(r.input), history_text(r.content)) for r in self.completed(num_runs)]

    def get_workflow_history_context(self, num_runs: int | None = None) -> str | None:
        """The ``<workflow_history_context>`` text of those runs; None when empty."""
        return history_context(self.get_workflow_history(num_runs))

    def run_spans(self, num_runs: int | None = None) -> list[tuple[int, int]]:
        """(RunStarted, RunCompleted) versions of the runs those texts come from."""
        return [(r.started, r.ended) for r in self.completed(num_runs) if r.ended is not None]
