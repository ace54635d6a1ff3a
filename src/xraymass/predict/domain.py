"""Where an observation falls from what the run's models were trained on: one line per check.

The rule (docs/predict.md, "The domain rule"): each check ends `inside`, `adjusted` (the observation is
brought to the trained domain exactly: a longer exposure thinned), `warning` (outside in a way the
networks may tolerate; the prediction is made and the warning is kept with it) or `outside` (no
prediction: `xraymass predict` prints every line, then one error line naming the checks, exits with
status 4 and writes nothing).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import XraymassError
from ..stamps.binning import Field

INSIDE, ADJUSTED, WARNING, OUTSIDE = "inside", "adjusted", "warning", "outside"
COVERAGE_SAMPLES = 32  # the stamp's field is sampled at 32 x 32 points for coverage and chip gaps
HULL_EVENTS = 200_000  # at most this many events (evenly spaced rows) per CCD go into its hull


class OutsideDomainError(XraymassError):
    """The observation lies outside what the run's models were trained on (no prediction is made)."""

    exit_status = 4


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    text: str

    def line(self) -> str:
        return f"{self.check}: {self.status}: {self.text}"


@dataclass(frozen=True)
class Trained:
    """What the models were trained on (the run's config, checked against the store's record)."""

    redshift: float
    exposure_s: float
    fov_arcmin: float
    npix: int
    emin_kev: float
    emax_kev: float
    point_sources: bool
    masking: str

    @classmethod
    def of(cls, cfg) -> "Trained":
        m, s = cfg.mocks, cfg.stamps
        return cls(m["redshift"], m["exposure_ks"] * 1e3, s["fov_arcmin"], s["npix"], s["emin_kev"], s["emax_kev"],
                   bool(m["point_sources"]), cfg.masking["method"])


def check_redshift(redshift: float, trained: Trained, tolerance: float) -> Finding:
    text = f"z = {redshift:g}; the models were trained at z = {trained.redshift:g} (tolerance {tolerance:g})"
    if abs(redshift - trained.redshift) <= tolerance:
        return Finding("redshift", INSIDE, text)
    return Finding("redshift", OUTSIDE, f"{text}; models for it: the same pipeline with --set mocks.redshift={redshift:g} "
                                        f"(and a new run.name)")


def check_exposure(exposure_s: float, source: str, trained: Trained, tolerance: float) -> Finding:
    text = f"{exposure_s / 1e3:.4g} ks ({source}); the models were trained at {trained.exposure_s / 1e3:.4g} ks"
    if exposure_s < trained.exposure_s * (1.0 - tolerance):
        return Finding("exposure", OUTSIDE, f"{text} (tolerance {tolerance:g}): too short to thin; models for it: the "
                                            f"same pipeline with --set mocks.exposure_ks={exposure_s / 1e3:.4g} "
                                            f"(and a new run.name)")
    if exposure_s > trained.exposure_s:
        return Finding("exposure", ADJUSTED, f"{text}: Poisson-thinned to the trained exposure (each event kept with "
                                             f"probability {trained.exposure_s / exposure_s:.6g})")
    return Finding("exposure", INSIDE, text)


def thin(n_events: int, exposure_s: float, trained_s: float, seed: int) -> np.ndarray:
    """Rows kept by Poisson thinning from `exposure_s` to `trained_s` (seconds): each event independently with
    probability trained_s / exposure_s (all of them when the exposure is not longer), stream (seed, 2)."""
    if exposure_s <= trained_s:
        return np.arange(n_events)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    return np.flatnonzero(rng.random(n_events) < trained_s / exposure_s)


