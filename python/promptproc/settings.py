"""Every setting promptproc reads, from environment variables, in one place.

`Settings` declares each setting with its type, default and a description
for operators; `load_settings` reads them from the environment once, when a
process starts (nothing is read at import time), and turns any bad value into
a one-line `~promptproc.errors.ConfigurationError` naming the variable.

The variable names are those of Rubin Prompt Processing wherever the concept
is the same, so a Rubin deployment's values carry over; what promptproc adds
(``PLATFORM``, ``DEPLOYMENT_NAME``, ``ALERT_DIRECTORY``, ...) follows the same
style.  The README's configuration table is generated from these declarations
by `markdown_table` (``promptproc config --markdown``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import annotated_types
import yaml
from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigurationError
from .pipelines_config import PipelinesConfig

__all__ = [
    "MASK",
    "PLATFORMS",
    "EffectiveSetting",
    "SettingDoc",
    "Settings",
    "load_settings",
    "markdown_table",
    "render_readme",
    "setting_docs",
]

PLATFORMS: tuple[str, ...] = ("knative", "keda", "kafka", "local")
"""The ways visits can be delivered to a worker (the ``PLATFORM`` setting)."""

MASK = "**********"
"""What is shown instead of the value of a secret that is set."""

_README_BEGIN = "<!-- BEGIN CONFIG TABLE"
_README_END = "<!-- END CONFIG TABLE -->"

_ALL = PLATFORMS
_LOG_LEVELS = ("TRACE", "DEBUG", "VERBOSE", "INFO", "WARNING", "ERROR", "CRITICAL")
_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_DEPLOYMENT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
_BUCKET_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{1,254}")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[0-9]{1,5}))?")

# Section titles, in the order the README table shows them.
_INSTRUMENT = "Instrument and deployment"
_PIPELINES = "Pipelines"
_CENTRAL = "Central repository and APDB"
_LOCAL = "Local repository"
_RAWS = "Raw images"
_WORKERS = "Workers and visit delivery"
_REDIS = "Redis streams (PLATFORM=keda)"
_KAFKA = "Kafka delivery (PLATFORM=kafka)"
_ALERTS = "Alerts"
_OBSERVABILITY = "Logging and metrics"


def _setting(
    default: Any,
    description: str,
    *,
    section: str,
    kind: str | None = None,
    default_text: str | None = None,
    required_for: tuple[str, ...] = (),
    **constraints: Any,
) -> Any:
    """Declare one setting: a pydantic field plus what the README shows."""
    extra: dict[str, Any] = {"section": section, "required_for": list(required_for)}
    if kind is not None:
        extra["kind"] = kind
    if default_text is not None:
        extra["default_text"] = default_text
    return Field(default, description=description, json_schema_extra=extra, **constraints)


class Settings(BaseSettings):
    """Every setting of the promptproc service, read from the environment.

    Each attribute is the environment variable of the same name in upper case
    (``settings.image_timeout`` is ``IMAGE_TIMEOUT``).  Build it with
    `load_settings`; ``Settings()`` gives the defaults and never reads the
    environment, and keyword arguments may use either spelling.

    Settings a deployment must provide but ``promptproc config`` does not
    need (the instrument, the repositories, ...) are optional here; the
    service checks them at start-up with `require_service`, and code that
    needs one of them can call `require`.
    """

    model_config = SettingsConfigDict(
        alias_generator=str.upper,
        validate_by_name=True,
        validate_by_alias=True,
        frozen=True,
        extra="forbid",
        case_sensitive=True,
    )

    # -- Instrument and deployment -------------------------------------------------------------
    rubin_instrument: str | None = _setting(
        None,
        "Short name of the instrument this deployment processes (e.g. `SimCam`, `LSSTCam`); "
        "visits for any other instrument are rejected.",
        section=_INSTRUMENT,
        kind="instrument name",
        required_for=_ALL,
    )
    platform: Literal["knative", "keda", "kafka", "local"] = _setting(
        "local",
        "How visits reach the worker: `knative` (HTTP CloudEvents behind gunicorn), `keda` "
        "(Redis stream), `kafka` (Kafka topic) or `local` (in-process queue).",
        section=_INSTRUMENT,
    )
    deployment_name: str | None = _setting(
        None,
        "Last component of output run names `{instrument}/prompt/output-{day_obs}/{pipeline}/"
        "{deployment}`; the service and the init job must agree on it.",
        section=_INSTRUMENT,
        kind="run name component",
        default_text="`promptproc-{version}-{hash}` of the versions, pipeline configs, "
        "pipeline files and `CONFIG_APDB`",
    )
    skymap: str | None = _setting(
        None,
        "Name of the skymap in the central repository that templates are defined on (e.g. `lsst_cells_v1`).",
        section=_INSTRUMENT,
        required_for=_ALL,
    )
    prompt_processing_dir: Path | None = _setting(
        None,
        "Directory holding promptproc's `pipelines/` tree; substituted for `${PROMPT_PROCESSING_DIR}` "
        "in pipeline configs, which also resolve relative pipeline paths against it.",
        section=_INSTRUMENT,
        default_text="the checkout promptproc is installed from, else the working directory",
    )

    # -- Pipelines -----------------------------------------------------------------------------
    main_pipelines_config: str | None = _setting(
        None,
        "Pipelines to run on the raws, as a YAML list of `{survey, ra, dec, coord-type, pipelines}` "
        "nodes where the first matching node wins and `pipelines: []` ignores the visit.",
        section=_PIPELINES,
        kind="YAML list of nodes",
        required_for=_ALL,
    )
    preprocessing_pipelines_config: str | None = _setting(
        None,
        "Pipelines to run before the raws arrive (e.g. the APDB preload), in the same format as "
        "`MAIN_PIPELINES_CONFIG`; `pipelines: []` skips preprocessing.",
        section=_PIPELINES,
        kind="YAML list of nodes",
        required_for=_ALL,
    )
    preload_padding: float = _setting(
        30.0,
        "Margin in arcseconds added around the predicted detector footprint when choosing the "
        "reference catalog shards and template patches to preload.",
        section=_PIPELINES,
        ge=0,
        allow_inf_nan=False,
    )

    # -- Central repository and APDB -----------------------------------------------------------
    central_repo: str | None = _setting(
        None,
        "Butler repository (URI, directory or label) that outputs are exported to, with a Postgres "
        "registry and an S3 or POSIX datastore in deployment.",
        section=_CENTRAL,
        kind="Butler URI or label",
        required_for=_ALL,
    )
    read_central_repo: str | None = _setting(
        None,
        "Butler repository that calibrations, templates and reference catalogs are read from, "
        "when it differs from the write repository (e.g. a read-only replica).",
        section=_CENTRAL,
        kind="Butler URI or label",
        default_text="same as `CENTRAL_REPO`",
    )
    config_apdb: str | None = _setting(
        None,
        "APDB configuration file URI or `label:<name>`; it is passed to every pipeline as "
        "`parameters:apdb_config`.",
        section=_CENTRAL,
        kind="URI or label",
        required_for=_ALL,
    )
    repo_retry_delay: float = _setting(
        30.0,
        "Mean wait in seconds before the one retry of a central repository operation that failed "
        "with a transient database or object-store error (jittered by ±25%).",
        section=_CENTRAL,
        ge=0,
        allow_inf_nan=False,
    )
    debug_export_outputs: bool = _setting(
        True,
        "Whether outputs are exported to the central repository; `false` keeps them local, while "
        "APDB rows and alerts are still written.",
        section=_CENTRAL,
    )
    export_type_regexp: str = _setting(
        "- .*",
        "YAML list of regular expressions (whole-name match) selecting the dataset types exported to "
        "the central repository.",
        section=_CENTRAL,
        kind="YAML list of regexes",
    )

    # -- Local repository ----------------------------------------------------------------------
    local_repos: Path = _setting(
        Path("/tmp"),
        "Directory where each worker process creates its local Butler repository (give it an "
        "`emptyDir` volume of a few GiB).",
        section=_LOCAL,
    )
    local_repo_cache_size: int = _setting(
        3,
        "Number of calibration and other generic datasets of each dataset type kept in the local "
        "repository between visits.",
        section=_LOCAL,
        ge=1,
    )
    local_repo_refcat_cache_size: int = _setting(
        32,
        "Number of reference catalog shards of each catalog kept in the local repository between "
        "visits; 0 downloads them for every visit.",
        section=_LOCAL,
        ge=0,
    )
    local_repo_template_cache_size: int = _setting(
        16,
        "Number of template patches of each template type kept in the local repository between "
        "visits; 0 downloads them for every visit.",
        section=_LOCAL,
        ge=0,
    )

    # -- Raw images ----------------------------------------------------------------------------
    image_bucket: str | None = _setting(
        None,
        "Name (not URI) of the bucket the camera writes raws to; Ceph `tenant:bucket` names are accepted.",
        section=_RAWS,
        kind="bucket name",
        required_for=_ALL,
    )
    s3_endpoint_url: str | None = _setting(
        None,
        "URL of the S3 service holding the raws (Ceph RGW, MinIO, ...); unset means AWS.",
        section=_RAWS,
        kind="http(s) URL",
    )
    aws_access_key_id: str | None = _setting(
        None,
        "S3 access key; unset means boto3's own credential chain (`AWS_SHARED_CREDENTIALS_FILE`, "
        "`AWS_PROFILE`, instance role).",
        section=_RAWS,
    )
    aws_secret_access_key: SecretStr | None = _setting(
        None,
        "S3 secret key that goes with `AWS_ACCESS_KEY_ID`.",
        section=_RAWS,
    )
    raw_microservice: str | None = _setting(
        None,
        "Base URL of a raw presence service answering `/{instrument}/{group}/{snap}/{detector}` "
        "with the key of an already-arrived raw; unset means S3 listings are used.",
        section=_RAWS,
        kind="http(s) URL",
    )
    raw_notification_source: Literal["auto", "kafka", "poll"] = _setting(
        "auto",
        "How the worker learns that a raw arrived: `kafka` (S3 bucket notifications on "
        "`BUCKET_TOPIC`), `poll` (S3 look-ups every `RAW_POLL_INTERVAL`) or `auto` (`kafka` when "
        "`KAFKA_CLUSTER` is set, else `poll`).",
        section=_RAWS,
    )
    kafka_cluster: str | None = _setting(
        None,
        "Kafka bootstrap servers for bucket notifications and, with `PLATFORM=kafka`, for visits.",
        section=_RAWS,
        kind="host:port list",
        required_for=("kafka",),
    )
    bucket_topic: str = _setting(
        "rubin-prompt-processing",
        "Kafka topic carrying the S3 notifications of `IMAGE_BUCKET`.",
        section=_RAWS,
    )
    bucket_notification_kafka_offset_reset: Literal["earliest", "latest"] = _setting(
        "latest",
        "Where the bucket-notification consumer starts when it has no committed offset.",
        section=_RAWS,
    )
    raw_poll_interval: float = _setting(
        1.0,
        "Seconds between S3 look-ups for the expected raws while waiting, when "
        "`RAW_NOTIFICATION_SOURCE` is `poll`.",
        section=_RAWS,
        gt=0,
        allow_inf_nan=False,
    )
    image_timeout: float = _setting(
        20.0,
        "Seconds to keep waiting for raws after the exposure should have ended (`startTime + duration`).",
        section=_RAWS,
        ge=0,
        allow_inf_nan=False,
    )

    # -- Workers and visit delivery ------------------------------------------------------------
    message_expiration: float = _setting(
        3600.0,
        "Age in seconds, from the fan-out's `private_sndStamp`, after which a visit is refused as expired.",
        section=_WORKERS,
        gt=0,
        allow_inf_nan=False,
    )
    worker_timeout: float = _setting(
        900.0,
        "Longest time in seconds one visit may take from receipt to answer, checked between phases; "
        "the HTTP request timeout is set just above it.",
        section=_WORKERS,
        gt=0,
        allow_inf_nan=False,
    )
    worker_grace_period: float = _setting(
        30.0,
        "Seconds a worker has after SIGTERM to abandon its visit, answer 503 and clean up.",
        section=_WORKERS,
        ge=0,
        allow_inf_nan=False,
    )
    worker_restart_freq: int = _setting(
        0,
        "Number of visits after which a worker process exits (or gunicorn replaces it) to bound "
        "memory growth; 0 means never.",
        section=_WORKERS,
        ge=0,
    )
    worker_count: int = _setting(
        1,
        "Number of gunicorn worker processes per pod with `PLATFORM=knative` (match `containerConcurrency`).",
        section=_WORKERS,
        ge=1,
    )
    port: int = _setting(
        8080,
        "TCP port of the HTTP server (`/next-visit`, `/healthz`, `/metrics`); Knative sets it.",
        section=_WORKERS,
        ge=1,
        le=65535,
    )
    fanned_out_msg_listen_timeout: float = _setting(
        300.0,
        "Idle seconds after which a pulling worker (`keda`, `kafka`) with no visit exits.",
        section=_WORKERS,
        gt=0,
        allow_inf_nan=False,
    )

    # -- Redis streams -------------------------------------------------------------------------
    redis_stream_host: str | None = _setting(
        None,
        "Redis server holding the visit stream, as `host` or `host:port` (port 6379 by default).",
        section=_REDIS,
        kind="host[:port]",
        required_for=("keda",),
    )
    redis_stream_name: str | None = _setting(
        None,
        "Redis stream the fan-out writes this instrument's visits to (e.g. `instrument:lsstcam`).",
        section=_REDIS,
        required_for=("keda",),
    )
    redis_stream_consumer_group: str | None = _setting(
        None,
        "Redis consumer group the workers share (e.g. `lsstcam_consumer_group`).",
        section=_REDIS,
        required_for=("keda",),
    )
    redis_password: SecretStr | None = _setting(
        None,
        "Password of the Redis server; unset means no authentication.",
        section=_REDIS,
    )
    redis_retry_delay: float = _setting(
        30.0,
        "Seconds to wait before the one reconnection attempt after losing the Redis connection.",
        section=_REDIS,
        ge=0,
        allow_inf_nan=False,
    )

    # -- Kafka delivery ------------------------------------------------------------------------
    fanned_out_visit_topic: str | None = _setting(
        None,
        "Kafka topic on `KAFKA_CLUSTER` carrying the per-detector visits.",
        section=_KAFKA,
        required_for=("kafka",),
    )
    fanned_out_visit_consumer_group: str | None = _setting(
        None,
        "Kafka consumer group the workers share, so that each visit goes to one worker.",
        section=_KAFKA,
        required_for=("kafka",),
    )

    # -- Alerts --------------------------------------------------------------------------------
    ap_kafka_server: str | None = _setting(
        None,
        "Kafka bootstrap servers of the alert stream; unset means alerts are written to `ALERT_DIRECTORY`.",
        section=_ALERTS,
        kind="host:port list",
    )
    ap_kafka_topic: str | None = _setting(
        None,
        "Kafka topic alerts are produced to (required with `AP_KAFKA_SERVER`).",
        section=_ALERTS,
    )
    ap_kafka_producer_username: str | None = _setting(
        None,
        "SASL (SCRAM-SHA-512) user name of the alert producer; unset means no authentication.",
        section=_ALERTS,
    )
    ap_kafka_producer_password: SecretStr | None = _setting(
        None,
        "SASL password of the alert producer (required with `AP_KAFKA_PRODUCER_USERNAME`).",
        section=_ALERTS,
    )
    alert_directory: Path | None = _setting(
        None,
        "Directory where alerts are written as Avro files when `AP_KAFKA_SERVER` is unset.",
        section=_ALERTS,
        default_text="`$LOCAL_REPOS/alerts`",
    )

    # -- Logging and metrics -------------------------------------------------------------------
    log_format: Literal["json", "text"] = _setting(
        "json",
        "Format of the service's log lines on stderr: `json` (one object a line, for `kubectl logs "
        "| jq` and Loki) or `text`.",
        section=_OBSERVABILITY,
    )
    service_log_levels: str = _setting(
        "",
        "Space-separated `logger=LEVEL` pairs on top of the defaults (root `WARNING`, `lsst` and "
        "`promptproc` `INFO`); `.` is the root logger (e.g. `promptproc=DEBUG lsst.daf.butler=VERBOSE`).",
        section=_OBSERVABILITY,
        kind="logger=LEVEL list",
    )
    metrics_enabled: bool = _setting(
        True,
        "Whether Prometheus metrics (visits by outcome, phase durations, raw wait, alerts) are served.",
        section=_OBSERVABILITY,
    )
    metrics_port: int = _setting(
        8000,
        "TCP port of the `/metrics` endpoint for platforms without an HTTP server (`keda`, `kafka`, "
        "`local`); with `knative` metrics are served on `PORT`.",
        section=_OBSERVABILITY,
        ge=1,
        le=65535,
    )

    _main_pipelines: PipelinesConfig | None = PrivateAttr(default=None)
    _preprocessing_pipelines: PipelinesConfig | None = PrivateAttr(default=None)
    _export_patterns: tuple[re.Pattern[str], ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read only the keyword arguments: `load_settings` is what reads the environment."""
        return (init_settings,)

    # -- Validation ----------------------------------------------------------------------------

    @field_validator(
        "platform",
        "raw_notification_source",
        "bucket_notification_kafka_offset_reset",
        "log_format",
        mode="before",
    )
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("rubin_instrument")
    @classmethod
    def _check_instrument(cls, value: str | None) -> str | None:
        if value is not None and not _NAME_PATTERN.fullmatch(value):
            raise ValueError("must be a short instrument name of letters, digits, '_' and '-'")
        return value

    @field_validator("deployment_name")
    @classmethod
    def _check_deployment(cls, value: str | None) -> str | None:
        if value is not None and not _DEPLOYMENT_PATTERN.fullmatch(value):
            raise ValueError(
                "must be at most 100 letters, digits, '.', '_', '+' or '-' (it is part of a run name)"
            )
        return value

    @field_validator(
        "skymap",
        "redis_stream_name",
        "redis_stream_consumer_group",
        "fanned_out_visit_topic",
        "fanned_out_visit_consumer_group",
        "ap_kafka_topic",
        "bucket_topic",
    )
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(char.isspace() for char in value)):
            raise ValueError("must be a non-empty name without spaces")
        return value

    @field_validator("export_type_regexp")
    @classmethod
    def _check_export_regexp(cls, value: str) -> str:
        _compile_patterns(value)
        return value

    @field_validator("s3_endpoint_url", "raw_microservice")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("kafka_cluster", "ap_kafka_server")
    @classmethod
    def _check_bootstrap(cls, value: str | None) -> str | None:
        if value is not None:
            for server in value.split(","):
                address = server.strip()
                if "://" in address:
                    address = address.split("://", 1)[1]
                _parse_host_port(address, what="each server must be host:port")
        return value

    @field_validator("redis_stream_host")
    @classmethod
    def _check_redis_host(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_host_port(value, what="must be host or host:port")
        return value

    @field_validator("image_bucket")
    @classmethod
    def _check_bucket(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "://" in value or "/" in value:
            raise ValueError("must be a bucket name, not a URI or path (drop 's3://' and any key prefix)")
        if not _BUCKET_PATTERN.fullmatch(value):
            raise ValueError("must be a bucket name of 2 to 255 letters, digits, '.', '_', '-' or ':'")
        return value

    @field_validator("service_log_levels")
    @classmethod
    def _check_log_levels(cls, value: str) -> str:
        _parse_log_levels(value)
        return value

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        # Defaults that depend on other settings.  They are written behind pydantic's back so
        # that `model_fields_set` still says which values came from the environment.
        base_dir = (self.prompt_processing_dir or _default_project_dir()).absolute()
        self.__dict__["prompt_processing_dir"] = base_dir
        if self.read_central_repo is None:
            self.__dict__["read_central_repo"] = self.central_repo
        if self.raw_notification_source == "auto":
            self.__dict__["raw_notification_source"] = "kafka" if self.kafka_cluster else "poll"
        if self.alert_directory is None:
            self.__dict__["alert_directory"] = self.local_repos / "alerts"
        variables = {"PROMPT_PROCESSING_DIR": str(base_dir)}
        if self.rubin_instrument is not None:
            variables["RUBIN_INSTRUMENT"] = self.rubin_instrument
        for attribute, text in (
            ("_main_pipelines", self.main_pipelines_config),
            ("_preprocessing_pipelines", self.preprocessing_pipelines_config),
        ):
            if text is not None:
                name = attribute.lstrip("_").upper() + "_CONFIG"
                try:
                    config = PipelinesConfig.from_yaml(
                        text, name=name, variables=variables, base_dir=base_dir
                    )
                except ConfigurationError as err:
                    raise ConfigurationError(f"invalid setting {err}") from None
                setattr(self, attribute, config)
        self._export_patterns = _compile_patterns(self.export_type_regexp)
        if self.deployment_name is None:
            self.__dict__["deployment_name"] = self._derived_deployment_name()
        return self

    def _derived_deployment_name(self) -> str:
        digest = hashlib.sha256()
        version = _distribution_version("promptproc")
        for distribution in ("promptproc", "lsst-daf-butler", "lsst-pipe-base", "lsst-dax-apdb"):
            digest.update(f"{distribution}=={_distribution_version(distribution)}\n".encode())
        for text in (self.main_pipelines_config, self.preprocessing_pipelines_config, self.config_apdb):
            digest.update(f"{text or ''}\n".encode())
        files: list[Path] = []
        for config in (self._main_pipelines, self._preprocessing_pipelines):
            if config is not None:
                files.extend(config.all_pipeline_files())
        for path in dict.fromkeys(files):
            digest.update(path.name.encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<missing>")
        return f"promptproc-{version}-{digest.hexdigest()[:10]}"

    # -- Access --------------------------------------------------------------------------------

    @property
    def main_pipelines(self) -> PipelinesConfig:
        """The parsed ``MAIN_PIPELINES_CONFIG``.

        Raises
        ------
        ConfigurationError
            Raised if ``MAIN_PIPELINES_CONFIG`` is not set.
        """
        self.require("MAIN_PIPELINES_CONFIG")
        assert self._main_pipelines is not None
        return self._main_pipelines

    @property
    def preprocessing_pipelines(self) -> PipelinesConfig:
        """The parsed ``PREPROCESSING_PIPELINES_CONFIG``.

        Raises
        ------
        ConfigurationError
            Raised if ``PREPROCESSING_PIPELINES_CONFIG`` is not set.
        """
        self.require("PREPROCESSING_PIPELINES_CONFIG")
        assert self._preprocessing_pipelines is not None
        return self._preprocessing_pipelines

    @property
    def export_type_patterns(self) -> tuple[re.Pattern[str], ...]:
        """The compiled ``EXPORT_TYPE_REGEXP``; a dataset type is exported if one fully matches."""
        return self._export_patterns

    @property
    def log_levels(self) -> dict[str, str]:
        """``SERVICE_LOG_LEVELS`` as a mapping of logger name (``""`` for root) to level name."""
        return _parse_log_levels(self.service_log_levels)

    @property
    def redis_address(self) -> tuple[str, int]:
        """``REDIS_STREAM_HOST`` as (host, port).

        Raises
        ------
        ConfigurationError
            Raised if ``REDIS_STREAM_HOST`` is not set.
        """
        self.require("REDIS_STREAM_HOST")
        assert self.redis_stream_host is not None
        host, port = _parse_host_port(self.redis_stream_host, what="must be host or host:port")
        return host, port or 6379

    def value_of(self, name: str) -> Any:
        """Return a setting by its environment variable name.

        Parameters
        ----------
        name : `str`
            Environment variable name, e.g. ``"IMAGE_TIMEOUT"``.

        Returns
        -------
        value : `object`
            The effective value (a `~pydantic.SecretStr` for secrets).

        Raises
        ------
        KeyError
            Raised if there is no such setting.
        """
        return getattr(self, _field_name(name))

    def source_of(self, name: str) -> Literal["environment", "default"]:
        """Say where a setting's value came from.

        Parameters
        ----------
        name : `str`
            Environment variable name.

        Returns
        -------
        source : {"environment", "default"}
            ``"environment"`` if the variable was set (non-empty), else
            ``"default"`` (including defaults derived from other settings).
        """
        return "environment" if _field_name(name) in self.model_fields_set else "default"

    def require(self, *names: str, purpose: str | None = None) -> Settings:
        """Check that settings without a usable default are set.

        Parameters
        ----------
        *names : `str`
            Environment variable names, e.g. ``"CENTRAL_REPO"``.
        purpose : `str`, optional
            What needs them, for the error message (e.g. ``"the keda driver"``).

        Returns
        -------
        settings : `Settings`
            ``self``, for chaining.

        Raises
        ------
        ConfigurationError
            Raised if any of them is unset; the message lists all of them.
        KeyError
            Raised if a name is not a setting (a programming error).
        """
        missing = [name for name in names if self.value_of(name) is None]
        if missing:
            needed = f" (needed by {purpose})" if purpose else ""
            raise ConfigurationError(
                f"required setting{'s' if len(missing) > 1 else ''} not set{needed}: {', '.join(missing)}"
            )
        return self

    def require_service(self) -> Settings:
        """Check everything a worker needs on this ``PLATFORM``, once at start-up.

        Returns
        -------
        settings : `Settings`
            ``self``, for chaining.

        Raises
        ------
        ConfigurationError
            Raised with every missing setting (and the first inconsistency) in
            one line.
        """
        names = [doc.name for doc in setting_docs() if self.platform in doc.required_for]
        if self.raw_notification_source == "kafka":
            names.append("KAFKA_CLUSTER")
        if self.ap_kafka_server is not None:
            names.append("AP_KAFKA_TOPIC")
        if self.ap_kafka_producer_username is not None:
            names.append("AP_KAFKA_PRODUCER_PASSWORD")
        if self.aws_access_key_id is not None:
            names.append("AWS_SECRET_ACCESS_KEY")
        self.require(*dict.fromkeys(names), purpose=f"the service with PLATFORM={self.platform}")
        if self.aws_secret_access_key is not None and self.aws_access_key_id is None:
            raise ConfigurationError("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        return self

    def effective(self) -> list[EffectiveSetting]:
        """List every setting with its effective value, for display.

        Returns
        -------
        settings : `list` [`EffectiveSetting`]
            In table order; secret values are replaced by `MASK` (or `None`
            if unset) and paths by strings, so every value is JSON-ready.
        """
        result = []
        for doc in setting_docs():
            value = self.value_of(doc.name)
            if isinstance(value, SecretStr):
                value = MASK
            elif isinstance(value, Path):
                value = str(value)
            result.append(
                EffectiveSetting(
                    name=doc.name,
                    section=doc.section,
                    value=value,
                    source=self.source_of(doc.name),
                    secret=doc.secret,
                )
            )
        return result


@dataclass(frozen=True)
class SettingDoc:
    """How one setting is documented (a row of the README table).

    Parameters
    ----------
    name : `str`
        Environment variable name.
    section : `str`
        Table section it belongs to.
    type : `str`
        Human-readable type, with bounds.
    default : `str`
        Markdown for the default (``**required**`` when there is none).
    description : `str`
        One-sentence description with units.
    secret : `bool`
        Whether the value is a secret and never shown.
    required_for : `tuple` [`str`, ...]
        The platforms on which the service cannot start without it.
    """

    name: str
    section: str
    type: str
    default: str
    description: str
    secret: bool
    required_for: tuple[str, ...]


@dataclass(frozen=True)
class EffectiveSetting:
    """A setting's effective value, as ``promptproc config`` shows it.

    Parameters
    ----------
    name : `str`
        Environment variable name.
    section : `str`
        Table section it belongs to.
    value : `object`
        JSON-ready value; `MASK` for a secret that is set.
    source : {"environment", "default"}
        Where the value came from.
    secret : `bool`
        Whether the value is a secret.
    """

    name: str
    section: str
    value: Any
    source: str
    secret: bool


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from the environment; call it once when a process starts.

    Parameters
    ----------
    environ : `~collections.abc.Mapping` [`str`, `str`], optional
        Where to read the variables; `os.environ` by default.  Variables
        that are not settings are ignored, an empty value counts as unset,
        and surrounding blanks of one-line values are dropped.

    Returns
    -------
    settings : `Settings`
        The validated settings.

    Raises
    ------
    ConfigurationError
        Raised if any value is invalid; the one-line message names every bad
        variable and says what is wrong (never showing a secret).
    """
    source = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for name in (_env_name(field) for field in Settings.model_fields):
        raw = source.get(name)
        if raw is None:
            continue
        value = raw if "\n" in raw.strip() else raw.strip()
        if value.strip():
            values[name] = value
    try:
        return Settings(**values)
    except ValidationError as err:
        raise ConfigurationError(_one_line(err)) from err


def setting_docs() -> list[SettingDoc]:
    """Describe every setting, in table order.

    Returns
    -------
    docs : `list` [`SettingDoc`]
        One entry per environment variable.
    """
    docs = []
    for field_name, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        docs.append(
            SettingDoc(
                name=_env_name(field_name),
                section=str(extra["section"]),
                type=_type_text(info, extra),
                default=_default_text(info, extra),
                description=info.description or "",
                secret=_is_secret(info.annotation),
                required_for=tuple(typing.cast(list[str], extra.get("required_for", []))),
            )
        )
    return docs


def markdown_table() -> str:
    """Render the README's configuration table, grouped by section.

    Returns
    -------
    table : `str`
        Markdown ending with a newline: a short introduction, then one
        ``###`` heading and table per section.
    """
    lines = [
        "Every setting is an environment variable, read once when a process starts; an empty value "
        "counts as unset. `promptproc config` prints the effective values and where they came from "
        "(secrets masked), and `promptproc config --check` also checks that everything the service "
        "needs on its `PLATFORM` is set.",
    ]
    for section, docs in itertools.groupby(setting_docs(), key=lambda doc: doc.section):
        lines += [
            "",
            f"### {section}",
            "",
            "| Variable | Type | Default | Description |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{doc.name}` | {_cell(doc.type)} | {_cell(doc.default)} | {_cell(doc.description)} |"
            for doc in docs
        ]
    return "\n".join(lines) + "\n"


def render_readme(text: str, table: str | None = None) -> str:
    """Put the configuration table between the README's markers.

    Parameters
    ----------
    text : `str`
        The README, with a line starting ``<!-- BEGIN CONFIG TABLE`` and a
        later line ``<!-- END CONFIG TABLE -->``.
    table : `str`, optional
        What goes between them; `markdown_table` by default.

    Returns
    -------
    text : `str`
        The README with everything between the marker lines replaced.

    Raises
    ------
    ConfigurationError
        Raised if the markers are missing or out of order.
    """
    lines = text.splitlines(keepends=True)
    begin = next((i for i, line in enumerate(lines) if line.startswith(_README_BEGIN)), None)
    end = next((i for i, line in enumerate(lines) if line.strip() == _README_END), None)
    if begin is None or end is None or end < begin:
        raise ConfigurationError(f"the README has no '{_README_BEGIN} ... -->' / '{_README_END}' marker pair")
    body = markdown_table() if table is None else table
    return "".join([*lines[: begin + 1], "\n", body, "\n", *lines[end:]])


# -- helpers -----------------------------------------------------------------------------------


def _env_name(field_name: str) -> str:
    return field_name.upper()


def _field_name(env_name: str) -> str:
    name = env_name.lower()
    if name not in Settings.model_fields:
        raise KeyError(f"no setting named {env_name}")
    return name


def _one_line(err: ValidationError) -> str:
    reasons = []
    for error in err.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        field = Settings.model_fields.get(name.lower())
        shown = field is not None and not _is_secret(field.annotation) and "input" in error
        value = f"={error['input']!r}" if shown and isinstance(error["input"], str) else ""
        if len(value) > 60:
            value = value[:57] + "...'"
        reasons.append(f"{name}{value}: {message}")
    return "invalid setting " + "; ".join(reasons)


def _compile_patterns(text: str) -> tuple[re.Pattern[str], ...]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, list) or not data or not all(isinstance(item, str) for item in data):
        raise ValueError('must be a YAML list of regular expressions, e.g. \'["calexp", ".*_metrics"]\'')
    patterns = []
    for item in data:
        try:
            patterns.append(re.compile(item))
        except re.error as exc:
            raise ValueError(f"{item!r} is not a regular expression: {exc}") from None
    return tuple(patterns)


def _parse_host_port(value: str, *, what: str) -> tuple[str, int | None]:
    match = _HOST_PORT.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{what}, not {value!r}")
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"{what} with a port from 1 to 65535, not {value!r}")
    return match.group("host").strip("[]"), int(port) if port else None


def _parse_log_levels(text: str) -> dict[str, str]:
    levels: dict[str, str] = {}
    for item in text.split():
        logger, sep, level = item.rpartition("=")
        if not sep:
            logger = "."
        if not logger or level.upper() not in _LOG_LEVELS:
            raise ValueError(f"{item!r} is not logger=LEVEL with LEVEL one of {', '.join(_LOG_LEVELS)}")
        levels["" if logger == "." else logger] = level.upper()
    return levels


def _default_project_dir() -> Path:
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pipelines").is_dir() else Path.cwd()


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _is_secret(annotation: Any) -> bool:
    return SecretStr in _non_none(annotation)


def _non_none(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return (annotation,)


_TYPE_NAMES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    SecretStr: "secret",
}


def _type_text(info: FieldInfo, extra: Mapping[str, Any]) -> str:
    (annotation,) = _non_none(info.annotation)
    if "kind" in extra:
        text = str(extra["kind"])
    elif typing.get_origin(annotation) is Literal:
        text = "one of " + ", ".join(f"`{choice}`" for choice in typing.get_args(annotation))
    else:
        text = _TYPE_NAMES[annotation]
    bounds: dict[str, Any] = {}
    for item in info.metadata:
        for attribute in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, attribute.capitalize())):
                bounds[attribute] = getattr(item, attribute)
    if "ge" in bounds and "le" in bounds:
        return f"{text} from {bounds['ge']} to {bounds['le']}"
    symbols = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    limits = ", ".join(f"{symbols[attribute]} {value}" for attribute, value in bounds.items())
    return f"{text} {limits}" if limits else text


def _default_text(info: FieldInfo, extra: Mapping[str, Any]) -> str:
    if "default_text" in extra:
        return str(extra["default_text"])
    required_for = tuple(extra.get("required_for", ()))
    if info.default is None:
        if set(required_for) == set(PLATFORMS):
            return "**required**"
        if required_for:
            return "required with " + ", ".join(f"`PLATFORM={platform}`" for platform in required_for)
        return "unset"
    return f"`{_format_value(info.default)}`" if info.default != "" else "empty"


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
