"""Projections: pure folds of events into read models (sessions, runs, history, logs, diffs).

Imports only kern.domain.
"""
