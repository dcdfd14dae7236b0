"""The workflow runner: steps, what they receive, and recording each run as it goes."""
