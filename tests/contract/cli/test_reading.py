"""``kern sessions``, ``show``, ``as-of``, ``events``, ``history`` and ``step``:
tables for people, JSON for machines, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from kern.workflow import Workflow
from tests.conftest import echo
from tests.contract.cli.conftest import Target

# -- sessions ---------------------------------------------------------------------


def test_sessions_lists_live_sessions_as_a_table(seeded: Target) -> None:
    result = seeded.kern("sessions", "list")
    assert result.status == 0
    assert "research" in result.out and "notes" in result.out
    assert "Research notes" in result.out
    assert "2 session(s)" in result.out
    assert result.err == ""


def test_sessions_without_list_lists_too(seeded: Target) -> None:
    assert seeded.kern("sessions").out == seeded.kern("sessions", "list").out


def test_sessions_json_gives_each_session_with_its_run_count(seeded: Target) -> None:
    listed = {row["session_id"]: row for row in seeded.kern("sessions", "--json").json()}
    assert set(listed) == {"research", "notes"}
    assert listed["research"]["runs"] == 2
    assert listed["research"]["session_name"] == "Research notes"
    assert listed["research"]["user_id"] == "alice"
    assert listed["notes"]["workflow_id"] == "research-pipeline"


def test_sessions_user_option_lists_only_that_users_sessions(seeded: Target) -> None:
    rows = seeded.kern("--user", "bob", "sessions", "--json").json()
    assert [row["session_id"] for row in rows] == ["notes"]


def test_sessions_filters_sorts_and_pages(seeded: Target) -> None:
    by_name = seeded.kern("sessions", "--name", "RESEARCH", "--json").json()
    assert [row["session_id"] for row in by_name] == ["research"]
    first = seeded.kern(
        "sessions", "--sort-by", "session_id", "--sort-order", "asc", "--limit", "1", "--json"
    ).json()
    second = seeded.kern(
        "sessions", "--sort-by", "session_id", "--sort-order", "asc", "--limit", "1",
        "--page", "2", "--json",
    ).json()  # fmt: skip
    assert [first[0]["session_id"], second[0]["session_id"]] == ["notes", "research"]


def test_options_may_come_after_the_command(seeded: Target) -> None:
    """``kern sessions --db X --json`` reads like ``kern --db X --json sessions``."""
    after = seeded.kern("sessions", "--json")
    options = seeded.options
    moved = type(seeded)(seeded.kind, [], seeded.db, seeded.capsys).kern(
        "sessions", *options, "--json"
    )
    assert moved.json() == after.json()


# -- show and as-of ---------------------------------------------------------------


def test_show_prints_the_session_its_runs_and_state(seeded: Target) -> None:
    result = seeded.kern("show", "research")
    assert result.status == 0
    for text in ("Research notes", "alice", "run-1", "run-2", "COMPLETED", '"runs_counted": 2'):
        assert text in result.out
    assert "now (version 12 of 12" in result.out


def test_show_json_is_the_session_dict_with_its_versions(seeded: Target) -> None:
    shown = seeded.kern("show", "research", "--json").json()
    session = seeded.db.get_session("research")
    assert session is not None
    assert shown == {"as_of_version": 12, "last_version": 12, **session.to_dict()}


def test_as_of_a_run_shows_the_session_when_that_run_started(seeded: Target) -> None:
    result = seeded.kern("as-of", "research", "run-2", "--json").json()
    assert result["as_of_version"] == 7
    assert [run["status"] for run in result["runs"]] == ["COMPLETED", "RUNNING"]
    assert result["session_data"]["session_state"] == {"runs_counted": 1, "topics": ["AI trends"]}


def test_as_of_a_version_and_show_as_of_agree(seeded: Target) -> None:
    as_of = seeded.kern("as-of", "research", "6")
    assert as_of.status == 0
    assert "version 6 of 12" in as_of.out
    assert "RUNNING" not in as_of.out and "Research notes" not in as_of.out
    assert seeded.kern("show", "research", "--as-of", "6").out == as_of.out


def test_as_of_a_moment_takes_the_last_event_recorded_by_then(seeded: Target) -> None:
    log = seeded.db.get_log("research")
    moment = log[4].timestamp.isoformat()
    assert seeded.kern("as-of", "research", moment, "--json").json()["as_of_version"] == 5


def test_as_of_a_moment_with_a_z_suffix_is_read_as_utc(seeded: Target) -> None:
    log = seeded.db.get_log("research")
    moment = log[5].timestamp.replace(tzinfo=None).isoformat() + "Z"
    assert seeded.kern("as-of", "research", moment, "--json").json()["as_of_version"] == 6


def test_show_of_a_deleted_session_points_to_as_of(seeded: Target) -> None:
    seeded.db.delete_session("notes")
    result = seeded.kern("show", "notes")
    assert result.status == 1
    assert result.err == (
        "kern: error: session 'notes' was deleted at version 7; read it as of an "
        "earlier version (kern as-of notes 6)\n"
    )
    assert seeded.kern("as-of", "notes", "6", "--json").json()["session_id"] == "notes"


def test_show_as_another_user_finds_nothing(seeded: Target) -> None:
    result = seeded.kern("--user", "bob", "show", "research")
    assert result.status == 1
    assert result.err == "kern: error: session 'research' not found\n"


# -- events -------------------------------------------------------------------------


def test_events_prints_one_row_per_event_with_its_hash(seeded: Target) -> None:
    result = seeded.kern("events", "notes")
    assert result.status == 0
    log = seeded.db.get_log("notes")
    for entry in log:
        assert entry.event_type in result.out
        assert entry.hash[:12] in result.out
    assert "input=Event sourcing" in result.out


def test_events_json_lines_are_the_log_entries(seeded: Target) -> None:
    lines = seeded.kern("events", "research", "--json").json_lines()
    assert lines == [entry.to_json() for entry in seeded.db.get_log("research")]
    assert lines[1]["provenance"]["correlation_id"] == "ticket-1"


def test_events_as_of_stops_at_that_point(seeded: Target) -> None:
    lines = seeded.kern("events", "research", "--as-of", "run-2", "--json").json_lines()
    assert [line["version"] for line in lines] == list(range(1, 8))
    assert lines[-1]["event_type"] == "RunStarted"


def test_events_provenance_columns_show_who_why_and_with_what(
    seeded: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell folds
    result = seeded.kern("events", "research", "--provenance")
    fingerprint = seeded.db.get_log("research")[1].provenance.workflow_fingerprint
    assert fingerprint is not None
    for text in ("correlation_id", "ticket-2", "alice", fingerprint):
        assert text in result.out


def test_events_of_a_deleted_session_stay_readable(seeded: Target) -> None:
    seeded.db.delete_session("notes")
    lines = seeded.kern("events", "notes", "--json").json_lines()
    assert lines[-1]["event_type"] == "SessionDeleted"


# -- history and step -------------------------------------------------------------------


def test_history_shows_completed_runs_and_the_context_text(seeded: Target) -> None:
    result = seeded.kern("history", "research")
    assert result.status == 0
    assert "[Workflow Run-2]" in result.out
    assert "User input: Vector databases" in result.out


def test_history_json_with_a_window_and_as_of(seeded: Target) -> None:
    last = seeded.kern("history", "research", "--runs", "1", "--json").json()
    assert [run["input"] for run in last["runs"]] == ["Vector databases"]
    then = seeded.kern("history", "research", "--as-of", "run-2", "--json").json()
    assert [run["input"] for run in then["runs"]] == ["AI trends"]
    assert then["context"].startswith("<workflow_history_context>")


def test_step_shows_what_the_agent_received_with_its_history(seeded: Target) -> None:
    result = seeded.kern("step", "research", "run-2", "summarize")
    assert result.status == 0
    assert "<workflow_history_context>" in result.out
    assert "Findings on Vector databases" in result.out
    assert "Summary of Vector databases, building on 1 earlier run(s)." in result.out


def test_step_json_by_index_is_the_step_view(seeded: Target) -> None:
    shown = seeded.kern("step", "research", "run-2", "2", "--json").json()
    view = seeded.db.get_step_view("research", "run-2", 2)
    assert shown == view.to_json()
    assert shown["session_state"] == {"runs_counted": 1, "topics": ["AI trends"]}


def test_step_names_what_is_missing(seeded: Target) -> None:
    run = seeded.kern("step", "research", "run-9", "0")
    assert (run.status, run.err) == (
        1,
        "kern: error: run 'run-9' not found in session 'research'\n",
    )
    step = seeded.kern("step", "research", "run-1", "publish")
    assert step.status == 2
    assert step.err.startswith("kern: error: run 'run-1' of session 'research' recorded no step")


# -- --user on every read command --------------------------------------------------

READ_ONE = [
    ["show", "{id}"],
    ["as-of", "{id}", "1"],
    ["events", "{id}"],
    ["history", "{id}"],
    ["step", "{id}", "run-1", "0"],
    ["verify", "{id}"],
    ["export", "{id}"],
    ["diff", "{id}", "run-1", "run-2"],
    ["replay", "{id}", "run-1", "--workflow", "tests.contract.cli.flows:pipeline"],
]


@pytest.mark.parametrize("argv", READ_ONE, ids=lambda argv: argv[0])
def test_user_reads_another_users_session_as_missing(seeded: Target, argv: list[str]) -> None:
    """bob asking for alice's session gets what anyone gets for a session that never was."""
    theirs = seeded.kern("--user", "bob", *(part.format(id="research") for part in argv))
    missing = seeded.kern("--user", "bob", *(part.format(id="nobody") for part in argv))
    assert (theirs.status, theirs.out) == (1, "")
    assert theirs.err == "kern: error: session 'research' not found\n"
    assert theirs.err.replace("research", "nobody") == missing.err
    mine = seeded.kern("--user", "alice", *(part.format(id="research") for part in argv))
    assert mine.status == 0, mine.err


