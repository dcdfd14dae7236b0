"""Bad input, on every store: a typed error that names the problem, and nothing written.

Each kind below runs against a store holding one session of Alice's ("s1",
one run). "Nothing written" is checked below Kern's codec: the index's
session ids and every record of every session are the same before and after.
The tests in tests/contract/sessions/test_bad_input.py cover the same ground for a few
kinds in more depth (failed steps, agent messages); these go for breadth.
The checks that need no store are in tests/unit/test_bad_input.py, SQLite's
table names in tests/sqlite/test_identifiers.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from kern.db import KernDb
from kern.domain.encoding import encode_json
from kern.domain.events import SessionRenamed, StepCompleted
from kern.domain.identity import MAX_ID_CHARS
from kern.domain.values import MAX_NESTING
from kern.errors import (
    InvalidAsOfError,
    InvalidInputError,
    InvalidQueryError,
    InvalidSessionIdError,
    InvalidSessionNameError,
    InvalidStepError,
    InvalidUserIdError,
    KernError,
    RunAlreadyStartedError,
    SessionExistsError,
    SessionNotFoundError,
    UnreadableEventError,
    UnstorableValueError,
)
from kern.run import RunStatus
from kern.workflow import Step, StepInput, Workflow
from tests.contract.kinds import STORED_BYTES
from tests.contract.reliability._inputs import Unstorable, contents, nested, numbers, plant

Call = Callable[[KernDb, Workflow], object]

NUL = "a\x00b"
SURROGATE = "a\ud800b"
TOO_LONG = "s" * (MAX_ID_CHARS + 1)
TEN_MB = 10 * 1024 * 1024
TOO_DEEP = nested(MAX_NESTING + 1)
COLLIDING = {1: "a", "1": "b"}


@pytest.fixture
def workflow(make_workflow: Callable[..., Workflow]) -> Workflow:
    """A two-step workflow on the store under test, and Alice's session "s1" in it."""
    workflow = make_workflow()
    workflow.run(
        input="first", session_id="s1", user_id="alice", session_state={"k": 1}, run_id="r1"
    )
    return workflow


def run(**kwargs: Any) -> Call:
    kwargs.setdefault("input", "hi")
    kwargs.setdefault("session_id", "s2")
    return lambda db, workflow: workflow.run(**kwargs)


def run_on(workflow_kwargs: dict[str, Any], **run_kwargs: Any) -> Call:
    """A run of another workflow on the same store."""
    return lambda db, workflow: Workflow(db=db, steps=[str], **workflow_kwargs).run(
        input="hi", session_id="s2", **run_kwargs
    )


def rename(**kwargs: Any) -> Call:
    kwargs.setdefault("session_id", "s1")
    return lambda db, workflow: workflow.set_session_name(**kwargs)


def listing(**kwargs: Any) -> Call:
    return lambda db, workflow: db.get_sessions(**kwargs)


def build(**kwargs: Any) -> Call:
    """Building a Workflow on the store, which refuses a bad argument before any run."""
    return lambda db, workflow: Workflow(db=db, steps=[str], **kwargs)


def update_state(updates: Any, **kwargs: Any) -> Call:
    kwargs.setdefault("session_id", "s1")
    return lambda db, workflow: workflow.update_session_state(updates, **kwargs)


