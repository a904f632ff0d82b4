"""`RawUploader`: writes a simulated raw and its sidecar to the raw bucket, as the camera does."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass

from ..image import write_raw_fits
from ..instrument import RawKey
from ..objectstore import ObjectStore, PutHook
from ..simulation import SimulatedObservatory, SimVisit, sidecar_dict

__all__ = ["RawUploader", "UploadedRaw"]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadedRaw:
    """A raw the tester put in the bucket.

    Attributes
    ----------
    key : `~promptproc.instrument.RawKey`
        Its object key (and its sidecar's).
    size : `int`
        Bytes of the FITS file.
    skipped : `bool`
        `True` if it was already in the bucket and left as it was.
    """

    key: RawKey
    size: int
    skipped: bool = False


class RawUploader:
    """Simulates raws and puts them, sidecar first, into an object store.

    Parameters
    ----------
    observatory : `~promptproc.simulation.SimulatedObservatory`
        What to simulate.
    store : `~promptproc.objectstore.ObjectStore`
        The raw bucket.
    notify : callable, optional
        Called as ``notify(bucket, key)`` after each object is stored, for a
        store that sends no bucket notifications of its own (e.g.
        `~promptproc.notifications.KafkaNotificationPublisher.publish` with
        moto).  Leave unset when the store announces its puts itself (a
        `~promptproc.objectstore.LocalObjectStore` with ``on_put``, or Ceph).
    scratch : `str` or `os.PathLike`, optional
        Directory for the temporary FITS file; the system's by default.
    """

    def __init__(
        self,
        observatory: SimulatedObservatory,
        store: ObjectStore,
        *,
        notify: PutHook | None = None,
        scratch: str | os.PathLike[str] | None = None,
    ) -> None:
        self.observatory = observatory
        self.store = store
        self.notify = notify
        self.scratch = scratch

    def key(self, visit: SimVisit, detector: int) -> RawKey:
        """Object key of a visit's raw for a detector."""
        return self.observatory.instrument.raw_key(visit.day_obs, visit.seq_num, detector)

    def upload(self, visit: SimVisit, detector: int, *, skip_existing: bool = False) -> UploadedRaw:
        """Simulate one raw and put its sidecar, then the FITS file.

        Parameters
        ----------
        visit : `~promptproc.simulation.SimVisit`
            The visit.
        detector : `int`
            The detector.
        skip_existing : `bool`, optional
            Leave a raw whose FITS file and sidecar are already in the bucket
            (a replay: the simulation is deterministic, so it would be the
            same bytes).

        Returns
        -------
        uploaded : `UploadedRaw`
            Its key and size.
        """
        key = self.key(visit, detector)
        if skip_existing and self.store.exists(key.key) and self.store.exists(key.sidecar_key):
            return UploadedRaw(key, 0, skipped=True)
        raw = self.observatory.raw(visit, detector)
        sidecar = json.dumps(sidecar_dict(raw), indent=1).encode() + b"\n"
        handle, path = tempfile.mkstemp(prefix="raw-", suffix=".fits", dir=self.scratch)
        os.close(handle)
        try:
            write_raw_fits(raw, path)
            size = os.path.getsize(path)
            self._put_bytes(key.sidecar_key, sidecar)
            self.store.put_file(key.key, path)
            if self.notify is not None:
                self.notify(self.store.bucket, key.key)
        finally:
            os.unlink(path)
        _LOG.info("Uploaded raw %s (%d bytes)", key.key, size)
        return UploadedRaw(key, size)

    def _put_bytes(self, key: str, data: bytes) -> None:
        self.store.put_bytes(key, data)
        if self.notify is not None:
            self.notify(self.store.bucket, key)
