"""What only one store does: key confinement and atomic files locally, error translation on S3."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from promptproc.errors import BadInputError, ConfigurationError, ServiceUnavailableError
from promptproc.objectstore import (
    LocalObjectStore,
    S3ObjectStore,
    open_object_store,
    write_atomically,
)
from promptproc.testing import services

# -- local directory ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["../outside", "/etc/passwd", "a/../../outside", "a/../b", "a//b", "./a", "a/.", "a/", "a\\b", "a\x00b"],
)
def test_local_refuses_keys_escaping_the_root(tmp_path: Path, key: str) -> None:
    store = LocalObjectStore(tmp_path / "root")
    with pytest.raises(BadInputError):
        store.put_bytes(key, b"x")
    with pytest.raises(BadInputError):
        store.get_bytes(key)
    assert not (tmp_path / "outside").exists()


def test_local_refuses_symlinks_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    store = LocalObjectStore(tmp_path / "root")
    os.symlink(outside, tmp_path / "root" / "link")
    with pytest.raises(BadInputError, match="outside"):
        store.put_bytes("link/file", b"x")
    assert list(outside.iterdir()) == []


def test_local_refuses_escaping_prefixes(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    for prefix in ("../", "/", "a/../", "a//"):
        with pytest.raises(BadInputError):
            store.list(prefix)


def test_local_write_is_invisible_until_complete(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    store.put_bytes("a/old", b"old")
    observed: list[list[str]] = []

    def write(stream: BinaryIO) -> None:
        stream.write(b"half")
        observed.append(store.list("a/"))
        observed.append([p.name for p in (tmp_path / "root" / "a").iterdir() if p.name != "old"])
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        write_atomically(store.path_of("a/new"), write)
    assert observed[0] == ["a/old"]  # the temporary file is never listed
    assert len(observed[1]) == 1  # but it did exist
    assert sorted(p.name for p in (tmp_path / "root" / "a").iterdir()) == ["old"]  # and is gone


def test_local_key_cannot_also_be_a_prefix(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "root")
    store.put_bytes("a/b", b"1")
    with pytest.raises(BadInputError, match="clashes"):
        store.put_bytes("a", b"2")
    with pytest.raises(BadInputError, match="clashes"):
        store.put_bytes("a/b/c", b"3")
    assert store.list("") == ["a/b"]


def test_local_missing_root_without_create(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        LocalObjectStore(tmp_path / "missing", create=False)


# -- S3 ----------------------------------------------------------------------------------------


def test_s3_missing_bucket_is_a_configuration_error(s3: services.S3Service) -> None:
    store = S3ObjectStore("promptproc-no-such-bucket", s3.endpoint_url)
    for call in (
        lambda: store.get_bytes("k"),
        lambda: store.put_bytes("k", b"x"),
        lambda: store.list("p/"),
        lambda: store.exists("k"),
    ):
        with pytest.raises(ConfigurationError, match=r"promptproc-no-such-bucket.*does not exist"):
            call()


def test_s3_unreachable_endpoint_is_unavailable() -> None:
    store = S3ObjectStore(
        "bucket",
        "http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
        connect_timeout=1.0,
        max_attempts=1,
    )
    start = time.monotonic()
    with pytest.raises(ServiceUnavailableError, match=r"cannot reach S3 at http://127\.0\.0\.1:9"):
        store.get_bytes("k")
    assert time.monotonic() - start < 5


def test_s3_missing_credentials_is_a_configuration_error(
    s3: services.S3Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3ObjectStore("bucket", s3.endpoint_url, region_name="us-east-1", max_attempts=1)
    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID"):
        store.list("")


def test_s3_given_client_is_used(s3: services.S3Service) -> None:
    bucket = s3.create_bucket("client")
    store = S3ObjectStore(bucket, client=s3.client())
    store.put_bytes("k", b"v")
    assert s3.client().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


# -- open_object_store -------------------------------------------------------------------------


def test_open_object_store(tmp_path: Path, s3: services.S3Service) -> None:
    bucket = s3.create_bucket("open")
    store = open_object_store(f"s3://{bucket}", endpoint_url=s3.endpoint_url)
    assert isinstance(store, S3ObjectStore)
    assert store.bucket == bucket
    assert store.uri("a/b") == f"s3://{bucket}/a/b"
    local = open_object_store((tmp_path / "d").as_uri())
    assert isinstance(local, LocalObjectStore)
    assert local.root == tmp_path / "d"
    assert isinstance(open_object_store(str(tmp_path / "e")), LocalObjectStore)


@pytest.mark.parametrize("url", ["s3://bucket/prefix", "s3://", "http://host/x", "file://remote/x", ""])
def test_open_object_store_refuses(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_object_store(url)
