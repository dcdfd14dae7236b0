"""The per-process cache of sessions: bounded, and never wrong when dropped."""

from __future__ import annotations

from kern.application.cache import EventCache
from kern.db.in_memory import InMemoryDb
from kern.workflow import Workflow


def test_the_cache_drops_the_least_recently_used_sessions_beyond_its_event_budget() -> None:
    db = InMemoryDb()
    cache = db.store.cache  # type: ignore[attr-defined]
    assert isinstance(cache, EventCache)
    cache.max_events = 12
    workflow = Workflow(name="w", db=db, steps=[lambda step_input: "ok"])
    for session_id in ("a", "b", "c"):
        workflow.run("hi", session_id=session_id)  # 4 events each
    workflow.run("again", session_id="a")  # a is the most recent, with 6 events
    cache.stream("a")
    cached = {sid for sid in ("a", "b", "c") if cache.get(sid)}
    assert cached == {"a", "c"}  # b, least recently used, went first
    # A dropped session reads back whole from the store and runs on.
    workflow.run("more", session_id="b")
    session = db.get_session("b")
    assert session is not None and [r.input for r in session.runs or []] == ["hi", "more"]


def test_one_session_larger_than_the_budget_stays_cached_while_in_use() -> None:
    db = InMemoryDb()
    db.store.cache.max_events = 2  # type: ignore[attr-defined]
    workflow = Workflow(name="w", db=db, steps=[lambda step_input: "ok"], session_id="big")
    for n in range(3):
        workflow.run(n)
    assert len(db.store.cache.get("big")) == 10  # type: ignore[attr-defined]
