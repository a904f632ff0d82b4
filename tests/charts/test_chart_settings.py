"""The Helm chart's settings ConfigMap names real settings with valid defaults."""

import re
from pathlib import Path

import yaml

from promptproc.pipelines_config import PipelinesConfig
from promptproc.settings import load_settings, setting_docs

CHART = Path(__file__).resolve().parents[2] / "charts" / "promptproc"


def test_configmap_keys_are_settings() -> None:
    template = (CHART / "templates" / "settings-configmap.yaml").read_text()
    keys = set(re.findall(r"^\s+([A-Z][A-Z0-9_]+):", template, flags=re.MULTILINE))
    known = {doc.name for doc in setting_docs()}
    assert keys, "the template names no setting"
    assert keys <= known, f"unknown settings in the chart: {sorted(keys - known)}"


def test_default_values_load_as_settings() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    variables = {"PROMPT_PROCESSING_DIR": "/app", "RUBIN_INSTRUMENT": values["instrument"]}
    for key in ("mainPipelinesConfig", "preprocessingPipelinesConfig"):
        config = PipelinesConfig.from_yaml(values[key], name=key, variables=variables)
        assert config.all_pipeline_files()
    settings = load_settings(
        {
            "RUBIN_INSTRUMENT": values["instrument"],
            "PLATFORM": values["platform"],
            "SKYMAP": values["skymap"],
            "IMAGE_TIMEOUT": str(values["imageTimeout"]),
            "MESSAGE_EXPIRATION": str(values["messageExpiration"]),
            "PRELOAD_PADDING": str(values["preloadPadding"]),
            "LOCAL_REPOS": values["localRepos"],
            "LOG_FORMAT": values["logFormat"],
            "SERVICE_LOG_LEVELS": values["serviceLogLevels"],
            "MAIN_PIPELINES_CONFIG": values["mainPipelinesConfig"],
            "PREPROCESSING_PIPELINES_CONFIG": values["preprocessingPipelinesConfig"],
        }
    )
    assert settings.platform == values["platform"]
