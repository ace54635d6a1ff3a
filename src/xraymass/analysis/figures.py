"""The paper's figures (3, 4, 5, 6) and the baseline's L_X-M plot; `save` writes each as PNG and PDF.

`draw_*` build a matplotlib figure (the stages pass it to `save`, tests count its panels).
matplotlib is imported inside the functions (the Agg backend, no display needed).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..layout import halo_name
from ..store import atomic_path
from .metrics import gaussian, nanmedian
from .report import LITERATURE_BANDS_PERCENT, literature_band_dex

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 150


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, directory: Path, stem: str) -> list[str]:
    """Write <stem>.png and <stem>.pdf atomically; return the file names."""
    plt = _pyplot()
    names = []
    for ext in ("png", "pdf"):
        with atomic_path(directory / f"{stem}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight")
        names.append(f"{stem}.{ext}")
    plt.close(fig)
    return names


def draw_figure3(log_true: np.ndarray, log_pred: np.ndarray, halo_id: np.ndarray,
            sigma_percent: float, mu: float, cluster_sigma_percent: float | None = None) -> "Figure":
    """Predicted against true log M500c, all folds: a cluster's views form a vertical stream."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 5.6))
    ax.scatter(log_true, log_pred, s=6, alpha=0.35, color="tab:blue", edgecolors="none",
               label="each image (24 per cluster)")
    ids, inverse = np.unique(halo_id, return_inverse=True)
    med_true = np.array([np.median(log_true[inverse == i]) for i in range(len(ids))])
    med_pred = np.array([np.median(log_pred[inverse == i]) for i in range(len(ids))])
    ax.scatter(med_true, med_pred, s=14, color="black", marker="_", linewidths=1.2, label="median of a cluster")
    if cluster_sigma_percent is not None:
        mean_pred = np.bincount(inverse, np.asarray(log_pred, np.float64)) / np.bincount(inverse)
        ax.scatter(med_true, mean_pred, s=10, color="tab:red", marker="o", facecolors="none", linewidths=0.8,
                   label=f"mean of a cluster's views (scatter {cluster_sigma_percent:.1f}%)")
    lo = float(min(log_true.min(), log_pred.min())) - 0.05
    hi = float(max(log_true.max(), log_pred.max())) + 0.05
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=1.0, ls="--", label="M_pred = M_true")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\log_{10}(M_{500c,\,\mathrm{true}}\ /\ M_\odot)$")
    ax.set_ylabel(r"$\log_{10}(M_{500c,\,\mathrm{predicted}}\ /\ M_\odot)$")
    ax.set_title(f"All folds: scatter {sigma_percent:.1f}%, bias {mu:+.3f} dex")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.2)
    return fig


def draw_figure4(delta_all: np.ndarray, fit_all: dict, delta_best: np.ndarray, fit_best: dict,
            best: int, bin_width_dex: float) -> "Figure":
    """PDF of delta with the MLE Gaussians (fit['sigma'], fit['mu']), all folds and best fold, and the L_X and Y_X
    literature bands."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    span = max(0.15, 1.1 * float(np.percentile(np.abs(delta_all), 99.8)))
    edges = np.arange(-span, span + bin_width_dex, bin_width_dex)
    x = np.linspace(-span, span, 600)
    band_colours = {"core-excised L_X": "tab:red", "Y_X": "goldenrod"}
    for name in LITERATURE_BANDS_PERCENT:
        a, b = literature_band_dex(name)
        lo, hi = LITERATURE_BANDS_PERCENT[name]
        narrow, wide = (gaussian(x, 1.0 / (np.sqrt(2 * np.pi) * s), 0.0, s) for s in (a, b))
        ax.fill_between(x, narrow, wide, color=band_colours[name], alpha=0.25, lw=0,
                        label=f"{name}: Gaussians of {lo:g}-{hi:g}% scatter")
    ax.hist(delta_all, bins=edges, density=True, histtype="step", color="tab:blue", lw=1.6, label="all folds")
    ax.hist(delta_best, bins=edges, density=True, histtype="step", color="hotpink", lw=1.6,
            label=f"best fold ({best})")
    for fit, colour, label in ((fit_all, "tab:green", "all folds"), (fit_best, "purple", "best fold")):
        if fit["sigma"] is None:
            continue
        peak = 1.0 / (np.sqrt(2 * np.pi) * fit["sigma"])
        ax.plot(x, gaussian(x, peak, fit["mu"], fit["sigma"]), ls="--", color=colour, lw=1.6,
                label=f"MLE Gaussian, {label}: σ = {fit['sigma']:.3f} dex ({fit['sigma_percent']:.1f}%), "
                      f"μ = {fit['mu']:+.3f}")
    ax.axvline(0.0, color="0.4", lw=0.8)
    ax.set_xlim(-span, span)
    ax.set_xlabel(r"$\delta = \log_{10}M_\mathrm{predicted} - \log_{10}M_\mathrm{true}$ (dex)")
    ax.set_ylabel("PDF")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def draw_baseline_figure(log_counts: np.ndarray, log_m: np.ndarray, a: float, b: float,
                    sigma_percent: float) -> "Figure":
    """log10 M500c against log10 of the core-excised counts, with the power-law fit."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.6))
    ax.scatter(log_counts, log_m, s=10, alpha=0.6, color="tab:red", edgecolors="none",
               label="one cluster and projection")
    x = np.linspace(log_counts.min(), log_counts.max(), 50)
    ax.plot(x, a + b * x, color="black", lw=1.2, label=f"log M = {a:.2f} + {b:.3f} log C  ({sigma_percent:.1f}% scatter)")
    ax.set_xlabel(r"$\log_{10} C$, C = core-excised counts")
    ax.set_ylabel(r"$\log_{10}(M_{500c}\ /\ M_\odot)$")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.grid(alpha=0.2)
    return fig


