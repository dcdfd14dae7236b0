"""PostgreSQL connections killed, and the server restarted, under load: writers recover.

Agno writes a run only when it ends, so a fault loses it whole. Kern records
as it goes, and writers recover by themselves from faults a retry can absorb:
no error reaches them, and every run that returned is in the log once, whole.
The faults every shared store has (a process killed mid-step) are in
tests/contract/reliability/test_faults.py.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from kern.db import KernDb
from tests.conftest import POSTGRES_URL
from tests.contract.reliability._load import (
    JOIN_TIMEOUT,
    Tally,
    Target,
    check_runs_landed,
    load_workflow,
)
from tests.contract.reliability.conftest import postgres_target
from tests.postgres.test_load_and_faults import TERMINATE_KERN


class Load:
    """Writer threads on a few sessions of one store, each recording what returned."""

    def __init__(self, db: KernDb, writers: int, sessions: int) -> None:
        self.db, self.writers = db, writers
        self.session_ids = [f"session-{i}" for i in range(sessions)]
        self.tallies = [Tally() for _ in range(writers)]
        self.finished_at: list[float] = []  # time.monotonic() of every run that returned
        self.stop = threading.Event()

    def run_writer(self, writer: int, at_least: int) -> None:
        """Run until stopped (and at least ``at_least`` runs), one session after another."""
        workflow, tally, n = load_workflow(self.db), self.tallies[writer], 0
        while n < at_least or not self.stop.is_set():
            session_id = self.session_ids[(writer + n) % len(self.session_ids)]
            try:
                result = workflow.run(input={"writer": writer, "n": n}, session_id=session_id)
            except Exception as exc:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                assert result.run_id is not None  # a run that returned has its id
                tally.succeeded.append((session_id, result.run_id))
                self.finished_at.append(time.monotonic())
            n += 1

    def successes(self) -> int:
        return sum(len(t.succeeded) for t in self.tallies)

    def wait_for_successes(self, count: int) -> None:
        deadline = time.monotonic() + JOIN_TIMEOUT
        while self.successes() < count:
            assert time.monotonic() < deadline, f"only {self.successes()} runs succeeded"
            time.sleep(0.02)

    def during(self, fault: Callable[[], None], at_least: int) -> Tally:
        """Run the writers while ``fault`` runs in this thread; what they all saw."""
        with ThreadPoolExecutor(max_workers=self.writers) as pool:
            futures = [pool.submit(self.run_writer, w, at_least) for w in range(self.writers)]
            try:
                fault()
            finally:
                self.stop.set()
            for future in futures:
                future.result(timeout=JOIN_TIMEOUT)
        total = Tally()
        for tally in self.tallies:
            total.add(tally)
        return total

    def check(self, total: Tally) -> None:
        """Every run a writer saw return is in the log once and whole, and nothing else is."""
        for session_id in self.session_ids:
            check_runs_landed(self.db, session_id, total.run_ids(session_id))


@pytest.fixture
def pg_target(postgres_schema: str) -> Target:
    return postgres_target(postgres_schema)


@pytest.mark.slow
def test_writers_recover_while_their_connections_are_killed_again_and_again(
    pg_target: Target, admin: psycopg.Connection[Any]
) -> None:
    """6 threads on 3 sessions while every Kern connection is terminated 30 times, 0.2 s
    apart: runs keep succeeding, no error reaches a writer, every run that returned is logged."""
    killed: list[int] = []
    during: list[int] = []
    with pg_target.open() as db:
        load = Load(db, writers=6, sessions=3)

        def keep_killing() -> None:
            load.wait_for_successes(6)
            for _ in range(30):
                rows = admin.execute(TERMINATE_KERN, [pg_target.application_name]).fetchall()
                killed.append(len(rows))
                time.sleep(0.2)
            during.append(load.successes() - 6)

        total = load.during(keep_killing, at_least=5)
        assert sum(killed) >= 30  # Kern's connections were really killed, again and again
        assert during[0] > 0  # and writers got runs through between the kills
        assert total.errors == []
        load.check(total)


def local_cluster() -> list[str]:
    """``[version, name]`` of the local cluster on the test server's port, or skip."""
    port = conninfo_to_dict(POSTGRES_URL).get("port", "5432")
    if shutil.which("pg_lsclusters") is None or shutil.which("pg_ctlcluster") is None:
        pytest.skip("restarting the server needs pg_lsclusters and pg_ctlcluster")
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True)
    for line in listed.stdout.splitlines():
        version, name, cluster_port, *_ = line.split()
        if cluster_port == str(port):
            return [version, name]
    pytest.skip(f"no local PostgreSQL cluster on port {port} to restart")


def pg_ctlcluster(cluster: list[str], action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
        capture_output=True,
        text=True,
        timeout=JOIN_TIMEOUT,
    )


@pytest.fixture
def restart_server(postgres_schema: str) -> Iterator[Callable[[], None]]:
    """Restarts the test server once; makes sure it is up again afterwards, whatever happened."""
    cluster = local_cluster()

    def restart() -> None:
        done = pg_ctlcluster(cluster, "restart")
        assert done.returncode == 0, done.stderr

    yield restart
    if pg_ctlcluster(cluster, "status").returncode != 0:
        pg_ctlcluster(cluster, "start")


@pytest.mark.slow
def test_writers_recover_from_a_server_restart(
    pg_target: Target, restart_server: Callable[[], None]
) -> None:
    """4 threads on 2 sessions; the server restarts once mid-load: no error reaches a
    writer, and every run that returned is in the log, once, whole."""
    with pg_target.open() as db:
        load = Load(db, writers=4, sessions=2)

        restarted: list[float] = []

        def restart_midway() -> None:
            load.wait_for_successes(20)
            restarted.append(time.monotonic())
            restart_server()
            restarted.append(time.monotonic())
            load.wait_for_successes(load.successes() + 20)  # and they carry on

        total = load.during(restart_midway, at_least=5)
        assert total.errors == []
        load.check(total)
        # For the log (-rP): how long the restart took, and the longest wait between runs.
        began, ended = restarted
        finished = sorted(load.finished_at)
        pause = max(later - earlier for earlier, later in itertools.pairwise(finished))
        print(
            f"{len(total.succeeded)} runs; restart took {ended - began:.1f} s; "
            f"longest wait between two runs returning: {pause:.1f} s"
        )
