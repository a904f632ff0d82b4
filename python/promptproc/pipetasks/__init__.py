"""The science of `promptproc.tasks` as pipe_base PipelineTasks, and the pipeline runner.

One module per PipelineTask, each a thin ``runQuantum`` (Butler reads and
writes, error translation) over a pure ``run`` that calls the science:

- ``isr`` (`IsrPipeTask`; instrument, exposure, detector): ``post_isr_image``;
- ``calibrate`` (`CalibratePipeTask`; instrument, visit, detector):
  ``visit_image``, ``visit_sources``, ``visit_summary``;
- ``template`` (`TemplatePipeTask`; instrument, visit, detector, skymap):
  ``template_detector``;
- ``subtract`` (`SubtractPipeTask`; instrument, visit, detector):
  ``difference_image``, ``template_matched``, ``difference_kernel``;
- ``dia`` (`DiaPipeTask`; instrument, visit, detector): ``dia_sources``;
- ``associate`` (`AssociatePipeTask`; instrument, visit, detector):
  ``dia_source_apdb``, ``dia_object_apdb``;
- ``alerts`` (`AlertsPipeTask`; instrument, visit, detector): ``alert_packets``;
- ``preload`` (`PreloadPipeTask`; instrument, group, detector):
  ``preloaded_dia_objects``, ``preloaded_dia_sources``.

The pipelines are in ``pipelines/<instrument>/`` and run with `run_pipeline`.
No task writes to the APDB or sends alerts; the worker's export phase does.
"""

from ._dataset_types import (
    ALERT_PACKETS,
    DATAFRAME_STORAGE_CLASS,
    DIA_OBJECT_APDB,
    DIA_SOURCE_APDB,
    DIA_SOURCES,
    DIFFERENCE_IMAGE,
    DIFFERENCE_KERNEL,
    EXPOSURE_DIMENSIONS,
    GROUP_DIMENSIONS,
    PIPELINE_DATASET_TYPES,
    POST_ISR_IMAGE,
    PRELOADED_DIA_OBJECTS,
    PRELOADED_DIA_SOURCES,
    REGION_TIME,
    TEMPLATE_DETECTOR,
    TEMPLATE_MATCHED,
    VISIT_DIMENSIONS,
    VISIT_IMAGE,
    VISIT_SOURCES,
    VISIT_SUMMARY,
    register_pipeline_dataset_types,
)
from ._errors import (
    CalibrationAlgorithmError,
    InputDataError,
    ScienceAlgorithmError,
    SubtractionAlgorithmError,
    TemplateCoverageNoWork,
)
from ._runner import (
    PipelineGraphError,
    PipelineRunResult,
    QuantumOutcome,
    QuantumStatus,
    data_id_constraint,
    load_pipeline,
    run_pipeline,
)
from ._storage import AlertPackets, AlertPacketsFormatter, RegionTime, RegionTimeFormatter
from .alerts import AlertsPipeConfig, AlertsPipeTask
from .associate import AssociatePipeConfig, AssociatePipeTask
from .calibrate import CalibratePipeConfig, CalibratePipeTask
from .dia import DiaPipeConfig, DiaPipeTask
from .isr import IsrPipeConfig, IsrPipeTask
from .preload import PreloadPipeConfig, PreloadPipeTask, open_apdb_uri, write_region_time
from .subtract import SubtractPipeConfig, SubtractPipeTask
from .template import TemplatePipeConfig, TemplatePipeTask

__all__ = [
    "ALERT_PACKETS",
    "DATAFRAME_STORAGE_CLASS",
    "DIA_OBJECT_APDB",
    "DIA_SOURCES",
    "DIA_SOURCE_APDB",
    "DIFFERENCE_IMAGE",
    "DIFFERENCE_KERNEL",
    "EXPOSURE_DIMENSIONS",
    "GROUP_DIMENSIONS",
    "PIPELINE_DATASET_TYPES",
    "POST_ISR_IMAGE",
    "PRELOADED_DIA_OBJECTS",
    "PRELOADED_DIA_SOURCES",
    "REGION_TIME",
    "TEMPLATE_DETECTOR",
    "TEMPLATE_MATCHED",
    "VISIT_DIMENSIONS",
    "VISIT_IMAGE",
    "VISIT_SOURCES",
    "VISIT_SUMMARY",
    "AlertPackets",
    "AlertPacketsFormatter",
    "AlertsPipeConfig",
    "AlertsPipeTask",
    "AssociatePipeConfig",
    "AssociatePipeTask",
    "CalibratePipeConfig",
    "CalibratePipeTask",
    "CalibrationAlgorithmError",
    "DiaPipeConfig",
    "DiaPipeTask",
    "InputDataError",
    "IsrPipeConfig",
    "IsrPipeTask",
    "PipelineGraphError",
    "PipelineRunResult",
    "PreloadPipeConfig",
    "PreloadPipeTask",
    "QuantumOutcome",
    "QuantumStatus",
    "RegionTime",
    "RegionTimeFormatter",
    "ScienceAlgorithmError",
    "SubtractPipeConfig",
    "SubtractPipeTask",
    "SubtractionAlgorithmError",
    "TemplateCoverageNoWork",
    "TemplatePipeConfig",
    "TemplatePipeTask",
    "data_id_constraint",
    "load_pipeline",
    "open_apdb_uri",
    "register_pipeline_dataset_types",
    "run_pipeline",
    "write_region_time",
]
