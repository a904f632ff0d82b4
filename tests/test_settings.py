"""Tests of promptproc.settings, promptproc.pipelines_config and ``promptproc config``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from promptproc.cli import main
from promptproc.errors import ConfigurationError
from promptproc.pipelines_config import NoMatchingPipelinesError, PipelinesConfig
from promptproc.settings import (
    MASK,
    Settings,
    load_settings,
    markdown_table,
    render_readme,
    setting_docs,
)

README = Path(__file__).resolve().parents[1] / "README.md"
SETTING_NAMES = [doc.name for doc in setting_docs()]

MAIN_CONFIG = """\
- survey: BLOCK-365
  pipelines:
  - ${PROMPT_PROCESSING_DIR}/pipelines/${RUBIN_INSTRUMENT}/ApPipe.yaml
  - pipelines/SimCam/SingleFrame.yaml
- survey: ""
  pipelines: []
- {pipelines: ['/abs/Isr.yaml']}
"""

COMPLETE = {
    "RUBIN_INSTRUMENT": "SimCam",
    "SKYMAP": "simcam_rings",
    "CENTRAL_REPO": "s3://central/butler.yaml",
    "CONFIG_APDB": "label:simcam",
    "MAIN_PIPELINES_CONFIG": MAIN_CONFIG,
    "PREPROCESSING_PIPELINES_CONFIG": "- pipelines: []",
    "IMAGE_BUCKET": "rubin:raws",
}


def _clean_environment(**extra: str) -> dict[str, str]:
    """Return os.environ without any promptproc setting, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env.update(extra)
    return env


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove every promptproc setting from os.environ for one test."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- loading -------------------------------------------------------------------------------------


def test_defaults_load_from_an_empty_environment() -> None:
    settings = load_settings({})
    assert settings.platform == "local"
    assert settings.image_timeout == 20
    assert settings.worker_timeout == 900
    assert settings.local_repos == Path("/tmp")
    assert settings.debug_export_outputs is True
    assert settings.rubin_instrument is None
    assert settings.read_central_repo is None
    assert settings.raw_notification_source == "poll"
    assert settings.alert_directory == Path("/tmp/alerts")
    assert settings.deployment_name is not None
    assert settings.deployment_name.startswith("promptproc-")
    assert [pattern.pattern for pattern in settings.export_type_patterns] == [".*"]
    assert all(settings.source_of(name) == "default" for name in SETTING_NAMES)


def test_environment_overrides_defaults_with_type_conversion() -> None:
    settings = load_settings(
        {
            "PLATFORM": "KEDA",
            "IMAGE_TIMEOUT": " 45.5 ",
            "WORKER_COUNT": "4",
            "DEBUG_EXPORT_OUTPUTS": "0",
            "LOCAL_REPOS": "/tmp-butler",
            "CENTRAL_REPO": "/repo/central",
            "KAFKA_CLUSTER": "kafka-1:9092,kafka-2:9092",
            "REDIS_STREAM_HOST": "prompt-redis.prompt-redis",
            "AWS_SECRET_ACCESS_KEY": "hunter2",
            "SERVICE_LOG_LEVELS": ".=INFO promptproc=debug lsst.daf.butler=VERBOSE",
            "BUCKET_TOPIC": "",  # empty counts as unset
            "UNRELATED_VARIABLE": "ignored",
        }
    )
    assert settings.platform == "keda"
    assert settings.image_timeout == 45.5
    assert settings.worker_count == 4
    assert isinstance(settings.worker_count, int)
    assert settings.debug_export_outputs is False
    assert settings.local_repos == Path("/tmp-butler")
    assert settings.alert_directory == Path("/tmp-butler/alerts")
    assert settings.read_central_repo == "/repo/central"
    assert settings.raw_notification_source == "kafka"
    assert settings.redis_address == ("prompt-redis.prompt-redis", 6379)
    assert isinstance(settings.aws_secret_access_key, SecretStr)
    assert settings.aws_secret_access_key.get_secret_value() == "hunter2"
    assert settings.log_levels == {"": "INFO", "promptproc": "DEBUG", "lsst.daf.butler": "VERBOSE"}
    assert settings.bucket_topic == "rubin-prompt-processing"
    assert settings.source_of("IMAGE_TIMEOUT") == "environment"
    assert settings.source_of("BUCKET_TOPIC") == "default"
    assert settings.source_of("READ_CENTRAL_REPO") == "default"


