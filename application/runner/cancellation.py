"""The runs in flight in this process, and requests to stop them.

``cancel_run(run_id)`` may come from any thread or task, while the run goes on
in another. The runner looks at the request before each step: the step
running then finishes, the run stops there and is recorded CANCELLED, and
nothing recorded before is lost. The registry is per process, as the runs it
can reach are. A request that names a user reaches only that user's runs: for
another user's run it answers as for a run that is not in flight.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_requests: dict[str, tuple[threading.Event, str | None]] = {}


def register(run_id: str, user_id: str | None) -> threading.Event:
    """The flag a cancel request for ``run_id`` (run for ``user_id``) sets, while
    the run is in flight."""
    with _lock:
        flag = threading.Event()
        _requests[run_id] = (flag, user_id)
        return flag


def unregister(run_id: str, flag: threading.Event) -> None:
    """Forget ``run_id`` once it ended (unless a later run of that id replaced it)."""
    with _lock:
        entry = _requests.get(run_id)
        if entry is not None and entry[0] is flag:
            del _requests[run_id]


def cancel(run_id: str, user_id: str | None = None) -> bool:
    """Ask the run to stop before its next step; False when no run of that id is
    in flight in this process (it ended, never began, or runs elsewhere), or,
    with ``user_id``, when it runs for another user."""
    with _lock:
        entry = _requests.get(run_id)
    if entry is None or (user_id is not None and entry[1] != user_id):
        return False
    entry[0].set()
    return True
