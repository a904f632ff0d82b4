"""The demo's results: one record per detector-visit, as a table and as ``summary.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..activator.result import PHASES, VisitResult

__all__ = ["format_table", "summary_records", "write_summary"]

_COLUMNS = (
    ("visit", 13),
    ("det", 3),
    ("status", 9),
    ("pipeline", 11),
    ("DIA src", 7),
    ("new obj", 7),
    ("alerts", 6),
    ("exported", 8),
    ("APDB", 7),
)

_APDB = {"stored": "stored", "already stored": "already", "nothing to store": "empty", "not written": "-"}


def summary_records(results: Sequence[VisitResult]) -> list[dict[str, Any]]:
    """The results as JSON-ready records, the content of ``summary.json``.

    Parameters
    ----------
    results : `~collections.abc.Sequence` [`~promptproc.activator.VisitResult`]
        One per detector-visit.

    Returns
    -------
    records : `list` [`dict`]
        Each with ``visit`` (the visit ID, or the group when no raw was
        ingested), ``detector``, ``status``, ``dia_sources``,
        ``new_dia_objects``, ``alerts``, ``phases`` (seconds by phase) and
        every other field of `~promptproc.activator.VisitResult.to_dict`.
    """
    records = []
    for result in results:
        record = result.to_dict()
        record["visit"] = result.visit if result.visit is not None else result.group
        records.append(record)
    return records


def write_summary(path: Path, results: Sequence[VisitResult]) -> None:
    """Write ``summary.json`` (a list of `summary_records`)."""
    path.write_text(json.dumps(summary_records(results), indent=1) + "\n")


def format_table(results: Sequence[VisitResult]) -> str:
    """The results as a fixed-width table with seconds per phase and a total line.

    Parameters
    ----------
    results : `~collections.abc.Sequence` [`~promptproc.activator.VisitResult`]
        One per detector-visit.

    Returns
    -------
    table : `str`
        Several lines, no trailing newline.
    """
    header = (
        [f"{name:>{width}}" for name, width in _COLUMNS] + [f"{p:>7}" for p in PHASES] + [f"{'total':>7}"]
    )
    lines = ["  ".join(header), "  ".join("-" * len(cell) for cell in header)]
    for result in results:
        visit = str(result.visit) if result.visit is not None else result.group[:13]
        cells = [
            f"{visit:>13}",
            f"{result.detector:>3}",
            f"{result.status:>9}",
            f"{result.pipeline or '-':>11}",
            f"{result.dia_sources:>7}",
            f"{result.new_dia_objects:>7}",
            f"{result.alerts:>6}",
            f"{result.exported:>8}",
            f"{_APDB.get(result.apdb, result.apdb):>7}",
        ]
        cells += [f"{result.phases[p]:>7.2f}" if p in result.phases else f"{'-':>7}" for p in PHASES]
        cells.append(f"{result.total_seconds:>7.2f}")
        lines.append("  ".join(cells))
    ok = sum(result.ok for result in results)
    lines.append(
        f"{len(results)} detector-visits, {ok} succeeded: "
        f"{sum(r.dia_sources for r in results)} DIA sources, "
        f"{sum(r.new_dia_objects for r in results)} new DIA objects, "
        f"{sum(r.alerts for r in results)} alerts, "
        f"{sum(r.exported for r in results)} datasets exported "
        f"({sum(r.already_exported for r in results)} already there)"
    )
    failed = [r for r in results if not r.ok]
    for result in failed:
        lines.append(f"  {result.summary()}")
    return "\n".join(lines)
