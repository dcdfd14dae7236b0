"""Kern over HTTP: the read-only JSON API and the web timeline (``kern.web``)."""
