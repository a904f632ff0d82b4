"""One visit of two detectors through a worker on real services, processed twice.

The central repository has a PostgreSQL registry and an S3 (moto) datastore;
the raws land in an S3 bucket whose notifications go through Kafka (tansu),
as Ceph's do; the APDB is on PostgreSQL; alerts are produced to a Kafka
topic.  The worker is built from settings alone (`Worker.from_settings`), as
in deployment (only the Kafka consumer's session timeout is shortened for the
test broker).

Checked: outputs in the central repository, DIA sources in the APDB at the
injected transients, alerts that validate against the official schema; then
the same visit processed again adds no dataset, no APDB row and no alert.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy
from astropy.coordinates import SkyCoord
from lsst.daf.butler import Butler

from promptproc.activator import VisitResult, Worker, process_visit
from promptproc.alerts import load_alert_schema, read_alerts
from promptproc.apdb import create_apdb
from promptproc.demo import DemoOptions, new_night
from promptproc.notifications import KafkaNotificationPublisher, KafkaNotificationSource, ensure_topic
from promptproc.objectstore import S3ObjectStore
from promptproc.repo import bootstrap_sim, create_central_repo
from promptproc.settings import load_settings
from promptproc.simulation import SimulatedObservatory
from promptproc.tester import RawUploader, next_visit_event
from promptproc.testing import services

pytestmark = [pytest.mark.services, pytest.mark.slow]

DETECTORS = (0, 1)
CHECKOUT = Path(__file__).resolve().parents[2]
EXPORTED = ["visit_image", "difference_image", "dia_sources", "dia_source_apdb", "alert_packets"]


class _WatchedSource(KafkaNotificationSource):
    """The real Kafka source, which also says when a worker first polls it (its wait began)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.polled = threading.Event()

    def poll(self, timeout: float) -> list[Any]:
        self.polled.set()
        return super().poll(timeout)


@dataclass
class Deployment:
    """The services, the worker and the simulated visit."""

    worker: Worker
    observatory: SimulatedObservatory
    uploader: RawUploader
    central_uri: str
    apdb_url: str
    apdb_schema: str
    bootstrap: str
    alert_topic: str

    def central_outputs(self) -> list[Any]:
        butler = Butler.from_config(self.central_uri)
        try:
            return [
                ref
                for name in EXPORTED
                for ref in butler.query_datasets(
                    name, collections="SimCam/prompt/*", find_first=False, explain=False, limit=None
                )
            ]
        finally:
            butler.close()

    def apdb_sources(self) -> list[tuple[int, int, float, float]]:
        engine = sqlalchemy.create_engine(self.apdb_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sqlalchemy.text(
                        f'SELECT "diaSourceId", detector, ra, dec FROM "{self.apdb_schema}"."DiaSource"'
                    )
                )
                return [tuple(row) for row in rows]
        finally:
            engine.dispose()

    def alert_messages(self) -> list[Any]:
        """Every message of the alert topic, read from the beginning by a new consumer group."""
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"integration-reader-{time.monotonic_ns()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
            }
        )
        messages: list[Any] = []
        try:
            consumer.subscribe([self.alert_topic])
            deadline, quiet_until = time.monotonic() + 60.0, time.monotonic() + 15.0
            while time.monotonic() < min(deadline, quiet_until):
                message = consumer.poll(0.5)
                if message is None:
                    continue
                assert message.error() is None, message.error()
                messages.append(message)
                quiet_until = time.monotonic() + 3.0  # the rest follows quickly once reading began
            return messages
        finally:
            consumer.close()