# (call, error type, words the message must hold)
REFUSED = [
    pytest.param(run(session_id=""), InvalidSessionIdError, "non-empty", id="session_id-empty"),
    pytest.param(run(session_id=" \t"), InvalidSessionIdError, "non-empty", id="session_id-blank"),
    pytest.param(
        run(session_id=TOO_LONG), InvalidSessionIdError, "too long", id="session_id-too-long"
    ),
    pytest.param(run(session_id=42), InvalidSessionIdError, "got int", id="session_id-int"),
    pytest.param(run(session_id=b"s2"), InvalidSessionIdError, "got bytes", id="session_id-bytes"),
    pytest.param(run(session_id=NUL), InvalidSessionIdError, "NUL", id="session_id-nul"),
    pytest.param(
        run(session_id=SURROGATE), InvalidSessionIdError, "surrogate", id="session_id-surrogate"
    ),
    pytest.param(run(user_id=42), InvalidUserIdError, "got int", id="user_id-int"),
    pytest.param(run(user_id=["alice"]), InvalidUserIdError, "got list", id="user_id-list"),
    pytest.param(run(user_id=NUL), InvalidUserIdError, "NUL", id="user_id-nul"),
    pytest.param(run(user_id=SURROGATE), InvalidUserIdError, "surrogate", id="user_id-surrogate"),
    pytest.param(run(user_id=TOO_LONG), InvalidUserIdError, "too long", id="user_id-too-long"),
    pytest.param(
        run(input=Unstorable()), UnstorableValueError, "run input", id="input-no-json-form"
    ),
    pytest.param(run(input=SURROGATE), UnstorableValueError, "surrogate", id="input-surrogate"),
    pytest.param(run(input=float("nan")), UnstorableValueError, "float", id="input-nan"),
    pytest.param(run(input=numbers()), UnstorableValueError, "iterator", id="input-generator"),
    pytest.param(
        run(session_state={"lock": Unstorable()}),
        UnstorableValueError,
        "session_state",
        id="session_state-no-json-form",
    ),
    pytest.param(run(run_id=7), InvalidInputError, "run_id", id="run_id-int"),
    pytest.param(run(run_id=NUL), InvalidInputError, "run_id", id="run_id-nul"),
    pytest.param(run(metadata=["x"]), InvalidInputError, "metadata", id="metadata-not-a-dict"),
    pytest.param(run_on({"name": NUL}), InvalidInputError, "workflow_name", id="workflow_name-nul"),
    pytest.param(
        run(session_id="s1", user_id="alice", run_id="r1"),
        RunAlreadyStartedError,
        "'r1' was already started",
        id="run_id-already-started",
    ),
    pytest.param(
        rename(session_name=None), InvalidSessionNameError, "autogenerate", id="name-missing"
    ),
    pytest.param(rename(session_name=""), InvalidSessionNameError, "non-empty", id="name-empty"),
    pytest.param(rename(session_name=5), InvalidSessionNameError, "got 5", id="name-int"),
    pytest.param(rename(session_name=NUL), InvalidSessionNameError, "NUL", id="name-nul"),
    pytest.param(
        rename(session_name=SURROGATE), InvalidSessionNameError, "surrogate", id="name-surrogate"
    ),
    pytest.param(
        lambda db, workflow: workflow.update_session_state({"x": Unstorable()}, session_id="s1"),
        UnstorableValueError,
        "session state",
        id="state-update-no-json-form",
    ),
    pytest.param(
        lambda db, workflow: workflow.update_session_state({"x": 1}, session_id=NUL),
        InvalidSessionIdError,
        "NUL",
        id="state-update-session_id-nul",
    ),
    pytest.param(listing(page=1), InvalidQueryError, "page needs a limit", id="page-no-limit"),
    pytest.param(listing(limit=-1), InvalidQueryError, "non-negative", id="limit-negative"),
    pytest.param(listing(limit=2, page=0), InvalidQueryError, "1-based", id="page-zero"),
    pytest.param(listing(sort_order="up"), InvalidQueryError, "sort_order", id="sort-order"),
    pytest.param(listing(sort_by="x; DROP"), InvalidQueryError, "sort_by", id="sort-by"),
    pytest.param(listing(user_id=NUL), InvalidQueryError, "user_id", id="listing-user_id-nul"),
    pytest.param(
        listing(session_name=SURROGATE), InvalidQueryError, "surrogate", id="listing-name-surr"
    ),
    pytest.param(
        lambda db, workflow: db.get_session("s1", as_of=99),
        InvalidAsOfError,
        "no version 99",
        id="as_of-beyond-the-log",
    ),
    pytest.param(
        lambda db, workflow: db.get_session("s1", as_of=1.5),
        InvalidAsOfError,
        "float",
        id="as_of-float",
    ),
    pytest.param(
        lambda db, workflow: db.fork_session("s1", at=2, new_session_id="s1"),
        SessionExistsError,
        "already exists",
        id="fork-onto-an-existing-session",
    ),
    pytest.param(
        lambda db, workflow: db.import_lines(["{not json"]),
        InvalidInputError,
        "line 1",
        id="import-not-json",
    ),
    # values nested too deeply to read back, or with keys JSON would merge
    pytest.param(run(input=TOO_DEEP), UnstorableValueError, "MAX_NESTING", id="input-too-deep"),
    pytest.param(
        run(session_state={"k": nested(MAX_NESTING)}),
        UnstorableValueError,
        "session_state",
        id="session_state-too-deep",
    ),
    pytest.param(
        run(metadata={"k": nested(MAX_NESTING)}),
        UnstorableValueError,
        "run metadata",
        id="metadata-too-deep",
    ),
    pytest.param(
        update_state({"k": nested(MAX_NESTING)}),
        UnstorableValueError,
        "nested 101 levels deep",
        id="state-update-too-deep",
    ),
    pytest.param(
        run(input=COLLIDING), UnstorableValueError, "keys 1 and '1'", id="input-colliding-keys"
    ),
    pytest.param(
        run(input=[{"x": {2.5: 1, "2.5": 2}}]),
        UnstorableValueError,
        "both '2.5'",
        id="input-colliding-keys-nested",
    ),
    pytest.param(
        run(session_state={"k": COLLIDING}),
        UnstorableValueError,
        "session_state",
        id="session_state-colliding-keys",
    ),
    pytest.param(
        update_state({"k": COLLIDING}),
        UnstorableValueError,
        "keys 1 and '1'",
        id="state-update-colliding-keys",
    ),
    # every public argument: a typed error, not whatever the layer below raised
    pytest.param(
        run(correlation_id=5), InvalidInputError, "correlation_id", id="correlation_id-int"
    ),
    pytest.param(
        run(correlation_id=SURROGATE),
        InvalidInputError,
        "correlation_id contains a lone surrogate",
        id="correlation_id-surrogate",
    ),
    pytest.param(
        rename(session_name="n", correlation_id=NUL),
        InvalidInputError,
        "correlation_id contains a NUL",
        id="rename-correlation_id-nul",
    ),
    pytest.param(
        update_state({"x": 1}, correlation_id=["c"]),
        InvalidInputError,
        "correlation_id",
        id="state-update-correlation_id-list",
    ),
    pytest.param(
        lambda db, workflow: workflow.delete_session("s1", correlation_id=SURROGATE),
        InvalidInputError,
        "correlation_id",
        id="delete-correlation_id-surrogate",
    ),
    pytest.param(update_state([1]), InvalidInputError, "got list", id="state-update-list"),
    pytest.param(update_state(None), InvalidInputError, "got NoneType", id="state-update-none"),
    pytest.param(run(session_state=["k"]), InvalidInputError, "got list", id="session_state-list"),
    pytest.param(listing(end_timestamp=float("nan")), InvalidQueryError, "got nan", id="end-nan"),
    pytest.param(listing(end_timestamp=float("inf")), InvalidQueryError, "got inf", id="end-inf"),
    pytest.param(
        listing(end_timestamp="yesterday"), InvalidQueryError, "unix seconds", id="end-text"
    ),
    pytest.param(
        listing(start_timestamp=-float("inf")), InvalidQueryError, "got -inf", id="start-inf"
    ),
    pytest.param(
        listing(start_timestamp=1e300), InvalidQueryError, "unix seconds", id="start-huge"
    ),
    pytest.param(listing(limit=10**30), InvalidQueryError, "MAX_LIMIT", id="limit-huge"),
    pytest.param(listing(limit=10, page=10**30), InvalidQueryError, "page", id="page-huge"),
    pytest.param(
        lambda db, workflow: workflow.get_sessions(limit=10**30),
        InvalidQueryError,
        "MAX_LIMIT",
        id="workflow-limit-huge",
    ),
    pytest.param(
        lambda db, workflow: db.get_session("s1", as_of=10**30),
        InvalidAsOfError,
        "no version",
        id="as_of-huge",
    ),
    pytest.param(
        lambda db, workflow: db.get_log("s1", as_of=2**63),
        InvalidAsOfError,
        "no version",
        id="log-as_of-past-64-bits",
    ),
    pytest.param(
        lambda db, workflow: db.fork_session("s1", at=10**30),
        InvalidAsOfError,
        "no version",
        id="fork-at-huge",
    ),
    pytest.param(
        lambda db, workflow: db.read_feed(after="x"),
        InvalidQueryError,
        "FeedPosition",
        id="feed-after-text",
    ),
    pytest.param(
        lambda db, workflow: db.read_feed(after=(0, 10**30)),
        InvalidQueryError,
        "FeedPosition",
        id="feed-after-huge",
    ),
    pytest.param(
        lambda db, workflow: db.read_feed(limit=10**30),
        InvalidQueryError,
        "MAX_LIMIT",
        id="feed-limit-huge",
    ),
    pytest.param(
        build(num_history_runs="3"), InvalidInputError, "num_history_runs", id="history-runs-text"
    ),
    pytest.param(
        build(num_history_runs=-1), InvalidInputError, "num_history_runs", id="history-runs-neg"
    ),
    pytest.param(
        build(add_workflow_history_to_steps="yes"),
        InvalidInputError,
        "add_workflow_history_to_steps",
        id="history-flag-text",
    ),
    pytest.param(build(user_id=5), InvalidUserIdError, "got int", id="workflow-user_id-int"),
    pytest.param(build(session_id=NUL), InvalidSessionIdError, "NUL", id="workflow-session_id-nul"),
    pytest.param(
        build(description=SURROGATE), InvalidInputError, "description", id="description-surrogate"
    ),
    pytest.param(build(id=7), InvalidInputError, "Workflow id", id="workflow-id-int"),
    pytest.param(
        build(session_state=["k"]), InvalidInputError, "got list", id="workflow-state-list"
    ),
    pytest.param(
        build(session_state={"k": Unstorable()}),
        UnstorableValueError,
        "Workflow session_state",
        id="workflow-state-no-json-form",
    ),
    pytest.param(
        build(metadata={"k": COLLIDING}),
        UnstorableValueError,
        "Workflow metadata",
        id="workflow-metadata-colliding-keys",
    ),
    pytest.param(
        lambda db, workflow: Step(name="s", executor=str, num_history_runs="3"),  # type: ignore[arg-type]
        InvalidStepError,
        "num_history_runs",
        id="step-history-runs-text",
    ),
    pytest.param(
        lambda db, workflow: workflow.get_chat_history(session_id="s1", last_n_runs="3"),
        InvalidInputError,
        "last_n_runs",
        id="chat-history-last-n-text",
    ),
]


