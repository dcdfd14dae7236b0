"""The domain: events, values, the SessionAggregate, encoding and the hash chain, forks, errors.

Pure: imports nothing of Kern's other layers and does no I/O.
"""
