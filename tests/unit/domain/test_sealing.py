"""Opening sealed stored bytes: the fast in-place read of the sealed part as
Kern writes it, the JSON read of any other spelling, and refusals of bytes that
were changed."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kern.domain.encoding import GENESIS_HASH, seal, stored_bytes
from kern.domain.events import RunStarted
from kern.domain.sealing import DataKey, open_state
from kern.domain.values import StoredValue

KEY = DataKey.new("k-0123abcd")


def sealed_run_started(text: str, key: DataKey = KEY) -> bytes:
    event = RunStarted(
        session_id="s-1",
        version=2,
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        user_id="alice",
        run_id="run-1",
        input=StoredValue.of(text),
        session_state={"topic": text},
    )
    return stored_bytes(seal(event, GENESIS_HASH, key))


def plain_form(text: str) -> dict[str, object]:
    """What a store without a keyring would hold for the same event, less its hash."""
    event = RunStarted(
        session_id="s-1",
        version=2,
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        user_id="alice",
        run_id="run-1",
        input=StoredValue.of(text),
        session_state={"topic": text},
    )
    data = json.loads(stored_bytes(seal(event, GENESIS_HASH)))
    data.pop("hash")
    return dict(data)


def opened(state: bytes) -> dict[str, object]:
    found = open_state(state, RunStarted, "s-1", 2, {KEY.key_id: KEY}.get)
    assert found is not None
    data = json.loads(found)
    data.pop("hash")
    return dict(data)


@given(st.text(max_size=300))
def test_the_sealed_part_opens_back_into_the_plain_stored_form(text: str) -> None:
    assert opened(sealed_run_started(text)) == plain_form(text)


def test_the_stored_bytes_hold_no_sealed_value() -> None:
    state = sealed_run_started("ZEBRA-7731 quarterly numbers")
    assert b"ZEBRA" not in state and b"topic" not in state


def test_the_same_sealed_part_spelled_otherwise_opens_the_same() -> None:
    state = sealed_run_started("quarterly numbers")
    data = json.loads(state)
    sealed = data["sealed"]
    written = json.dumps(sealed, separators=(",", ":")).encode()
    for other in (
        json.dumps(sealed).encode(),  # spaces after the separators
        json.dumps({"key": sealed["key"], "data": sealed["data"], "fields": sealed["fields"]}),
    ):
        respelled = state.replace(written, other if isinstance(other, bytes) else other.encode())
        assert respelled != state
        assert opened(respelled) == plain_form("quarterly numbers")


@pytest.mark.parametrize(
    "change",
    [
        lambda sealed: {**sealed, "data": sealed["data"][:-8] + "AAAAAAA="},  # other bytes
        lambda sealed: {**sealed, "data": sealed["data"][:20] + '"' + sealed["data"][21:]},
        lambda sealed: {**sealed, "data": "not base64!"},
    ],
)
def test_changed_sealed_bytes_are_refused(change: object) -> None:
    data = json.loads(sealed_run_started("quarterly numbers"))
    data["sealed"] = change(data["sealed"])  # type: ignore[operator]
    state = json.dumps(data, separators=(",", ":")).encode()
    with pytest.raises(ValueError):
        opened(state)


def test_sealed_bytes_moved_to_another_place_are_refused() -> None:
    state = sealed_run_started("quarterly numbers")
    with pytest.raises(ValueError):
        open_state(state, RunStarted, "s-1", 3, {KEY.key_id: KEY}.get)  # another version
    with pytest.raises(ValueError):
        open_state(state, RunStarted, "s-2", 2, {KEY.key_id: KEY}.get)  # another session


def test_a_destroyed_key_opens_nothing() -> None:
    state = sealed_run_started("quarterly numbers")
    assert open_state(state, RunStarted, "s-1", 2, lambda key_id: None) is None


def test_another_key_of_the_same_id_is_refused() -> None:
    state = sealed_run_started("quarterly numbers")
    impostor = dataclasses.replace(DataKey.new(KEY.key_id))
    with pytest.raises(ValueError):
        open_state(state, RunStarted, "s-1", 2, {KEY.key_id: impostor}.get)


def test_the_sealed_part_as_kern_writes_it_is_read_without_parsing_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kern's own spelling takes the in-place read (parsing it as JSON cost a third
    of opening a record); only another spelling is parsed."""
    state = sealed_run_started("quarterly numbers")

    def no_json(*args: object, **kwargs: object) -> object:
        raise AssertionError("the sealed part was parsed as JSON")

    monkeypatch.setattr("kern.domain.sealing.json.loads", no_json)
    found = open_state(state, RunStarted, "s-1", 2, {KEY.key_id: KEY}.get)
    assert found is not None and b"quarterly numbers" in found
