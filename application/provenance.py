"""Provenance Kern stamps on the events it records: its own version and a
fingerprint of the steps a workflow ran."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import JsonValue

from kern.domain.identity import check_text
from kern.domain.values import Provenance


@cache
def kern_version() -> str:
    """The installed Kern's version ("0.0.0" when running from an uninstalled tree)."""
    try:
        return version("kern")
    except PackageNotFoundError:
        return "0.0.0"


def step_fingerprint(steps: Sequence[Any]) -> str:
    """``sha256:<16 hex>`` over each step's name, type, executor and source code.

    Two workflows get the same fingerprint when their steps are the same code
    in the same order; editing a step function changes it. Executors whose
    source is not available count by their qualified name only.
    """
    digest = hashlib.sha256(json.dumps(_described(steps), sort_keys=True).encode("utf-8"))
    return f"sha256:{digest.hexdigest()[:16]}"


def _described(steps: Sequence[Any]) -> list[dict[str, Any]]:
    """Each step's name, type, executor and source; a step primitive's inner steps
    and its functions (evaluator, selector, end condition) too."""
    described = []
    for step in steps:
        item: dict[str, Any] = {
            "name": step.name,
            "type": step.step_type,
            "executor": _qualified(step.executor),
            "source": _source_digest(step.executor),
        }
        inner = getattr(step.executor, "resolved_inner_steps", None)
        if callable(inner):
            item["steps"] = _described(inner())
            item["functions"] = [
                {"executor": _qualified(fn), "source": _source_digest(fn)}
                for fn in step.executor.functions()
            ]
        described.append(item)
    return described


def _qualified(obj: Any) -> str:
    target = obj if inspect.isroutine(obj) or inspect.isclass(obj) else type(obj)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"


def _source_digest(obj: Any) -> str | None:
    target = obj if inspect.isroutine(obj) or inspect.isclass(obj) else type(obj)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def provenance(
    *,
    correlation_id: str | None = None,
    workflow_fingerprint: str | None = None,
    metadata: dict[str, JsonValue] | None = None,
) -> Provenance:
    """Provenance for events recorded now by this Kern; InvalidInputError for a
    ``correlation_id`` that is not a string every store can keep."""
    check_text(correlation_id, what="correlation_id")
    return Provenance(
        correlation_id=correlation_id,
        kern_version=kern_version(),
        workflow_fingerprint=workflow_fingerprint,
        metadata=metadata,
    )
