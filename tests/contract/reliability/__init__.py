"""Kern under load and faults, bad input, access rules and properties, on every store."""
