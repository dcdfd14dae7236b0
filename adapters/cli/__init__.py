"""The ``kern`` command line: argument parsing, output, and one module per group of commands."""
