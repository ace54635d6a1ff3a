"""`xraymass predict`: the mass of a cluster from a Chandra level-2 event file (docs/predict.md).

The run (`--config`) is the one the models were trained in: its store's stamps and events record the
settings the config must match (as `xraymass train` checks). The event file's in-band events are
binned exactly as `xraymass stamps` bins a mock (same Field, band, npix and field of view, in arcsec;
the same masking when the run masks point sources), after the domain checks (xraymass.predict.domain)
and, for a longer exposure, Poisson thinning to the trained one. Every complete fold model predicts
the stamp's 8 dihedral transforms; the output directory (`--out`, written whole or not at all) holds
the table, the stamp, a figure and a summary with provenance.

`--write-event-file PATH --halo ID [--projection P]` instead writes a level-2 event file from a mock in
the run's store (xraymass.predict.eventfile), for trying the command on known events.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config, dump_yaml
from ..errors import InputError, StoreError
from ..stamps.binning import Field, bin_events
from ..stamps.dihedral import N_TRANSFORMS, all_transforms
from . import domain
from .eventfile import Observation, read_level2

CENTRE_GRID = 2.0 ** -20  # centres are rounded to 2^-20 sky pixel (~5e-7 arcsec): a WCS round trip is exact
CENTRE_METHODS = ("peak", "centroid")
ENSEMBLE_NOTE = "mean and standard deviation over the fold models (their spread, not a calibrated uncertainty)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", metavar="EVT2", help="Chandra level-2 event file (FITS, EVENTS extension)")
    parser.add_argument("--redshift", type=float, help="the cluster's redshift")
    parser.add_argument("--ra", type=float, help="the cluster centre's right ascension (deg, ICRS)")
    parser.add_argument("--dec", type=float, help="the cluster centre's declination (deg, ICRS)")
    parser.add_argument("--centre", choices=CENTRE_METHODS,
                        help="find the centre instead of --ra/--dec: 'peak' (brightest point of the smoothed in-band "
                             "image) or 'centroid' (iterated mean position), within predict.centre_radius_arcmin of "
                             "the pointing")
    parser.add_argument("--sources", metavar="FILE", help="point sources to mask: a wavdetect FITS source list or a "
                                                          "region file in physical coordinates (default: the run's "
                                                          "masking.method)")
    parser.add_argument("--out", metavar="DIR", help="output directory (must not exist; written whole or not at all)")
    parser.add_argument("--write-event-file", metavar="PATH",
                        help="instead: write a level-2 event file from the mock of --halo in the run's store")
    parser.add_argument("--halo", type=int, help="with --write-event-file: the halo id")
    parser.add_argument("--projection", default=None, help="with --write-event-file: the projection (default: the first)")


def run(cfg: Config, args: argparse.Namespace) -> int:
    if args.write_event_file:
        return write_event_file(cfg, args)
    check_arguments(args)
    models = trained_models(cfg)
    obs = read_level2(args.events)
    trained = domain.Trained.of(cfg)
    centre, centre_how = find_centre(obs, args, cfg.predict, trained)
    field = stamp_field(centre, obs.pixel_arcsec, trained)
    findings, keep = domain_findings(obs, args.redshift, centre, field, trained, cfg.predict)
    image, sources, sources_how = make_stamp(obs, keep, field, trained, cfg, args.sources)
    findings.append(domain.check_point_sources(trained, len(sources), sources_how))
    for finding in findings:
        say(finding.line())
    domain.refuse_if_outside(findings)
    predictions = predict_folds(models, image)
    result = Result(obs, args.redshift, centre, centre_how, field, image, sources, sources_how, findings, keep,
                    predictions, models)
    write_results(Path(args.out), result, cfg)
    print(result_table(result, cfg))
    return 0


def check_arguments(args) -> None:
    missing = [flag for flag, value in (("--events", args.events), ("--redshift", args.redshift), ("--out", args.out))
               if value is None]
    if missing:
        raise InputError(f"xraymass predict needs {', '.join(missing)} (or --write-event-file)")
    given = (args.ra is not None) + (args.dec is not None)
    if given == 1:
        raise InputError("give both --ra and --dec, or --centre peak|centroid")
    if given == 0 and args.centre is None:
        raise InputError("where is the cluster? give --ra and --dec (deg), or --centre peak|centroid")
    if given == 2 and args.centre is not None:
        raise InputError("give --ra/--dec or --centre, not both")
    if Path(args.out).exists():
        raise InputError(f"{args.out}: exists; remove it or choose another --out (a result is never overwritten)")


@dataclass
class FoldModel:
    fold: int
    path: Path
    sha256: str


def trained_models(cfg: Config) -> list[FoldModel]:
    """The complete folds of the run (model.keras as its predictions recorded it); the store's stamps and events
    must have been made with this config's settings."""
    from .. import layout
    from ..layout import EVENTS
    from ..mocks.config_schema import SETTINGS as MOCKS_SETTINGS
    from ..store import check_settings, open_store
    from ..train import data, outputs

    stamps = data.open_stamps(cfg.store_path)
    data.check_made_with(cfg.store_path, cfg, "predict")
    root = open_store(cfg.store_path)
    if EVENTS in root:
        check_settings(root[EVENTS], cfg, MOCKS_SETTINGS, f"{cfg.store_path}/{EVENTS}", "predict")
    if stamps.npix != cfg.stamps["npix"]:
        raise StoreError(f"{cfg.store_path}/stamps: {stamps.npix}-pixel stamps, but stamps.npix = {cfg.stamps['npix']}")
    models = []
    for fold in range(stamps.n_folds):
        fold_dir = layout.fold_dir(cfg.run_dir, fold)
        if outputs.fold_is_complete(cfg.store_path, fold_dir, fold):
            group = outputs.predictions_group(cfg.store_path, "r")[layout.fold_name(fold)]
            models.append(FoldModel(fold, layout.model_path(cfg.run_dir, fold), group.attrs["model_sha256"]))
    if not models:
        raise StoreError(f"{cfg.run_dir}: no trained fold (train/fold_KK/model.keras with complete predictions); "
                         f"run `xraymass train` first")
    if len(models) < stamps.n_folds:
        say(f"models: {len(models)} of {stamps.n_folds} folds are trained ({', '.join(str(m.fold) for m in models)}); "
            f"the others are left out")
    return models


