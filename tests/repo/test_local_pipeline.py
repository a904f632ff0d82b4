"""A real PipelineTask run on the local repository through pipe_base's SimplePipelineExecutor.

This proves the whole worker path: the quantum graph finds the raw and the
calibration certified locally by the preload, the outputs get random UUIDs
locally, and the export still gives them deterministic central IDs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table
from local_testdata import CentralSim, central_sim, fanned_visit, local_repo  # noqa: F401
from lsst.daf.butler import Butler
from lsst.pipe.base import PipelineTask, PipelineTaskConfig, PipelineTaskConnections, Struct
from lsst.pipe.base import connectionTypes as cT
from lsst.pipe.base.simple_pipeline_executor import SimplePipelineExecutor

from promptproc.repo import LocalRepo, create_central_repo, output_run_name, register_instrument


class RawStatsConnections(PipelineTaskConnections, dimensions=("instrument", "exposure", "detector")):
    raw = cT.Input("raw", storageClass="PromptRawImage", dimensions=("instrument", "exposure", "detector"))
    bias = cT.PrerequisiteInput(
        "bias", storageClass="PromptExposure", dimensions=("instrument", "detector"), isCalibration=True
    )
    stats = cT.Output(
        "raw_stats", storageClass="ArrowAstropy", dimensions=("instrument", "exposure", "detector")
    )


class RawStatsConfig(PipelineTaskConfig, pipelineConnections=RawStatsConnections):
    pass


class RawStatsTask(PipelineTask):
    ConfigClass = RawStatsConfig
    _DefaultName = "rawStats"

    def run(self, raw, bias) -> Struct:
        means = [float(np.mean(amp.imaging())) for amp in raw.amplifiers]
        return Struct(
            stats=Table(
                {
                    "amp": [a.name for a in raw.amplifiers],
                    "mean": means,
                    "bias": [float(np.mean(bias.image))] * len(means),
                }
            )
        )


def run_pipeline(repo: LocalRepo, exposure: int, detector: int, run: str) -> None:
    repo.butler.collections.register(run)
    butler = repo.butler.clone(collections=[run, repo.defaults_collection], run=run)
    executor = SimplePipelineExecutor.from_task_class(
        RawStatsTask,
        butler=butler,
        where="instrument = 'SimCam' AND exposure = e AND detector = d",
        bind={"e": exposure, "d": detector},
        output_run=run,
    )
    quanta = executor.run(register_dataset_types=True, save_versions=False)
    assert len(quanta) == 1


def test_pipeline_outputs_export_with_deterministic_ids(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    tmp_path: Path,
) -> None:
    sim_visit = central_sim.visits[2]  # epoch 1
    visit = fanned_visit(sim_visit, 4)
    preload = local_repo.prepare(visit)
    raw, _ = central_sim.observatory.write_raw(sim_visit, 4, tmp_path / "raws")
    central = Butler.from_config(create_central_repo(tmp_path / "out"), writeable=True)
    register_instrument(central, local_repo.camera())
    run = output_run_name("SimCam", visit.day_obs, "RawStats", "test")

    ids = []
    for attempt in range(2):  # the second attempt is a redelivered visit, processed again
        local_repo.ingest_raw(raw, visit)
        run_pipeline(local_repo, sim_visit.exposure_id, 4, run)
        stats = local_repo.butler.get(
            "raw_stats", exposure=sim_visit.exposure_id, detector=4, instrument="SimCam", collections=run
        )
        bias = local_repo.butler.get(preload.calibs["bias"])
        assert stats["bias"][0] == float(np.mean(bias.image))  # the epoch-1 bias, found via the local calib
        local_ids = {ref.id for ref in local_repo.butler.query_all_datasets(run, find_first=False)}
        ids.append(local_ids)
        result = local_repo.export_outputs(run, central, ["raw_stats", "rawStats_.*"])
        if attempt == 0:
            assert result.exported == {
                "raw_stats": 1,
                "rawStats_config": 1,
                "rawStats_log": 1,
                "rawStats_metadata": 1,
            }
        else:
            assert result.exported == {}
            assert result.n_skipped == 4
        local_repo.clean_visit(visit)
    assert not ids[0] & ids[1]  # the executor gave new random IDs the second time
    exported = central.query_all_datasets(run, find_first=False)
    assert len(exported) == 4
    assert {ref.id for ref in exported}.isdisjoint(ids[0] | ids[1])
    central.close()