def test_load_settings_reads_os_environ_by_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IMAGE_TIMEOUT", "7")
    assert load_settings().image_timeout == 7
    # Settings() itself never reads the environment.
    assert Settings().image_timeout == 20
    assert Settings(IMAGE_TIMEOUT=8).image_timeout == Settings(image_timeout=8).image_timeout == 8


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMAGE_TIMEOUT", "soon"),
        ("WORKER_TIMEOUT", "15m"),
        ("WORKER_COUNT", "0"),
        ("MESSAGE_EXPIRATION", "nan"),
        ("PLATFORM", "swarm"),
        ("DEBUG_EXPORT_OUTPUTS", "maybe"),
        ("PORT", "70000"),
        ("S3_ENDPOINT_URL", "ftp://s3.example.org"),
        ("RAW_MICROSERVICE", "presence-service"),
        ("KAFKA_CLUSTER", "broker:port"),
        ("REDIS_STREAM_HOST", "redis:99999"),
        ("IMAGE_BUCKET", "s3://raws/LSSTCam"),
        ("SERVICE_LOG_LEVELS", "lsst=LOUD"),
        ("EXPORT_TYPE_REGEXP", "- '('"),
        ("EXPORT_TYPE_REGEXP", "calexp"),
        ("DEPLOYMENT_NAME", "my/deployment"),
        ("RUBIN_INSTRUMENT", "LSST Cam"),
        ("MAIN_PIPELINES_CONFIG", "- pipelines: [a.yaml\n- b"),
        ("MAIN_PIPELINES_CONFIG", "pipelines: [a.yaml]"),
        ("MAIN_PIPELINES_CONFIG", "- pipelines: a.yaml"),
        ("MAIN_PIPELINES_CONFIG", "- survey: A\n  pipeline: [a.yaml]"),
        ("PREPROCESSING_PIPELINES_CONFIG", "- pipelines:\n  - ${NOT_DEFINED}/a.yaml"),
        ("PREPROCESSING_PIPELINES_CONFIG", "- dec: {min: 10, max: -10}\n  pipelines: []"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({name: value})
    message = str(caught.value)
    assert name in message
    assert "\n" not in message
    assert message.startswith("invalid setting ")


def test_all_bad_values_are_reported_in_one_line() -> None:
    with pytest.raises(ConfigurationError, match=r"IMAGE_TIMEOUT.*; PORT") as caught:
        load_settings({"IMAGE_TIMEOUT": "x", "PORT": "-1"})
    assert "\n" not in str(caught.value)


def test_importing_settings_reads_nothing() -> None:
    code = (
        "import promptproc.settings as s, promptproc.cli.config_cmd, promptproc.pipelines_config\n"
        "assert not any(isinstance(v, s.Settings) for v in vars(s).values())\n"
        "print('imported')"
    )
    env = _clean_environment(IMAGE_TIMEOUT="bogus", PLATFORM="nowhere", MAIN_PIPELINES_CONFIG="[")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


# -- requirements -------------------------------------------------------------------------------


def test_require_lists_every_missing_setting() -> None:
    settings = load_settings({"RUBIN_INSTRUMENT": "SimCam"})
    assert settings.require("RUBIN_INSTRUMENT") is settings
    with pytest.raises(ConfigurationError, match="CENTRAL_REPO, CONFIG_APDB") as caught:
        settings.require("RUBIN_INSTRUMENT", "CENTRAL_REPO", "CONFIG_APDB", purpose="the init job")
    assert "the init job" in str(caught.value)
    with pytest.raises(ConfigurationError, match="MAIN_PIPELINES_CONFIG"):
        _ = settings.main_pipelines
    with pytest.raises(KeyError):
        settings.require("NO_SUCH_SETTING")


def test_require_service_depends_on_platform() -> None:
    load_settings(COMPLETE).require_service()
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**COMPLETE, "PLATFORM": "keda"}).require_service()
    message = str(caught.value)
    assert "PLATFORM=keda" in message
    for name in ("REDIS_STREAM_HOST", "REDIS_STREAM_NAME", "REDIS_STREAM_CONSUMER_GROUP"):
        assert name in message
    with pytest.raises(ConfigurationError, match=r"KAFKA_CLUSTER.*FANNED_OUT_VISIT_TOPIC"):
        load_settings({**COMPLETE, "PLATFORM": "kafka"}).require_service()
    with pytest.raises(ConfigurationError, match="AP_KAFKA_TOPIC"):
        load_settings({**COMPLETE, "AP_KAFKA_SERVER": "alerts:9094"}).require_service()
    with pytest.raises(ConfigurationError, match="KAFKA_CLUSTER"):
        load_settings({**COMPLETE, "RAW_NOTIFICATION_SOURCE": "kafka"}).require_service()


# -- pipelines config ---------------------------------------------------------------------------


def test_pipelines_config_first_match_by_survey() -> None:
    settings = load_settings({**COMPLETE, "PROMPT_PROCESSING_DIR": "/app"})
    config = settings.main_pipelines
    assert config.select("BLOCK-365") == (
        Path("/app/pipelines/SimCam/ApPipe.yaml"),
        Path("/app/pipelines/SimCam/SingleFrame.yaml"),
    )
    assert config.select("") == ()
    assert config.select("BLOCK-T17") == (Path("/abs/Isr.yaml"),)
    assert len(config.all_pipeline_files()) == 3
    assert config.source == MAIN_CONFIG
    assert settings.preprocessing_pipelines.select("anything") == ()