@pytest.mark.parametrize(("call", "error", "words"), REFUSED)
def test_bad_input_is_refused_with_a_typed_error_and_nothing_written(
    db: KernDb, workflow: Workflow, call: Call, error: type[KernError], words: str
) -> None:
    before = contents(db)
    with pytest.raises(error) as refused:
        call(db, workflow)
    assert type(refused.value) is error
    assert words in str(refused.value)
    assert contents(db) == before


# -- unknown sessions: every session call ---------------------------------------------------

UNKNOWN = "ghost"

NOT_FOUND = SessionNotFoundError
# (call, what it gives back, or NOT_FOUND when it raises SessionNotFoundError)
UNKNOWN_SESSION_CALLS: dict[str, tuple[Call, object]] = {
    "get_session": (lambda db, wf: wf.get_session(session_id=UNKNOWN), None),
    "get_run": (lambda db, wf: wf.get_run("r1", session_id=UNKNOWN), None),
    "get_last_run_output": (lambda db, wf: wf.get_last_run_output(session_id=UNKNOWN), None),
    "get_events": (lambda db, wf: db.get_events(UNKNOWN), []),
    "get_log": (lambda db, wf: db.get_log(UNKNOWN), []),
    "delete_session": (lambda db, wf: wf.delete_session(UNKNOWN), False),
    "get_session_name": (lambda db, wf: wf.get_session_name(session_id=UNKNOWN), NOT_FOUND),
    "get_session_state": (lambda db, wf: wf.get_session_state(session_id=UNKNOWN), NOT_FOUND),
    "get_chat_history": (lambda db, wf: wf.get_chat_history(session_id=UNKNOWN), NOT_FOUND),
    "set_session_name": (
        lambda db, wf: wf.set_session_name(session_id=UNKNOWN, session_name="n"),
        NOT_FOUND,
    ),
    "set_session_name-autogenerate": (
        lambda db, wf: wf.set_session_name(session_id=UNKNOWN, autogenerate=True),
        NOT_FOUND,
    ),
    "update_session_state": (
        lambda db, wf: wf.update_session_state({"k": 2}, session_id=UNKNOWN),
        NOT_FOUND,
    ),
    "get_step_view": (lambda db, wf: db.get_step_view(UNKNOWN, "r1", 0), NOT_FOUND),
    "fork_session": (lambda db, wf: db.fork_session(UNKNOWN, at=1), NOT_FOUND),
    "export": (lambda db, wf: db.export(UNKNOWN), NOT_FOUND),
    "export_otel": (lambda db, wf: db.export_otel(UNKNOWN), NOT_FOUND),
    "verify": (lambda db, wf: db.verify(UNKNOWN), NOT_FOUND),
    "replay": (lambda db, wf: wf.replay("r1", session_id=UNKNOWN), NOT_FOUND),
}


