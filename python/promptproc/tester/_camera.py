"""`CameraSimulator`: plays a simulated night in real time, as the observatory and camera would.

For each visit, in time order:

1. ``slew`` seconds before the exposure starts, it announces the visit:
   one ``nextVisit`` event, fanned out to one event per detector, each
   handed to ``publish`` (a driver's queue, a Kafka topic ...);
2. ``readout`` seconds after the exposure ends, it uploads the raw of every
   detector with its sidecar (`RawUploader`).

A visit whose upload time has already passed when it is announced (a replay
of an earlier night, or a late start) gets its raws uploaded *before* its
announcement, as if the camera had written them while the event was delayed.
Waits are cut short by ``stop``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..simulation import SimVisit
from ..visit import FannedOutVisit
from ._events import next_visit_event, visit_times_utc
from ._uploader import RawUploader, UploadedRaw

__all__ = ["CameraSimulator", "TesterReport", "TesterTimings"]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class TesterTimings:
    """When events and raws go out, relative to a visit's exposure.

    Parameters
    ----------
    slew : `float`
        Seconds between the ``nextVisit`` event and the start of the
        exposure (Rubin's tester: 2 s).
    readout : `float`
        Seconds between the end of the exposure and the raws landing in the
        bucket (readout and transfer).
    """

    slew: float = 2.0
    readout: float = 2.0


@dataclass
class TesterReport:
    """What the camera simulator sent.

    Attributes
    ----------
    events : `list` [`~promptproc.visit.FannedOutVisit`]
        Every per-detector event published, in order.
    raws : `list` [`UploadedRaw`]
        Every raw uploaded (or found already there), in order.
    late_visits : `list` [`str`]
        Groups announced after their raws were due (raws uploaded first).
    stopped : `bool`
        Whether ``stop`` ended the run early.
    """

    events: list[FannedOutVisit] = field(default_factory=list)
    raws: list[UploadedRaw] = field(default_factory=list)
    late_visits: list[str] = field(default_factory=list)
    stopped: bool = False


class CameraSimulator:
    """Announces simulated visits and uploads their raws on the visits' own clock.

    Parameters
    ----------
    uploader : `RawUploader`
        Simulates and uploads raws.
    publish : callable
        Called with each per-detector `~promptproc.visit.FannedOutVisit`.
    detectors : `~collections.abc.Sequence` [`int`]
        Detectors to announce and upload.
    survey : `str`, optional
        ``survey`` field of the events.
    timings : `TesterTimings`, optional
        Slew and readout delays.
    skip_existing : `bool`, optional
        Leave raws already in the bucket (replays).
    clock : callable, optional
        UTC unix seconds now; `time.time` by default.
    stop : `threading.Event`, optional
        Set it to end the run at the next wait.
    """

    def __init__(
        self,
        uploader: RawUploader,
        publish: Callable[[FannedOutVisit], None],
        detectors: Sequence[int],
        *,
        survey: str = "SURVEY",
        timings: TesterTimings | None = None,
        skip_existing: bool = False,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
    ) -> None:
        if not detectors:
            raise ValueError("the camera simulator needs at least one detector")
        self.uploader = uploader
        self.publish = publish
        self.detectors = list(detectors)
        self.survey = survey
        self.timings = timings or TesterTimings()
        self.skip_existing = skip_existing
        self.clock = clock
        self.stop = stop or threading.Event()

    def schedule(self, visits: Sequence[SimVisit]) -> list[tuple[float, str, SimVisit]]:
        """When each visit is announced and its raws uploaded.

        Returns
        -------
        steps : `list` [`tuple` [`float`, `str`, `~promptproc.simulation.SimVisit`]]
            ``(utc_time, "announce" | "upload", visit)``, in time order (an
            announcement first on a tie).
        """
        steps = []
        for visit in visits:
            start, end = visit_times_utc(visit)
            steps.append((start - self.timings.slew, "announce", visit))
            steps.append((end + self.timings.readout, "upload", visit))
        return sorted(steps, key=lambda step: (step[0], step[1] != "announce"))

    def _sleep_until(self, when: float) -> bool:
        """Wait until ``when``; return `False` if stopped first."""
        while True:
            left = when - self.clock()
            if left <= 0:
                return True
            if self.stop.wait(min(left, 1.0)):
                return False

    def run(self, visits: Sequence[SimVisit]) -> TesterReport:
        """Play the visits; return when every raw is uploaded or ``stop`` is set.

        Parameters
        ----------
        visits : `~collections.abc.Sequence` [`~promptproc.simulation.SimVisit`]
            Visits of the uploader's observatory.

        Returns
        -------
        report : `TesterReport`
            What was sent.
        """
        report = TesterReport()
        uploaded: set[int] = set()
        for when, action, visit in self.schedule(visits):
            if not self._sleep_until(when):
                report.stopped = True
                break
            if action == "upload":
                if visit.exposure_id not in uploaded:
                    self._upload(visit, report)
                    uploaded.add(visit.exposure_id)
                continue
            _, end = visit_times_utc(visit)
            if self.clock() >= end + self.timings.readout:
                report.late_visits.append(visit.group)
                self._upload(visit, report)
                uploaded.add(visit.exposure_id)
            self._announce(visit, report)
        return report

    def _announce(self, visit: SimVisit, report: TesterReport) -> None:
        event = next_visit_event(visit, self.uploader.observatory.instrument.name, survey=self.survey)
        fanned = event.fan_out(self.detectors)
        _LOG.info("Announcing visit %s (group %s) to %d detectors", visit.obs_id, visit.group, len(fanned))
        for item in fanned:
            self.publish(item)
        report.events.extend(fanned)

    def _upload(self, visit: SimVisit, report: TesterReport) -> None:
        for detector in self.detectors:
            if self.stop.is_set():
                return
            report.raws.append(self.uploader.upload(visit, detector, skip_existing=self.skip_existing))
