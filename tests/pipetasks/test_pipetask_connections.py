"""Connections, configurations and pipeline files of the PipelineTasks (no repository needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsst.daf.butler import DimensionUniverse
from lsst.pipe.base import Pipeline, PipelineTask, PipelineTaskConfig

from promptproc.pipetasks import (
    PIPELINE_DATASET_TYPES,
    AlertsPipeTask,
    AssociatePipeTask,
    CalibratePipeTask,
    DiaPipeTask,
    IsrPipeTask,
    PreloadPipeTask,
    SubtractPipeTask,
    TemplatePipeTask,
    load_pipeline,
)
from promptproc.repo import DATASET_TYPES
from promptproc.tasks.calibrate import CalibrateConfig
from promptproc.tasks.dia import DiaConfig
from promptproc.tasks.isr import IsrConfig
from promptproc.tasks.subtract import SubtractConfig
from promptproc.tasks.warp import WarpConfig

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines" / "SimCam"
VISIT = {"instrument", "visit", "detector"}
GROUP = {"instrument", "group", "detector"}

# task class -> (quantum dimensions, {connection: dataset type}, prerequisites, outputs)
EXPECTED: dict[type[PipelineTask], tuple[set[str], dict[str, str], dict[str, str], dict[str, str]]] = {
    IsrPipeTask: (
        {"instrument", "exposure", "detector"},
        {"raw": "raw"},
        {"camera": "camera", "bias": "bias", "dark": "dark", "flat": "flat", "defects": "defects"},
        {"post_isr_image": "post_isr_image"},
    ),
    CalibratePipeTask: (
        VISIT,
        {"post_isr_image": "post_isr_image"},
        {"refcat": "sim_refcat"},
        {"visit_image": "visit_image", "visit_sources": "visit_sources", "visit_summary": "visit_summary"},
    ),
    TemplatePipeTask: (
        VISIT | {"skymap"},
        {"template_coadd": "template_coadd", "science_wcs": "visit_image.wcs"},
        {"camera": "camera"},
        {"template_detector": "template_detector"},
    ),
    SubtractPipeTask: (
        VISIT,
        {
            "visit_image": "visit_image",
            "visit_sources": "visit_sources",
            "template_detector": "template_detector",
        },
        {},
        {
            "difference_image": "difference_image",
            "template_matched": "template_matched",
            "difference_kernel": "difference_kernel",
        },
    ),
    DiaPipeTask: (
        VISIT,
        {
            "difference_image": "difference_image",
            "visit_image": "visit_image",
            "template_matched": "template_matched",
        },
        {},
        {"dia_sources": "dia_sources"},
    ),
    AssociatePipeTask: (
        VISIT,
        {"dia_sources": "dia_sources", "preloaded_dia_objects": "preloaded_dia_objects"},
        {},
        {"dia_source_apdb": "dia_source_apdb", "dia_object_apdb": "dia_object_apdb"},
    ),
    AlertsPipeTask: (
        VISIT,
        {
            "dia_source_apdb": "dia_source_apdb",
            "dia_object_apdb": "dia_object_apdb",
            "preloaded_dia_sources": "preloaded_dia_sources",
            "difference_image": "difference_image",
            "visit_image": "visit_image",
            "template_detector": "template_detector",
        },
        {},
        {"alert_packets": "alert_packets"},
    ),
    PreloadPipeTask: (
        GROUP,
        {"region_time": "region_time"},
        {},
        {"preloaded_dia_objects": "preloaded_dia_objects", "preloaded_dia_sources": "preloaded_dia_sources"},
    ),
}


def _connections(task: type[PipelineTask], **overrides: Any) -> Any:
    config: PipelineTaskConfig = task.ConfigClass()
    for key, value in overrides.items():
        setattr(config, key, value)
    config.validate()
    return config.connections.ConnectionsClass(config=config)


def _names(connections: Any, kind: str) -> dict[str, str]:
    return {name: getattr(connections, name).name for name in getattr(connections, kind)}


@pytest.mark.parametrize("task", list(EXPECTED), ids=lambda task: task.__name__)
def test_connections_match_the_dataset_types(task: type[PipelineTask]) -> None:
    dimensions, inputs, prerequisites, outputs = EXPECTED[task]
    connections = _connections(task)
    assert set(connections.dimensions) == dimensions
    assert _names(connections, "inputs") == inputs
    assert _names(connections, "prerequisiteInputs") == prerequisites
    assert _names(connections, "outputs") == outputs
    universe = DimensionUniverse()
    known = {**PIPELINE_DATASET_TYPES, **DATASET_TYPES}
    for kind in ("inputs", "prerequisiteInputs", "outputs"):
        for name in getattr(connections, kind):
            connection = getattr(connections, name)
            parent = connection.name.split(".")[0]
            spec = known[parent]
            assert set(connection.dimensions) == set(spec.dimensions), name
            if "." not in connection.name:
                assert connection.storageClass == spec.storage_class, name
            assert connection.isCalibration == spec.is_calibration, name
            # Every connection's dimensions exist in the universe and relate to the quantum's.
            universe.conform(connection.dimensions)
    # Outputs are per quantum; the dataset type registry knows them all.
    for name in connections.outputs:
        assert set(getattr(connections, name).dimensions) <= dimensions


def test_spatial_and_temporal_lookups() -> None:
    calibrate = _connections(CalibratePipeTask)
    assert calibrate.refcat.deferLoad
    assert calibrate.refcat.multiple
    assert calibrate.refcat.minimum == 0
    assert calibrate.post_isr_image.multiple
    template = _connections(TemplatePipeTask)
    assert template.template_coadd.multiple
    assert template.template_coadd.deferLoad
    isr = _connections(IsrPipeTask)
    assert all(getattr(isr, name).isCalibration for name in isr.prerequisiteInputs)


def test_switched_off_steps_drop_their_inputs() -> None:
    isr = _connections(IsrPipeTask, do_dark=False, do_flat=False)
    assert set(isr.prerequisiteInputs) == {"camera", "bias", "defects"}
    dia = _connections(DiaPipeTask, do_forced_fluxes=False)
    assert set(dia.inputs) == {"difference_image"}
    alerts = _connections(AlertsPipeTask, do_history=False)
    assert "preloaded_dia_sources" not in alerts.inputs


@pytest.mark.parametrize(
    ("task", "science"),
    [
        (IsrPipeTask, IsrConfig()),
        (CalibratePipeTask, CalibrateConfig()),
        (TemplatePipeTask, WarpConfig()),
        (SubtractPipeTask, SubtractConfig()),
        (DiaPipeTask, DiaConfig()),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, type) else value.__name__,
)
def test_default_config_is_the_science_default(task: type[PipelineTask], science: Any) -> None:
    assert task.ConfigClass().to_task_config() == science


def test_config_fields_reach_the_science() -> None:
    config = CalibratePipeTask.ConfigClass()
    config.psf_min_stars = 3
    config.astrometry_max_rms_arcsec = 0.2
    config.detection_threshold = 7.5
    science = config.to_task_config()
    assert science.psf.min_stars == 3
    assert science.astrometry.max_rms_arcsec == 0.2
    assert science.detection.threshold == 7.5
    assert science.detection.variance_mode == CalibrateConfig().detection.variance_mode
    subtract = SubtractPipeTask.ConfigClass()
    subtract.mode = "convolveScience"
    assert subtract.to_task_config().mode == "convolveScience"


def test_invalid_configs_are_refused() -> None:
    isr = IsrPipeTask.ConfigClass()
    isr.overscan_smooth_rows = 2
    with pytest.raises(ValueError, match="overscan_smooth_rows"):
        isr.validate()
    warp = TemplatePipeTask.ConfigClass()
    warp.grid_spacing = 1
    with pytest.raises(ValueError, match="grid_spacing"):
        warp.validate()
    preload = PreloadPipeTask.ConfigClass()
    preload.padding_arcsec = -1.0
    with pytest.raises(ValueError, match="padding_arcsec"):
        preload.validate()


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("ApPipe", ["isr", "calibrate", "template", "subtract", "dia", "associate", "alerts"]),
        ("SingleFrame", ["isr", "calibrate"]),
        ("Isr", ["isr"]),
        ("Preprocessing", ["preload"]),
    ],
)
def test_pipeline_files_build_graphs(name: str, labels: list[str]) -> None:
    pipeline = load_pipeline(PIPELINES / f"{name}.yaml", parameters={"apdb_config": "/config/apdb.yaml"})
    graph = pipeline.to_graph()
    assert list(graph.tasks.keys()) == labels
    if name == "Preprocessing":
        assert graph.tasks["preload"].config.apdb_config == "/config/apdb.yaml"
    # No instrument: key, so nothing imports an obs_base Instrument class.
    assert Pipeline.from_uri(str(PIPELINES / f"{name}.yaml")).getInstrument() is None


def test_ap_pipe_graph_links_the_steps() -> None:
    graph = load_pipeline(PIPELINES / "ApPipe.yaml").to_graph()
    overall_inputs = {name for name, _ in graph.iter_overall_inputs()}
    assert overall_inputs == {
        "raw",
        "camera",
        "bias",
        "dark",
        "flat",
        "defects",
        "sim_refcat",
        "template_coadd",
        "preloaded_dia_objects",
        "preloaded_dia_sources",
    }
    consumers = {node.label for node in graph.consumers_of("difference_image")}
    assert consumers == {"dia", "alerts"}


def test_config_overrides_by_label() -> None:
    pipeline = load_pipeline(PIPELINES / "SingleFrame.yaml", config={"calibrate": {"psf_min_stars": 4}})
    assert pipeline.to_graph().tasks["calibrate"].config.psf_min_stars == 4


def test_science_errors_become_pipe_base_outcomes() -> None:
    from lsst.pipe.base import AlgorithmError, InvalidQuantumError, NoWorkFound

    from promptproc.errors import BadInputError, ConfigurationError, ServiceUnavailableError
    from promptproc.pipetasks import (
        CalibrationAlgorithmError,
        InputDataError,
        SubtractionAlgorithmError,
        TemplateCoverageNoWork,
    )
    from promptproc.pipetasks._errors import science_errors
    from promptproc.tasks.errors import CalibrationFailure, SubtractionError, TemplateCoverageError

    failure = CalibrationFailure("psf", "3 usable PSF stars; need 5")
    with pytest.raises(CalibrationAlgorithmError) as caught, science_errors("calibrate"):
        raise failure
    assert isinstance(caught.value, AlgorithmError)
    assert caught.value.metadata == {
        "step": "psf",
        "reason": "3 usable PSF stars; need 5",
        "task": "calibrate",
    }
    assert caught.value.science_error is failure
    assert caught.value.__cause__ is failure
    assert str(caught.value).startswith("calibrate: psf calibration failed")
    with pytest.raises(SubtractionAlgorithmError, match="too few stamps"), science_errors("subtract"):
        raise SubtractionError("too few stamps")
    with pytest.raises(TemplateCoverageNoWork) as no_work, science_errors("template"):
        raise TemplateCoverageError(0.0, "no patch")
    assert isinstance(no_work.value, NoWorkFound)
    with pytest.raises(InputDataError, match="flat"), science_errors("isr"):
        raise BadInputError("master flat is 64x64")
    with pytest.raises(InvalidQuantumError, match="invalid configuration"), science_errors("isr"):
        raise ConfigurationError("bad")
    with pytest.raises(ServiceUnavailableError), science_errors("preload"):
        raise ServiceUnavailableError("APDB down")
