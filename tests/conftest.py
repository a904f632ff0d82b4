"""Session fixtures for the real test services (PostgreSQL, Kafka, S3, Redis).

The launchers and the policy live in `promptproc.testing.services`: a service
named by ``PROMPTPROC_TEST_*`` is used as is, otherwise a local or private one
is found or started.  A missing service skips the test, or fails it under
``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from promptproc.testing import services


@pytest.fixture(scope="session")
def postgres() -> Iterator[services.PostgresDatabase]:
    """A fresh PostgreSQL database with btree_gist (``.url``, ``.psycopg2_url``, ``.dbname``)."""
    with services.provide("PostgreSQL", services.postgres_service) as database:
        yield database


@pytest.fixture(scope="session")
def kafka() -> Iterator[services.KafkaService]:
    """A Kafka-compatible broker (``.bootstrap``, ``.topic_name()``)."""
    with services.provide("Kafka", services.kafka_service) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka: services.KafkaService) -> str:
    """``host:port`` of the Kafka-compatible broker."""
    return kafka.bootstrap


@pytest.fixture(scope="session")
def s3() -> Iterator[services.S3Service]:
    """An S3 endpoint; its credentials and endpoint are in the environment for the session."""
    with services.provide("S3", services.s3_service) as endpoint, pytest.MonkeyPatch.context() as patch:
        for name, value in endpoint.environment().items():
            patch.setenv(name, value)
        yield endpoint


@pytest.fixture(scope="session")
def redis_service() -> Iterator[services.RedisService]:
    """A Redis server and this session's key prefix (``.url``, ``.key(name)``)."""
    with services.provide("Redis", services.redis_service) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_service: services.RedisService) -> str:
    """``redis://`` URL of the Redis server; name keys with ``redis_service.key(...)``."""
    return redis_service.url
