"""`Worker`: everything a worker process builds once at start-up and reuses for every visit.

A worker holds the central repository (read and write Butlers), its own
local repository, the raw bucket and one long-lived notification consumer
(through a `~promptproc.activator.RawWatcher`), the APDB, the alert sink, its
metrics and the pipeline configurations.  `Worker.from_settings` builds all
of them from the `~promptproc.settings.Settings` read at start-up; any part
can be passed in instead, which is how the embedded default plugs in a local
directory as the raw bucket and an in-process notification bus.

Drivers call `~promptproc.activator.process_visit` with the worker; a
shutdown request (`Worker.request_stop`, e.g. from a SIGTERM handler) is seen
by the visit at its next cooperative check.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..notifications import NotificationSource
from ..objectstore import ObjectStore
from ..observability import Metrics
from .raws import RawWatcher

if TYPE_CHECKING:
    from lsst.daf.butler import Butler
    from lsst.dax.apdb import Apdb

    from ..alerts import AlertSink
    from ..instrument import Instrument
    from ..pipelines_config import PipelinesConfig
    from ..repo import LocalRepo
    from ..settings import Settings
    from ..visit import FannedOutVisit

__all__ = ["Worker", "alert_sink_from_settings", "notification_source_from_settings"]

_LOG = logging.getLogger(__name__)

_READY_TIMEOUT = 30.0
"""Longest wait at start-up for the notification consumer to join its group, seconds."""


def alert_sink_from_settings(settings: Settings) -> AlertSink:
    """The alert sink the settings name.

    Parameters
    ----------
    settings : `~promptproc.settings.Settings`
        Read for ``AP_KAFKA_*`` and ``ALERT_DIRECTORY``.

    Returns
    -------
    sink : `~promptproc.alerts.AlertSink`
        A `~promptproc.alerts.KafkaAlertSink` when ``AP_KAFKA_SERVER`` is set
        (SASL SCRAM-SHA-512 with ``AP_KAFKA_PRODUCER_USERNAME``), else a
        `~promptproc.alerts.FileAlertSink` writing to ``ALERT_DIRECTORY``.
    """
    from ..alerts import FileAlertSink, KafkaAlertSink

    if settings.ap_kafka_server:
        settings.require("AP_KAFKA_TOPIC", purpose="AP_KAFKA_SERVER")
        config: dict[str, Any] = {}
        if settings.ap_kafka_producer_username:
            password = settings.ap_kafka_producer_password
            config = {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanisms": "SCRAM-SHA-512",
                "sasl.username": settings.ap_kafka_producer_username,
                "sasl.password": password.get_secret_value() if password is not None else "",
            }
        assert settings.ap_kafka_topic is not None
        return KafkaAlertSink(settings.ap_kafka_server, settings.ap_kafka_topic, producer_config=config)
    assert settings.alert_directory is not None  # derived from LOCAL_REPOS when unset
    return FileAlertSink(settings.alert_directory)


def notification_source_from_settings(settings: Settings) -> NotificationSource | None:
    """The long-lived bucket-notification consumer the settings name.

    Parameters
    ----------
    settings : `~promptproc.settings.Settings`
        Read for ``RAW_NOTIFICATION_SOURCE``, ``KAFKA_CLUSTER``,
        ``BUCKET_TOPIC`` and ``BUCKET_NOTIFICATION_KAFKA_OFFSET_RESET``.

    Returns
    -------
    source : `~promptproc.notifications.NotificationSource` or `None`
        A `~promptproc.notifications.KafkaNotificationSource` with a group
        of its own, or `None` for ``poll``: a polling source lists one
        observing day, so the worker makes one per visit
        (`Worker.notifications_for`).
    """
    from ..notifications import KafkaNotificationSource

    if settings.raw_notification_source == "kafka":
        settings.require("KAFKA_CLUSTER", purpose="RAW_NOTIFICATION_SOURCE=kafka")
        assert settings.kafka_cluster is not None
        return KafkaNotificationSource(
            settings.kafka_cluster, settings.bucket_topic, settings.bucket_notification_kafka_offset_reset
        )
    return None


@dataclass
class Worker:
    """The long-lived parts of a worker process; build it with `from_settings`.

    Not thread-safe: one visit at a time (several workers in one process
    each need their own).

    Attributes
    ----------
    settings : `~promptproc.settings.Settings`
        The settings read at start-up.
    instrument : `str`
        The instrument this worker processes (``RUBIN_INSTRUMENT``).
    camera : `~promptproc.instrument.Instrument`
        Its camera, from the central repository.
    central : `lsst.daf.butler.Butler`
        Writeable central repository (``CENTRAL_REPO``): outputs go there.
    read_central : `lsst.daf.butler.Butler`
        Central repository inputs are read from (``READ_CENTRAL_REPO``);
        ``central`` itself when they are the same.
    local_repo : `~promptproc.repo.LocalRepo`
        This worker's local repository (deleted by `close`).
    raw_store : `~promptproc.objectstore.ObjectStore`
        The raw bucket (``IMAGE_BUCKET``).
    watcher : `RawWatcher`
        Waits for raws; holds the long-lived notification consumer.
    apdb : `lsst.dax.apdb.Apdb`
        The APDB (``CONFIG_APDB``).
    alert_sink : `~promptproc.alerts.AlertSink`
        Where alerts go.
    metrics : `~promptproc.observability.Metrics` or `None`
        The worker's metrics (``METRICS_ENABLED``); serving them is the
        driver's job.
    main_pipelines, preprocessing_pipelines : `~promptproc.pipelines_config.PipelinesConfig`
        The pipeline selections.
    holding : `pathlib.Path`
        Directory raws are downloaded to before ingest.
    """

    settings: Settings
    instrument: str
    camera: Instrument
    central: Butler
    read_central: Butler
    local_repo: LocalRepo
    raw_store: ObjectStore
    watcher: RawWatcher
    apdb: Apdb
    alert_sink: AlertSink
    metrics: Metrics | None
    main_pipelines: PipelinesConfig
    preprocessing_pipelines: PipelinesConfig
    holding: Path
    visits_done: int = 0
    _pipeline_inputs: dict[Path, frozenset[str]] = field(default_factory=dict, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _owned: list[Any] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        raw_store: ObjectStore | None = None,
        notifications: NotificationSource | None = None,
        alert_sink: AlertSink | None = None,
        metrics: Metrics | None = None,
        central: Butler | None = None,
    ) -> Worker:
        """Build a worker from the settings read at start-up.

        Parameters
        ----------
        settings : `~promptproc.settings.Settings`
            The settings; `~promptproc.settings.Settings.require_service` is
            checked first.
        raw_store : `~promptproc.objectstore.ObjectStore`, optional
            The raw bucket; by default the S3 bucket ``IMAGE_BUCKET`` at
            ``S3_ENDPOINT_URL`` (a local directory must be passed in).
        notifications : `~promptproc.notifications.NotificationSource`, optional
            Bucket notifications of ``raw_store``; by default from
            ``RAW_NOTIFICATION_SOURCE``.  The worker closes it.
        alert_sink : `~promptproc.alerts.AlertSink`, optional
            Where alerts go; by default from the ``AP_KAFKA_*`` settings or
            ``ALERT_DIRECTORY``.  The worker closes it.
        metrics : `~promptproc.observability.Metrics`, optional
            Metrics to record in; new ones when ``METRICS_ENABLED``.
        central : `lsst.daf.butler.Butler`, optional
            A writeable Butler of ``CENTRAL_REPO`` to use (not closed by the worker).

        Returns
        -------
        worker : `Worker`
            Ready for its first visit.

        Raises
        ------
        promptproc.errors.ConfigurationError
            If a setting is missing or a part cannot be made as configured.
        promptproc.errors.ServiceUnavailableError
            If a service (database, bucket, broker) cannot be reached.
        """
        from ..apdb import open_apdb
        from ..objectstore import S3ObjectStore
        from ..observability import create_metrics
        from ..repo import LocalRepo, LocalRepoOptions

        settings.require_service()
        instrument = str(settings.rubin_instrument)
        owned: list[Any] = []
        try:
            if central is None:
                central = _open_butler(str(settings.central_repo), writeable=True)
                owned.append(central)
            read_central = central
            if settings.read_central_repo and settings.read_central_repo != settings.central_repo:
                read_central = _open_butler(settings.read_central_repo, writeable=False)
                owned.append(read_central)
            options = LocalRepoOptions.from_settings(settings, skymap=settings.skymap)
            local_repo = LocalRepo.create(read_central, instrument, settings.local_repos, options)
            owned.append(local_repo)
            camera = local_repo.camera()
            if raw_store is None:
                assert settings.image_bucket is not None
                raw_store = S3ObjectStore(settings.image_bucket, settings.s3_endpoint_url)
            if notifications is None:
                notifications = notification_source_from_settings(settings)
            if notifications is not None:
                owned.append(notifications)
                # Join the consumer group now rather than during the first visit's wait.
                if not notifications.wait_ready(_READY_TIMEOUT):
                    _LOG.warning("Raw notifications are not ready after %.0f s; going on", _READY_TIMEOUT)
            if metrics is None and settings.metrics_enabled:
                metrics = create_metrics(instrument)
            watcher = RawWatcher(
                camera,
                raw_store,
                notifications if notifications is not None else _NoNotifications(),
                metrics=metrics,
            )
            apdb = open_apdb(str(settings.config_apdb))
            if alert_sink is None:
                alert_sink = alert_sink_from_settings(settings)
            owned.append(alert_sink)
            holding = Path(tempfile.mkdtemp(prefix="holding-", dir=local_repo.root.parent))
            worker = cls(
                settings=settings,
                instrument=instrument,
                camera=camera,
                central=central,
                read_central=read_central,
                local_repo=local_repo,
                raw_store=raw_store,
                watcher=watcher,
                apdb=apdb,
                alert_sink=alert_sink,
                metrics=metrics,
                main_pipelines=settings.main_pipelines,
                preprocessing_pipelines=settings.preprocessing_pipelines,
                holding=holding,
            )
        except BaseException:
            _close_all(owned)
            raise
        worker._owned = owned
        _LOG.info(
            "Worker ready for %s: local repository %s, central repository %s",
            instrument,
            local_repo.root,
            settings.central_repo,
        )
        return worker

    # --- shutdown -----------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the current visit to stop at its next check (safe from a signal handler or thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    def close(self) -> None:
        """Release every part the worker made and delete its local repository; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        shutil.rmtree(self.holding, ignore_errors=True)
        _close_all(self._owned)
        _LOG.info("Worker closed")

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- per-visit helpers ------------------------------------------------------------------

    def pipeline_inputs(self, pipeline: Path) -> frozenset[str]:
        """Dataset types a pipeline reads but does not make (read once per pipeline file).

        Parameters
        ----------
        pipeline : `pathlib.Path`
            A pipeline YAML file.

        Returns
        -------
        inputs : `frozenset` [`str`]
            Its overall input dataset types, components stripped.

        Raises
        ------
        promptproc.errors.ConfigurationError
            If the pipeline cannot be loaded.
        """
        found = self._pipeline_inputs.get(pipeline)
        if found is None:
            from lsst.pipe.base import Pipeline

            try:
                graph = Pipeline.from_uri(str(pipeline)).to_graph()
            except Exception as err:
                raise ConfigurationError(f"cannot load pipeline {pipeline}: {err}") from err
            found = frozenset(name.partition(".")[0] for name, _ in graph.iter_overall_inputs())
            self._pipeline_inputs[pipeline] = found
        return found

    @contextlib.contextmanager
    def notifications_for(self, visit: FannedOutVisit) -> Iterator[RawWatcher]:
        """The raw watcher, with a polling source for the visit's day when there is no consumer.

        Parameters
        ----------
        visit : `~promptproc.visit.FannedOutVisit`
            The visit about to wait.

        Yields
        ------
        watcher : `RawWatcher`
            The worker's watcher, ready to wait for this visit.
        """
        from ..notifications import PollingNotificationSource

        if not isinstance(self.watcher.source, _NoNotifications):
            yield self.watcher
            return
        prefix = f"{visit.instrument}/{visit.day_obs}/"
        source = PollingNotificationSource(self.raw_store, prefix, self.settings.raw_poll_interval)
        self.watcher.source = source
        try:
            yield self.watcher
        finally:
            self.watcher.source = _NoNotifications()
            source.close()


class _NoNotifications:
    """Placeholder source of a polling worker between visits: reports nothing."""

    def wait_ready(self, timeout: float) -> bool:
        return True

    def poll(self, timeout: float) -> list:
        return []

    def close(self) -> None:
        pass


def _open_butler(uri: str, *, writeable: bool) -> Butler:
    from lsst.daf.butler import Butler

    try:
        return Butler.from_config(uri, writeable=writeable)
    except FileNotFoundError as err:
        raise ConfigurationError(f"no Butler repository at {uri}: {err}") from None


def _close_all(parts: list[Any]) -> None:
    """Close parts in reverse order of creation, logging (not raising) failures."""
    for part in reversed(parts):
        try:
            part.close()
        except Exception:
            _LOG.exception("Failed to close %r", part)
