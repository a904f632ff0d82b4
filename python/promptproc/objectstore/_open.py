"""`open_object_store`: an object store from a URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import ConfigurationError
from ._local import LocalObjectStore
from ._protocol import ObjectStore, PutHook

__all__ = ["open_object_store"]


def open_object_store(
    url: str, *, endpoint_url: str | None = None, on_put: PutHook | None = None, **options: Any
) -> ObjectStore:
    """Open the object store a URL names.

    Parameters
    ----------
    url : `str`
        ``s3://bucket`` (a whole bucket; Ceph ``s3://tenant:bucket`` works),
        ``file:///path`` or a plain directory path.
    endpoint_url : `str`, optional
        S3 endpoint (``S3_ENDPOINT_URL``) for an ``s3://`` URL.
    on_put : callable, optional
        Called as ``on_put(bucket, key)`` after each put (see the stores).
    **options
        Passed to `S3ObjectStore` or `LocalObjectStore`.

    Returns
    -------
    store : `ObjectStore`
        An `S3ObjectStore` or a `LocalObjectStore`.

    Raises
    ------
    ConfigurationError
        If the URL has another scheme, an ``s3://`` URL has a path after the
        bucket, or a ``file://`` URL names a remote host.
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"object store URL must be a non-empty string, not {url!r}")
    if url.startswith("s3://"):
        bucket, _, rest = url[len("s3://") :].partition("/")
        if rest or not bucket:
            raise ConfigurationError(f"object store URL {url!r} must be s3://BUCKET, without a key prefix")
        from ._s3 import S3ObjectStore

        return S3ObjectStore(bucket, endpoint_url, on_put=on_put, **options)
    if url.startswith("file:"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ConfigurationError(f"object store URL {url!r} names a remote host")
        return LocalObjectStore(unquote(parts.path), on_put=on_put, **options)
    if "://" in url:
        raise ConfigurationError(f"object store URL {url!r} is neither s3://BUCKET nor a directory")
    return LocalObjectStore(url, on_put=on_put, **options)