@pytest.mark.parametrize(
    ("call", "empty"), UNKNOWN_SESSION_CALLS.values(), ids=UNKNOWN_SESSION_CALLS.keys()
)
def test_every_session_call_on_an_unknown_session_says_so_and_writes_nothing(
    db: KernDb, workflow: Workflow, call: Call, empty: object
) -> None:
    """Kern fixes: Agno crashes with AttributeError when renaming an unknown session."""
    before = contents(db)
    if empty is NOT_FOUND:
        with pytest.raises(SessionNotFoundError) as refused:
            call(db, workflow)
        assert refused.value.session_id == UNKNOWN
        assert repr(UNKNOWN) in str(refused.value)
    else:
        assert call(db, workflow) == empty
    assert contents(db) == before


# -- steps that return what cannot be stored ----------------------------------------------


def returns_object(step_input: StepInput) -> object:
    return Unstorable()


def returns_generator(step_input: StepInput) -> object:
    return numbers()


def returns_surrogate(step_input: StepInput) -> str:
    return SURROGATE


def keeps_a_lock(step_input: StepInput) -> str:
    step_input.session_state["lock"] = Unstorable()
    return "kept"


def never(step_input: StepInput) -> str:
    raise AssertionError("a step after the refused one ran")


def returns_too_deep(step_input: StepInput) -> object:
    return TOO_DEEP