def test_user_scopes_verify_and_export_of_every_session(seeded: Target) -> None:
    verified = seeded.kern("--user", "bob", "verify", "--json").json()
    assert [s["session_id"] for s in verified["sessions"]] == ["notes"]
    exported = seeded.kern("--user", "bob", "export").json_lines()
    assert {line["session_id"] for line in exported} == {"notes"}
    assert seeded.kern("--user", "carol", "export").out == ""


# -- ids are never cut ----------------------------------------------------------------


def test_sessions_never_wraps_a_long_id_on_a_narrow_terminal(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns the table grows wider than the terminal rather than split an id."""
    long_id = "customer-support-ticket-2024-05-01-escalated-" + "7" * 40
    Workflow(name="Narrow", db=target.db, steps=[echo]).run(
        "hi", session_id=long_id, user_id="someone-with-a-long-user-id@example.com"
    )
    target.db.rename_session(long_id, "A session name long enough to need wrapping somewhere")
    monkeypatch.setenv("COLUMNS", "80")
    for argv in (["sessions"], ["verify"]):
        result = target.kern(*argv)
        assert result.status == 0
        assert any(long_id in line for line in result.out.splitlines()), result.out
    target.db.delete_session(long_id)
    deleted = target.kern("sessions", "--deleted")
    assert any(long_id in line for line in deleted.out.splitlines()), deleted.out


def test_a_table_that_fits_keeps_to_the_terminal_width(
    seeded: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    lines = seeded.kern("sessions").out.splitlines()
    assert max(len(line) for line in lines) <= 100
