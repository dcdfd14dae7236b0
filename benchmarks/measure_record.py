"""Item 1: recording one run through Kern vs the raw driver doing the same inserts.

Kern commits RunStarted before the first step and each StepCompleted before
the next step starts; the last StepCompleted goes with RunCompleted: four
commits for the five events of a 3-step run. The raw baselines insert the
very bytes Kern stored for a run, in the same four transactions (the target's
baseline; on PostgreSQL the suite checks Kern's grouping from the transaction
ids in its feed) and with all five rows in one transaction.
"""

from __future__ import annotations

import itertools

from raw import KERN_COMMITS
from report import Row, at_most
from stores import Backend
from timing import interleave, median, ms, paired_ratio
from workload import INPUT, kern_workflow

from kern.db import KernDb

RUNS_PER_SESSION = 50  # sessions stay short, so this is the cost of a run, not of a long session


def measure(backend: Backend, rounds: int) -> list[Row]:
    """Interleave Kern runs with both raw baselines; one row each."""
    db = backend.kern_db()
    raw = backend.raw()
    workflow = kern_workflow(db)
    counter = itertools.count()

    def kern_run() -> None:
        workflow.run(input=INPUT, session_id=f"record-{next(counter) // RUNS_PER_SESSION}")

    kern_run()
    records = db.store.read_records("record-0")[-5:]
    if backend.kind == "postgres":
        check_commits(db)
    rows = [(r.topic, bytes(r.state)) for r in records]
    size = sum(len(state) for _, state in rows)
    try:
        interleave({"kern": kern_run, "each": lambda: raw.insert_each(rows)}, max(3, rounds // 10))
        times = interleave(
            {
                "kern": kern_run,
                "each": lambda: raw.insert_each(rows),
                "all": lambda: raw.insert_all(rows),
            },
            rounds,
        )
    finally:
        raw.close()
        db.close()
    ratio = paired_ratio(times["kern"], times["each"])
    target, met = at_most(ratio, 1.5)
    return [
        Row(
            1,
            f"record one run ({size:,} bytes in 5 events, {len(KERN_COMMITS)} commits): "
            "Kern `Workflow.run` vs raw driver, the same rows in the same commits",
            backend.kind,
            ms(median(times["kern"])),
            f"{ms(median(times['each']))} raw, {len(KERN_COMMITS)} commits",
            ratio,
            target,
            met,
        ),
        Row(
            1,
            "the same Kern run vs raw driver, the 5 rows in one transaction (second baseline)",
            backend.kind,
            ms(median(times["kern"])),
            f"{ms(median(times['all']))} raw, 1 commit",
            paired_ratio(times["kern"], times["all"]),
        ),
    ]


def check_commits(db: KernDb) -> None:
    """Kern committed the first run's events in the groups the raw baseline uses."""
    entries, page = [], db.read_feed(limit=1000)
    while page:  # the store may hold the long sessions already: page to the end
        entries += [e for e in page if e.event.session_id == "record-0"]
        page = db.read_feed(page[-1].position, limit=1000)
    entries = entries[-5:]
    transactions = [e.position.transaction for e in entries]
    groups = tuple(
        tuple(i for i, t in enumerate(transactions) if t == tx)
        for tx in dict.fromkeys(transactions)
    )
    if groups != KERN_COMMITS:
        raise RuntimeError(f"Kern committed a run as {groups}, the baseline assumes {KERN_COMMITS}")
