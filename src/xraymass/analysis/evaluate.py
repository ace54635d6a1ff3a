"""`xraymass evaluate`: gather the ten folds' test predictions; scatter, bias, Figures 3 and 4, the report.

All folds must be complete (docs/store.md, `predictions/fold_KK`); otherwise the missing ones are
named and nothing is evaluated. `--with-baseline` and `--with-interpret` run those stages afterwards
in the same process (what `jobs/evaluate.sh` does).
"""
from __future__ import annotations

import argparse

import numpy as np

from ..config import Config
from ..provenance import write_effective_config
from . import figures
from .metrics import Fit, best_fold, fit_gaussian, in_mass_range
from .predictions import Predictions, load_predictions, stored_n_folds
from .report import results_dir, write_part


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--with-baseline", action="store_true", help="then run `xraymass baseline`")
    parser.add_argument("--with-interpret", action="store_true", help="then run `xraymass interpret`")


def run(cfg: Config, args: argparse.Namespace | None = None) -> int:
    predictions = load_predictions(cfg.store_path, stored_n_folds(cfg))
    summary = evaluate(predictions, **cfg.evaluate)
    summary["figures"] = write_figures(results_dir(cfg), predictions, summary, cfg.evaluate["fit_bin_width_dex"])
    write_part(cfg, "evaluate", summary)
    write_effective_config(cfg.run_dir, cfg, "evaluate")
    print_summary(summary)
    if args is not None and getattr(args, "with_baseline", False):
        from . import baseline

        baseline.run(cfg, args)
    if args is not None and getattr(args, "with_interpret", False):
        from . import interpret

        interpret.run(cfg, args)
    return 0


def evaluate(predictions: Predictions, mass_subset: list[float], fit_bin_width_dex: float) -> dict:
    """Gaussian fits (and robust widths) for all folds, each fold, the best fold, and the mass subset."""
    delta = predictions.delta
    subset = in_mass_range(predictions.log_m500c_true, tuple(mass_subset))
    folds = sorted(predictions.folds)
    fold_fits = {k: fit_gaussian(delta[predictions.fold == k], fit_bin_width_dex) for k in folds}
    best = best_fold(fold_fits)
    in_best = predictions.fold == best
    fits: dict[str, Fit] = {
        "all_folds": fit_gaussian(delta, fit_bin_width_dex),
        "all_folds_subset": fit_gaussian(delta[subset], fit_bin_width_dex),
        "best_fold": fold_fits[best],
        "best_fold_subset": fit_gaussian(delta[in_best & subset], fit_bin_width_dex),
    }
    return {
        "n_images": int(delta.size),
        "n_clusters": int(np.unique(predictions.halo_id).size),
        "mass_subset": list(mass_subset),
        "best_fold": int(best),
        "best_fold_rule": "smallest Gaussian sigma of a fold's test images",
        "percent_conversion": "100 ln(10) sigma",
        "fit_method": f"least-squares Gaussian fit to the histogram of delta (bins of {fit_bin_width_dex} dex)",
        "fits": {**{key: fit.to_dict() for key, fit in fits.items()},
                 "folds": {str(k): fit.to_dict() for k, fit in fold_fits.items()}},
        "folds": {str(k): attrs for k, attrs in predictions.folds.items()},
        "unconverged_folds": [int(k) for k, attrs in predictions.folds.items() if attrs.get("converged") is False],
    }


def write_figures(directory, predictions: Predictions, summary: dict, bin_width_dex: float) -> list[str]:
    fits, best = summary["fits"], summary["best_fold"]
    delta = predictions.delta
    figure3 = figures.draw_figure3(predictions.log_m500c_true, predictions.log_m500c_pred, predictions.halo_id,
                                   fits["all_folds"]["sigma_percent"], fits["all_folds"]["mu"])
    figure4 = figures.draw_figure4(delta, fits["all_folds"], delta[predictions.fold == best], fits["best_fold"],
                                   best, bin_width_dex)
    return figures.save(figure3, directory, "figure3_pred_vs_true") + figures.save(figure4, directory, "figure4_delta_pdf")


def print_summary(summary: dict) -> None:
    for key in ("all_folds", "all_folds_subset", "best_fold", "best_fold_subset"):
        fit = summary["fits"][key]
        print(f"evaluate: {key:17s} n={fit['n']:6d}  sigma={_num(fit['sigma'], '.4f')} dex "
              f"({_num(fit['sigma_percent'], '.1f')}%)  mu={_num(fit['mu'], '+.4f')} dex  "
              f"robust sigma={_num(fit['robust_sigma'], '.4f')} dex")
    print(f"evaluate: best fold {summary['best_fold']}")


def _num(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def check_outputs(root, store_path, run_dir) -> tuple[str, list[str]]:
    """For `xraymass check`: (summary, problems) of results/evaluate.json, summary.json and its figures."""
    import json
    from pathlib import Path

    part = run_dir / "results" / "evaluate.json"
    if not part.is_file():
        return "not run", []
    problems = []
    try:
        summary = json.loads(part.read_text())
    except (OSError, ValueError) as err:
        return "unreadable", [f"{part}: not readable JSON ({type(err).__name__})"]
    for name in summary.get("figures", []):
        if not (run_dir / "results" / Path(name).name).is_file():
            problems.append(f"{run_dir / 'results' / Path(name).name}: figure missing")
    for path in (run_dir / "results" / "summary.json", run_dir / "evaluate.config.yaml"):
        if not path.is_file():
            problems.append(f"{path}: missing")
    return f"{summary.get('n_images', '?')} images of {summary.get('n_clusters', '?')} clusters", problems
