"""`run_demo`: a short simulated night on the embedded default, in one process.

The camera simulator (`promptproc.tester`) runs in a thread: it announces
each visit to the in-process visit queue and, an exposure later, uploads
every detector's raw to the raw bucket (a directory whose puts are announced
on an in-process notification bus).  Workers take the detector-visits from
the queue through the local driver, one at a time each: the first in the
calling thread, the others (``--workers``) in threads of their own, each
with its own local repository and notification subscription, as separate
worker pods would.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..activator import LocalVisitQueue, VisitResult, Worker, run_local
from ..notifications import LocalNotificationBus
from ..objectstore import LocalObjectStore
from ..observability import DEFAULT_LOG_LEVELS, configure_logging
from ..settings import Settings
from ..simulation import SimulatedObservatory
from ..tester import CameraSimulator, RawUploader, TesterReport
from ._config import BUCKET
from ._report import write_summary
from ._setup import DemoOptions, DemoSetup, prepare_workdir, worker_settings

__all__ = ["DemoReport", "run_demo"]

_LOG = logging.getLogger(__name__)


@dataclass
class DemoReport:
    """What a demo run did.

    Attributes
    ----------
    setup : `DemoSetup`
        The work directory and the night.
    results : `list` [`~promptproc.activator.VisitResult`]
        One per detector-visit, in processing order.
    tester : `~promptproc.tester.TesterReport` or `None`
        What the camera simulator sent.
    seconds : `dict` [`str`, `float`]
        Wall time of set-up steps, ``night`` (tester and worker) and ``total``.
    """

    setup: DemoSetup
    results: list[VisitResult] = field(default_factory=list)
    tester: TesterReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every detector-visit succeeded."""
        return bool(self.results) and all(result.ok for result in self.results)


@contextlib.contextmanager
def _logs_to(path: Path, settings: Settings) -> Iterator[None]:
    """Send the service's JSON log lines to a file for the block; put logging back as it was after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    names = [*DEFAULT_LOG_LEVELS, *settings.log_levels]
    levels = {name: logging.getLogger(name or None).level for name in names}
    with path.open("a", encoding="utf-8") as stream:
        handler = configure_logging(settings, log_format="json", stream=stream)
        try:
            yield
        finally:
            root.removeHandler(handler)
            handler.close()
            for name, level in levels.items():
                logging.getLogger(name or None).setLevel(level)


def run_demo(
    options: DemoOptions,
    *,
    echo: Callable[[str], None] = print,
    on_result: Callable[[VisitResult], None] | None = None,
    pipelines_dir: Path | None = None,
) -> DemoReport:
    """Run the demo: set up the work directory, play the night, process every detector-visit.

    Parameters
    ----------
    options : `DemoOptions`
        Work directory, night and reuse choice.
    echo : callable, optional
        Receives progress lines.
    on_result : callable, optional
        Called with each `~promptproc.activator.VisitResult` as it is known.
    pipelines_dir : `pathlib.Path`, optional
        Directory holding ``pipelines/``; promptproc's checkout by default.

    Returns
    -------
    report : `DemoReport`
        The results; ``summary.json`` is written in the work directory.
    """
    start = time.perf_counter()
    echo(f"Setting up the embedded default in {options.workdir} ...")
    setup = prepare_workdir(options)
    report = DemoReport(setup)
    report.seconds.update(setup.seconds)
    layout = setup.layout
    settings = worker_settings(layout, pipelines_dir)
    with _logs_to(layout.log_file, settings):
        _play_night(options, report, settings, echo, on_result)
    report.seconds["total"] = time.perf_counter() - start
    return report


def _play_night(
    options: DemoOptions,
    report: DemoReport,
    settings: Settings,
    echo: Callable[[str], None],
    on_result: Callable[[VisitResult], None] | None,
) -> None:
    """Start the workers and the camera simulator, and process the night."""
    config, layout = report.setup.config, report.setup.layout
    observatory = SimulatedObservatory(config.simulation_config())
    what = (
        f"{config.visits} visits x {config.detectors} detectors of {config.size}x{config.size} pixels, "
        f"field RA {config.ra:.2f} Dec {config.dec:.2f}, day_obs {config.day_obs}"
    )
    if report.setup.reused:
        echo(f"Reusing {layout.root}: replaying its night ({what}); nothing should be duplicated.")
    else:
        echo(f"New night: {what}.")

    mark = time.perf_counter()
    bus = LocalNotificationBus()
    worker_store = LocalObjectStore(layout.raws, bucket=BUCKET)
    camera_store = LocalObjectStore(layout.raws, bucket=BUCKET, on_put=bus.publish)
    workers: list[Worker] = []
    try:
        for _ in range(options.workers):
            workers.append(
                Worker.from_settings(settings, raw_store=worker_store, notifications=bus.subscribe())
            )
    except BaseException:
        for worker in workers:
            worker.close()
        raise
    report.seconds["worker start-up"] = time.perf_counter() - mark
    visits = LocalVisitQueue()
    stop = threading.Event()
    camera = CameraSimulator(
        RawUploader(observatory, camera_store, scratch=layout.root),
        visits.publish,
        config.detector_ids,
        skip_existing=report.setup.reused,
        stop=stop,
    )
    lock = threading.Lock()

    def play() -> None:
        try:
            report.tester = camera.run(observatory.visits)
        except Exception:
            _LOG.exception("The camera simulator failed")
            echo("The camera simulator failed; see the log")
        finally:
            visits.close()

    def collect(result: VisitResult) -> None:
        with lock:
            report.results.append(result)
            if on_result is not None:
                on_result(result)

    def serve(worker: Worker) -> None:
        try:
            run_local(worker, visits, on_result=collect)
        except Exception:
            _LOG.exception("A worker failed")
            echo("A worker failed; see the log")

    mark = time.perf_counter()
    threads = [threading.Thread(target=play, name="camera-simulator", daemon=True)]
    threads += [
        threading.Thread(target=serve, args=(worker,), name=f"worker-{index}", daemon=True)
        for index, worker in enumerate(workers[1:], start=1)
    ]
    for thread in threads:
        thread.start()
    try:
        serve(workers[0])
        for thread in threads[1:]:
            thread.join()
    finally:
        stop.set()
        for worker in workers:
            worker.request_stop()
        for thread in threads:
            thread.join(timeout=60.0)
        for worker in workers:
            worker.close()
        report.results.sort(key=lambda result: (result.visit or 0, result.group, result.detector))
        report.seconds["night"] = time.perf_counter() - mark
        write_summary(layout.summary, report.results)
