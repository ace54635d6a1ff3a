"""`xraymass evaluate --models-from RUN_DIR`: the models of one run applied to the stamps of another.

The source run (RUN_DIR) trained its fold models on its own population; this run's clusters (another
population: other seed, cool-core or merger fraction, physics) were seen by none of them, so every fold
model (and every ensemble member) predicts every cluster here. Per cluster and source fold k, the fold's
members give the predictive N(mu_k, sigma_k^2) of uncertainty.py with the calibration (s0, k) fitted on
source fold k's validation clusters; the run's prediction is the equal mixture of the fold predictions,
moment-matched: mu = mean_k mu_k, sigma^2 = mean_k sigma_k^2 + var_k mu_k (ddof 0). Per image, the
prediction is the mean over the fold models and members.

Reported beside each other (results/domain_shift.json, and printed): per-image and per-cluster scatter
and bias, and the coverage, width, NLL and CRPS of the intervals, here (out of domain) and as the source
run's own `evaluate` measured them (in domain, its results/evaluate.json). Stamps made with another
geometry (npix, field) or band set than the models were trained on are refused in one line.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import yaml

from ..config import Config
from ..errors import InputError
from ..provenance import write_effective_config
from ..stamps.config_schema import band_set
from ..store import file_sha256, is_complete, open_store, write_text_atomic
from ..train.members import member_group, member_name
from . import uncertainty as unc
from .metrics import fit_gaussian, with_bootstrap
from .report import results_dir, stage_provenance

STREAM = 13  # tags the bootstrap draws of the domain-shift report


def run(cfg: Config, models_from: str) -> int:
    from ..train.data import check_made_with

    check_made_with(cfg.store_path, cfg, "evaluate")
    source = Path(models_from).expanduser().resolve()
    source_cfg = source_config(source)
    source_store = source / source_cfg["run"]["store"]
    check_compatible(stamps_attrs(source_store), stamps_attrs(cfg.store_path), source_store, cfg.store_path)
    n_folds = int(stamps_attrs(source_store)["n_folds"])
    members = int(source_cfg.get("train", {}).get("members", 1))
    models = model_paths(source, source_store, n_folds, members)
    stamps, preds = predict_all(cfg.store_path, models)
    report = domain_report(stamps, preds, source_store, n_folds, members, cfg.evaluate["fit_bin_width_dex"],
                           cfg.evaluate["n_bootstrap"], [cfg.run["seed"], STREAM])
    report["in_domain"] = in_domain(source)
    report["source_run"] = str(source)
    report["provenance"] = stage_provenance("evaluate --models-from", source_physics(source_store))
    write_text_atomic(results_dir(cfg) / "domain_shift.json", json.dumps(_finite(report), indent=2) + "\n")
    write_effective_config(cfg.run_dir, cfg, "domain_shift")
    print_report(report)
    return 0


def source_config(source: Path) -> dict:
    """The source run's effective training config (train/fold_00/train.config.yaml); InputError if absent."""
    path = source / "train" / "fold_00" / "train.config.yaml"
    if not path.is_file():
        raise InputError(f"--models-from {source}: no trained run there ({path} is missing); give the run directory "
                         "of a run whose folds are trained")
    try:
        return yaml.safe_load(path.read_text())["config"]
    except (yaml.YAMLError, KeyError, TypeError) as err:
        raise InputError(f"{path}: not an effective config written by `xraymass train` ({type(err).__name__})") from None


def stamps_attrs(store_path: Path) -> dict:
    """The attributes of a complete stamps/ group; InputError naming the store otherwise."""
    try:
        root = open_store(store_path)
    except Exception as err:  # no store there, or not one of this schema
        raise InputError(f"{store_path}: not an xraymass store ({' '.join(str(err).split()) or type(err).__name__})") from None
    if "stamps" not in root or not is_complete(root["stamps"]):
        raise InputError(f"{store_path}/stamps: missing or not complete; run `xraymass stamps` for that run")
    return dict(root["stamps"].attrs)


def check_compatible(trained: dict, here: dict, trained_store: Path, here_store: Path) -> None:
    """InputError, one line, when this run's stamps differ in geometry or band set from the models' stamps."""
    diffs = [f"{key} {trained.get(key)!r} there, {here.get(key)!r} here" for key in ("npix", "fov_arcmin")
             if trained.get(key) != here.get(key)]
    if band_set(trained) != band_set(here):
        diffs.append(f"bands {band_set(trained)} keV there, {band_set(here)} keV here")
    if diffs:
        raise InputError(f"{here_store}/stamps: made with another geometry or band set than the models of "
                         f"{trained_store} were trained on ({'; '.join(diffs)}); make this run's stamps with the "
                         "source run's stamps settings")


def model_paths(source: Path, source_store: Path, n_folds: int, members: int) -> dict[tuple[int, int], Path]:
    """Every (fold, member) model of the source run, each checked against its predictions group's record."""
    from ..train.outputs import check_model

    root = open_store(source_store)
    out = {}
    for k in range(n_folds):
        for m in range(members):
            parent, name = member_group(k, m)
            path = source / "train" / member_name(k, m) / "model.keras"
            group = root[f"{parent}/{name}"] if f"{parent}/{name}" in root else None
            if group is None or not is_complete(group) or not path.is_file():
                raise InputError(f"{source}: fold {k} member {m} is not trained ({path} or {source_store}/{parent}/{name} "
                                 "missing or incomplete); finish that run's training first")
            check_model(path, group, f"{source_store}/{parent}/{name}")
            out[(k, m)] = path
    return out


