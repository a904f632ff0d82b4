"""The science of prompt processing, one module per step (ISR, calibration, subtraction ...).

Each module holds plain functions and small classes with no Butler
dependency; the PipelineTask wrappers call them.  Import the step you need,
e.g. ``from promptproc.tasks.isr import run_isr``.
"""

__all__: list[str] = []
