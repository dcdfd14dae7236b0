"""The use cases: the store port, the unit of work, session commands and reads, time
travel, audit, forks, replay and the workflow runner.

Imports kern.domain and kern.projections; no driver, no SQL, no argparse, no store.
"""
