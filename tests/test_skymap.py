import numpy as np
import pytest

from promptproc.errors import BadInputError
from promptproc.instrument import make_simcam, predict_detector_wcs, wcs_corners
from promptproc.skymap import SkyMap, SkyMapConfig


@pytest.fixture(scope="module")
def skymap() -> SkyMap:
    return SkyMap(SkyMapConfig(name="test_rings", patch_inner=1000, patch_border=50))


@pytest.mark.parametrize(
    ("ra", "dec"), [(150.0, 2.2), (0.01, -0.5), (359.9, 45.0), (10.0, -89.9), (200.0, 89.8)]
)
def test_find_tract_contains_position(skymap: SkyMap, ra: float, dec: float) -> None:
    tract = skymap.tract(skymap.find_tract(ra, dec))
    x, y = tract.wcs.all_world2pix([[ra, dec]], 0)[0]
    assert 0 <= x < tract.width
    assert 0 <= y < tract.height


def test_patches_tile_the_tract(skymap: SkyMap) -> None:
    tract = skymap.tract(skymap.find_tract(150.0, 2.2))
    area = sum(
        tract.patch(i).inner.width * tract.patch(i).inner.height
        for i in range(tract.patches_x * tract.patches_y)
    )
    assert area == tract.width * tract.height
    patch = tract.patch((3, 2))
    assert patch.id == 2 * tract.patches_x + 3
    assert tract.patch(patch.id).index == (3, 2)
    # The patch WCS is the tract WCS shifted to the outer box.
    np.testing.assert_allclose(
        patch.wcs.all_pix2world([[0.0, 0.0]], 0),
        tract.wcs.all_pix2world([[patch.outer.x0, patch.outer.y0]], 0),
        atol=1e-10,
    )
    with pytest.raises(BadInputError):
        tract.patch(10_000)
    with pytest.raises(BadInputError):
        skymap.tract(skymap.num_tracts)


def test_patches_overlapping_a_detector(skymap: SkyMap) -> None:
    cam = make_simcam(512)
    wcs = predict_detector_wcs(cam, 4, 150.0, 2.2, 20.0)
    corners = wcs_corners(wcs, 512, 512, padding=50)
    patches = skymap.patches_overlapping(corners)
    assert 1 <= len(patches) <= 4
    # Every corner of the detector falls inside one of the found patches' outer boxes.
    for ra, dec in wcs_corners(wcs, 512, 512):
        inside = False
        for patch in patches:
            x, y = patch.wcs.all_world2pix([[ra, dec]], 0)[0]
            inside |= (-0.5 <= x < patch.outer.width - 0.5) and (-0.5 <= y < patch.outer.height - 0.5)
        assert inside


def test_serialisation_and_hash(skymap: SkyMap) -> None:
    again = SkyMap.from_json(skymap.to_json())
    assert again == skymap
    assert again.hash() == skymap.hash()
    assert SkyMap(SkyMapConfig(name="other")).hash() != skymap.hash()
    with pytest.raises(BadInputError):
        SkyMap.from_json('{"bogus": 1}')
    with pytest.raises(BadInputError):
        SkyMapConfig(patch_inner=0)
