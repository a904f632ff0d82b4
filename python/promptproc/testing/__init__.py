"""Helpers for tests and benchmarks that need real services.

See `promptproc.testing.services` for the launchers of PostgreSQL, Kafka
(tansu), S3 (moto) and Redis, and the skip-or-fail policy for a missing one.
"""

from .services import (
    KafkaService,
    PostgresDatabase,
    RedisService,
    S3Service,
    is_ci,
    kafka_service,
    postgres_service,
    provide,
    redis_service,
    s3_service,
    unavailable,
)

__all__ = [
    "KafkaService",
    "PostgresDatabase",
    "RedisService",
    "S3Service",
    "is_ci",
    "kafka_service",
    "postgres_service",
    "provide",
    "redis_service",
    "s3_service",
    "unavailable",
]
