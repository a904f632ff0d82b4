"""The object-store protocol every store implements, and its errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..errors import BadInputError

__all__ = ["ObjectNotFoundError", "ObjectStore", "PutHook"]

PutHook = Callable[[str, str], None]
"""Called as ``hook(bucket, key)`` after an object was stored (see ``on_put``)."""


class ObjectNotFoundError(BadInputError, FileNotFoundError):
    """No object has the requested key.

    It is a `~promptproc.errors.BadInputError` (the key named does not
    exist) and a `FileNotFoundError`, so code written for files catches it too.
    """


@runtime_checkable
class ObjectStore(Protocol):
    """A flat namespace of objects addressed by ``/``-separated keys.

    Implemented by `~promptproc.objectstore.S3ObjectStore` (an S3 bucket) and
    `~promptproc.objectstore.LocalObjectStore` (a directory). Keys are used
    verbatim: never URL-decoded, never normalised.

    Every method raises `ObjectNotFoundError` for a missing object,
    `~promptproc.errors.BadInputError` for an unusable key,
    `~promptproc.errors.ConfigurationError` for a store that cannot work as
    configured (missing bucket, refused credentials) and
    `~promptproc.errors.ServiceUnavailableError` for a store that cannot be
    reached now.
    """

    @property
    def bucket(self) -> str:
        """Name of the bucket (the directory name for a local store)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any object there; readers see all or nothing."""
        ...

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Store the content of the file ``path`` under ``key``."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """Return the content of an object."""
        ...

    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        """Write an object to the file ``path`` (parents created; no partial file is left)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object has this key."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix`` (a string prefix, not a directory), sorted."""
        ...

    def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""
        ...

    def uri(self, key: str) -> str:
        """URI of an object (``s3://bucket/key`` or ``file:///path``)."""
        ...
