"""``kern replay`` and ``kern fork``: try a past run again on current code, or
branch a session at a point, leaving the original as it was."""

from __future__ import annotations

from pathlib import Path

from tests.contract.cli.conftest import Target

CHANGED = "tests.contract.cli.flows:changed_pipeline"


# -- replay ---------------------------------------------------------------------------


def test_replay_on_the_recorded_code_finds_every_step_equal(seeded: Target) -> None:
    result = seeded.kern(
        "replay", "research", "run-2", "--workflow", "tests.contract.cli.flows:pipeline"
    )
    assert result.status == 0
    assert result.out.count("equal") == 4  # three steps and the output
    assert "The current code gives the recorded results." in result.out


def test_replay_on_changed_code_shows_both_values(seeded: Target) -> None:
    result = seeded.kern("replay", "research", "run-2", "--workflow", CHANGED)
    assert result.status == 0
    assert "changed" in result.out
    assert "Findings on Vector databases: a new source" in result.out
    assert "The current code gives different results for this run." in result.out


def test_replay_check_exits_1_when_anything_changed(seeded: Target) -> None:
    changed = seeded.kern("replay", "research", "run-1", "--workflow", CHANGED, "--check")
    same = seeded.kern(
        "replay", "research", "run-1", "--workflow", "tests.contract.cli.flows:pipeline", "--check"
    )
    assert (changed.status, same.status) == (1, 0)


def test_replay_json_is_the_report(seeded: Target) -> None:
    report = seeded.kern("replay", "research", "run-2", "--workflow", CHANGED, "--json").json()
    assert report["changed"] is True
    assert [(s["name"], s["outcome"]) for s in report["steps"]] == [
        ("research", "changed"),
        ("summarize", "equal"),
        ("tally", "equal"),
    ]
    assert report["steps"][0]["replayed"] == "Findings on Vector databases: a new source"


def test_replay_never_writes_to_the_database(seeded: Target) -> None:
    before = seeded.kern("export", "--no-progress").out
    seeded.kern("replay", "research", "run-2", "--workflow", CHANGED)
    assert seeded.kern("export", "--no-progress").out == before


def test_replay_loads_a_workflow_from_a_file(seeded: Target, tmp_path: Path) -> None:
    flow = tmp_path / "flow.py"
    flow.write_text(
        "from tests.contract.cli.flows import changed_pipeline\nwf = changed_pipeline()\n"
    )
    result = seeded.kern("replay", "notes", "run-b", "--workflow", f"{flow}:wf", "--json")
    assert result.json()["steps"][0]["outcome"] == "changed"


def test_replay_reports_a_bad_workflow_path_in_one_line(seeded: Target) -> None:
    cases = {
        "nowhere.flows:pipeline": "cannot import workflow module 'nowhere.flows': "
        "ModuleNotFoundError: No module named 'nowhere'",
        "tests.contract.cli.flows:missing": "--workflow 'tests.contract.cli.flows:missing': "
        "tests.contract.cli.flows has no 'missing'",
        "tests.contract.cli.flows:not_a_workflow": "--workflow "
        "'tests.contract.cli.flows:not_a_workflow' is a int, not a Workflow "
        "(or a function returning one)",
        "tests.contract.cli.flows:broken_factory": "--workflow "
        "'tests.contract.cli.flows:broken_factory' raised RuntimeError when called: "
        "no configuration found",
        "pipeline": "--workflow must look like module:attribute, got 'pipeline'",
    }
    for spec, message in cases.items():
        result = seeded.kern("replay", "research", "run-1", "--workflow", spec)
        assert (result.status, result.err) == (2, f"kern: error: {message}\n"), spec


def test_replay_of_an_unknown_session_or_run(seeded: Target) -> None:
    session = seeded.kern("replay", "nobody", "run-1", "--workflow", CHANGED)
    assert (session.status, session.err) == (1, "kern: error: session 'nobody' not found\n")
    run = seeded.kern("replay", "research", "run-9", "--workflow", CHANGED)
    assert run.status == 1
    assert "run-9" in run.err and run.err.count("\n") == 1


# -- fork ---------------------------------------------------------------------------


def test_fork_at_a_run_copies_the_history_before_it(seeded: Target) -> None:
    result = seeded.kern("fork", "research", "--at", "run-2", "--new-id", "research-b")
    assert result.status == 0
    assert "Forked session research at version 6 into research-b" in result.out
    fork = seeded.db.get_session("research-b")
    assert fork is not None
    assert [run.run_id for run in fork.runs or []] == ["run-1"]
    original = seeded.db.get_session("research")
    assert original is not None and len(original.runs or []) == 2


def test_fork_json_names_the_source_point(seeded: Target) -> None:
    forked = seeded.kern("fork", "research", "--at", "4", "--json").json()
    source_hash = seeded.db.get_log("research")[3].hash
    assert forked["source_session_id"] == "research"
    assert (forked["source_version"], forked["source_hash"]) == (4, source_hash)
    assert forked["runs"] == 1
    log = seeded.db.get_log(forked["session_id"])
    assert [entry.event_type for entry in log][-2:] == ["SessionForked", "RunCompleted"]
    assert forked["version"] == len(log)
    assert seeded.kern("verify", forked["session_id"]).status == 0


def test_fork_never_overwrites_a_session(seeded: Target) -> None:
    result = seeded.kern("fork", "research", "--at", "3", "--new-id", "notes")
    assert (result.status, result.err) == (
        1,
        "kern: error: session 'notes' already exists; a fork never overwrites a session\n",
    )


def test_fork_as_another_user_is_refused(seeded: Target) -> None:
    result = seeded.kern("--user", "bob", "fork", "research", "--at", "3")
    assert result.status == 1
    assert result.err == "kern: error: session 'research' not found\n"


def test_fork_at_a_point_the_session_does_not_have(seeded: Target) -> None:
    result = seeded.kern("fork", "research", "--at", "99")
    assert (result.status, result.err) == (
        2,
        "kern: error: session 'research' has no version 99 (its last is 12)\n",
    )


def test_diff_shows_what_changed_between_two_runs(seeded: Target) -> None:
    result = seeded.kern("diff", "research", "run-1", "run-2", "--user", "alice")
    assert result.status == 0
    assert "changed" in result.out and "input" in result.out
    assert "The runs differ." in result.out
    same = seeded.kern("diff", "research", "run-1", "run-1", "--check")
    assert same.status == 0 and "The runs are the same." in same.out


def test_diff_json_and_check(seeded: Target) -> None:
    report = seeded.kern("diff", "research", "run-1", "run-2", "--json").json()
    assert report["changed"] is True
    assert [s["name"] for s in report["steps"]] == ["research", "summarize", "tally"]
    assert seeded.kern("diff", "research", "run-1", "run-2", "--check").status == 1


def test_diff_of_another_users_session_is_not_found(seeded: Target) -> None:
    result = seeded.kern("diff", "research", "run-1", "run-2", "--user", "bob")
    assert result.status == 1 and "not found" in result.err