def predict_all(store_path: Path, models: dict[tuple[int, int], Path], batch: int = 64):
    """Every image of this run's stamps through every model: {(fold, member): log M [n_images]}."""
    from ..train.data import open_stamps
    from .interpret import load_model

    stamps = open_stamps(store_path)
    blocks = [stamps.as_input(stamps.read_verified_block(b)) for b in range(stamps.n_blocks)]
    preds = {}
    for key, path in models.items():
        model = load_model(path)
        want = tuple(model.input_shape[1:])
        if want != (stamps.npix, stamps.npix, stamps.channels):
            raise InputError(f"{path}: takes input {want}, the stamps of {store_path} are "
                             f"{(stamps.npix, stamps.npix, stamps.channels)}")
        preds[key] = np.concatenate([model.predict_on_batch(x)[:, 0] for x in blocks]).astype(np.float64)
        print(f"[evaluate] domain shift: fold {key[0]} member {key[1]} applied to {len(stamps.log_m500c)} images",
              file=sys.stderr, flush=True)
    return stamps, preds


def domain_report(stamps, preds: dict, source_store: Path, n_folds: int, members: int, bin_width_dex: float,
                  n_bootstrap: int, seed: list) -> dict:
    """Scatter, bias and calibrated coverage of the source models on this run's clusters."""
    halo_id, true = stamps.halo_id, stamps.log_m500c.astype(np.float64)
    image_pred = np.mean([p for p in preds.values()], axis=0)
    delta = image_pred - true
    per_image = with_bootstrap(fit_gaussian(delta, bin_width_dex), delta, halo_id, n_bootstrap, [*seed, 0])
    per_cluster = unc.per_cluster_fit(halo_id, true, image_pred, bin_width_dex, n_bootstrap, [*seed, 1])
    report = {"n_images": int(delta.size), "n_clusters": int(np.unique(halo_id).size), "folds_applied": n_folds,
              "members": members, "prediction": "mean over the source run's fold models and members",
              "per_image": per_image.to_dict(), "per_cluster": per_cluster}
    calibrations, missing = {}, []
    for k in range(n_folds):
        tables = [unc.read_member(source_store, k, m) for m in range(members)]
        if any(t.validation is None for t in tables):
            missing.append(k)
            continue
        calibrations[k] = unc.calibrate(unc.fold_clusters(tables, "validation"))
    if missing:
        report["uncertainty"] = {"not_done": f"source folds {missing} have no validation predictions (trained by an "
                                             "older xraymass): no calibration to carry over"}
        return report
    mus, variances = [], []
    for k in range(n_folds):
        c = unc.per_cluster(halo_id, true, [preds[(k, m)] for m in range(members)])
        mus.append(c.mean)
        variances.append(calibrations[k].sigma(c.raw_var) ** 2)
    mus, variances = np.array(mus), np.array(variances)
    mixture = unc.Clusters(c.halo_id, c.true, mus.mean(axis=0), np.zeros(c.true.size), np.zeros(c.true.size), members)
    sigma = np.sqrt(variances.mean(axis=0) + mus.var(axis=0))
    report["uncertainty"] = {"method": unc.METHOD_TEXT + "; equal mixture of the source folds, moment-matched",
                             "test": unc.scores(mixture, sigma, n_bootstrap, [*seed, 2]),
                             "calibration": {str(k): cal.to_dict() for k, cal in calibrations.items()}}
    return report


def in_domain(source: Path) -> dict | None:
    """The source run's own figures (its results/evaluate.json): per image, per cluster, uncertainty."""
    path = source / "results" / "evaluate.json"
    if not path.is_file():
        return None
    ev = json.loads(path.read_text())
    return {"per_image": ev["fits"]["all_folds"], "per_cluster": ev.get("per_cluster"),
            "uncertainty": (ev.get("uncertainty") or {}).get("test")}


def source_physics(store_path: Path):
    try:
        return (open_store(store_path)["stamps"].attrs.get("provenance") or {}).get("physics_data")
    except Exception:  # the record is informative only
        return None


def print_report(report: dict) -> None:
    """The in-domain vs out-of-domain table, one row per figure."""
    ind = report.get("in_domain") or {}
    unc_out = (report.get("uncertainty") or {}).get("test") or {}
    unc_in = ind.get("uncertainty") or {}
    rows = [("per-image sigma (dex)", (ind.get("per_image") or {}).get("sigma"), report["per_image"]["sigma"]),
            ("per-image mu (dex)", (ind.get("per_image") or {}).get("mu"), report["per_image"]["mu"]),
            ("per-cluster sigma (dex)", ((ind.get("per_cluster") or {}).get("fit") or {}).get("sigma"),
             report["per_cluster"]["fit"]["sigma"]),
            ("per-cluster mu (dex)", ((ind.get("per_cluster") or {}).get("fit") or {}).get("mu"),
             report["per_cluster"]["fit"]["mu"]),
            ("coverage 68%", unc_in.get("coverage_68"), unc_out.get("coverage_68")),
            ("coverage 95%", unc_in.get("coverage_95"), unc_out.get("coverage_95")),
            ("mean width 95% (dex)", unc_in.get("width_95_dex"), unc_out.get("width_95_dex")),
            ("CRPS (dex)", unc_in.get("crps_dex"), unc_out.get("crps_dex"))]
    print(f"evaluate: domain shift: models of {report['source_run']} on {report['n_clusters']} clusters "
          f"({report['n_images']} images) of this run")
    print(f"evaluate: {'':24s} {'in domain':>10s} {'this run':>10s}")
    for label, a, b in rows:
        print(f"evaluate: {label:24s} {_num(a):>10s} {_num(b):>10s}")
    if "not_done" in (report.get("uncertainty") or {}):
        print(f"evaluate: uncertainty not carried over: {report['uncertainty']['not_done']}")


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _finite(data):
    from .report import _finite as finite

    return finite(data)
