"""``kern step`` and ``kern log`` on a run whose steps ran inside step primitives."""

from __future__ import annotations

from pathlib import Path

import pytest

from kern.workflow import Loop, Steps, Workflow
from tests.contract.cli.conftest import Target
from tests.fixtures.agno.primitive_cases import count_up, first, second


def record(target: Target) -> None:
    middle = Steps(
        name="middle", steps=[second, Loop(name="again", steps=[count_up], max_iterations=2)]
    )
    Workflow(name="Nested", db=target.db, steps=[first, middle]).run(
        "x", session_id="nested", run_id="r"
    )


def test_step_takes_the_path_of_an_inner_step(target: Target) -> None:
    record(target)
    shown = target.kern("step", "nested", "r", "2.2.2", "--json").json()
    assert shown == target.db.get_step_view("nested", "r", "2.2.2").to_json()
    assert (shown["step_name"], shown["path"], shown["session_state"]) == (
        "count_up",
        "2.2.2",
        {"count": 1},
    )
    text = target.kern("step", "nested", "r", "2.2.2")
    assert text.status == 0
    assert "2.2.2: count_up (function)" in text.out
    missing = target.kern("step", "nested", "r", "2.3")
    assert missing.status == 2
    assert "recorded no step '2.3'" in missing.err and "2.2.1: count_up" in missing.err


def test_log_names_the_path_of_each_inner_step(target: Target) -> None:
    record(target)
    log = target.kern("events", "nested")
    assert log.status == 0
    assert "count_up (function, path 2.2.1) ok" in log.out
    assert "again (loop, path 2.2) ok" in log.out
    assert "middle (steps, index 1) ok" in log.out


def test_replay_lists_an_inner_step_by_its_path(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kern replay`` on a workflow with primitives: every inner step, equal."""
    record(target)
    (tmp_path / "nested_flow.py").write_text(
        "from kern.workflow import Loop, Steps, Workflow\n"
        "from tests.fixtures.agno.primitive_cases import count_up, first, second\n"
        "again = Loop(name='again', steps=[count_up], max_iterations=2)\n"
        "middle = Steps(name='middle', steps=[second, again])\n"
        "flow = Workflow(name='Nested', steps=[first, middle])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    shown = target.kern("replay", "nested", "r", "--workflow", "nested_flow:flow")
    assert shown.status == 0, shown.err
    assert "2.2.2" in shown.out and "The current code gives the recorded results." in shown.out
