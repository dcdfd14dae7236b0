"""The runs in flight in this process, and requests to stop them.

``cancel_run(run_id)`` may come from any thread or task, while the run goes on
in another. The runner looks at the request before each step: the step
running then finishes, the run stops there and is recorded CANCELLED, and
nothing recorded before is lost. The registry is per process, as the runs it
can reach are.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_requests: dict[str, threading.Event] = {}


def register(run_id: str) -> threading.Event:
    """The flag a cancel request for ``run_id`` sets, while the run is in flight."""
    with _lock:
        flag = _requests[run_id] = threading.Event()
        return flag


def unregister(run_id: str, flag: threading.Event) -> None:
    """Forget ``run_id`` once it ended (unless a later run of that id replaced it)."""
    with _lock:
        if _requests.get(run_id) is flag:
            del _requests[run_id]


def cancel(run_id: str) -> bool:
    """Ask the run to stop before its next step; False when no run of that id is
    in flight in this process (it ended, never began, or runs elsewhere)."""
    with _lock:
        flag = _requests.get(run_id)
    if flag is None:
        return False
    flag.set()
    return True
