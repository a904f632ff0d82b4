"""A deterministic simulated observatory: sky, SimCam raws, calibrations, templates, truth.

Everything is made on demand from a `SimulationConfig`, each product from its
own random stream derived from the seed and the product's identity, so any
product can be regenerated alone and in any order::

    from promptproc.simulation import SimulationConfig, SimulatedObservatory

    obs = SimulatedObservatory(SimulationConfig(seed=42, detector_size=512, n_visits=3))
    visit = obs.visits[0]
    raw = obs.raw(visit, 4)                         # RawImage, ADU per amplifier
    epoch = obs.epoch_for(visit.mjd_begin)
    bias = obs.master_bias(4, epoch)                # electrons
    truth = obs.truth(visit, 4)                     # astropy Table
"""

from ._calibs import CALIB_DARK_TIME, CALIB_FLAT_LEVEL
from ._config import SimulationConfig, default_skymap_config
from ._observatory import SimulatedObservatory, sidecar_dict
from ._products import ProductManifest, write_products
from ._refcat import REFCAT_NAME
from ._rng import derive_rng
from ._scene import KINDS
from ._signature import DetectorSignature
from ._skymodel import SkyModel
from ._spherical import SkyRegion
from ._visits import CalibrationEpoch, SimVisit, VisitTruth

__all__ = [
    "CALIB_DARK_TIME",
    "CALIB_FLAT_LEVEL",
    "KINDS",
    "REFCAT_NAME",
    "CalibrationEpoch",
    "DetectorSignature",
    "ProductManifest",
    "SimVisit",
    "SimulatedObservatory",
    "SimulationConfig",
    "SkyModel",
    "SkyRegion",
    "VisitTruth",
    "default_skymap_config",
    "derive_rng",
    "sidecar_dict",
    "write_products",
]
