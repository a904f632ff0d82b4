"""`process_visit` on the embedded default: outcomes, HTTP statuses, what is written and what is not.

One worker serves every test of the module: a SQLite central repository
bootstrapped for detector 0 (512x512 pixels) and five visits of one field, a
SQLite APDB, a local directory as the raw bucket with in-process
notifications, and alerts written as files.  Each scenario uses its own
visit, so the tests do not depend on their order.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from lsst.daf.butler import Butler, MissingDatasetTypeError

from promptproc.activator import (
    PHASES,
    LocalVisitQueue,
    VisitResult,
    Worker,
    process_visit,
    run_local,
)
from promptproc.alerts import read_alerts
from promptproc.apdb import describe_apdb
from promptproc.demo import EXPORTED_TYPES, DemoLayout, DemoOptions, prepare_workdir, worker_settings
from promptproc.image import write_raw_fits
from promptproc.notifications import LocalNotificationBus
from promptproc.objectstore import LocalObjectStore
from promptproc.pipelines_config import PipelinesConfig
from promptproc.simulation import SimulatedObservatory, SimVisit, sidecar_dict
from promptproc.tester import RawUploader, next_visit_event
from promptproc.visit import FannedOutVisit, utc_to_tai

pytestmark = pytest.mark.slow

DETECTOR = 0


@dataclass
class Embedded:
    """The module's embedded default and its worker."""

    layout: DemoLayout
    observatory: SimulatedObservatory
    worker: Worker
    store: LocalObjectStore
    uploader: RawUploader

    def visit(self, index: int) -> SimVisit:
        return self.observatory.visits[index]

    def event(self, index: int, **changes: object) -> FannedOutVisit:
        event = next_visit_event(self.visit(index)).fan_out([DETECTOR])[0]
        return dataclasses.replace(event, **changes) if changes else event

    def prompt_datasets(self) -> int:
        """Datasets in the central repository's output runs."""
        butler = Butler.from_config(str(self.layout.central))
        try:
            total = 0
            for name in EXPORTED_TYPES:
                try:
                    refs = butler.query_datasets(
                        name, collections="SimCam/prompt/*", find_first=False, explain=False, limit=None
                    )
                except MissingDatasetTypeError:  # not registered before the first export
                    continue
                total += len(refs)
            return total
        finally:
            butler.close()

    def apdb_rows(self) -> dict[str, int]:
        counts = describe_apdb(self.layout.apdb_config, count_rows=True).row_counts
        assert counts is not None
        return counts

    def alert_files(self) -> list[str]:
        return sorted(path.name for path in self.layout.alerts.glob("*.avro"))


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    options = DemoOptions(
        workdir=tmp_path_factory.mktemp("process") / "work",
        visits=5,
        detectors=1,
        size=512,
        seed=5,
        exposure_time=15.0,
        visit_interval=60.0,
        lead_time=600.0,
    )
    setup = prepare_workdir(options)
    observatory = SimulatedObservatory(setup.config.simulation_config())
    bus = LocalNotificationBus()
    store = LocalObjectStore(setup.layout.raws, on_put=bus.publish)
    worker = Worker.from_settings(
        worker_settings(setup.layout),
        raw_store=LocalObjectStore(setup.layout.raws),
        notifications=bus.subscribe(),
    )
    try:
        yield Embedded(setup.layout, observatory, worker, store, RawUploader(observatory, store))
    finally:
        worker.close()


@pytest.fixture(scope="module")
def first(embedded: Embedded) -> VisitResult:
    """Visit 0 processed once, its raw uploaded before the event."""
    embedded.uploader.upload(embedded.visit(0), DETECTOR)
    return process_visit(embedded.event(0), embedded.worker)