def test_pipelines_config_without_a_match_raises() -> None:
    config = PipelinesConfig.from_yaml("- {survey: A, pipelines: []}", base_dir=Path("/app"))
    with pytest.raises(NoMatchingPipelinesError):
        config.select("B")


def test_pipelines_config_spatial_nodes() -> None:
    config = PipelinesConfig.from_yaml(
        """\
- ra: {min: 350, max: 10}
  dec: {min: -10, max: 10}
  pipelines: [/p/Equator.yaml]
- ra: {min: 100, max: 200}
  coord-type: Boresight
  pipelines: [/p/Boresight.yaml]
- pipelines: [/p/Other.yaml]
""",
        name="TEST_CONFIG",
    )
    assert config.select("", detector_center=(355.0, 0.0)) == (Path("/p/Equator.yaml"),)
    assert config.select("", detector_center=(5.0, 0.0)) == (Path("/p/Equator.yaml"),)
    assert config.select("", detector_center=(20.0, 0.0)) == (Path("/p/Other.yaml"),)
    # A visit without a position never matches a spatial node.
    assert config.select("") == (Path("/p/Other.yaml"),)
    assert config.select("", boresight=(150.0, 0.0), detector_center=(5.0, 50.0)) == (
        Path("/p/Boresight.yaml"),
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[]", "at least one node"),
        ("- pipelines: [/a/ApPipe.yaml, /b/ApPipe.yaml]", "unique"),
        ("- {binary-map: crowding.fits, pipelines: []}", "binary-map"),
        ("- {ra: {min: 0, max: 400}, pipelines: []}", "0 and 360"),
        ("- {coord-type: mount, pipelines: []}", "coord-type"),
        ("- {survey: 7, pipelines: []}", "survey"),
    ],
)
def test_pipelines_config_rejects(text: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        PipelinesConfig.from_yaml(text, name="TEST_CONFIG")


def test_deployment_name_follows_the_configuration() -> None:
    first = load_settings(COMPLETE).deployment_name
    assert first == load_settings(COMPLETE).deployment_name
    assert first != load_settings({**COMPLETE, "CONFIG_APDB": "label:other"}).deployment_name
    assert load_settings({**COMPLETE, "DEPLOYMENT_NAME": "dev-1"}).deployment_name == "dev-1"


# -- display ------------------------------------------------------------------------------------


def test_secrets_are_masked_in_effective_settings() -> None:
    settings = load_settings({"AWS_SECRET_ACCESS_KEY": "hunter2", "REDIS_PASSWORD": "swordfish"})
    shown = {item.name: item for item in settings.effective()}
    assert shown["AWS_SECRET_ACCESS_KEY"].value == MASK
    assert shown["AWS_SECRET_ACCESS_KEY"].secret
    assert shown["REDIS_PASSWORD"].value == MASK
    assert shown["AP_KAFKA_PRODUCER_PASSWORD"].value is None
    assert "hunter2" not in repr(settings)


def test_config_command_masks_secrets(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    clean_env.setenv("AP_KAFKA_PRODUCER_PASSWORD", "hunter2")
    clean_env.setenv("IMAGE_TIMEOUT", "30")
    with pytest.raises(SystemExit) as stop:
        main(["config"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    line = next(line for line in out.splitlines() if line.startswith("AP_KAFKA_PRODUCER_PASSWORD"))
    assert line.split() == ["AP_KAFKA_PRODUCER_PASSWORD", "environment", MASK]
    assert next(line for line in out.splitlines() if line.startswith("IMAGE_TIMEOUT")).split() == [
        "IMAGE_TIMEOUT",
        "environment",
        "30",
    ]

    with pytest.raises(SystemExit) as stop:
        main(["config", "--json"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    data = json.loads(out)
    assert set(data) == set(SETTING_NAMES)
    assert data["AP_KAFKA_PRODUCER_PASSWORD"] == {
        "value": MASK,
        "source": "environment",
        "section": "Alerts",
        "secret": True,
    }
    assert data["IMAGE_TIMEOUT"]["value"] == 30
    assert data["PORT"] == {
        "value": 8080,
        "source": "default",
        "section": data["PORT"]["section"],
        "secret": False,
    }


def test_markdown_table_documents_every_setting() -> None:
    table = markdown_table()
    for doc in setting_docs():
        assert f"| `{doc.name}` |" in table
        assert doc.description.endswith("."), doc.name
        assert "\n" not in doc.description
    assert "### Instrument and deployment" in table


def test_readme_table_matches_the_generator() -> None:
    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, (
        "README.md's configuration table is out of date: run `promptproc config --update-readme README.md`"
    )


def test_render_readme_replaces_only_between_markers() -> None:
    text = "intro\n<!-- BEGIN CONFIG TABLE (x) -->\nold\n<!-- END CONFIG TABLE -->\noutro\n"
    assert render_readme(text, "new\n") == (
        "intro\n<!-- BEGIN CONFIG TABLE (x) -->\n\nnew\n\n<!-- END CONFIG TABLE -->\noutro\n"
    )
    with pytest.raises(ConfigurationError):
        render_readme("no markers\n")