def draw_figure5(halo_id: int, images: list[np.ndarray], centre: tuple[float, float],
            r500c_pix: float, inner_r500c: float, small_change: float, gradient_centre: tuple[float, float]) -> "Figure":
    """One cluster: log N per iteration (top), Delta N per iteration (middle), Delta N / N <= small_change (bottom).

    images[0] is the input, images[i] after iteration i. Circles: inner_r500c R500c (solid), R500c (dashed);
    + marks the true centre, x the gradient centre (positions with pixel i's centre at i + 0.5).
    """
    plt = _pyplot()
    from matplotlib.patches import Circle

    n_iter = len(images) - 1
    fig, axes = plt.subplots(3, n_iter + 1, figsize=(3.2 * (n_iter + 1) + 1.0, 9.0), squeeze=False,
                             layout="constrained")
    vmax = np.log10(max(float(max(im.max() for im in images)), 1.0) + 1.0)
    for col, image in enumerate(images):
        shown = axes[0, col].imshow(np.log10(image + 1.0), origin="lower", cmap="magma", vmin=0, vmax=vmax)
        axes[0, col].set_title("input" if col == 0 else f"iteration {col}", fontsize=9)
    fig.colorbar(shown, ax=axes[0, :].tolist(), fraction=0.03, label="log10(N + 1)")
    changes = [images[col].astype(np.float64) - images[col - 1] for col in range(1, n_iter + 1)]
    limit = max(float(np.percentile(np.abs(np.stack(changes)), 99.5)), 1.0)  # a few extreme pixels saturate
    for col, change in enumerate(changes, start=1):
        shown = axes[1, col].imshow(change, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[1, col].set_title(f"ΔN, iteration {col}", fontsize=9)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(images[col - 1] > 0, np.abs(change) / images[col - 1], np.inf)
        axes[2, col].imshow(ratio <= small_change, origin="lower", cmap="Greys", vmin=0, vmax=1)
        axes[2, col].set_title(f"|ΔN|/N ≤ {100 * small_change:g}% (dark), iteration {col}", fontsize=8)
    fig.colorbar(shown, ax=axes[1:, :].ravel().tolist(), fraction=0.03, shrink=0.5, anchor=(0.0, 1.0),
                 label="ΔN (counts)")
    for row in (1, 2):
        axes[row, 0].set_axis_off()
        axes[row, 0].text(0.5, 0.5, "ΔN: change made by\neach iteration" if row == 1 else
                          f"dark: pixels whose count\nchanged by ≤ {100 * small_change:g}%",
                          ha="center", va="center", fontsize=9, transform=axes[row, 0].transAxes)
    npix = images[0].shape[0]
    shown_at = (centre[0] - 0.5, centre[1] - 0.5)  # imshow puts pixel i's centre at i, ours at i + 0.5
    for ax in axes.ravel():
        if not ax.axison:
            continue
        for radius, style in ((inner_r500c * r500c_pix, "-"), (r500c_pix, "--")):
            ax.add_patch(Circle(shown_at, radius, fill=False, color="cyan", lw=0.9, ls=style))
        ax.plot(*shown_at, marker="+", color="cyan", ms=8)
        ax.plot(gradient_centre[0] - 0.5, gradient_centre[1] - 0.5, marker="x", color="lime", ms=7)
        ax.set_xlim(-0.5, npix - 0.5)
        ax.set_ylim(-0.5, npix - 0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Cluster {halo_name(halo_id)}: + true centre, x gradient centre; circles {inner_r500c:g} and 1 R500c",
                 fontsize=10)
    return fig


def draw_figure6(bin_edges: np.ndarray, profiles: np.ndarray, halo_ids: np.ndarray,
            highlight: list[int], core_radius_r500c: float) -> "Figure":
    """Delta N / N in bins of R / R500c for a sample of clusters; one line style per iteration.

    profiles: [n_clusters, n_iterations, n_bins]; thick lines: the median over clusters. Clusters in `highlight`
    (off-centre gradients) are green.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    centres = 0.5 * (bin_edges[1:] + bin_edges[:-1])
    styles = ("-", ":", "--", "-.")
    colours = ("tab:red", "tab:blue", "tab:orange", "tab:purple")
    n_iter = profiles.shape[1]
    labelled: set = set()
    for c, halo in enumerate(halo_ids):
        special = int(halo) in highlight
        for it in range(n_iter):
            key = ("off-centre", it) if special else ("typical", it)
            label = None
            if key not in labelled:
                labelled.add(key)
                label = f"iteration {it + 1}" + (", off-centre gradient" if special else "")
            ax.plot(centres, 100 * profiles[c, it], ls=styles[it % len(styles)],
                    color="tab:green" if special else colours[it % len(colours)],
                    lw=1.6 if special else 0.9, alpha=1.0 if special else 0.6, label=label)
    for it in range(n_iter):
        ax.plot(centres, 100 * nanmedian(profiles[:, it], axis=0), ls=styles[it % len(styles)], color=colours[it % len(colours)], lw=2.6,
                label=f"median, iteration {it + 1}")
    ax.axvline(core_radius_r500c, color="0.3", lw=0.8, ls="--")
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.set_xlabel(r"$R\ /\ R_{500c}$")
    ax.set_ylabel(r"$\Delta N / N$ (%)")
    ax.set_title(f"{len(halo_ids)} clusters; dashed line: {core_radius_r500c:g} R500c")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.2)
    return fig