def test_success(embedded: Embedded, first: VisitResult) -> None:
    assert first.ok, first.summary()
    assert (first.status, first.http_status, first.error) == ("success", 200, None)
    assert first.pipeline == "ApPipe"
    assert list(first.phases) == list(PHASES)
    assert all(seconds >= 0 for seconds in first.phases.values())
    assert first.visit == embedded.visit(0).exposure_id
    assert first.exposures == [first.visit]
    assert first.dia_sources > 0
    assert 0 < first.new_dia_objects <= first.dia_sources
    assert first.alerts == first.dia_sources
    assert first.apdb == "stored"
    assert first.exported == len(EXPORTED_TYPES)
    assert first.already_exported == 0
    assert first.output_run is not None
    assert first.output_run.startswith("SimCam/prompt/output-")
    assert embedded.prompt_datasets() >= len(EXPORTED_TYPES)
    rows = embedded.apdb_rows()
    assert rows["DiaSource"] >= first.dia_sources
    alerts = read_alerts(embedded.layout.alerts / f"{first.visit}_{DETECTOR}.avro")
    assert len(alerts) == first.alerts
    assert len({alert["diaSourceId"] for alert in alerts}) == len(alerts)
    # The worker's local repository keeps only its cache.
    local = embedded.worker.local_repo.butler
    assert not [info.name for info in local.collections.query_info("SimCam/prompt/*")]
    assert json.dumps(first.to_dict())  # JSON-ready


def test_redelivery_adds_nothing(embedded: Embedded, first: VisitResult) -> None:
    assert first.ok
    datasets, rows = embedded.prompt_datasets(), embedded.apdb_rows()
    path = embedded.layout.alerts / f"{first.visit}_{DETECTOR}.avro"
    alerts_before = path.read_bytes()

    again = process_visit(embedded.event(0), embedded.worker)

    assert again.ok, again.summary()
    assert again.exported == 0
    assert again.already_exported == first.exported
    assert again.apdb == "already stored"
    assert again.alerts == 0
    assert again.new_dia_objects == 0
    assert again.dia_sources == first.dia_sources
    assert embedded.prompt_datasets() == datasets
    assert embedded.apdb_rows() == rows
    assert path.read_bytes() == alerts_before


