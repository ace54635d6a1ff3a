"""`xraymass interpret`: DeepDream-style interpretation of the trained CNN (the paper's Figures 5 and 6).

For each cluster of a sample (projection 0, augmentation 0 stamp), the model of the fold that tested it
(`<run_dir>/train/fold_KK/model.keras`, which never saw the cluster) gives the gradient g of its output,
log10 M500c, with respect to the input counts image (tf.GradientTape; the model's first layer applies the
input scaling, so the gradient is taken through it, with respect to counts). One iteration:

    N <- round(max(N + step_size * g / mean|g|, 0))

i.e. the gradient normalised by its mean absolute value over the image (as Keras' DeepDream example
does), so that `step_size` is the mean absolute change per pixel in counts before rounding; negative
pixels are set to 0 and counts rounded to integers. The paper adds "the gradient" and gives no step;
`step_size` is ours.

Reported: Delta N / N in bins of R / R500c per iteration (Figure 6), the fraction of the photons added
inside core_radius_r500c R500c beside the fraction of the image area there, and the gradient centre:
the centroid of the counts weighted by how empty the first step leaves each pixel, max(0, 1 - |step| /
mean|step|) -- the core as the network sees it. A gradient centre more than `off_centre_r500c` R500c
from the true centre flags the cluster (the paper's Figure 5, bottom: an off-centre region of small
change around an off-centre bright region).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import InputError, StoreError
from ..progress import Progress
from ..provenance import write_effective_config
from .. import layout
from ..store import open_store, verify_group
from . import figures
from .metrics import nanmedian
from ..train.outputs import stamps_physics_data
from .report import results_dir, stage_provenance, write_part

FIGURE5_INNER_R500C = 0.15  # the paper's Figure 5 draws circles at 0.15 R500c (solid) and R500c (dashed)


@dataclass
class Sample:
    """The chosen stamps: one per cluster, with the geometry needed in stamp pixels."""

    halo_id: np.ndarray        # [n]
    log_m500c: np.ndarray      # [n]
    fold: np.ndarray           # [n]
    images: np.ndarray         # [n, npix, npix] counts
    centre: np.ndarray         # [n, 2] (x = column, y = row) of the cluster centre, pixel centres at i + 0.5
    r500c_pix: np.ndarray      # [n] R500c in stamp pixels


def model_path(run_dir: Path, fold: int) -> Path:
    """The kept model of a fold (xraymass.layout.model_path)."""
    return layout.model_path(run_dir, fold)


def run(cfg: Config, args: argparse.Namespace | None = None) -> int:
    result = interpret_cnn(cfg.store_path, cfg.run_dir, results_dir(cfg), **cfg.interpret)
    physics_data = stamps_physics_data(cfg.store_path)
    result["provenance"] = stage_provenance("interpret", physics_data)
    write_part(cfg, "interpret", result)
    write_effective_config(cfg.run_dir, cfg, "interpret", physics_data=physics_data)
    print_summary(result)
    return 0


def interpret_cnn(store_path, run_dir: Path, directory: Path, step_size: float, iterations: int, n_clusters: int,
                  figure5_clusters: list[int], radial_bins: int, radial_max_r500c: float, core_radius_r500c: float,
                  small_change: float, off_centre_r500c: float) -> dict:
    """The `interpret` section: choose the sample, dream it, measure the changes, draw Figures 5 and 6."""
    sample = choose_sample(store_path, n_clusters, figure5_clusters)
    dreams = dream_sample(run_dir, sample, step_size, iterations)
    result = measure(sample, dreams, step_size, radial_bins, radial_max_r500c, core_radius_r500c, off_centre_r500c)
    profiles = result.pop("profiles")
    result["figures"] = write_figures(directory, sample, dreams, result, profiles, core_radius_r500c, small_change,
                                      figure5_clusters)
    return result


def choose_sample(store_path, n_clusters: int, figure5_clusters: list[int]) -> Sample:
    """n_clusters clusters evenly spaced in mass rank (plus any asked for Figure 5), one stamp each."""
    root = open_store(store_path)
    if not layout.stamps_complete(root):
        raise StoreError(f"{store_path}/{layout.STAMPS}: the stamps are missing or not complete; run `xraymass stamps`")
    stamps = root[layout.STAMPS]
    if stamps["images"].ndim != 3:
        raise InputError(f"{store_path}/{layout.STAMPS}/images: {stamps['images'].shape[3]}-band stamps (stamps.bands); "
                         "interpret (DeepDream on counts, Figures 5-6) works on single-band stamps only")
    verify_group(stamps, f"{store_path}/stamps")  # against the writer's records (xraymass.store)
    halo_id = np.asarray(stamps["halo_id"][...])
    first = np.flatnonzero((np.asarray(stamps["projection"][...]) == 0) & (np.asarray(stamps["augmentation"][...]) == 0))
    log_m = np.asarray(stamps["log_m500c"][...])[first]
    order = first[np.argsort(log_m, kind="stable")]
    picks = order[np.unique(np.round(np.linspace(0, len(order) - 1, min(n_clusters, len(order)))).astype(int))]
    unknown = sorted(set(figure5_clusters) - set(halo_id[first].tolist()))
    if unknown:
        raise InputError(f"interpret.figure5_clusters: halo ids {unknown} are not in {store_path}/stamps")
    extra = [row for row in first if halo_id[row] in figure5_clusters and row not in picks]
    rows = np.sort(np.concatenate([picks, np.array(extra, dtype=picks.dtype)]))
    npix = int(stamps.attrs["npix"])
    centre, r500c = [], []
    for h in halo_id[rows]:
        c, r = stamp_geometry(root, int(h), float(stamps.attrs["fov_arcmin"]), npix)
        centre.append(c)
        r500c.append(r)
    return Sample(halo_id[rows], np.asarray(stamps["log_m500c"][...])[rows], np.asarray(stamps["fold"][...])[rows],
                  np.stack([np.asarray(stamps["images"][int(r)]) for r in rows]), np.array(centre), np.array(r500c))


def stamp_geometry(root, halo_id: int, fov_arcmin: float, npix: int) -> tuple[tuple[float, float], float]:
    """Cluster centre (x, y) and R500c in stamp pixels; the stamp is centred on the events' centre_pix."""
    name = layout.events_group(halo_id)
    if name not in root:
        raise StoreError(f"{name}: no event list for this halo (needed for its R500c in pixels); run `xraymass mocks`")
    attrs = root[name].attrs
    stamp_pixel_det = fov_arcmin * 60.0 / float(attrs["pixel_arcsec"]) / npix
    return (npix / 2.0, npix / 2.0), float(attrs["r500c_pix"]) / stamp_pixel_det


