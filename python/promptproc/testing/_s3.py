"""The S3 launcher: a named endpoint or a private moto server."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ServiceUnavailableError
from ._names import unique_name
from ._net import DEFAULT_TIMEOUT, PROBE_TIMEOUT, port_open, private_process
from ._policy import environment, named_server, require_answer

__all__ = ["ENV_S3_ENDPOINT", "S3Service", "s3_service"]

ENV_S3_ENDPOINT = "PROMPTPROC_TEST_S3_ENDPOINT"


@dataclasses.dataclass
class S3Service:
    """An S3 endpoint and the credentials to use with it.

    Attributes
    ----------
    endpoint_url : `str`
        ``http://host:port``.
    access_key_id, secret_access_key, region : `str`
        Credentials and region for clients.
    origin : `str`
        ``"environment"`` or ``"private"``.
    """

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    origin: str
    _buckets: list[str] = dataclasses.field(default_factory=list, repr=False)

    def environment(self) -> dict[str, str]:
        """Return the environment variables boto3 and lsst.resources read.

        Returns
        -------
        env : `dict` [`str`, `str`]
            ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
            ``AWS_DEFAULT_REGION`` and ``S3_ENDPOINT_URL``.
        """
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "S3_ENDPOINT_URL": self.endpoint_url,
        }

    def client(self, **config: Any) -> Any:
        """Return a boto3 S3 client for this endpoint.

        Parameters
        ----------
        **config
            Options for `botocore.config.Config` (timeouts, retries).

        Returns
        -------
        client : `botocore.client.S3`
            A new client with explicit credentials.
        """
        import boto3
        import botocore.config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=botocore.config.Config(**config) if config else None,
        )

    def create_bucket(self, prefix: str = "promptproc-test") -> str:
        """Create a bucket with a random name.

        Parameters
        ----------
        prefix : `str`, optional
            Start of the bucket name (lower case, digits and ``-``).

        Returns
        -------
        name : `str`
            The bucket name; the bucket and its objects are deleted on exit
            when the endpoint is not private.
        """
        name = unique_name(prefix, "-")
        self.client().create_bucket(Bucket=name)
        self._buckets.append(name)
        return name

    def delete_own_buckets(self) -> None:
        """Empty and delete every bucket made by `create_bucket`."""
        client = self.client()
        while self._buckets:
            bucket = self._buckets.pop()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            client.delete_bucket(Bucket=bucket)


def _s3_problem(service: S3Service) -> str | None:
    import botocore.exceptions

    client = service.client(
        connect_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT, retries={"total_max_attempts": 1}
    )
    try:
        client.list_buckets()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as err:
        return str(err)
    return None


@contextlib.contextmanager
def s3_service(
    *, environ: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[S3Service]:
    """Provide an S3 endpoint: the named one or a private moto server.

    Parameters
    ----------
    environ : `~collections.abc.Mapping`, optional
        Environment to read ``PROMPTPROC_TEST_S3_ENDPOINT`` (and, for a named
        endpoint, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
        ``AWS_DEFAULT_REGION``) from; `os.environ` by default.
    timeout : `float`, optional
        Seconds to wait for a private server.

    Yields
    ------
    service : `S3Service`
        The endpoint; buckets made by `S3Service.create_bucket` are deleted
        on exit from a named endpoint.

    Raises
    ------
    promptproc.errors.ServiceUnavailableError
        If the named endpoint does not answer, or moto cannot be started.
    """
    env = environment(environ)
    named = named_server(env, ENV_S3_ENDPOINT)
    if named:
        service = S3Service(
            endpoint_url=named,
            access_key_id=env.get("AWS_ACCESS_KEY_ID", "promptproc-test"),
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "promptproc-test"),
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            origin="environment",
        )
        require_answer(ENV_S3_ENDPOINT, named, _s3_problem(service))
        try:
            yield service
        finally:
            service.delete_own_buckets()
        return
    if importlib.util.find_spec("moto") is None:
        raise ServiceUnavailableError("moto[server] is not installed")

    def make(port: int) -> S3Service:
        return S3Service(
            f"http://127.0.0.1:{port}", "promptproc-test", "promptproc-test", "us-east-1", "private"
        )

    with private_process(
        "private S3 (moto)",
        lambda port, workdir: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        lambda port: port_open("127.0.0.1", port) and _s3_problem(make(port)) is None,
        timeout=timeout,
    ) as port:
        yield make(port)
