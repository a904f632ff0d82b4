"""Behaviour every ObjectStore must have, checked on a directory and on a real S3 server (moto)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptproc.errors import BadInputError
from promptproc.objectstore import (
    LocalObjectStore,
    ObjectNotFoundError,
    ObjectStore,
    S3ObjectStore,
)
from promptproc.testing import services

Puts = list[tuple[str, str]]


@pytest.fixture(params=["local", "s3"])
def store_and_puts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ObjectStore, Puts]]:
    puts: Puts = []

    def record(bucket: str, key: str) -> None:
        puts.append((bucket, key))

    if request.param == "local":
        yield LocalObjectStore(tmp_path / "bucket", on_put=record), puts
    else:
        s3: services.S3Service = request.getfixturevalue("s3")
        yield S3ObjectStore(s3.create_bucket("conformance"), s3.endpoint_url, on_put=record), puts


@pytest.fixture
def store(store_and_puts: tuple[ObjectStore, Puts]) -> ObjectStore:
    return store_and_puts[0]


def test_is_an_object_store(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_bytes_round_trip_and_overwrite(store: ObjectStore) -> None:
    store.put_bytes("a/b/c.bin", b"\x00first")
    assert store.get_bytes("a/b/c.bin") == b"\x00first"
    store.put_bytes("a/b/c.bin", b"second")
    assert store.get_bytes("a/b/c.bin") == b"second"
    store.put_bytes("a/empty", b"")
    assert store.get_bytes("a/empty") == b""


def test_file_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source.fits"
    payload = bytes(range(256)) * 5000
    source.write_bytes(payload)
    store.put_file("SimCam/20261121/raw.fits", source)
    target = tmp_path / "out" / "deeper" / "raw.fits"
    store.download("SimCam/20261121/raw.fits", target)
    assert target.read_bytes() == payload
    assert list(target.parent.iterdir()) == [target]


def test_exists_and_delete(store: ObjectStore) -> None:
    assert not store.exists("x/y")
    store.put_bytes("x/y", b"1")
    assert store.exists("x/y")
    assert not store.exists("x")
    store.delete("x/y")
    assert not store.exists("x/y")
    store.delete("x/y")  # deleting a missing object is fine


def test_list_is_a_sorted_string_prefix(store: ObjectStore) -> None:
    keys = ["d/20261121/b.fits", "d/20261121/a.fits", "d/20261121x/c", "d/2026112/z", "e/f"]
    for key in keys:
        store.put_bytes(key, b"")
    assert store.list("d/20261121/") == ["d/20261121/a.fits", "d/20261121/b.fits"]
    assert store.list("d/20261121") == ["d/20261121/a.fits", "d/20261121/b.fits", "d/20261121x/c"]
    assert store.list("d/2026112") == sorted(keys[:4])
    assert store.list("") == sorted(keys)
    assert store.list("nothing/") == []
    assert store.list("d/20261121/b") == ["d/20261121/b.fits"]


def test_keys_are_verbatim(store: ObjectStore) -> None:
    key = "odd/a%2Fb+c d=e.fits"
    store.put_bytes(key, b"odd")
    assert store.list("odd/") == [key]
    assert store.get_bytes(key) == b"odd"
    assert store.exists(key)
    assert not store.exists("odd/a/b c d=e.fits")


def test_missing_object_is_a_clear_error(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError, match=r"no/such\.fits"):
        store.get_bytes("no/such.fits")
    target = tmp_path / "never.fits"
    with pytest.raises(FileNotFoundError, match=r"no/such\.fits"):
        store.download("no/such.fits", target)
    assert not target.exists()
    assert issubclass(ObjectNotFoundError, BadInputError)


def test_empty_key_is_refused(store: ObjectStore) -> None:
    with pytest.raises(BadInputError):
        store.put_bytes("", b"x")


def test_uri(store: ObjectStore) -> None:
    uri = store.uri("k/v.fits")
    assert uri.endswith("/k/v.fits")
    assert uri.startswith(("s3://", "file:///"))


def test_on_put_announces_each_put(store_and_puts: tuple[ObjectStore, Puts], tmp_path: Path) -> None:
    store, puts = store_and_puts
    store.put_bytes("n/1", b"1")
    (tmp_path / "f").write_bytes(b"2")
    store.put_file("n/2", tmp_path / "f")
    assert puts == [(store.bucket, "n/1"), (store.bucket, "n/2")]


def test_readers_never_see_a_partial_object(store: ObjectStore) -> None:
    size = 256 * 1024
    versions = [bytes([letter]) * size for letter in b"ab"]
    store.put_bytes("atomic/obj", versions[0])
    stop = threading.Event()
    seen: list[bytes] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(store.get_bytes("atomic/obj"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20):
            store.put_bytes("atomic/obj", versions[i % 2])
    finally:
        stop.set()
        reader.join()
    assert seen
    assert all(data in versions for data in seen)
    assert store.list("atomic/") == ["atomic/obj"]
