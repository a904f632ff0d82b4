"""Real services for tests and benchmarks: PostgreSQL, Kafka (tansu), S3 (moto), Redis.

Each ``*_service`` function is a context manager that yields a small
description of a running server and cleans up what it made on exit.  A server
named by the environment is used as is (``PROMPTPROC_TEST_POSTGRES_URL``,
``PROMPTPROC_TEST_KAFKA_BOOTSTRAP``, ``PROMPTPROC_TEST_S3_ENDPOINT``,
``PROMPTPROC_TEST_REDIS_URL``).  Otherwise PostgreSQL and Redis use the local
default server when it answers, and a private server on a free loopback port
is started when it does not; Kafka and S3 always get a private server.  Every
wait is bounded; a service that cannot be had raises
`~promptproc.errors.ServiceUnavailableError`.

`provide` applies the test policy to that error: skip the test normally, fail
it when ``CI=true``.

Nothing here reads the environment or imports a client library at import
time; the client libraries come from the ``test`` extra.

This module only gathers the public names; the code lives in private modules
of `promptproc.testing`, one a job: ``_policy`` (skip or fail, named
servers), ``_net`` (ports, waits, private processes), ``_names``,
``_postgres`` (with ``_postgres_db`` and ``_postgres_server``), ``_redis``,
``_kafka`` and ``_s3``.
"""

from ..errors import ServiceUnavailableError as ServiceUnavailableError
from ._kafka import ENV_KAFKA_BOOTSTRAP, KafkaService, kafka_service
from ._net import free_port
from ._policy import is_ci, provide, unavailable
from ._postgres import DEFAULT_POSTGRES_URL, ENV_POSTGRES_URL, postgres_service
from ._postgres_db import PostgresDatabase
from ._redis import DEFAULT_REDIS_URL, ENV_REDIS_URL, RedisService, redis_service
from ._s3 import ENV_S3_ENDPOINT, S3Service, s3_service

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "DEFAULT_REDIS_URL",
    "ENV_KAFKA_BOOTSTRAP",
    "ENV_POSTGRES_URL",
    "ENV_REDIS_URL",
    "ENV_S3_ENDPOINT",
    "KafkaService",
    "PostgresDatabase",
    "RedisService",
    "S3Service",
    "free_port",
    "is_ci",
    "kafka_service",
    "postgres_service",
    "provide",
    "redis_service",
    "s3_service",
    "unavailable",
]