def load_model(path: Path):
    """A trained model (tf_keras format); importing xraymass.train.model registers its scaling layer."""
    import tf_keras

    from ..train import model as _registers_layers  # noqa: F401

    if not path.is_file():
        raise InputError(f"{path}: no trained model; run `xraymass train` for this fold")
    try:
        return tf_keras.models.load_model(path, compile=False)
    except Exception as err:  # Keras raises many kinds on a truncated or foreign file
        raise InputError(f"{path}: not a readable model of this network ({type(err).__name__}); remove "
                         f"{path.parent} and train the fold again") from None


def gradient(model, images: np.ndarray) -> np.ndarray:
    """d(output)/d(counts) for each image [n, npix, npix] (the images are independent in the batch)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(images[..., None].astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(model(x, training=False))
    return tape.gradient(y, x).numpy()[..., 0].astype(np.float64)


def dream(model, images: np.ndarray, step_size: float, iterations: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Iterate N <- round(max(N + step_size g / mean|g|, 0)); return the images [input, it1, ...] and the steps."""
    states, steps = [np.asarray(images, dtype=np.int64)], []
    for _ in range(iterations):
        g = gradient(model, states[-1])
        norm = np.mean(np.abs(g), axis=(1, 2), keepdims=True)
        if np.any(norm == 0):
            raise InputError("interpret: the model's gradient is zero for a whole image (a dead network?)")
        step = step_size * g / norm
        steps.append(step)
        states.append(np.rint(np.clip(states[-1] + step, 0.0, None)).astype(np.int64))
    return states, steps


