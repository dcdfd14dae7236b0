"""Adapters: everything with I/O. Stores (kern.adapters.stores) and the command line
(kern.adapters.cli) behind the use-case layer's ports.
"""