def coverage(x: np.ndarray, y: np.ndarray, ccd_id: np.ndarray | None, field: Field) -> tuple[float, float]:
    """(covered, in gaps): fractions of the stamp's field on a CCD and in gaps between CCDs.

    Each CCD's footprint is the convex hull of its events' sky positions (dither included); a sample point
    (COVERAGE_SAMPLES^2 on the field) is covered when inside some CCD's hull, and in a gap when inside the hull
    of all events but on no CCD. Without ccd_id every event is one CCD (no gap can be seen)."""
    k = (np.arange(COVERAGE_SAMPLES) + 0.5) / COVERAGE_SAMPLES * field.width
    gx, gy = np.meshgrid(field.x0 + k, field.y0 + k)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    groups = [np.arange(len(x))] if ccd_id is None else [np.flatnonzero(ccd_id == c) for c in np.unique(ccd_id)]
    covered = np.zeros(len(points), bool)
    for rows in groups:
        covered |= _in_hull(x[rows], y[rows], points)
    whole = _in_hull(x, y, points)
    return float(covered.mean()), float((whole & ~covered).mean())


def _in_hull(x: np.ndarray, y: np.ndarray, points: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull, Delaunay, QhullError

    if len(x) > HULL_EVENTS:
        rows = np.linspace(0, len(x) - 1, HULL_EVENTS).astype(np.int64)
        x, y = x[rows], y[rows]
    xy = np.column_stack([x, y])
    if len(xy) < 3:
        return np.zeros(len(points), bool)
    try:
        hull = ConvexHull(xy)
        return Delaunay(xy[hull.vertices]).find_simplex(points) >= 0
    except QhullError:  # all events on a line: no area
        return np.zeros(len(points), bool)


def check_coverage(covered: float, gaps: float, has_ccd: bool, min_coverage: float, max_gap: float) -> list[Finding]:
    cover = Finding("field coverage", INSIDE if covered >= min_coverage else OUTSIDE,
                    f"{100 * covered:.1f}% of the stamp's field lies on the CCDs (at least {100 * min_coverage:g}% "
                    f"needed; the mocks cover all of it)")
    if not has_ccd:
        return [cover, Finding("chip gaps", WARNING, "no ccd_id column: chip gaps cannot be seen")]
    gap = Finding("chip gaps", INSIDE if gaps <= max_gap else OUTSIDE,
                  f"{100 * gaps:.1f}% of the stamp's field falls in gaps between CCDs (at most {100 * max_gap:g}%; "
                  f"the mocks have none)")
    return [cover, gap]


def check_offaxis(offset_arcmin: float | None, warn: float, refuse: float) -> Finding:
    if offset_arcmin is None:
        return Finding("off-axis", WARNING, "no RA_PNT/DEC_PNT in the header: the distance from the pointing is unknown")
    text = f"the centre lies {offset_arcmin:.2f}' from the pointing (the mocks point at the centre; warning above " \
           f"{warn:g}', outside above {refuse:g}')"
    status = OUTSIDE if offset_arcmin > refuse else WARNING if offset_arcmin > warn else INSIDE
    return Finding("off-axis", status, text)


def check_instrument(header: dict) -> Finding:
    telescope, instrument = str(header.get("TELESCOP", "")).strip(), str(header.get("INSTRUME", "")).strip()
    text = f"TELESCOP {telescope or '?'}, INSTRUME {instrument or '?'}, DETNAM {header.get('DETNAM', '?')}"
    if telescope.upper() != "CHANDRA" or instrument.upper() != "ACIS":
        return Finding("instrument", OUTSIDE, f"{text}; the mocks are Chandra ACIS-I")
    return Finding("instrument", INSIDE, f"{text}; the mocks are ACIS-I aimpoint responses")


def check_point_sources(trained: Trained, n_masked: int, source: str) -> Finding:
    if trained.masking == "none" and n_masked == 0:
        return Finding("point sources", WARNING if not trained.point_sources else INSIDE,
                       f"not masked; the models were trained with mocks.point_sources: "
                       f"{str(trained.point_sources).lower()} and masking.method: none")
    status = INSIDE if trained.masking != "none" else WARNING
    return Finding("point sources", status, f"{n_masked} masked ({source}); the models were trained with "
                                            f"masking.method: {trained.masking}, mocks.point_sources: "
                                            f"{str(trained.point_sources).lower()}")


def refuse_if_outside(findings: list[Finding]) -> None:
    outside = [f.check for f in findings if f.status == OUTSIDE]
    if outside:
        raise OutsideDomainError(f"outside the trained domain: {', '.join(outside)} (see the lines above); "
                                 f"no prediction made")
