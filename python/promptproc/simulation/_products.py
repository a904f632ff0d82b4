"""Writing a simulated observatory's products to a directory tree.

Layout below the root::

    manifest.json                      configuration, epochs and every file written
    instrument.json, skymap.json       camera and sky map descriptions
    raws/{DESIGN 3.2 key}.fits/.json   raws and sidecars
    calibs/{epoch}/bias/bias_{det}.fits, dark/dark_{det}.fits,
        flat/flat_{filter}_{det}.fits, defects/defects_{det}.fits
    templates/{band}/template_{tract}_{patch}_{band}.fits
    refcat/refcat.fits
    truth/visits.ecsv, truth/transients.fits, truth/variables.fits,
    truth/{obs_id}/{obs_id}_{det}_truth.fits

Exposures are written with `write_exposure_fits`, raws with
`write_raw_fits`, tables as FITS binary tables.  ``{det}`` is the detector
name (``R22_S11``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astropy.table import Table

from ..image import write_exposure_fits
from ._site import iso_tai
from ._visits import SimVisit

if TYPE_CHECKING:
    from ._observatory import SimulatedObservatory

__all__ = ["ProductManifest", "write_products"]

_LOG = logging.getLogger(__name__)


@dataclass
class ProductManifest:
    """What `write_products` wrote, by kind (paths below ``root``).

    Parameters
    ----------
    root : `pathlib.Path`
        The output directory.
    raws : `list` [`pathlib.Path`]
        Raw FITS files (sidecars sit next to them with ``.json``).
    calibs : `list` [`pathlib.Path`]
        Master calibrations and defect tables.
    templates : `list` [`pathlib.Path`]
        Template patches.
    refcat : `list` [`pathlib.Path`]
        Reference catalog files.
    truth : `list` [`pathlib.Path`]
        Truth tables.
    """

    root: Path
    raws: list[Path] = field(default_factory=list)
    calibs: list[Path] = field(default_factory=list)
    templates: list[Path] = field(default_factory=list)
    refcat: list[Path] = field(default_factory=list)
    truth: list[Path] = field(default_factory=list)

    def relative(self) -> dict[str, list[str]]:
        """Paths relative to the root, by kind."""
        return {
            kind: [str(p.relative_to(self.root)) for p in getattr(self, kind)]
            for kind in ("raws", "calibs", "templates", "refcat", "truth")
        }


def _write_table(table: Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.write(path, format="fits", overwrite=True)
    return path


def _visits_table(obs: SimulatedObservatory) -> Table:
    rows = []
    for visit in obs.visits:
        truth = obs.visit_truth(visit)
        rows.append(
            {
                **asdict(visit),
                "true_ra": truth.ra,
                "true_dec": truth.dec,
                "true_rotation": truth.rotation,
                "psf_fwhm_pixels": truth.psf_fwhm,
                "sky_electrons": truth.sky_electrons,
                "electrons_per_njy": truth.electrons_per_njy,
                "epoch": obs.epoch_for(visit.mjd_begin).name,
            }
        )
    return Table(rows=rows)


def _catalog_table(catalog: Any, mag_field: str) -> Table:
    table = Table()
    for name in catalog.__dataclass_fields__:
        value = getattr(catalog, name)
        if isinstance(value, dict):
            for band, mags in value.items():
                table[f"{band}_{mag_field}"] = mags
        else:
            table[name] = value
    return table


def write_products(
    obs: SimulatedObservatory,
    root: Path,
    *,
    detectors: list[int] | None = None,
    visits: list[SimVisit] | None = None,
    raws: bool = True,
    calibs: bool = True,
    templates: bool = True,
    refcat: bool = True,
    truth: bool = True,
) -> ProductManifest:
    """Write a simulated observatory's products (see the module notes for the layout).

    Parameters
    ----------
    obs : `SimulatedObservatory`
        The observatory.
    root : `pathlib.Path`
        Output directory, created if needed; existing files are replaced.
    detectors : `list` [`int`], optional
        Detectors to write raws, calibrations and truth for; all by default.
    visits : `list` [`SimVisit`], optional
        Visits to write raws and truth for; all by default.
    raws, calibs, templates, refcat, truth : `bool`
        Which kinds of product to write.

    Returns
    -------
    manifest : `ProductManifest`
        Every file written; also saved as ``manifest.json``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    det_ids = [
        obs.instrument.detector(d).id
        for d in (detectors if detectors is not None else [d.id for d in obs.instrument.detectors])
    ]
    chosen_visits = list(visits) if visits is not None else list(obs.visits)
    manifest = ProductManifest(root=root)
    (root / "instrument.json").write_text(obs.instrument.to_json() + "\n")
    (root / "skymap.json").write_text(obs.skymap.to_json() + "\n")
    if raws:
        for visit in chosen_visits:
            for det in det_ids:
                fits_path, _ = obs.write_raw(visit, det, root / "raws")
                manifest.raws.append(fits_path)
                _LOG.info("wrote %s", fits_path)
    if calibs:
        for epoch in obs.calibration_epochs:
            base = root / "calibs" / epoch.name
            for det in det_ids:
                name = obs.instrument.detector(det).name
                products = [
                    (base / "bias" / f"bias_{name}.fits", lambda d=det, e=epoch: obs.master_bias(d, e)),
                    (base / "dark" / f"dark_{name}.fits", lambda d=det, e=epoch: obs.master_dark(d, e)),
                ]
                products += [
                    (
                        base / "flat" / f"flat_{f}_{name}.fits",
                        lambda d=det, e=epoch, f=f: obs.master_flat(d, f, e),
                    )
                    for f in obs.config.filters
                ]
                for path, make in products:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_exposure_fits(make(), path)
                    manifest.calibs.append(path)
                manifest.calibs.append(
                    _write_table(obs.defects(det, epoch), base / "defects" / f"defects_{name}.fits")
                )
            _LOG.info("wrote calibrations of %s", epoch.name)
    if templates:
        bands = sorted({obs.instrument.filter(f).band for f in obs.config.filters})
        for patch in obs.template_patches():
            for band in bands:
                path = root / "templates" / band / f"template_{patch.tract}_{patch.id}_{band}.fits"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_exposure_fits(obs.template(patch, band), path)
                manifest.templates.append(path)
                _LOG.info("wrote %s", path)
    if refcat:
        manifest.refcat.append(_write_table(obs.reference_catalog(), root / "refcat" / "refcat.fits"))
    if truth:
        visits_path = root / "truth" / "visits.ecsv"
        visits_path.parent.mkdir(parents=True, exist_ok=True)
        _visits_table(obs).write(visits_path, format="ascii.ecsv", overwrite=True)
        manifest.truth.append(visits_path)
        sky = obs.sky_model
        manifest.truth.append(
            _write_table(_catalog_table(sky.transients, "peak_mag"), root / "truth" / "transients.fits")
        )
        manifest.truth.append(
            _write_table(_catalog_table(sky.variables, "mean_mag"), root / "truth" / "variables.fits")
        )
        for visit in chosen_visits:
            for det in det_ids:
                name = obs.instrument.detector(det).name
                path = root / "truth" / visit.obs_id / f"{visit.obs_id}_{name}_truth.fits"
                manifest.truth.append(_write_table(obs.truth(visit, det), path))
    summary = {
        "config": _jsonable(asdict(obs.config)),
        "instrument": obs.instrument.name,
        "skymap": obs.skymap.name,
        "calibration_epochs": [
            {"name": e.name, "begin": iso_tai(e.begin.tai.mjd), "end": iso_tai(e.end.tai.mjd)}
            for e in obs.calibration_epochs
        ],
        "visits": [asdict(v) for v in obs.visits],
        "files": manifest.relative(),
    }
    (root / "manifest.json").write_text(json.dumps(summary, indent=1) + "\n")
    return manifest


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
