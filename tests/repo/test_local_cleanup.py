"""Cleaning the local repository after a visit: the cache stays, the visit goes."""

from __future__ import annotations

from pathlib import Path

from local_testdata import (  # noqa: F401
    PADDING,
    CentralSim,
    central_sim,
    datastore_bytes,
    fanned_visit,
    local_repo,
    put_outputs,
    sqlite_bytes,
)
from lsst.daf.butler import CollectionType

from promptproc.repo import LocalRepo, LocalRepoOptions, output_run_name


def run_visit(repo: LocalRepo, central_sim: CentralSim, index: int, detector: int, tmp_path: Path) -> str:  # noqa: F811
    """Prepare, ingest and fake the outputs of one detector-visit; return the output run."""
    sim_visit = central_sim.visits[index]
    visit = fanned_visit(sim_visit, detector)
    repo.prepare(visit)
    raw, _ = central_sim.observatory.write_raw(sim_visit, detector, tmp_path / "raws")
    repo.ingest_raw(raw, visit)
    run = output_run_name("SimCam", visit.day_obs, "ApPipe", "test")
    put_outputs(repo.butler, run, sim_visit.exposure_id, detector)
    return run


def test_cleanup_keeps_the_cache_and_removes_the_visit(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    tmp_path: Path,
) -> None:
    butler = local_repo.butler
    visit = fanned_visit(central_sim.visits[0], 4)
    run = run_visit(local_repo, central_sim, 0, 4, tmp_path)
    # A per-visit chain the pipeline runner might have made.
    chain = "SimCam/prompt/output-2026-11-22"
    butler.collections.register(chain, CollectionType.CHAINED)
    butler.collections.redefine_chain(chain, [run])
    cached = local_repo.cache.refs()
    raws = butler.query_datasets("raw", collections="SimCam/raw/all")
    raw_file = Path(butler.getURI(raws[0]).ospath)
    output_files = [
        Path(butler.getURI(ref).ospath) for ref in butler.query_all_datasets(run, find_first=False)
    ]
    assert raw_file.exists()
    assert all(path.exists() for path in output_files)

    result = local_repo.clean_visit(visit)
    assert result.raws == 1
    assert result.runs == [run]
    assert result.collections == [chain]
    assert result.evicted == {}
    assert not raw_file.exists()
    assert not any(path.exists() for path in output_files)
    existing = {info.name for info in butler.collections.query_info("*")}
    assert run not in existing
    assert chain not in existing
    assert butler.query_datasets("raw", collections="SimCam/raw/all", explain=False) == []
    assert local_repo.dataset_count() == len(cached)
    for ref in cached:
        assert butler.stored(ref)
    # The chain the pipeline searches is intact, and the next visit reuses everything.
    assert butler.collections.get_info("SimCam/defaults").children == (
        local_repo.central.collections.get_info("SimCam/defaults").children
    )
    again = local_repo.prepare(fanned_visit(central_sim.visits[1], 4))
    assert again.n_transferred == 0


def test_named_runs_only(
    local_repo: LocalRepo,  # noqa: F811
    central_sim: CentralSim,  # noqa: F811
    tmp_path: Path,
) -> None:
    run = run_visit(local_repo, central_sim, 0, 4, tmp_path)
    local_repo.butler.collections.register("keep/me")
    result = local_repo.clean_visit(runs=[run, "SimCam/calib", "no/such/run"])
    assert result.runs == [run]
    existing = {info.name for info in local_repo.butler.collections.query_info("*")}
    assert "keep/me" in existing
    assert "SimCam/calib" in existing


def test_cache_size_zero_downloads_every_visit(central_sim: CentralSim, tmp_path: Path) -> None:  # noqa: F811
    options = LocalRepoOptions(refcat_cache_size=0, template_cache_size=0, preload_padding=PADDING)
    with LocalRepo.create(central_sim.butler(), "SimCam", tmp_path / "local", options) as repo:
        first = repo.prepare(fanned_visit(central_sim.visits[0], 4))
        cleaned = repo.clean_visit()
        assert cleaned.evicted == {
            "sim_refcat": len(first.refcat_shards),
            "template_coadd": len(first.templates),
        }
        second = repo.prepare(fanned_visit(central_sim.visits[1], 4))
        assert second.transferred == cleaned.evicted
        assert set(second.reused) == {"camera", "bias", "dark", "flat", "defects", "skyMap"}


def test_repository_does_not_grow_over_many_visits(central_sim: CentralSim, tmp_path: Path) -> None:  # noqa: F811
    options = LocalRepoOptions(
        cache_size=2, refcat_cache_size=4, template_cache_size=8, preload_padding=PADDING
    )
    sizes = []
    with LocalRepo.create(central_sim.butler(), "SimCam", tmp_path / "local", options) as repo:
        # 10 visits: four exposures, detectors 0, 4 and 1 in turn, so the cache fills and evicts.
        for step in range(10):
            detector = (0, 4, 1)[step % 3]
            run = run_visit(repo, central_sim, step % 4, detector, tmp_path)
            result = repo.clean_visit(fanned_visit(central_sim.visits[step % 4], detector))
            assert result.runs == [run]
            assert result.raws == 1
            sizes.append((repo.dataset_count(), datastore_bytes(repo), sqlite_bytes(repo)))
            # Only cached inputs remain, each type within its size.
            assert sizes[-1][0] == len(repo.cache)
            for name in repo.cache.dataset_types():
                assert len(repo.cache.refs(name)) <= repo.cache.capacity.of(name)
    print("datasets, datastore bytes, registry bytes after each visit:", *sizes, sep="\n")
    counts, files, database = zip(*sizes, strict=True)
    assert max(counts) <= 2 * 5 + 1 + 4 + 8  # calibs of two detectors, sky map, shards, templates
    # Once the cache is full (third visit), the files stay the same size (give or take the
    # few bytes by which one template's file differs from another's).
    assert max(files[3:]) <= 1.01 * max(files[:3])
    # The registry reuses the pages of removed rows; only the dimension records of each
    # visit (a few hundred bytes) accumulate.
    assert database[-1] - database[2] <= 64 * 1024
