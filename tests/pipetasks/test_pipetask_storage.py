"""Storage classes of the pipeline products (region and time, alert packets) and small runner helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.time import Time, TimeDelta
from lsst.daf.butler import Butler, Timespan
from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

from promptproc.alerts import load_alert_schema, read_alerts
from promptproc.errors import BadInputError
from promptproc.ids import DiaIdPacker
from promptproc.instrument import make_simcam
from promptproc.pipetasks import (
    ALERT_PACKETS,
    REGION_TIME,
    AlertPackets,
    RegionTime,
    data_id_constraint,
    register_pipeline_dataset_types,
)
from promptproc.repo import CorruptDatasetError, create_central_repo, register_instrument

IDS = [int(i) for i in DiaIdPacker(9).pack_many(2026112200001, 4, np.arange(2))]


def _polygon() -> ConvexPolygon:
    corners = [(150.0, 2.0), (150.1, 2.0), (150.1, 2.1), (150.0, 2.1)]
    return ConvexPolygon([UnitVector3d(LonLat.fromDegrees(ra, dec)) for ra, dec in corners])


def _region_time() -> RegionTime:
    begin = Time(61000.25, format="mjd", scale="tai")
    return RegionTime(_polygon(), Timespan(begin, begin + TimeDelta(30.0, format="sec")))


@pytest.fixture(scope="module")
def butler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Butler]:
    """A small repository with SimCam, the pipeline dataset types and one group."""
    root = create_central_repo(tmp_path_factory.mktemp("storage") / "repo")
    butler = Butler.from_config(root, writeable=True)
    register_instrument(butler, make_simcam(64))
    register_pipeline_dataset_types(butler)
    butler.registry.syncDimensionData("group", {"instrument": "SimCam", "name": "g1"})
    butler.collections.register("run")
    yield butler
    butler.close()


def test_region_time_json_round_trip() -> None:
    original = _region_time()
    text = original.to_json()
    back = RegionTime.from_json(text)
    assert back.region == original.region
    assert back.timespan.begin.tai.mjd == pytest.approx(61000.25, abs=1e-9)
    assert (back.timespan.end - back.timespan.begin).sec == pytest.approx(30.0, abs=1e-3)
    assert back.midpoint.tai.mjd == pytest.approx(61000.25 + 15.0 / 86400.0, abs=1e-9)
    for bad in (
        "{",
        '{"version": 99}',
        '{"version": 1, "region": "!!", "begin_mjd_tai": 1, "end_mjd_tai": 2}',
    ):
        with pytest.raises(BadInputError):
            RegionTime.from_json(bad)


def test_region_time_for_a_visit() -> None:
    from promptproc.visit import FannedOutVisit

    start = float(Time(61000.25, format="mjd", scale="tai").unix_tai)
    visit = FannedOutVisit(
        salIndex=1,
        scriptSalIndex=1,
        groupId="g1",
        coordinateSystem=2,
        position=[150.0, 2.0],
        startTime=start,
        rotationSystem=2,
        cameraAngle=0.0,
        filters="r",
        dome=2,
        duration=30.0,
        nimages=1,
        instrument="SimCam",
        survey="WFD",
        totalCheckpoints=0,
        private_sndStamp=start - 30.0,
        detector=4,
    )
    camera = make_simcam(256)
    region_time = RegionTime.for_visit(visit, camera, 10.0)
    assert region_time.region.contains(UnitVector3d(LonLat.fromDegrees(150.0, 2.0)))
    assert region_time.timespan.begin.tai.mjd == pytest.approx(61000.25, abs=1e-8)
    assert (region_time.timespan.end - region_time.timespan.begin).sec == pytest.approx(30.0, abs=1e-3)


def test_region_time_through_the_butler(butler: Butler) -> None:
    ref = butler.put(_region_time(), REGION_TIME, instrument="SimCam", group="g1", detector=4, run="run")
    assert ref.datasetType.storageClass_name == "PromptRegionTime"
    back = butler.get(ref)
    assert isinstance(back, RegionTime)
    assert back.region == _polygon()
    assert butler.getURI(ref).getExtension() == ".json"


def _packets() -> AlertPackets:
    """Two minimal packets: built through the alert task on a tiny difference image."""
    import pandas as pd
    from astropy.table import Table

    from promptproc.apdb import empty_table_frame
    from promptproc.image import Exposure, PhotoCalib
    from promptproc.instrument import make_tan_wcs
    from promptproc.tasks.alerts import run as build
    from promptproc.tasks.associate import run as associate

    catalog = Table(
        {
            "x": [20.0, 40.0],
            "y": [20.0, 40.0],
            "ra": [150.001, 150.002],
            "dec": [2.001, 2.002],
            "psfFlux": [1000.0, 2000.0],
            "psfFluxErr": [10.0, 10.0],
            "snr": [100.0, 200.0],
        }
    )
    rows = associate(
        catalog, empty_table_frame("DiaObject"), 2026112200001, 4, "r", 61000.25, id_packer=DiaIdPacker(9)
    )
    wcs = make_tan_wcs(150.0, 2.0, (31.5, 31.5), 0.2, 0.0)
    rng = np.random.default_rng(3)
    difference = Exposure(
        image=rng.normal(size=(64, 64)).astype(np.float32),
        variance=np.ones((64, 64), dtype=np.float32),
        wcs=wcs,
        photo_calib=PhotoCalib(1.0),
    )
    result = build(rows.dia_sources, rows.dia_objects, difference=difference, history=pd.DataFrame())
    return AlertPackets.from_schema(result.alerts, result.schema)


def test_alert_packets_round_trip(tmp_path: Path) -> None:
    packets = _packets()
    assert len(packets) == 2
    assert packets.schema_version == load_alert_schema().version
    assert packets.dia_source_ids == IDS
    data = packets.to_bytes()
    back = AlertPackets.from_bytes(data)
    assert back.dia_source_ids == IDS
    assert back.schema_version == packets.schema_version
    assert back.alerts[0]["cutoutDifference"] == packets.alerts[0]["cutoutDifference"]
    # The file is an ordinary alert container file.
    path = tmp_path / "alerts.avro"
    path.write_bytes(data)
    assert [alert["diaSourceId"] for alert in read_alerts(path)] == IDS
    with pytest.raises(BadInputError):
        AlertPackets.from_bytes(b"not avro")
    empty = AlertPackets.from_bytes(AlertPackets([], packets.schema_version).to_bytes())
    assert len(empty) == 0


def test_corrupt_alert_file_is_a_clear_error(butler: Butler) -> None:
    from lsst.daf.butler import DatasetRef, DatasetType

    packets = _packets()
    dataset_type = DatasetType(
        "alert_packets_by_group",
        ("instrument", "group", "detector"),
        "PromptAlertPackets",
        universe=butler.dimensions,
    )
    butler.registry.registerDatasetType(dataset_type)
    ref = butler.put(packets, dataset_type, instrument="SimCam", group="g1", detector=4, run="run")
    assert butler.getURI(ref).getExtension() == ".avro"
    assert butler.get(ref).dia_source_ids == IDS
    uri = butler.getURI(ref)
    uri.write(b"x" * len(uri.read()), overwrite=True)  # same size: only the formatter can tell
    with pytest.raises(CorruptDatasetError, match="alert packets"):
        butler.get(DatasetRef(dataset_type, ref.dataId, run="run", id=ref.id))
    assert ALERT_PACKETS in {t.name for t in butler.registry.queryDatasetTypes()}


def test_data_id_constraint() -> None:
    where, bind = data_id_constraint({"instrument": "SimCam", "detector": [1, 2], "group": "g"})
    assert where == "instrument = _instrument AND detector IN (_detector) AND group = _group"
    assert bind == {"_instrument": "SimCam", "_detector": [1, 2], "_group": "g"}