def dream_sample(run_dir: Path, sample: Sample, step_size: float, iterations: int) -> dict[str, np.ndarray]:
    """Dream every image with the model of its own test fold; returns images [n, it+1, ...] and steps [n, it, ...]."""
    n, npix = sample.images.shape[0], sample.images.shape[1]
    missing = sorted({str(model_path(run_dir, int(k))) for k in np.unique(sample.fold)
                      if not model_path(run_dir, int(k)).is_file()})
    if missing:
        raise InputError(f"interpret: no trained model at {', '.join(missing)}; run `xraymass train` for these folds")
    images = np.zeros((n, iterations + 1, npix, npix), np.int64)
    steps = np.zeros((n, iterations, npix, npix), np.float64)
    progress = Progress("interpret", len(np.unique(sample.fold)), unit="fold")
    for k in np.unique(sample.fold):
        rows = np.flatnonzero(sample.fold == k)
        states, deltas = dream(load_model(model_path(run_dir, int(k))), sample.images[rows], step_size, iterations)
        images[rows] = np.stack(states, axis=1)
        steps[rows] = np.stack(deltas, axis=1)
        progress.update()
    progress.close()
    return {"images": images, "steps": steps}


def radius_r500c(npix: int, centre: np.ndarray, r500c_pix: float) -> np.ndarray:
    """R / R500c of every pixel centre of an npix x npix stamp."""
    j, i = np.mgrid[0:npix, 0:npix]
    return np.hypot(i + 0.5 - centre[0], j + 0.5 - centre[1]) / r500c_pix