def find_centre(obs: Observation, args, predict_cfg: dict, trained: domain.Trained) -> tuple[tuple[float, float], str]:
    """Sky pixel of the cluster centre and how it was found (rounded to CENTRE_GRID)."""
    if args.centre is None:
        if not (0.0 <= args.ra < 360.0 and -90.0 <= args.dec <= 90.0):
            raise InputError(f"--ra {args.ra} --dec {args.dec}: RA must be in [0, 360) and Dec in [-90, 90] degrees")
        return _snap(obs.sky_to_pix(args.ra, args.dec)), "given by --ra, --dec"
    start = obs.pointing_pix()
    if start is None:
        raise InputError(f"{obs.path}: no RA_PNT/DEC_PNT to start --centre {args.centre} from; give --ra and --dec")
    radius = predict_cfg["centre_radius_arcmin"] * 60.0 / obs.pixel_arcsec
    stamp_pixel = trained.fov_arcmin * 60.0 / trained.npix / obs.pixel_arcsec
    band = (obs.energy_kev >= trained.emin_kev) & (obs.energy_kev <= trained.emax_kev)
    x, y = obs.x[band], obs.y[band]
    centre = (peak(x, y, start, radius, stamp_pixel) if args.centre == "peak"
              else centroid(x, y, start, radius))
    how = (f"{args.centre} of the {trained.emin_kev:g}-{trained.emax_kev:g} keV events within "
           f"{predict_cfg['centre_radius_arcmin']:g}' of the pointing")
    return _snap(centre), how


def peak(x, y, start, radius: float, stamp_pixel: float) -> tuple[float, float]:
    """The maximum of the counts in cells of a quarter stamp pixel, smoothed by a Gaussian of sigma one stamp
    pixel, within `radius` (pixels) of `start`; InputError when no event lies there."""
    from scipy import ndimage

    cell = stamp_pixel / 4.0
    n = max(int(np.ceil(2 * radius / cell)), 1)
    grid = Field(start[0] - radius, start[1] - radius, n * cell, n)
    counts = bin_events(x, y, np.zeros(len(x)), grid, -1.0, 1.0).astype(np.float64)
    if counts.sum() == 0:
        raise InputError(f"no in-band event within {radius:g} pixels of the pointing: cannot find a peak")
    smooth = ndimage.gaussian_filter(counts, sigma=4.0, mode="constant")
    k = (np.arange(n) + 0.5) * cell
    yy, xx = np.meshgrid(start[1] - radius + k, start[0] - radius + k, indexing="ij")
    smooth[(xx - start[0]) ** 2 + (yy - start[1]) ** 2 > radius ** 2] = -1.0
    j, i = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    return float(grid.x0 + (i + 0.5) * cell), float(grid.y0 + (j + 0.5) * cell)


