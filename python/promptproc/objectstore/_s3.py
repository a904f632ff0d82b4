"""`S3ObjectStore`: an object store in an S3 bucket (Ceph RGW, MinIO, AWS, moto)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import BadInputError, ConfigurationError, PromptprocError, ServiceUnavailableError
from ._local import write_atomically
from ._protocol import ObjectNotFoundError, PutHook

__all__ = ["S3ObjectStore"]

_CHUNK = 1 << 20
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_REFUSED = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
    }
)
_TRANSIENT = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"})


def _copy_body(body: Any) -> Callable[[BinaryIO], None]:
    def write(stream: BinaryIO) -> None:
        for chunk in body.iter_chunks(_CHUNK):
            stream.write(chunk)

    return write


def _make_client(
    endpoint_url: str | None,
    *,
    region_name: str | None,
    aws_access_key_id: str | None,
    aws_secret_access_key: str | None,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
) -> Any:
    import boto3
    import botocore.config
    import botocore.handlers

    config = botocore.config.Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        # Path-style addressing and checksums only when required: what Ceph RGW and MinIO
        # accept, and what Ceph's tenant:bucket names need.
        s3={"addressing_style": "path"} if endpoint_url else None,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session()
    client = session.client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region_name,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        config=config,
    )
    # Accept Ceph ``tenant:bucket`` names, which botocore's bucket-name check refuses.
    client.meta.events.unregister("before-parameter-build.s3", botocore.handlers.validate_bucket_name)
    return client


class S3ObjectStore:
    """An object store in one S3 bucket.

    Keys are used verbatim. Errors are translated: a missing object is
    `ObjectNotFoundError`; a missing bucket or refused credentials
    `~promptproc.errors.ConfigurationError` (retrying will not help); an
    unreachable endpoint, a timeout or a 5xx answer
    `~promptproc.errors.ServiceUnavailableError`; anything else the server
    refuses `~promptproc.errors.BadInputError`.

    Parameters
    ----------
    bucket : `str`
        Bucket name (not URI); Ceph ``tenant:bucket`` names are accepted.
    endpoint_url : `str`, optional
        S3 endpoint (``S3_ENDPOINT_URL``); unset means AWS.
    client : `botocore.client.S3`, optional
        Client to use; when given, ``endpoint_url`` and the keyword options
        below are ignored.
    region_name, aws_access_key_id, aws_secret_access_key : `str`, optional
        Passed to boto3; unset means boto3's own credential chain.
    connect_timeout, read_timeout : `float`
        Seconds before a connection attempt or a read gives up.
    max_attempts : `int`
        Attempts per request, including the first (boto3 "standard" retries).
    on_put : callable, optional
        Called as ``on_put(bucket, key)`` after each successful put, e.g.
        `~promptproc.notifications.KafkaNotificationPublisher.publish` where
        the server emits no bucket notifications of its own (moto).
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        client: Any = None,
        *,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
        on_put: PutHook | None = None,
    ) -> None:
        if not isinstance(bucket, str) or not bucket or "/" in bucket:
            raise ConfigurationError(f"S3 bucket name must be a non-empty name without '/', not {bucket!r}")
        self._bucket = bucket
        if client is None:
            client = _make_client(
                endpoint_url,
                region_name=region_name,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_attempts=max_attempts,
            )
        self._client = client
        self._endpoint = str(getattr(client.meta, "endpoint_url", endpoint_url or "AWS"))
        self._on_put = on_put
        self._bucket_checked = False

    def __repr__(self) -> str:
        return f"S3ObjectStore({self._bucket!r}, endpoint_url={self._endpoint!r})"

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    @property
    def client(self) -> Any:
        """The boto3 S3 client."""
        return self._client

    # -- errors ----------------------------------------------------------------------------

    def _translate(self, err: Exception, action: str, key: str | None) -> PromptprocError:
        import botocore.exceptions as bx

        where = self.uri(key) if key else f"s3://{self._bucket}"
        if isinstance(err, bx.ClientError):
            error = err.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            text = f"{code}: {error.get('Message', '')}".rstrip(": ")
            if code == "NoSuchBucket":
                return ConfigurationError(f"S3 bucket {self._bucket!r} does not exist at {self._endpoint}")
            if code in _NOT_FOUND:
                return ObjectNotFoundError(f"no object {where}")
            if code in _REFUSED:
                return ConfigurationError(
                    f"S3 at {self._endpoint} refused to {action} {where} ({text}); check the credentials "
                    "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's permissions"
                )
            if code in _TRANSIENT or status >= 500:
                return ServiceUnavailableError(f"S3 at {self._endpoint} failed to {action} {where}: {text}")
            return BadInputError(f"S3 at {self._endpoint} refused to {action} {where}: {text}")
        if isinstance(err, bx.NoCredentialsError | bx.PartialCredentialsError):
            return ConfigurationError(
                f"no usable S3 credentials to {action} {where}: set AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY (or AWS_SHARED_CREDENTIALS_FILE / AWS_PROFILE) ({err})"
            )
        if isinstance(err, bx.ParamValidationError):
            return BadInputError(f"invalid S3 request to {action} {where}: {err}")
        return ServiceUnavailableError(f"cannot reach S3 at {self._endpoint} to {action} {where}: {err}")

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None) -> Iterator[None]:
        import botocore.exceptions as bx

        try:
            yield
        except (bx.BotoCoreError, bx.ClientError) as err:
            raise self._translate(err, action, key) from err

    @staticmethod
    def _check_key(key: str) -> None:
        if not isinstance(key, str) or not key:
            raise BadInputError(f"object key must be a non-empty string, not {key!r}")

    def check_bucket(self) -> None:
        """Check that the bucket exists and the credentials are accepted.

        Raises
        ------
        ConfigurationError
            If the bucket does not exist or access is refused.
        ServiceUnavailableError
            If the endpoint cannot be reached.
        """
        import botocore.exceptions as bx

        try:
            self._client.head_bucket(Bucket=self._bucket)
        except bx.ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND | {"NoSuchBucket"}:
                raise ConfigurationError(
                    f"S3 bucket {self._bucket!r} does not exist at {self._endpoint}"
                ) from err
            raise self._translate(err, "access", None) from err
        except bx.BotoCoreError as err:
            raise self._translate(err, "access", None) from err
        self._bucket_checked = True

    # -- writing ---------------------------------------------------------------------------

    def _stored(self, key: str) -> None:
        if self._on_put is not None:
            self._on_put(self._bucket, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store bytes under a key (one PUT; S3 objects appear whole)."""
        self._check_key(key)
        with self._errors("write", key):
            self._client.put_object(Bucket=self._bucket, Key=key, Body=bytes(data))
        self._stored(key)

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Store the content of a file under a key (one PUT, up to 5 GB)."""
        self._check_key(key)
        source = Path(path)
        if not source.is_file():
            raise BadInputError(f"cannot store {source} as {key!r}: not a file")
        with source.open("rb") as stream, self._errors("write", key):
            self._client.put_object(Bucket=self._bucket, Key=key, Body=stream)
        self._stored(key)

    # -- reading ---------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        """Return the content of an object."""
        self._check_key(key)
        with self._errors("read", key):
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            return response["Body"].read()

    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        """Write an object to a file; the file appears only once complete."""
        self._check_key(key)
        with self._errors("download", key):
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
            try:
                write_atomically(Path(path), _copy_body(body))
            finally:
                body.close()

    def exists(self, key: str) -> bool:
        """Whether an object has this key (a missing bucket is a `ConfigurationError`)."""
        import botocore.exceptions as bx

        self._check_key(key)
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except bx.ClientError as err:
            if str(err.response.get("Error", {}).get("Code", "")) not in _NOT_FOUND:
                raise self._translate(err, "look up", key) from err
            # A HEAD answer has no body, so a missing bucket also reads "404": tell them apart once.
            if not self._bucket_checked:
                self.check_bucket()
            return False
        except bx.BotoCoreError as err:
            raise self._translate(err, "look up", key) from err
        return True

    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, sorted (S3 lists in key order)."""
        if not isinstance(prefix, str):
            raise BadInputError(f"key prefix must be a string, not {prefix!r}")
        keys: list[str] = []
        with self._errors("list", prefix or None):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", ()))
        return keys

    def delete(self, key: str) -> None:
        """Delete an object; a missing object is not an error."""
        self._check_key(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self._bucket, Key=key)

    def uri(self, key: str) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self._bucket}/{key}"