def radial_profile(before: np.ndarray, after: np.ndarray, radius: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Delta N / N in each bin of R / R500c: sum of the change over the sum of the counts before (NaN if 0)."""
    which = np.digitize(radius.ravel(), edges) - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    change = np.bincount(which[inside], (after - before).ravel()[inside].astype(np.float64), len(edges) - 1)
    counts = np.bincount(which[inside], before.ravel()[inside].astype(np.float64), len(edges) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(counts > 0, change / np.where(counts > 0, counts, 1), np.nan)


def gradient_centre(step: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """Centre (x, y) of the region the gradient leaves empty: the centroid of the counts, each pixel weighted
    by max(0, 1 - |step| / mean|step|) -- bright pixels with no change dominate. NaN if there are none."""
    mean = np.abs(step).mean()
    emptiness = np.clip(1.0 - np.abs(step) / mean, 0.0, None) if mean > 0 else np.ones_like(step)
    weight = emptiness * image
    total = weight.sum()
    if total <= 0:
        return float("nan"), float("nan")
    j, i = np.mgrid[0:step.shape[0], 0:step.shape[1]]
    return float((weight * (i + 0.5)).sum() / total), float((weight * (j + 0.5)).sum() / total)


def measure(sample: Sample, dreams: dict[str, np.ndarray], step_size: float, radial_bins: int,
            radial_max_r500c: float, core_radius_r500c: float, off_centre_r500c: float) -> dict:
    """Radial profiles, the added fraction inside the core, the gradient centres and the off-centre flags."""
    images, steps = dreams["images"], dreams["steps"]
    n, iterations, npix = images.shape[0], steps.shape[1], images.shape[-1]
    edges = np.linspace(0.0, radial_max_r500c, radial_bins + 1)
    profiles = np.full((n, iterations, radial_bins), np.nan)
    inside_added = np.full((n, iterations), np.nan)
    area_inside = np.zeros(n)
    centres, clusters = [], []
    for c in range(n):
        radius = radius_r500c(npix, sample.centre[c], sample.r500c_pix[c])
        core = radius < core_radius_r500c
        area_inside[c] = core.mean()
        for it in range(iterations):
            before, after = images[c, it], images[c, it + 1]
            profiles[c, it] = radial_profile(before, after, radius, edges)
            added = np.clip(after - before, 0, None)
            if added.sum() > 0:
                inside_added[c, it] = added[core].sum() / added.sum()
        gx, gy = gradient_centre(steps[c, 0], images[c, 0])
        offset = float(np.hypot(gx - sample.centre[c][0], gy - sample.centre[c][1]) / sample.r500c_pix[c])
        centres.append((gx, gy))
        clusters.append({"halo_id": int(sample.halo_id[c]), "log_m500c": float(sample.log_m500c[c]),
                         "fold": int(sample.fold[c]), "r500c_pix": float(sample.r500c_pix[c]),
                         "gradient_centre_pix": [gx, gy], "offset_r500c": offset,
                         "added_fraction_inside_core": inside_added[c].tolist(),
                         "photons_added": [int(np.clip(images[c, it + 1] - images[c, it], 0, None).sum())
                                           for it in range(iterations)],
                         "photons_removed": [int(np.clip(images[c, it] - images[c, it + 1], 0, None).sum())
                                             for it in range(iterations)]})
    off = [cl for cl in clusters if np.isfinite(cl["offset_r500c"]) and cl["offset_r500c"] > off_centre_r500c]
    return {
        "n_clusters": n, "iterations": iterations, "step_size": step_size, "core_radius_r500c": core_radius_r500c,
        "off_centre_r500c": off_centre_r500c, "radial_bin_edges_r500c": edges.tolist(),
        "per_iteration": [{"iteration": it + 1,
                           "added_fraction_inside_core": float(np.nanmean(inside_added[:, it])),
                           "area_fraction_inside_core": float(area_inside.mean()),
                           "median_profile": nanmedian(profiles[:, it], axis=0).tolist()}
                          for it in range(iterations)],
        "off_centre": off, "clusters": clusters, "profiles": profiles,
    }


def figure5_choice(result: dict, figure5_clusters: list[int]) -> list[int]:
    """The clusters asked for, or: the median-mass cluster and the most off-centre one (if any is flagged)."""
    if figure5_clusters:
        return list(figure5_clusters)
    clusters = sorted(result["clusters"], key=lambda c: c["log_m500c"])
    chosen = [clusters[len(clusters) // 2]["halo_id"]]
    if result["off_centre"]:
        worst = max(result["off_centre"], key=lambda c: c["offset_r500c"])
        if worst["halo_id"] not in chosen:
            chosen.append(worst["halo_id"])
    return chosen


def write_figures(directory: Path, sample: Sample, dreams: dict, result: dict, profiles: np.ndarray,
                  core_radius_r500c: float, small_change: float, figure5_clusters: list[int]) -> list[str]:
    names = []
    for halo in figure5_choice(result, figure5_clusters):
        c = int(np.flatnonzero(sample.halo_id == halo)[0])
        cluster = result["clusters"][c]
        figure = figures.draw_figure5(int(halo), list(dreams["images"][c]), tuple(sample.centre[c]),
                                      float(sample.r500c_pix[c]), FIGURE5_INNER_R500C, small_change,
                                      tuple(cluster["gradient_centre_pix"]))
        names += figures.save(figure, directory, f"figure5_{layout.halo_name(halo)}")
    figure = figures.draw_figure6(np.array(result["radial_bin_edges_r500c"]), profiles, sample.halo_id,
                                  [c["halo_id"] for c in result["off_centre"]], core_radius_r500c)
    names += figures.save(figure, directory, "figure6_radial_profile")
    return names


def print_summary(result: dict) -> None:
    for it in result["per_iteration"]:
        print(f"interpret: iteration {it['iteration']}: {100 * it['added_fraction_inside_core']:.1f}% of added photons "
              f"inside {result['core_radius_r500c']} R500c ({100 * it['area_fraction_inside_core']:.1f}% of the area)")
    print(f"interpret: {len(result['off_centre'])} of {result['n_clusters']} clusters with an off-centre gradient")
