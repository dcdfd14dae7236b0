"""What a keyring costs: recording runs and reading sessions back, with and without.

Two SQLite stores side by side, one opened with a ``LocalKeyring``, run the same
workload in interleaved rounds (the order rotating each round):

- record: ``--runs`` runs of a three-step workflow (a 2,000-character input,
  three 1,000-character outputs), into five sessions, and each into a new
  session (whose first event also stores the session's data key);
- get_session (warm): each of those sessions read back on the same db object;
- get_session (cold): a new db object on the file reads a session of
  ``--long`` runs (every event decoded, and on the keyed store decrypted);
- get_session (cold, segments): the same for a session of ``--longer`` runs,
  read once before, so that its finished runs are kept as read-model segments
  (sealed on the keyed store);
- record cold (snapshot): a new db object records one run into that session,
  starting from its write-model snapshot (sealed on the keyed store).

Each ratio is keyed / plain, the median of the per-round ratios. Run:

    .venv/bin/python benchmarks/measure_keyring.py [--rounds 7] [--runs 50] [--long 200]
        [--longer 1200]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from timing import interleave, median, ms, paired_ratio

from kern.crypto import LocalKeyring
from kern.db.sqlite import SqliteDb
from kern.workflow import StepInput, Workflow

KEYRING = LocalKeyring(bytes(range(32)))


def research(step_input: StepInput) -> str:
    return "r" * 1000


def summarize(step_input: StepInput) -> str:
    return "s" * 1000


def tally(step_input: StepInput) -> str:
    return "t" * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--long", type=int, default=200)
    parser.add_argument("--longer", type=int, default=1200)
    args = parser.parse_args()
    text = "i" * 2000
    with tempfile.TemporaryDirectory() as place:
        files = {"plain": Path(place) / "plain.db", "keyed": Path(place) / "keyed.db"}
        keyrings = {"plain": None, "keyed": KEYRING}
        dbs = {name: SqliteDb(files[name], keyring=keyrings[name]) for name in files}
        flows = {
            name: Workflow(name="Bench", db=db, steps=[research, summarize, tally])
            for name, db in dbs.items()
        }
        for flow in flows.values():
            for _ in range(args.long):
                flow.run(input=text, session_id="long")
            for _ in range(args.longer):
                flow.run(input="q", session_id="longer")
        counter = {"plain": 0, "keyed": 0}

        def record(name: str) -> None:
            counter[name] += 1
            for index in range(args.runs):
                flows[name].run(input=text, session_id=f"r{counter[name]}-{index}")

        def append(name: str) -> None:
            for index in range(args.runs):
                flows[name].run(input=text, session_id=f"a{index % 5}")

        def warm(name: str) -> None:
            for index in range(args.runs):
                dbs[name].get_session(f"r{counter[name]}-{index}")

        def cold(name: str) -> None:
            with SqliteDb(files[name], keyring=keyrings[name]) as fresh:
                fresh.get_session("long")

        def segmented(name: str) -> None:
            with SqliteDb(files[name], keyring=keyrings[name]) as fresh:
                fresh.get_session("longer")

        def cold_write(name: str) -> None:
            with SqliteDb(files[name], keyring=keyrings[name]) as fresh:
                Workflow(name="Bench", db=fresh, steps=[research, summarize, tally]).run(
                    input="q", session_id="longer"
                )

        for name in dbs:
            segmented(name)  # keeps the finished runs as segments

        rows = []
        for label, work in (
            (f"record {args.runs} runs, into 5 sessions", append),
            (f"record {args.runs} runs, each a new session", record),
            (f"get_session warm ({args.runs} sessions)", warm),
            (f"get_session cold ({args.long} runs)", cold),
            (f"get_session cold ({args.longer} runs, segments)", segmented),
            (f"record one run cold ({args.longer}-run session, snapshot)", cold_write),
        ):
            times = interleave(
                {name: (lambda name=name, work=work: work(name)) for name in dbs}, args.rounds
            )
            rows.append(
                (
                    label,
                    median(times["plain"]),
                    median(times["keyed"]),
                    paired_ratio(times["keyed"], times["plain"]),
                )
            )
        for db in dbs.values():
            db.close()
    print(f"SQLite, {args.rounds} rounds interleaved; medians\n")
    print("| work | no keyring | LocalKeyring | keyed / plain |")
    print("|---|---|---|---|")
    for label, plain, keyed, ratio in rows:
        print(f"| {label} | {ms(plain)} | {ms(keyed)} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
