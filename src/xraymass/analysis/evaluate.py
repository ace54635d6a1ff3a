"""`xraymass evaluate`: gather the ten folds' test predictions; scatter, bias, Figures 3 and 4, the report.

All folds must be complete (docs/store.md, `predictions/fold_KK`); otherwise the missing ones are
named and nothing is evaluated. `--with-baseline` and `--with-interpret` run those stages afterwards
in the same process (what `jobs/evaluate.sh` does). Beside the paper's per-image figures: the per-cluster
mass (mean of the 24 views), and with `evaluate.uncertainty` the calibrated per-cluster uncertainty
(uncertainty.py). `--models-from RUN_DIR` applies another run's models to this run's stamps (domain.py).
"""
from __future__ import annotations

import argparse

import numpy as np

from .. import layout
from ..config import Config
from ..provenance import write_effective_config
from ..store import consolidate
from . import figures
from .metrics import (BEST_FOLD_RULE, ESTIMATOR_TEXT, HISTOGRAM_TEXT, Fit, best_fold, bootstrap_text,
                      fit_gaussian, in_mass_range, with_bootstrap)
from .predictions import Predictions, load_predictions, physics_data_of_predictions, stored_n_folds
from .report import results_dir, stage_provenance, write_part

BOOTSTRAP_STREAM = 11  # tags the bootstrap draws apart from other streams seeded by run.seed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--with-baseline", action="store_true", help="then run `xraymass baseline`")
    parser.add_argument("--with-interpret", action="store_true", help="then run `xraymass interpret`")
    parser.add_argument("--models-from", dest="models_from", default=None, metavar="RUN_DIR",
                        help="domain shift: apply the fold models of the run in RUN_DIR to this run's stamps "
                             "(results/domain_shift.json); this run needs stamps only")


def run(cfg: Config, args: argparse.Namespace | None = None) -> int:
    if args is not None and getattr(args, "models_from", None):
        from . import domain

        return domain.run(cfg, args.models_from)
    n_folds = stored_n_folds(cfg)
    predictions = load_predictions(cfg.store_path, n_folds)
    options = dict(cfg.evaluate)
    with_uncertainty = options.pop("uncertainty")
    summary = evaluate(predictions, seed=cfg.run["seed"], **options)
    if with_uncertainty:
        summary["uncertainty"] = uncertainty_part(cfg, n_folds, options["n_bootstrap"])
    summary["figures"] = write_figures(results_dir(cfg), predictions, summary, cfg.evaluate["fit_bin_width_dex"])
    physics_data = physics_data_of_predictions(predictions)
    summary["provenance"] = stage_provenance("evaluate", physics_data)
    write_part(cfg, "evaluate", summary)
    write_effective_config(cfg.run_dir, cfg, "evaluate", physics_data=physics_data)
    consolidate(cfg.store_path)  # the store's metadata index then lists every fold's predictions
    print_summary(summary)
    if args is not None and getattr(args, "with_baseline", False):
        from . import baseline

        baseline.run(cfg, args)
    if args is not None and getattr(args, "with_interpret", False):
        from . import interpret

        interpret.run(cfg, args)
    return 0


def uncertainty_part(cfg: Config, n_folds: int, n_bootstrap: int) -> dict:
    """The calibrated per-cluster uncertainty (uncertainty.py), or {'not_done': why} when its inputs are not there
    (members not trained, or folds trained before validation predictions were written): the paper's per-image
    figures do not depend on it and are still reported."""
    import sys

    from ..errors import InputError
    from .uncertainty import evaluate_uncertainty

    try:
        return evaluate_uncertainty(cfg.store_path, n_folds, cfg.train["members"], n_bootstrap,
                                    [cfg.run["seed"], BOOTSTRAP_STREAM, 99])
    except InputError as err:
        print(f"evaluate: warning: uncertainty not evaluated: {err}", file=sys.stderr, flush=True)
        return {"not_done": str(err)}


def evaluate(predictions: Predictions, mass_subset: list[float], fit_bin_width_dex: float, n_bootstrap: int = 1000,
             seed: int = 0) -> dict:
    """Fits (MLE primary, histogram beside it, cluster-bootstrap intervals) for all folds, each fold, the best
    fold, and the mass subset."""
    delta = predictions.delta
    subset = in_mass_range(predictions.log_m500c_true, tuple(mass_subset))
    folds = sorted(predictions.folds)
    fold_fits = {k: fit_gaussian(delta[predictions.fold == k], fit_bin_width_dex) for k in folds}
    best = best_fold(fold_fits)
    in_best = predictions.fold == best
    samples = {"all_folds": np.ones(delta.size, bool), "all_folds_subset": subset, "best_fold": in_best,
               "best_fold_subset": in_best & subset}
    from .uncertainty import per_cluster_fit

    fits: dict[str, Fit] = {}
    for i, (key, mask) in enumerate(samples.items()):
        fit = fold_fits[best] if key == "best_fold" else fit_gaussian(delta[mask], fit_bin_width_dex)
        fits[key] = with_bootstrap(fit, delta[mask], predictions.halo_id[mask], n_bootstrap, [seed, BOOTSTRAP_STREAM, i])
    for k in folds:
        if k != best:
            mask = predictions.fold == k
            with_bootstrap(fold_fits[k], delta[mask], predictions.halo_id[mask], n_bootstrap, [seed, BOOTSTRAP_STREAM, 10 + k])
    failed = sorted(key for key, fit in [*fits.items(), *((f"fold {k}", f) for k, f in fold_fits.items())]
                    if fit.hist_status != "ok")
    return {
        "n_images": int(delta.size),
        "n_clusters": int(np.unique(predictions.halo_id).size),
        "mass_subset": list(mass_subset),
        "best_fold": int(best),
        "best_fold_rule": BEST_FOLD_RULE,
        "percent_conversion": "100 ln(10) sigma",
        "estimator": ESTIMATOR_TEXT,
        "histogram_fit": f"{HISTOGRAM_TEXT}; configured bin {fit_bin_width_dex} dex, the width used per sample in "
                         "hist_bin_width_dex",
        "bootstrap": bootstrap_text(n_bootstrap),
        "histogram_fit_not_ok": failed,
        "fits": {**{key: fit.to_dict() for key, fit in fits.items()},
                 "folds": {str(k): fit.to_dict() for k, fit in fold_fits.items()}},
        "per_cluster": per_cluster_fit(predictions.halo_id, predictions.log_m500c_true, predictions.log_m500c_pred,
                                       fit_bin_width_dex, n_bootstrap, [seed, BOOTSTRAP_STREAM, 98]),
        "folds": {str(k): attrs for k, attrs in predictions.folds.items()},
        "unconverged_folds": [int(k) for k, attrs in predictions.folds.items() if attrs.get("converged") is False],
    }