def returns_colliding_keys(step_input: StepInput) -> object:
    return COLLIDING


def nests_state_too_deep(step_input: StepInput) -> str:
    step_input.session_state["deep"] = nested(MAX_NESTING)
    return "kept"


UNSTORABLE_STEPS = {
    "output-no-json-form": (returns_object, "output of step 'returns_object'"),
    "output-too-deep": (returns_too_deep, "MAX_NESTING"),
    "output-colliding-keys": (returns_colliding_keys, "keys 1 and '1'"),
    "state-too-deep": (nests_state_too_deep, "session_state after step 'nests_state_too_deep'"),
    "output-generator": (returns_generator, "iterator"),
    "output-surrogate": (returns_surrogate, "surrogate"),
    "state-no-json-form": (keeps_a_lock, "session_state after step 'keeps_a_lock'"),
}


@pytest.mark.parametrize(("step", "words"), UNSTORABLE_STEPS.values(), ids=UNSTORABLE_STEPS.keys())
def test_a_step_result_with_no_json_form_ends_the_run_as_error_and_is_not_stored(
    db: KernDb, workflow: Workflow, step: Callable[[StepInput], object], words: str
) -> None:
    """The run was recorded when it started, so it stays, ended ERROR with the refusal;
    the value itself is stored nowhere and no later step runs."""
    failing = Workflow(name="Steps", db=db, steps=[step, never])
    with pytest.raises(UnstorableValueError) as refused:
        failing.run(input="hi", session_id="s1", user_id="alice")
    message = str(refused.value)
    assert words in message
    *_, failed_step, _ = db.get_events("s1")
    assert isinstance(failed_step, StepCompleted)
    assert (failed_step.success, failed_step.error, failed_step.content.value) == (
        False,
        message,
        None,
    )
    assert not failed_step.state_changes
    session = db.get_session("s1")
    assert session is not None and session.runs is not None
    assert (session.runs[-1].status, session.runs[-1].error) == (RunStatus.error, message)
    assert session.session_state == {"k": 1}


