"""The results directory: each analysis stage's part, the merged summary.json and report.md.

evaluate, baseline and interpret each write `results/<stage>.json`; after each, summary.json (all
parts present) and report.md (our numbers beside the paper's, row by row) are rebuilt from the parts,
so the stages may run in any order and a re-run replaces only its own part.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..config import Config
from ..provenance import provenance
from ..layout import halo_name
from ..store import write_text_atomic
from .metrics import percent_to_dex

PARTS = ("evaluate", "baseline", "interpret")

# Ntampaka et al. 2019 (SPEC.md, "Results to reproduce"): (sigma dex, sigma %, mu dex).
PAPER = {
    "all_folds": (0.051, 11.6, -0.022),
    "all_folds_subset": (0.041, 9.6, -0.036),
    "best_fold": (0.033, 7.7, -0.027),
    "best_fold_subset": (0.025, 5.7, -0.021),
}
PAPER_LX_PERCENT = {0.03: 14.6, 0.05: 22.2}
LITERATURE_BANDS_PERCENT = {"core-excised L_X": (15.0, 18.0), "Y_X": (5.0, 7.0)}


def results_dir(cfg: Config) -> Path:
    return cfg.run_dir / "results"


def write_part(cfg: Config, stage: str, part: dict[str, Any]) -> Path:
    """Write results/<stage>.json, then rebuild summary.json and report.md from every part present."""
    directory = results_dir(cfg)
    write_text_atomic(directory / f"{stage}.json", _dumps(part))
    summary = {name: json.loads((directory / f"{name}.json").read_text())
               for name in PARTS if (directory / f"{name}.json").is_file()}
    write_text_atomic(directory / "summary.json", _dumps(summary))
    write_text_atomic(directory / "report.md", render_report(summary))
    return directory / "summary.json"


def stage_provenance(stage: str, physics_data: Any) -> dict[str, Any]:
    """The provenance of a results part: stage, version, commit and the physics data of the mock events used."""
    return provenance(stage, 1, physics_data)


def read_part(cfg: Config, stage: str) -> dict[str, Any] | None:
    path = results_dir(cfg) / f"{stage}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _dumps(data: Any) -> str:
    return json.dumps(_finite(data), indent=2) + "\n"


def _finite(data: Any) -> Any:
    """JSON has no NaN: non-finite numbers become null."""
    if isinstance(data, dict):
        return {str(k): _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data


def _f(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_report(summary: dict[str, Any]) -> str:
    lines = ["# Results", "",
             "delta = log10(M_pred) - log10(M_true), per image, in dex. Every sigma and mu names its estimator: "
             "**MLE** = the unbinned maximum-likelihood Gaussian (mean, standard deviation with ddof 0), the primary "
             "estimator; **hist** = the paper's least-squares Gaussian fit to the histogram of delta, for comparison, "
             "with the bin width it used (a histogram fit that failed says so and gives no number); **robust** = half "
             "the 16-84th percentile range. Intervals are 95% percentile intervals of bootstrap resamples of "
             "clusters (not images: a cluster's 24 images are correlated). Percent scatter = the width in dex times 100 ln(10) (the "
             "conversion that matches the paper's pairs).", ""]
    if "evaluate" in summary:
        lines += _evaluate_section(summary["evaluate"])
    if "baseline" in summary:
        lines += _baseline_section(summary["baseline"], summary.get("evaluate"))
    if "interpret" in summary:
        lines += _interpret_section(summary["interpret"])
    return "\n".join(lines) + "\n"


def _ci(values: Any, digits: int = 3) -> str:
    return "—" if not values else f"{values[0]:.{digits}f}, {values[1]:.{digits}f}"


def _hist(fit: dict[str, Any]) -> str:
    """The histogram fit's sigma with its bin width, or what became of it."""
    status = fit.get("hist_status", "")
    if status == "ok":
        return (f"{_f(fit['hist_sigma'])} (mu {_f(fit['hist_mu'])}; {fit['hist_n_bins']} bins of "
                f"{fit['hist_bin_width_dex']:.4f} dex)")
    return f"{status.upper() if status.startswith('failed') else status} (MLE beside it)"


