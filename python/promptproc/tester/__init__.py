"""The camera simulator client: announces simulated visits and uploads their raws.

- `next_visit_event`: the ``nextVisit`` event of a simulated visit;
- `RawUploader`: simulates a raw and puts it, with its JSON sidecar, in the
  raw bucket, announcing each object where the store does not (Kafka with
  moto);
- `CameraSimulator`: plays a night on the visits' own clock: the event a
  slew before each exposure, fanned out to the detectors, and the raws a
  readout after it.
"""

from ._camera import CameraSimulator, TesterReport, TesterTimings
from ._events import next_visit_event, visit_start_tai, visit_times_utc
from ._uploader import RawUploader, UploadedRaw

__all__ = [
    "CameraSimulator",
    "RawUploader",
    "TesterReport",
    "TesterTimings",
    "UploadedRaw",
    "next_visit_event",
    "visit_start_tai",
    "visit_times_utc",
]