def write_figures(directory, predictions: Predictions, summary: dict, bin_width_dex: float) -> list[str]:
    fits, best = summary["fits"], summary["best_fold"]
    delta = predictions.delta
    figure3 = figures.draw_figure3(predictions.log_m500c_true, predictions.log_m500c_pred, predictions.halo_id,
                                   fits["all_folds"]["sigma_percent"], fits["all_folds"]["mu"],
                                   (summary.get("per_cluster") or {}).get("fit", {}).get("sigma_percent"))
    figure4 = figures.draw_figure4(delta, fits["all_folds"], delta[predictions.fold == best], fits["best_fold"],
                                   best, bin_width_dex)
    return figures.save(figure3, directory, "figure3_pred_vs_true") + figures.save(figure4, directory, "figure4_delta_pdf")


def print_summary(summary: dict) -> None:
    for key in ("all_folds", "all_folds_subset", "best_fold", "best_fold_subset"):
        fit = summary["fits"][key]
        ci = fit.get("sigma_ci95")
        print(f"evaluate: {key:17s} n={fit['n']:6d}  MLE sigma={_num(fit['sigma'], '.4f')} dex "
              f"({_num(fit['sigma_percent'], '.1f')}%)" + (f" [95% {ci[0]:.4f}-{ci[1]:.4f}]" if ci else "")
              + f"  MLE mu={_num(fit['mu'], '+.4f')} dex  histogram sigma="
              + (_num(fit['hist_sigma'], '.4f') if fit["hist_status"] == "ok" else f"({fit['hist_status']})"))
    print(f"evaluate: best fold {summary['best_fold']} ({summary['best_fold_rule']})")
    if "per_cluster" in summary:
        fit, ci = summary["per_cluster"]["fit"], summary["per_cluster"]["fit"].get("sigma_ci95")
        print(f"evaluate: per cluster (mean of views) n={fit['n']:4d}  MLE sigma={_num(fit['sigma'], '.4f')} dex "
              f"({_num(fit['sigma_percent'], '.1f')}%)" + (f" [95% {ci[0]:.4f}-{ci[1]:.4f}]" if ci else "")
              + f"  MLE mu={_num(fit['mu'], '+.4f')} dex  mean view sd={summary['per_cluster']['mean_view_sd_dex']:.4f} dex")
    if "test" in summary.get("uncertainty", {}):
        print_uncertainty("evaluate", summary["uncertainty"]["test"], summary["uncertainty"]["members"])


def print_uncertainty(prefix: str, test: dict, members: int) -> None:
    """One line per score of a calibrated uncertainty (uncertainty.scores), with its cluster-bootstrap interval."""
    def ci(key, spec):
        c = test.get(f"{key}_ci95")
        return f" [95% {format(c[0], spec)}-{format(c[1], spec)}]" if c else ""

    print(f"{prefix}: uncertainty ({members} member(s) per fold, {test['n_clusters']} test clusters)  "
          f"coverage 68%: {100 * test['coverage_68']:.1f}%{ci('coverage_68', '.3f')}  "
          f"95%: {100 * test['coverage_95']:.1f}%{ci('coverage_95', '.3f')}")
    print(f"{prefix}: uncertainty  mean width 68%: {test['width_68_dex']:.4f} dex  95%: {test['width_95_dex']:.4f} dex  "
          f"NLL {test['nll']:+.3f}{ci('nll', '+.3f')}  CRPS {test['crps_dex']:.4f} dex{ci('crps_dex', '.4f')}")


def _num(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def check_outputs(root, store_path, run_dir) -> tuple[str, list[str]]:
    """For `xraymass check`: (summary, problems) of results/evaluate.json, summary.json and its figures."""
    import json
    from pathlib import Path

    part = run_dir / layout.EVALUATED
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
    for path in (run_dir / layout.SUMMARY, layout.effective_config(run_dir, "evaluate")):
        if not path.is_file():
            problems.append(f"{path}: missing")
    return f"{summary.get('n_images', '?')} images of {summary.get('n_clusters', '?')} clusters", problems