def _evaluate_section(ev: dict[str, Any]) -> list[str]:
    lo, hi = ev["mass_subset"]
    labels = {"all_folds": "all folds", "all_folds_subset": f"all folds, {lo} < log M < {hi}",
              "best_fold": f"best fold (fold {ev['best_fold']})",
              "best_fold_subset": f"best fold (fold {ev['best_fold']}), {lo} < log M < {hi}"}
    lines = ["## CNN mass residuals", "",
             f"{ev['n_images']} images of {ev['n_clusters']} clusters in {len(ev['folds'])} folds. "
             f"Best fold: {ev.get('best_fold_rule', 'smallest sigma')}.", "",
             "| sample | n images (clusters) | MLE sigma (dex) ours [95%] | paper sigma | MLE sigma (%) ours | paper "
             "| MLE mu (dex) ours [95%] | paper mu | hist sigma (dex) ours | robust sigma (dex) ours |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in labels.items():
        fit, paper = ev["fits"][key], PAPER[key]
        lines.append(f"| {label} | {fit['n']} ({fit.get('n_clusters')}) | {_f(fit['sigma'])} [{_ci(fit.get('sigma_ci95'))}] "
                     f"| {paper[0]:.3f} | {_f(fit['sigma_percent'], 1)} | {paper[1]:.1f} "
                     f"| {_f(fit['mu'])} [{_ci(fit.get('mu_ci95'))}] | {paper[2]:.3f} | {_hist(fit)} "
                     f"| {_f(fit['robust_sigma'])} |")
    lines += ["", "The paper's sigma and mu are its Gaussian fit to the PDF of delta (binning not stated). The paper's "
                  "text prints 0.41 dex for the all-folds subset width; its 9.6% means 0.041 dex.", "",
              "### Each fold", "",
              "| fold | n | MLE sigma (dex) [95%] | MLE sigma (%) | MLE mu (dex) | hist sigma (dex) | robust sigma (dex) "
              "| kept epoch | converged |",
              "|---|---|---|---|---|---|---|---|---|"]
    for k, fit in sorted(ev["fits"]["folds"].items(), key=lambda kv: int(kv[0])):
        attrs = ev["folds"][k]
        lines.append(f"| {k} | {fit['n']} | {_f(fit['sigma'])} [{_ci(fit.get('sigma_ci95'))}] "
                     f"| {_f(fit['sigma_percent'], 1)} | {_f(fit['mu'])} | {_hist(fit)} "
                     f"| {_f(fit['robust_sigma'])} | {attrs.get('kept_epoch')} | {attrs.get('converged')} |")
    not_ok = ev.get("histogram_fit_not_ok") or []
    if not_ok:
        lines += ["", f"The histogram fit gave no number for {len(not_ok)} samples ({', '.join(not_ok)}); their MLE "
                      "values stand alone."]
    unconverged = ev.get("unconverged_folds") or []
    if unconverged:
        lines += ["", f"Folds whose validation never met the stopping rule's criteria by train.max_epochs (the rule's "
                      f"fallback epoch was kept, docs/train.md): "
                      f"{', '.join(str(k) for k in unconverged)}."]
    lines += _per_cluster_lines(ev)
    bands = ", ".join(f"{name} {a:g}-{b:g}%" for name, (a, b) in LITERATURE_BANDS_PERCENT.items())
    lines += ["", f"Literature (the paper's context): {bands}.", "",
              "Figures: `figure3_pred_vs_true.png`/`.pdf`, `figure4_delta_pdf.png`/`.pdf`.", ""]
    return lines


def _per_cluster_lines(ev: dict[str, Any]) -> list[str]:
    """Beyond the paper: the per-cluster mass (mean of the views) and, when evaluated, its calibrated uncertainty."""
    lines = []
    if "per_cluster" in ev:
        pc, fit = ev["per_cluster"], ev["per_cluster"]["fit"]
        lines += ["", "### Per cluster (beyond the paper)", "",
                  f"Mass of a cluster = mean of its views' log10 M (member 0). n = {fit['n']} clusters: MLE sigma "
                  f"{_f(fit['sigma'], 4)} dex [{_ci(fit.get('sigma_ci95'), 4)}] ({_f(fit['sigma_percent'], 1)}%), MLE mu "
                  f"{_f(fit['mu'], 4)} dex [{_ci(fit.get('mu_ci95'), 4)}]; per image: {_f(ev['fits']['all_folds']['sigma'], 4)} "
                  f"dex. Mean standard deviation of a cluster's views: {_f(pc['mean_view_sd_dex'], 4)} dex."]
    if "not_done" in ev.get("uncertainty", {}):
        lines += ["", f"Calibrated uncertainty: not evaluated ({ev['uncertainty']['not_done']})."]
    elif "uncertainty" in ev:
        u, t = ev["uncertainty"], ev["uncertainty"]["test"]
        lines += ["", f"Calibrated uncertainty ({u['method']}; {u['members']} member(s) per fold), "
                      f"{t['n_clusters']} test clusters, [95% cluster-bootstrap interval]:", "",
                  "| coverage 68% | coverage 95% | mean width 68% (dex) | mean width 95% (dex) | Gaussian NLL | CRPS (dex) |",
                  "|---|---|---|---|---|---|",
                  f"| {_f(t['coverage_68'])} [{_ci(t.get('coverage_68_ci95'))}] | {_f(t['coverage_95'])} "
                  f"[{_ci(t.get('coverage_95_ci95'))}] | {_f(t['width_68_dex'], 4)} | {_f(t['width_95_dex'], 4)} "
                  f"| {_f(t['nll'])} [{_ci(t.get('nll_ci95'))}] | {_f(t['crps_dex'], 4)} [{_ci(t.get('crps_dex_ci95'), 4)}] |"]
    return lines


def _baseline_section(bl: dict[str, Any], ev: dict[str, Any] | None) -> list[str]:
    bg = bl["background"]
    inst = bg.get("instrument") or {}
    if inst.get("status") == "checked":
        check = (f"The instrument's own background in the band ({inst['spectrum']} through {inst['rmf']}, "
                 f"{inst['exposure_s']:g} s): {_f(inst['counts_per_arcmin2'], 2)} counts/arcmin^2; measured / "
                 f"instrument = {_f(inst['measured_over_instrument'])}.")
    else:
        check = f"Instrument background check: {inst.get('status', 'not run')}."
    fit = bl["fit"]
    lines = ["## Core-excised L_X baseline", "",
             f"Proxy: background-subtracted counts in {bl['band_kev'][0]}-{bl['band_kev'][1]} keV within "
             f"{bl['aperture_r500c'][0]}-{bl['aperture_r500c'][1]} R500c of the cluster centre, one per cluster "
             f"and projection ({bl['n_observations']} observations of {bl['n_clusters']} clusters; per observation in "
             f"`{bl.get('observations_csv', 'baseline_observations.csv')}`). Areas are exposure-weighted (the field's "
             f"dithered edges, {bg.get('dither_arcsec', 8):g} arcsec). Background: {bg['method']}, "
             f"{_f(bg['counts_per_arcmin2'], 2)} counts/arcmin^2. {check}", "",
             f"Power law {fit.get('form', 'log10 M = a + b log10 C')} (least squares, exact R500c): normalisation "
             f"a = {_f(fit['a'])}, slope b = {_f(fit['b'])}.", "",
             "| R500c error | MLE sigma (dex) ours | MLE sigma (%) ours | paper (%) | 16-84% of draws (%) "
             "| hist sigma (dex) | robust sigma (dex) | a | b | CNN MLE / L_X MLE sigma, same clusters [95%] |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for level in bl["levels"]:
        err = level["r500c_error"]
        paper = PAPER_LX_PERCENT.get(round(err, 4))
        spread = level.get("sigma_percent_16_84")
        hist = _f(level.get("hist_sigma")) if level.get("hist_status") == "ok" else \
            f"{_f(level.get('hist_sigma'))} ({level.get('hist_status')})"
        lines.append(f"| {100 * err:g}% | {_f(level['sigma'])} | {_f(level['sigma_percent'], 1)} "
                     f"| {'—' if paper is None else f'{paper:.1f}'} "
                     f"| {'—' if not spread else f'{spread[0]:.1f}-{spread[1]:.1f}'} | {hist} "
                     f"| {_f(level['robust_sigma'])} | {_f(level['a'])} | {_f(level['b'])} "
                     f"| {_f(level.get('cnn_to_lx_ratio'), 2)} [{_ci(level.get('cnn_to_lx_ratio_ci95'), 2)}] |")
    head = bl.get("cnn_vs_lx")
    if head:
        lines += ["", f"**CNN against L_X** on the same {head['clusters']} clusters ({head['estimator']}): CNN MLE sigma "
                      f"{_f(head['cnn_sigma_dex'])} dex [{_ci(head['cnn_sigma_dex_ci95'])}], L_X MLE sigma "
                      f"{_f(head['lx_sigma_dex'])} dex [{_ci(head['lx_sigma_dex_ci95'])}], ratio {_f(head['ratio'], 3)} "
                      f"[{_ci(head['ratio_ci95'], 3)}]. The paper: CNN 11.6% against L_X 14.6% (TNG, 3% R500c error), "
                      f"a ratio of {11.6 / 14.6:.2f} (its Gaussian fits; 15-18% in the literature)."]
    else:
        lines += ["", "No complete CNN predictions of at least 3 of these clusters were found, so no CNN-to-L_X "
                      "ratio is given."]
    lines += ["", "Figure: `baseline_lx_m.png`/`.pdf`.", ""]
    return lines


def _interpret_section(ip: dict[str, Any]) -> list[str]:
    core = ip["core_radius_r500c"]
    lines = ["## DeepDream interpretation", "",
             f"{ip['n_clusters']} clusters, {ip['iterations']} iterations, step size {ip['step_size']} "
             f"(mean |Delta N| per pixel in counts before rounding).", "",
             "| quantity | ours | paper |", "|---|---|---|"]
    for it in ip["per_iteration"]:
        lines.append(f"| iteration {it['iteration']}: fraction of added photons inside {core} R500c (mean over clusters) "
                     f"| {_f(it['added_fraction_inside_core'])} (area fraction {_f(it['area_fraction_inside_core'])}) "
                     f"| ~0: the CNN ignores R < ~0.2 R500c |")
    flagged = ip["off_centre"]
    names = ", ".join(f"{halo_name(c['halo_id'])} ({c['offset_r500c']:.2f} R500c)" for c in flagged) or "none"
    lines += [f"| clusters whose gradient centre is > {ip['off_centre_r500c']} R500c off the true centre | "
              f"{len(flagged)}: {names} | 1 shown (Figure 5, bottom) |", "",
              "Figures: " + ", ".join(f"`{name}`" for name in ip["figures"]) + ".", ""]
    return lines


def literature_band_dex(name: str) -> tuple[float, float]:
    """The published scatter range `name` of LITERATURE_BANDS_PERCENT, percent converted to dex."""
    lo, hi = LITERATURE_BANDS_PERCENT[name]
    return percent_to_dex(lo), percent_to_dex(hi)
