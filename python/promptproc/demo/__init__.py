"""``promptproc demo``: a short simulated night on the embedded default, in one process.

The embedded default is promptproc without external services: a SQLite
central repository and APDB, a local directory as the raw bucket, in-process
event and notification queues, and alerts written as Avro files, all in one
work directory (`DemoLayout`).  `run_demo` sets it up (`prepare_workdir`),
plays the night with the camera simulator, processes every detector-visit
with `~promptproc.activator.process_visit`, and writes ``summary.json``.
"""

from ._config import DemoConfig, DemoLayout, choose_field
from ._report import format_table, summary_records, write_summary
from ._run import DemoReport, run_demo
from ._setup import (
    DEFAULTS,
    EXPORTED_TYPES,
    DemoOptions,
    DemoSetup,
    new_night,
    prepare_workdir,
    star_density_for,
    worker_settings,
)

__all__ = [
    "DEFAULTS",
    "EXPORTED_TYPES",
    "DemoConfig",
    "DemoLayout",
    "DemoOptions",
    "DemoReport",
    "DemoSetup",
    "choose_field",
    "format_table",
    "new_night",
    "prepare_workdir",
    "run_demo",
    "star_density_for",
    "summary_records",
    "worker_settings",
    "write_summary",
]