def test_no_template_runs_single_frame(embedded: Embedded, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a template for the detector, the next configured pipeline runs: no DIA, no APDB, no alert."""
    repo = embedded.worker.local_repo
    monkeypatch.setattr(
        repo, "options", dataclasses.replace(repo.options, template_collections="no/templates")
    )
    embedded.uploader.upload(embedded.visit(4), DETECTOR)
    rows, files = embedded.apdb_rows(), embedded.alert_files()

    result = process_visit(embedded.event(4), embedded.worker)

    assert result.ok, result.summary()
    assert result.pipeline == "SingleFrame"
    assert result.exported == 3  # visit_image, visit_sources, visit_summary
    assert (result.dia_sources, result.alerts, result.apdb) == (0, 0, "not written")
    assert (embedded.apdb_rows(), embedded.alert_files()) == (rows, files)


def test_expired_event(embedded: Embedded) -> None:
    stale = utc_to_tai(time.time() - 2 * embedded.worker.settings.message_expiration)
    result = process_visit(embedded.event(1, private_sndStamp=stale), embedded.worker)
    assert (result.status, result.http_status, result.error) == ("expired", 403, "ExpiredVisit")
    assert "MESSAGE_EXPIRATION" in (result.detail or "")
    assert result.phases == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"instrument": "LSSTCam"}, "instrument"), ({"detector": 42}, "detector")],
)
def test_event_for_another_worker(embedded: Embedded, changes: dict, field: str) -> None:
    result = process_visit(embedded.event(1, **changes), embedded.worker)
    assert (result.status, result.http_status, result.error) == ("invalid", 400, "InvalidVisit")
    assert f"field '{field}'" in (result.detail or "")
    assert result.phases == {}


@pytest.mark.parametrize("nodes", ["- {survey: ANOTHER, pipelines: [ApPipe.yaml]}", "- {pipelines: []}"])
def test_no_pipeline_configured(embedded: Embedded, monkeypatch: pytest.MonkeyPatch, nodes: str) -> None:
    monkeypatch.setattr(
        embedded.worker, "main_pipelines", PipelinesConfig.from_yaml(nodes, base_dir=Path("/"))
    )
    result = process_visit(embedded.event(1), embedded.worker)
    assert (result.status, result.http_status, result.error) == ("ignored", 422, "IgnorableVisit")
    assert result.phases == {}


def test_no_raw_before_the_deadline(embedded: Embedded) -> None:
    worker = embedded.worker
    duration = embedded.visit(1).exposure_time
    deadline = time.time() + 5.0
    start = utc_to_tai(deadline - duration - worker.settings.image_timeout)
    datasets, rows, files = embedded.prompt_datasets(), embedded.apdb_rows(), embedded.alert_files()

    result = process_visit(embedded.event(1, startTime=start), worker)

    assert time.time() >= deadline - 0.1, "the worker waited until the deadline"
    assert (result.status, result.http_status, result.error) == ("failed", 500, "NoRawsError")
    assert "do not retry" in (result.detail or "")
    assert list(result.phases) == ["prepare", "wait", "clean"]
    assert 0.0 < result.phases["wait"] < 10.0
    assert (embedded.prompt_datasets(), embedded.apdb_rows(), embedded.alert_files()) == (
        datasets,
        rows,
        files,
    )


def test_raw_of_another_group(embedded: Embedded) -> None:
    """A raw whose sidecar names the visit's group but whose header is another visit's."""
    visit, other = embedded.visit(2), embedded.visit(1)
    key = embedded.uploader.key(visit, DETECTOR)
    raw = embedded.observatory.raw(other, DETECTOR)
    fits_path = embedded.layout.root / "mismatch.fits"
    write_raw_fits(raw, fits_path)
    sidecar = {**sidecar_dict(raw), "GROUPID": visit.group}
    embedded.store.put_bytes(key.sidecar_key, json.dumps(sidecar).encode())
    embedded.store.put_file(key.key, fits_path)
    datasets, rows, files = embedded.prompt_datasets(), embedded.apdb_rows(), embedded.alert_files()

    result = process_visit(embedded.event(2), embedded.worker)

    assert (result.status, result.http_status) == ("failed", 500)
    assert "GROUPID" in (result.detail or "")
    assert visit.group in (result.detail or "")
    assert "run" not in result.phases
    assert "export" not in result.phases
    assert (embedded.prompt_datasets(), embedded.apdb_rows(), embedded.alert_files()) == (
        datasets,
        rows,
        files,
    )


def test_pipeline_failure(embedded: Embedded) -> None:
    """A raw with flat pixels: calibration finds no star, which no retry can change."""
    visit = embedded.visit(3)
    raw = embedded.observatory.raw(visit, DETECTOR)
    for amplifier in raw.amplifiers:
        amplifier.data[...] = int(np.median(amplifier.data))
    key = embedded.uploader.key(visit, DETECTOR)
    fits_path = embedded.layout.root / "flat.fits"
    write_raw_fits(raw, fits_path)
    embedded.store.put_bytes(key.sidecar_key, json.dumps(sidecar_dict(raw)).encode())
    embedded.store.put_file(key.key, fits_path)
    datasets, rows, files = embedded.prompt_datasets(), embedded.apdb_rows(), embedded.alert_files()

    result = process_visit(embedded.event(3), embedded.worker)

    assert (result.status, result.http_status, result.error) == ("failed", 500, "NonRetriableError")
    assert result.pipeline == "ApPipe"
    assert "calibrate" in (result.detail or "")
    assert "export" not in result.phases
    assert "clean" in result.phases
    assert (embedded.prompt_datasets(), embedded.apdb_rows(), embedded.alert_files()) == (
        datasets,
        rows,
        files,
    )


def test_out_of_time_is_retriable(embedded: Embedded) -> None:
    """WORKER_TIMEOUT is checked between phases: the visit is abandoned, to be redelivered."""
    now = time.time()
    calls = iter([now])

    def clock() -> float:
        return next(calls, now + 10 * embedded.worker.settings.worker_timeout)

    result = process_visit(embedded.event(1), embedded.worker, clock=clock)

    assert (result.status, result.http_status, result.error) == ("retriable", 503, "RetriableError")
    assert "WORKER_TIMEOUT" in (result.detail or "")
    assert result.retry_after
    assert "wait" not in result.phases
    assert "clean" in result.phases


def test_local_driver(embedded: Embedded) -> None:
    """The in-process driver turns an unreadable event into a 400 and hands the others to process_visit."""
    queue = LocalVisitQueue()
    stale = utc_to_tai(time.time() - 2 * embedded.worker.settings.message_expiration)
    broken = {**embedded.event(1).to_dict(), "position": "north"}
    queue.publish(broken)
    queue.publish(b"\xff not even text")
    queue.publish(embedded.event(1, private_sndStamp=stale).to_json())
    queue.close()
    seen: list[VisitResult] = []

    results = run_local(embedded.worker, queue, on_result=seen.append)

    assert [r.http_status for r in results] == [400, 400, 403]
    assert results == seen
    assert "position" in (results[0].detail or "")
    assert results[0].detector == DETECTOR
