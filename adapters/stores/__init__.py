"""The stores behind the port of kern.application.ports: in memory, SQLite, PostgreSQL.

Only kern.db constructs them.
"""