@pytest.fixture(scope="module")
def deployment(
    postgres: services.PostgresDatabase,
    s3: services.S3Service,
    kafka: services.KafkaService,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("integration")
    night = new_night(DemoOptions(workdir=tmp, visits=1, detectors=2, size=512, seed=11, lead_time=600.0))
    config = night.simulation_config()
    central_bucket, raw_bucket = s3.create_bucket("central"), s3.create_bucket("raws")
    central_uri = create_central_repo(
        f"s3://{central_bucket}/repo",
        registry=postgres.url,
        namespace=postgres.make_schema("central"),
        datastore_root=f"s3://{central_bucket}/repo",
    )
    bootstrap_sim(central_uri, config, detectors=DETECTORS)
    apdb_schema = postgres.make_schema("apdb")
    apdb_config = create_apdb(postgres.url, tmp / "apdb.yaml", namespace=apdb_schema)
    bucket_topic, alert_topic = kafka.topic_name("raws"), kafka.topic_name("alerts")
    for topic in (bucket_topic, alert_topic):
        ensure_topic(kafka.bootstrap, topic)
    pipelines = ", ".join(
        str(CHECKOUT / "pipelines" / "SimCam" / f"{n}.yaml") for n in ("ApPipe", "SingleFrame")
    )
    preprocessing = CHECKOUT / "pipelines" / "SimCam" / "Preprocessing.yaml"
    settings = load_settings(
        {
            "RUBIN_INSTRUMENT": "SimCam",
            "PLATFORM": "local",
            "SKYMAP": "sim_rings",
            "MAIN_PIPELINES_CONFIG": f"- pipelines: [{pipelines}]",
            "PREPROCESSING_PIPELINES_CONFIG": f"- pipelines: [{preprocessing}]",
            "CENTRAL_REPO": central_uri,
            "CONFIG_APDB": str(apdb_config),
            "IMAGE_BUCKET": raw_bucket,
            "S3_ENDPOINT_URL": s3.endpoint_url,
            "KAFKA_CLUSTER": kafka.bootstrap,
            "BUCKET_TOPIC": bucket_topic,
            "AP_KAFKA_SERVER": kafka.bootstrap,
            "AP_KAFKA_TOPIC": alert_topic,
            "LOCAL_REPOS": str(tmp / "local"),
            "IMAGE_TIMEOUT": "20",
            "LOG_FORMAT": "text",
        }
    )
    # Everything from the settings, except the consumer's session timeout: a few seconds, so that
    # the test broker forms the group in ~3 s instead of waiting out librdkafka's 45 s default.
    notifications = _WatchedSource(kafka.bootstrap, bucket_topic, config={"session.timeout.ms": 6000})
    worker = Worker.from_settings(settings, notifications=notifications)
    observatory = SimulatedObservatory(config)
    publisher = KafkaNotificationPublisher(kafka.bootstrap, bucket_topic)
    uploader = RawUploader(observatory, S3ObjectStore(raw_bucket, s3.endpoint_url), notify=publisher.publish)
    try:
        yield Deployment(
            worker,
            observatory,
            uploader,
            central_uri,
            postgres.psycopg2_url,
            apdb_schema,
            kafka.bootstrap,
            alert_topic,
        )
    finally:
        worker.close()
        publisher.close()


@pytest.fixture(scope="module")
def first_pass(deployment: Deployment) -> list[VisitResult]:
    """The visit processed once; the raws are uploaded while the first detector waits."""
    visit = deployment.observatory.visits[0]
    events = next_visit_event(visit).fan_out(DETECTORS)

    source = deployment.worker.watcher.source
    assert isinstance(source, _WatchedSource)

    def camera() -> None:
        # The raws land once the first detector waits for its raw, as the camera would write them.
        source.polled.wait(timeout=120.0)
        time.sleep(1.0)
        for detector in DETECTORS:
            deployment.uploader.upload(visit, detector)

    thread = threading.Thread(target=camera)
    thread.start()
    try:
        return [process_visit(event, deployment.worker) for event in events]
    finally:
        thread.join()


@pytest.fixture(scope="module")
def first_alerts(deployment: Deployment, first_pass: list[VisitResult]) -> list[dict[str, Any]]:
    """The alerts on the topic after the first pass."""
    return read_alerts(deployment.alert_messages())


def test_outputs_apdb_and_alerts(
    deployment: Deployment, first_pass: list[VisitResult], first_alerts: list[dict[str, Any]]
) -> None:
    for result in first_pass:
        assert result.ok, result.summary()
        assert result.pipeline == "ApPipe"
        assert result.apdb == "stored"
        assert result.exported > 0
    # The first detector waited for its raw, which a Kafka bucket notification announced.
    assert 0.5 < first_pass[0].phases["wait"] < 30.0

    outputs = deployment.central_outputs()
    assert {ref.datasetType.name for ref in outputs} == set(EXPORTED)
    assert {int(ref.dataId["detector"]) for ref in outputs} == set(DETECTORS)
    assert all(str(ref.run).startswith("SimCam/prompt/output-") for ref in outputs)

    sources = deployment.apdb_sources()
    assert len(sources) == sum(result.dia_sources for result in first_pass)
    visit = deployment.observatory.visits[0]
    recovered, injected = 0, 0
    for detector in DETECTORS:
        truth = deployment.observatory.truth(visit, detector)
        bright = truth[(truth["kind"] == "transient") & (truth["snr"] >= 20)]
        rows = np.array([(ra, dec) for _, det, ra, dec in sources if det == detector])
        injected += len(bright)
        if len(bright) and len(rows):
            found = SkyCoord(rows[:, 0], rows[:, 1], unit="deg")
            _, separation, _ = SkyCoord(bright["ra"], bright["dec"], unit="deg").match_to_catalog_sky(found)
            recovered += int((separation.arcsec < 0.5).sum())
    assert injected > 0
    # Most of them (the science smoke test holds the pipeline to 90% recovery).
    assert recovered > 0.5 * injected, f"{recovered} of {injected} bright transients in the APDB"

    alerts = first_alerts
    assert len(alerts) == sum(result.alerts for result in first_pass) == len(sources)
    schema = load_alert_schema()
    for alert in alerts:
        schema.validate(alert)
    assert {alert["diaSourceId"] for alert in alerts} == {row[0] for row in sources}


def test_second_pass_adds_nothing(
    deployment: Deployment, first_pass: list[VisitResult], first_alerts: list[dict[str, Any]]
) -> None:
    assert all(result.ok for result in first_pass)
    outputs = {ref.id for ref in deployment.central_outputs()}
    sources = sorted(deployment.apdb_sources())
    alert_ids = [alert["diaSourceId"] for alert in first_alerts]

    events = next_visit_event(deployment.observatory.visits[0]).fan_out(DETECTORS)
    again = [process_visit(event, deployment.worker) for event in events]

    for result in again:
        assert result.ok, result.summary()
        assert result.exported == 0
        assert result.already_exported > 0
        assert result.apdb == "already stored"
        assert result.alerts == 0
    assert {ref.id for ref in deployment.central_outputs()} == outputs
    assert sorted(deployment.apdb_sources()) == sources
    after = [alert["diaSourceId"] for alert in read_alerts(deployment.alert_messages())]
    assert after == alert_ids
    assert len(set(after)) == len(after)