def centroid(x, y, start, radius: float, iterations: int = 100, tolerance: float = 0.01) -> tuple[float, float]:
    """Mean position of the events within `radius` (pixels), moved there and repeated until it moves less than
    `tolerance` pixels (at most `iterations` times)."""
    cx, cy = start
    for _ in range(iterations):
        near = (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2
        if not near.any():
            raise InputError(f"no in-band event within {radius:g} pixels of ({cx:.1f}, {cy:.1f}): no centroid")
        nx, ny = float(x[near].mean()), float(y[near].mean())
        moved = np.hypot(nx - cx, ny - cy)
        cx, cy = nx, ny
        if moved < tolerance:
            break
    return cx, cy


def _snap(centre) -> tuple[float, float]:
    return tuple(float(np.round(c / CENTRE_GRID) * CENTRE_GRID) for c in centre)


def stamp_field(centre, pixel_arcsec: float, trained: domain.Trained) -> Field:
    """The stamp's field as `xraymass stamps` makes it: fov_arcmin wide (in the file's pixels), npix a side."""
    return Field.centred(centre, trained.fov_arcmin * 60.0 / pixel_arcsec, trained.npix)


def domain_findings(obs: Observation, redshift: float, centre, field: Field, trained: domain.Trained,
                    p: dict) -> tuple[list[domain.Finding], np.ndarray]:
    """Every domain check but the point sources', and the rows kept by the exposure thinning."""
    findings = [domain.check_instrument(obs.header), domain.check_redshift(redshift, trained, p["redshift_tolerance"]),
                domain.check_exposure(obs.exposure_s, obs.exposure_from, trained, p["exposure_tolerance"])]
    covered, gaps = domain.coverage(obs.x, obs.y, obs.ccd_id, field)
    findings += domain.check_coverage(covered, gaps, obs.ccd_id is not None, p["min_coverage"], p["max_gap_fraction"])
    pointing = obs.pointing_pix()
    offset = None if pointing is None else float(np.hypot(centre[0] - pointing[0], centre[1] - pointing[1])
                                                  * obs.pixel_arcsec / 60.0)
    findings.append(domain.check_offaxis(offset, p["offaxis_warn_arcmin"], p["offaxis_max_arcmin"]))
    findings.append(domain.Finding("band and stamp", domain.INSIDE,
                                   f"{trained.emin_kev:g}-{trained.emax_kev:g} keV, {trained.npix}x{trained.npix} "
                                   f"pixels over {trained.fov_arcmin:g}' ({obs.pixel_arcsec:g}\" sky pixels), as trained"))
    keep = domain.thin(len(obs.x), obs.exposure_s, trained.exposure_s, p["seed"])
    return findings, keep


def make_stamp(obs: Observation, keep: np.ndarray, field: Field, trained: domain.Trained, cfg: Config,
               sources_path: str | None):
    """The counts stamp as `xraymass stamps` makes it: masked by the run's rule (or the given source list)."""
    from ..stamps.masking import Sources, masked_image
    from .sources import read_sources

    x, y, energy = obs.x[keep], obs.y[keep], obs.energy_kev[keep]
    masking = cfg.masking
    if sources_path is None and masking["method"] == "none":
        return bin_events(x, y, energy, field, trained.emin_kev, trained.emax_kev), Sources.empty(), "none"
    given = None
    if sources_path is not None:
        given = read_sources(sources_path, masking["radius_arcsec"] / obs.pixel_arcsec)
    image, sources = masked_image(x, y, energy, field, trained.emin_kev, trained.emax_kev, obs.pixel_arcsec, masking,
                                  seed=[cfg.predict["seed"], 3], sources=given)
    return image, sources, (f"from {sources_path}" if given is not None else "detected, masking.method: detect")


def predict_folds(models: list[FoldModel], image: np.ndarray) -> np.ndarray:
    """log10(M500c / Msun) of each fold model for the stamp's 8 dihedral transforms: [n_models, 8]."""
    import tf_keras

    import xraymass.train.model  # noqa: F401  (registers CountScaling for loading)
    from ..store import file_sha256

    counts = all_transforms(image.astype(np.int32))[..., None].astype(np.float32)
    out = np.empty((len(models), N_TRANSFORMS), np.float32)
    for k, m in enumerate(models):
        if file_sha256(m.path) != m.sha256:
            raise StoreError(f"{m.path}: changed since its fold's predictions were made (SHA-256 differs)")
        model = tf_keras.models.load_model(m.path)
        out[k] = np.asarray(model(counts, training=False))[:, 0]
    return out


@dataclass
class Result:
    obs: Observation
    redshift: float
    centre: tuple[float, float]
    centre_how: str
    field: Field
    image: np.ndarray
    sources: object
    sources_how: str
    findings: list
    keep: np.ndarray
    predictions: np.ndarray  # [n_models, 8]
    models: list[FoldModel]

    @property
    def per_fold(self) -> np.ndarray:
        return self.predictions.astype(np.float64).mean(axis=1)

    @property
    def ensemble(self) -> tuple[float, float]:
        per_fold = self.per_fold
        return float(per_fold.mean()), float(per_fold.std(ddof=1)) if len(per_fold) > 1 else float("nan")


def write_results(out: Path, result: Result, cfg: Config) -> None:
    """predictions.csv, summary.yaml, stamp.fits, sources.csv and predict.png in `out`: built in a temporary
    directory beside it and renamed onto it, so that `out` is whole or absent."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        write_table(tmp / "predictions.csv", result)
        write_stamp_fits(tmp / "stamp.fits", result)
        (tmp / "sources.csv").write_text("x_sky_pix,y_sky_pix,radius_pix\n" + "".join(
            f"{a:.4f},{b:.4f},{c:.4f}\n" for a, b, c in result.sources.as_rows()))
        write_figure(tmp / "predict.png", result)
        (tmp / "summary.yaml").write_text(dump_yaml(summary(result, cfg)))
        tmp.chmod(0o755)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_table(path: Path, result: Result) -> None:
    lines = ["fold,augmentation,log_m500c_pred"]
    for k, m in enumerate(result.models):
        lines += [f"{m.fold},{a},{result.predictions[k, a]:.9g}" for a in range(N_TRANSFORMS)]
    path.write_text("\n".join(lines) + "\n")


def write_stamp_fits(path: Path, result: Result) -> None:
    """The stamp fed to the networks (transform 0) with its sky WCS, so that ds9 overlays it on the sky."""
    from astropy.io import fits

    obs, f = result.obs, result.field
    hdu = fits.PrimaryHDU(result.image.astype(np.int32))
    scale = f.pixel  # sky pixels per stamp pixel
    h = hdu.header
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = obs.crval
    # stamp pixel i (1-based) spans sky pixels x0 + (i-1)*scale .. x0 + i*scale; its centre is x0 + (i-0.5)*scale
    h["CRPIX1"] = (obs.crpix[0] - f.x0) / scale + 0.5
    h["CRPIX2"] = (obs.crpix[1] - f.y0) / scale + 0.5
    h["CDELT1"], h["CDELT2"] = obs.cdelt[0] * scale, obs.cdelt[1] * scale
    h["CUNIT1"], h["CUNIT2"] = "deg", "deg"
    h["BUNIT"] = "count"
    h["COMMENT"] = "xraymass predict: the counts stamp fed to the networks (dihedral transform 0)"
    hdu.writeto(path)


def write_figure(path: Path, result: Result) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [1, 1.2]})
    left.imshow(np.log1p(result.image), origin="lower", cmap="magma")
    left.set_title("stamp, log(1 + counts)")
    left.set_xticks([])
    left.set_yticks([])
    folds = [m.fold for m in result.models]
    for k, fold in enumerate(folds):
        right.plot(np.full(N_TRANSFORMS, fold), result.predictions[k], ".", color="0.6")
    right.plot(folds, result.per_fold, "o", color="C0", label="fold model (mean of 8 transforms)")
    mean, std = result.ensemble
    right.axhline(mean, color="C1", label=f"mean over folds {mean:.3f}")
    if np.isfinite(std):
        right.axhspan(mean - std, mean + std, color="C1", alpha=0.2, label=f"fold spread (sd) {std:.3f}")
    right.set_xticks(folds)
    right.set_xlabel("fold")
    right.set_ylabel(r"$\log_{10}(M_{500c}/M_\odot)$")
    right.legend(fontsize=8)
    fig.suptitle(result.obs.path.name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(result: Result, cfg: Config) -> dict:
    from ..provenance import provenance
    from ..store import file_sha256

    obs = result.obs
    mean, std = result.ensemble
    ra, dec = obs.pix_to_sky(*result.centre)
    return {
        "log_m500c": {"value": round(mean, 6), "fold_spread": None if not np.isfinite(std) else round(std, 6),
                      "n_models": len(result.models), "what": ENSEMBLE_NOTE},
        "per_fold": [{"fold": m.fold, "log_m500c": round(float(v), 6)} for m, v in zip(result.models, result.per_fold)],
        "event_file": {"path": str(obs.path), "sha256": file_sha256(obs.path), "header": obs.header,
                       "exposure_s": obs.exposure_s, "exposure_from": obs.exposure_from,
                       "events_used": int(len(result.keep)), "events": int(len(obs.x))},
        "redshift": result.redshift,
        "centre": {"ra_deg": ra, "dec_deg": dec, "sky_pix": list(result.centre), "method": result.centre_how},
        "stamp": {"counts": int(result.image.sum()), "field_sky_pix": [result.field.x0, result.field.y0,
                                                                      result.field.width], "npix": result.field.npix},
        "point_sources": {"masked": len(result.sources), "how": result.sources_how},
        "domain": [f.line() for f in result.findings],
        "run": {"directory": str(cfg.run_dir), "models": [{"fold": m.fold, "sha256": m.sha256} for m in result.models]},
        "provenance": provenance("predict"),
        "config": {k: cfg.to_dict()[k] for k in ("mocks", "stamps", "masking", "predict")},
    }


def result_table(result: Result, cfg: Config) -> str:
    obs = result.obs
    ra, dec = obs.pix_to_sky(*result.centre)
    mean, std = result.ensemble
    lines = [f"event file  {obs.path}  ({obs.header.get('OBS_ID', '?')}, {obs.exposure_s / 1e3:.4g} ks, "
             f"{len(result.keep)} of {len(obs.x)} events used)",
             f"centre      RA {ra:.6f}  Dec {dec:.6f}  ({result.centre_how})",
             f"stamp       {result.field.npix}x{result.field.npix}, {int(result.image.sum())} counts, "
             f"{len(result.sources)} point sources masked",
             "fold  log10(M500c/Msun)  (mean of the 8 transforms; min-max)"]
    for k, m in enumerate(result.models):
        p = result.predictions[k]
        lines.append(f"{m.fold:4d}  {result.per_fold[k]:.3f}  ({p.min():.3f}-{p.max():.3f})")
    spread = f"{std:.3f}" if np.isfinite(std) else "n/a (one model)"
    lines.append(f"mass        log10(M500c/Msun) = {mean:.3f}, fold spread {spread} dex ({len(result.models)} fold "
                 f"models; the spread is not a calibrated uncertainty)")
    return "\n".join(lines)


def write_event_file(cfg: Config, args) -> int:
    """--write-event-file: a level-2 event file of one halo's projection from the run's store."""
    from ..layout import halo_name
    from ..stamps.images import event_layout, events_group_name
    from ..store import Reader, is_complete, open_store
    from .eventfile import write_level2

    if args.halo is None:
        raise InputError("--write-event-file needs --halo ID (a halo of the run's catalogue)")
    root = open_store(cfg.store_path)
    name = events_group_name(args.halo)
    where = f"{cfg.store_path}/{name}"
    if name not in root or not is_complete(root[name]):
        raise InputError(f"{where}: no complete events for halo {args.halo}")
    group = root[name]
    layout = event_layout(group, where)
    projection = args.projection or layout["projections"][0]
    if projection not in layout["projections"]:
        raise InputError(f"--projection {projection}: the halo's projections are {layout['projections']}")
    p = layout["projections"].index(projection)
    lo, hi = layout["offsets"][p], layout["offsets"][p + 1]
    arrays = {}
    for column in ("x", "y", "energy"):
        reader = Reader(group[column], f"{where}/{column}")
        arrays[column] = reader[0:reader.shape[0]]
        reader.finish()
    exposure_s = float(group.attrs.get("exposure_s", cfg.mocks["exposure_ks"] * 1e3))
    path = write_level2(args.write_event_file, arrays["x"][lo:hi], arrays["y"][lo:hi], arrays["energy"][lo:hi],
                        centre_pix=layout["centre_pix"], pixel_arcsec=layout["pixel_arcsec"],
                        sky_center_deg=cfg.mocks["sky_center_deg"], exposure_s=exposure_s,
                        obs_id=f"{halo_name(args.halo)}{projection}", seed=args.halo,
                        history=[f"xraymass mock: halo {args.halo}, projection {projection}, store {cfg.store_path}"])
    ra, dec = cfg.mocks["sky_center_deg"]
    say(f"wrote {path}: halo {args.halo}, projection {projection}, {hi - lo} events, {exposure_s / 1e3:g} ks; "
        f"the halo centre is RA {ra:g} Dec {dec:g}, redshift {group.attrs.get('redshift', cfg.mocks['redshift'])}")
    return 0


def say(line: str) -> None:
    print(f"[predict] {line}", file=sys.stderr, flush=True)
