"""Bad input refused before any store is touched: error types, steps, database URLs.

The same ground on every store, with nothing written, is covered by
tests/contract/sessions/test_bad_input.py and
tests/contract/reliability/test_bad_input.py.
"""

from __future__ import annotations

import pytest

from kern.db.postgres import PostgresDb
from kern.errors import InvalidInputError, InvalidSessionIdError, InvalidStepError, KernError
from kern.workflow import Step


def test_session_id_errors_are_value_errors_from_kern() -> None:
    assert issubclass(InvalidSessionIdError, KernError)
    assert issubclass(InvalidSessionIdError, ValueError)


def test_refuses_a_step_wrapper_without_executor() -> None:
    with pytest.raises(InvalidStepError):
        Step(name="empty")


MALFORMED_URLS = {
    "ipv6-unclosed": "postgresql://kern:Zebra-Quartz-7781@[::1/kern",
    "unknown-option": "postgresql://kern:Zebra-Quartz-7781@localhost/kern?bogus=1",
    "no-scheme": "kern:Zebra-Quartz-7781@localhost/kern",
}


@pytest.mark.parametrize("url", MALFORMED_URLS.values(), ids=MALFORMED_URLS.keys())
def test_a_malformed_db_url_is_refused_without_showing_its_password(url: str) -> None:
    with pytest.raises(InvalidInputError, match="db_url") as refused:
        PostgresDb(url)
    assert "Zebra-Quartz-7781" not in str(refused.value)