# -- values Kern stores as given ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [NUL, {"key\x00": "\x00"}, ["\x00", "é", "𝄞"]],
    ids=["str", "dict", "list"],
)
def test_nul_inside_a_run_input_is_stored_and_read_back_on_every_store(
    db: KernDb, workflow: Workflow, value: object
) -> None:
    """Inside stored JSON a NUL is escaped (\\u0000), so even PostgreSQL keeps it."""
    workflow.run(input=value, session_id="s2")
    session = db.get_session("s2")
    assert session is not None and session.runs is not None
    assert session.runs[0].input == value


def test_a_ten_megabyte_input_is_stored_and_read_back_on_every_store(
    db: KernDb, make_workflow: Callable[..., Workflow]
) -> None:
    """Kern sets no size limit. PostgreSQL hung for ever on this before Kern flushed
    its pipeline (psycopg issue #685)."""
    big = "x" * TEN_MB
    make_workflow(steps=[lambda step_input: len(step_input.input)]).run(input=big, session_id="big")
    session = db.get_session("big")
    assert session is not None and session.runs is not None
    assert session.runs[0].input == big
    assert session.runs[0].content == TEN_MB


def test_a_session_id_at_the_length_limit_is_accepted(db: KernDb, workflow: Workflow) -> None:
    longest = "é" * MAX_ID_CHARS  # 255 characters, 510 bytes
    workflow.run(input="hi", session_id=longest, user_id="u" * MAX_ID_CHARS)
    assert [s.session_id for s in db.get_sessions(user_id="u" * MAX_ID_CHARS)] == [longest]


# -- what is already stored --------------------------------------------------------------------


def state_of(db: KernDb, session_id: str, version: int) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(db.store.read_records(session_id)[version - 1].state)
    return payload


RENAMED = SessionRenamed.topic()

PLANTED = {
    "newer-schema-version": (RENAMED, "schema_version 2"),
    "unknown-topic": ("kern.domain.events:SessionArchived", "unknown event topic"),
    "not-json": (RENAMED, "cannot be read"),
    "not-utf-8": (RENAMED, "cannot be read"),
    "json-array": (RENAMED, "not an object"),
    "missing-field": (RENAMED, "session_name"),
}


def planted_state(db: KernDb, kind: str) -> bytes:
    """The stored bytes of a version-3 record of each kind."""
    good = state_of(db, "s1", 2)  # a RunStarted: timestamp, user_id, provenance
    renamed = {**good, "session_name": "n", "autogenerated": False}
    if kind == "newer-schema-version":
        return encode_json({**renamed, "schema_version": 2})
    if kind == "unknown-topic":
        return encode_json(renamed)
    if kind == "not-json":
        return b'{"schema_version": 1, "timest'
    if kind == "not-utf-8":
        return b'{"schema_version": 1, "session_name": "\xff\xfe"}'
    if kind == "json-array":
        return b"[1, 2]"
    return encode_json({k: v for k, v in renamed.items() if k != "session_name"})


@STORED_BYTES
@pytest.mark.parametrize("kind", PLANTED)
def test_a_stored_event_kern_cannot_read_names_its_session_and_version(
    db: KernDb, workflow: Workflow, kind: str
) -> None:
    """Appended raw (the logs refuse UPDATE), as a newer Kern or a damaged disk would."""
    topic, words = PLANTED[kind]
    version = len(db.store.read_records("s1")) + 1
    plant(db, "s1", version, topic, planted_state(db, kind))
    for read in (
        lambda: db.get_session("s1"),
        lambda: db.get_events("s1"),
        lambda: workflow.run(input="again", session_id="s1"),
    ):
        with pytest.raises(UnreadableEventError) as refused:
            read()
        assert (refused.value.session_id, refused.value.version) == ("s1", version)
        assert f"version {version} of session 's1'" in str(refused.value)
        assert words in str(refused.value)
    assert len(db.store.read_records("s1")) == version  # the failed run wrote nothing
