"""Science benchmark: the whole chain at the paper's population size, both stopping rules.

    python benchmarks/science.py [--quick] [--config pipeline/science.yaml] [--ranks 2] [--set K=V --tag NAME]
    make science                     # the full benchmark (pipeline/science.yaml, runs/science)
    make science-multiband           # the same with three energy bands as channels, runs/science-multiband
    make science-bf16                # trained in mixed bfloat16 on make science's stamps, runs/science-bf16

Runs the `xraymass` stages one after the other on this machine (no SLURM): halos, mocks
(`mpirun -np RANKS`, or one process with --ranks 1), stamps, train for each fold, evaluate with
the baseline. Then prints the CNN's scatter, the core-excised L_X scatter on the same clusters,
their ratio with its bootstrap interval, and each fold's kept epoch under each rule.

Both rules come from one training per fold. The folds are trained with the config's rule
("patience"); the paper's rule keeps the first epoch that meets its criteria, which never comes
after the patience rule's first eligible epoch, so its kept epoch lies on the same trajectory and
its checkpoint is pinned (train/fold_KK/checkpoints/pinned). The paper rule's run directory,
<run>/paper_rule/, shares the upstream store (halos, events, stamps: symlinks into <run>/store.zarr)
and has its own `predictions/` and results: `xraymass train --set train.rule=paper` on a copy of
each fold's checkpoints decides the paper rule's epoch from the copied history, restores that
epoch's pinned weights and writes its test predictions; `xraymass evaluate --with-baseline` then
runs on it as on the main run.

    <run>/results/summary.json               rule "patience" (the config's)
    <run>/paper_rule/results/summary.json    rule "paper"
    <run>/benchmark.json                     stage times, kept epochs, the figures printed

--quick: 30 clusters and 3 epochs in <run>-quick, to check the chain end to end in minutes.
--set SECTION.KEY=VALUE (repeatable) with --tag NAME: every stage with those overrides, in <run>-NAME, to
compare one switch against the benchmark (e.g. multi-band stamps against the single band); the two
runs' benchmark.json hold the figures side by side. When every switch is a training one (model.*, train.*;
e.g. `make science-bf16`: model.precision=mixed_bfloat16) and <run>'s stamps are complete, <run>-NAME
takes <run>'s halos, events and stamps (symlinks, as paper_rule does) and runs only train and evaluate:
both runs predict the same test images, and its benchmark.json adds `against_base`, for each rule the
change of the MLE sigma (per image and per cluster) from <run> to <run>-NAME with a paired cluster
bootstrap interval, and whether the new sigma lies within <run>'s own 95% interval. Running the same
command again resumes (complete folds are skipped, a fold resumes from its latest checkpoint).
--compare BASE OTHER: only that paired comparison, of two finished runs whose folds tested the same images
(e.g. runs/science and runs/science-ptsrc: the same clusters, views and folds), written to
OTHER/against-<BASE's name>.json. With --folds K,L,...: on those folds' test images only (folds both runs
have finished, e.g. while a long run goes on), written to OTHER/against-<BASE's name>-folds-K-L.json.
--measure: the costs the full run's time rests on, in <run>-measure: the halos stage at full size,
the mocks stage on a sample of halos spread evenly in mass rank (wall time per halo with RANKS
ranks), and one fold's training epochs on a stamps store of the full size (Poisson images of
128x128, 24 per cluster: the cost does not depend on the counts); prints the worst-case estimate
(every fold trained to max_epochs). Stamps and evaluate times are scaled from a --quick run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
QUICK = {"synthetic.n_halos": "30", "train.max_epochs": "3", "train.patience": "1"}
TRAINING_SECTIONS = ("model", "train")  # switches that leave halos, events and stamps as they are
PAIRED_STREAM = 17                      # tags the paired bootstrap draws apart from evaluate's


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="pipeline/science.yaml", help="science config (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="30 clusters, 3 epochs, run directory <run>-quick")
    parser.add_argument("--ranks", type=int, default=2, help="MPI ranks of the mocks stage (1: no mpirun)")
    parser.add_argument("--measure", type=int, default=0, metavar="N",
                        help="measure the costs instead: mocks on N halos, 3 training epochs (see above)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value in every stage (repeatable; needs --tag)")
    parser.add_argument("--tag", default="", help="run directory <run>-TAG for a run with --set overrides")
    parser.add_argument("--compare", nargs=2, metavar=("BASE", "OTHER"),
                        help="only the paired comparison of two finished runs' scatter on the same test images")
    parser.add_argument("--folds", default="", metavar="K,L,...",
                        help="with --compare: only these folds' test images (default: every fold)")
    args = parser.parse_args(argv)
    if bool(args.overrides) != bool(args.tag):
        parser.error("--set and --tag go together: a changed run gets its own run directory")
    if args.folds and not args.compare:
        parser.error("--folds goes with --compare")
    try:
        folds = sorted({int(k) for k in args.folds.split(",")}) if args.folds else None
    except ValueError:
        parser.error(f"--folds {args.folds!r}: fold numbers separated by commas, e.g. 0,1,2")
    config = Path(args.config).resolve()
    compared = [Path(d).resolve() for d in args.compare or ()]
    os.chdir(REPO)  # run directories are relative to the repository, as for the stages
    if args.measure:
        return measure(config, args.measure, args.ranks)
    if args.compare:
        return compare(config, *compared, folds)

    data = yaml.safe_load(config.read_text())
    run_dir = Path(data["run"].get("directory") or Path("runs") / data["run"]["name"])
    sets = dict(QUICK) if args.quick else {}
    if args.quick:
        run_dir = run_dir.with_name(run_dir.name + "-quick")
    base_dir = run_dir
    if args.tag:
        run_dir = run_dir.with_name(f"{run_dir.name}-{args.tag}")
        sets.update(dict(item.split("=", 1) for item in args.overrides))
    shared = args.tag and shares_base(base_dir, run_dir, [item.split("=", 1)[0] for item in args.overrides])
    sets["run.directory"] = str(run_dir)
    n_folds = int(data["stamps"]["n_folds"])
    if data["train"].get("rule") != "patience":
        raise SystemExit(f"science: {config}: train.rule must be 'patience' (the paper rule is read from its trajectory)")
    paper_dir = run_dir / "paper_rule"
    times: dict[str, float] = {}
    started = time.monotonic()

    def stage(name: str, *extra: str, launcher: tuple[str, ...] = (), overrides: dict | None = None) -> None:
        every = {**sets, **(overrides or {})}
        command = [*launcher, sys.executable, *(("-m", "mpi4py") if launcher else ()), "-m", "xraymass", name,
                   "--config", str(config), *(a for k, v in every.items() for a in ("--set", f"{k}={v}")), *extra]
        label = " ".join([name, *extra]) + (" (paper rule)" if overrides else "")
        print(f"science: [{_clock(started)}] {label}", flush=True)
        t0 = time.monotonic()
        out = subprocess.run(command, cwd=REPO)
        times[label] = round(time.monotonic() - t0, 1)
        if out.returncode != 0:
            raise SystemExit(f"science: `{' '.join(command)}` failed with status {out.returncode}")

    if shared:
        share_upstream(base_dir, run_dir)
        print(f"science: {run_dir}/store.zarr: halos, events and stamps are {base_dir}'s (symlinks); "
              "only the training switches differ", flush=True)
    else:
        stage("halos")
        stage("mocks", launcher=mpirun(args.ranks))
        stage("stamps")
    members = int(yaml.safe_load(sets.get("train.members", "null")) or data["train"].get("members", 1))
    for task in range(n_folds * members):  # task t: fold t // members, member t % members (member 0 = the fold)
        stage("train", "--task", str(task))
    stage("evaluate", "--with-baseline")

    share_upstream(run_dir, paper_dir)
    paper = {"run.directory": str(paper_dir), "train.rule": "paper"}
    for fold in range(n_folds):
        copy_checkpoints(run_dir, paper_dir, fold)
        stage("train", "--fold", str(fold), overrides=paper)
    stage("evaluate", "--with-baseline", overrides=paper)

    rules = {"patience": run_dir, "paper": paper_dir}
    report = {"settings": settings(data, sets, args), "stage_seconds": times,
              "total_minutes": round((time.monotonic() - started) / 60, 1), "rules": {}}
    for rule, directory in rules.items():
        report["rules"][rule] = {"run_directory": str(directory), "kept_epochs": kept_epochs(directory, n_folds, rule),
                                 "figures": figures(directory / "results" / "summary.json")}
    if shared:
        report["against_base"] = {"switches": dict(item.split("=", 1) for item in args.overrides),
                                  **against_base(data, base_dir, rules)}
    (run_dir / "benchmark.json").write_text(json.dumps(report, indent=1) + "\n")
    print_report(report, run_dir)
    return 0


def shares_base(base_dir: Path, run_dir: Path, keys: list[str]) -> bool:
    """Whether a --tag run takes the base run's halos, events and stamps (symlinks) instead of making its own:
    its switches are training ones only, the base run's stamps are complete, and the tag run has no store of
    its own yet (one made by all the stages earlier stays so: its stages resume)."""
    from xraymass.layout import stamps_complete
    from xraymass.store import open_store

    if not all(key.split(".", 1)[0] in TRAINING_SECTIONS for key in keys):
        return False
    own = run_dir / "store.zarr"
    if own.exists() and not (own / "stamps").is_symlink():
        print(f"science: {own} has stamps of its own: every stage runs there", flush=True)
        return False
    base = base_dir / "store.zarr"
    if not ((base / "zarr.json").is_file() and stamps_complete(open_store(base))):
        if own.exists():
            raise SystemExit(f"science: {own} shares {base}'s stamps, which are not complete now; "
                             f"run `make science` for {base_dir} first")
        print(f"science: {base} has no complete stamps: every stage runs in {run_dir}", flush=True)
        return False
    return True


def paired_change(base_dir: Path, run_dir: Path, n_folds: int, n_bootstrap: int, seed: list,
                  folds: list[int] | None = None) -> dict:
    """How the CNN's scatter changes from the base run to this one, on the same test images (per image) and
    clusters (per cluster: the mean of the views' log M), by a paired cluster bootstrap
    (xraymass.analysis.metrics.paired_sigma_change); on the test images of `folds` only when given."""
    import numpy as np

    from xraymass.analysis.metrics import paired_sigma_change
    from xraymass.analysis.predictions import load_predictions
    from xraymass.analysis.uncertainty import per_cluster

    from xraymass.errors import XraymassError

    try:
        base, other = (load_predictions(d / "store.zarr", n_folds, folds) for d in (base_dir, run_dir))
    except XraymassError as e:  # e.g. the base run stopped before its paper rule: rerun it, then this (it resumes)
        return {"run_directory": str(run_dir), "base_directory": str(base_dir), "not_done": str(e)}
    for name in ("halo_id", "projection", "augmentation", "log_m500c_true", "fold"):
        if not np.array_equal(getattr(base, name), getattr(other, name)):
            raise SystemExit(f"science: {run_dir} and {base_dir}: the predictions' {name} differ; "
                             "a paired comparison needs the same test images")
    clusters = [per_cluster(p.halo_id, p.log_m500c_true, [p.log_m500c_pred]) for p in (base, other)]
    return {"run_directory": str(run_dir), "base_directory": str(base_dir),
            "folds": "all" if folds is None else folds,
            "per_image": paired_sigma_change(base.delta, other.delta, base.halo_id, n_bootstrap, [*seed, 0]),
            "per_cluster": paired_sigma_change(clusters[0].residual, clusters[1].residual, clusters[0].halo_id,
                                               n_bootstrap, [*seed, 1])}


def against_base(data: dict, base_dir: Path, rules: dict[str, Path], folds: list[int] | None = None) -> dict:
    """For each rule (its run directory in `rules`), the paired change from the base run's same rule."""
    n_folds, n_boot = int(data["stamps"]["n_folds"]), int(data["evaluate"].get("n_bootstrap", 1000))
    return {"base_run": str(base_dir),
            "rules": {rule: paired_change(base_dir / ("paper_rule" if rule == "paper" else ""), directory, n_folds,
                                          n_boot, [int(data["run"]["seed"]), PAIRED_STREAM], folds)
                      for rule, directory in rules.items()}}


def compare(config: Path, base_dir: Path, other_dir: Path, folds: list[int] | None = None) -> int:
    """--compare: print the paired comparison of two finished runs (on `folds` only when given) and write
    OTHER/against-<BASE's name>[-folds-K-L...].json."""
    data = yaml.safe_load(config.read_text())
    n_folds = int(data["stamps"]["n_folds"])
    if folds and not all(0 <= k < n_folds for k in folds):
        raise SystemExit(f"science: --folds {','.join(map(str, folds))}: {config} has folds 0 to {n_folds - 1}")
    against = against_base(data, base_dir, {"patience": other_dir, "paper": other_dir / "paper_rule"}, folds)
    print_against(against)
    part = f"-folds-{'-'.join(map(str, folds))}" if folds else ""
    out = other_dir / f"against-{base_dir.name}{part}.json"
    out.write_text(json.dumps(against, indent=1) + "\n")
    print(f"written: {out}")
    return 0


def measure(config: Path, n_sample: int, ranks: int) -> int:
    """Per-halo mocks and per-epoch training costs at the config's settings (see the module docstring)."""
    import numpy as np
    import zarr

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_train import write_store

    data = yaml.safe_load(config.read_text())
    run_dir = Path("runs") / (data["run"]["name"] + "-measure")
    if run_dir.exists():
        shutil.rmtree(run_dir)
    base = [sys.executable, "-m", "xraymass"]
    common = ["--config", str(config), "--set", f"run.directory={run_dir}"]

    cpu = {}

    def timed(command, name):
        """Wall seconds of the command; its CPU seconds (user + system, all its processes) in cpu[name]."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        if subprocess.run(command, cwd=REPO).returncode != 0:
            raise SystemExit(f"science: `{' '.join(command)}` failed")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[name] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return time.monotonic() - t0

    n_halos = int(data["synthetic"]["n_halos"])
    t_halos = timed([*base, "halos", *common], "halos")
    halos = zarr.open_group(str(run_dir / "store.zarr"), path="halos", mode="r", use_consolidated=False)
    order = np.argsort(np.asarray(halos["log_m500c"][:]))
    ids = np.asarray(halos["halo_id"][:])[order[np.linspace(0, n_halos - 1, n_sample).round().astype(int)]]
    launcher = list(mpirun(ranks))
    t_mocks = timed([*launcher, sys.executable, *(["-m", "mpi4py"] if launcher else []), "-m", "xraymass", "mocks",
                     *common, "--halos", ",".join(str(int(i)) for i in ids)], "mocks")
    per_halo = t_mocks / n_sample

    train_dir = run_dir / "train_cost"
    write_store(train_dir / "store.zarr", n_halos, int(data["stamps"]["npix"]))
    epochs = 3
    t0 = time.time()
    t_train = timed([*base, "train", "--config", str(config), "--set", f"run.directory={train_dir}",
                     "--set", f"train.max_epochs={epochs}", "--set", "train.max_abs_delta=0",
                     "--set", f"train.checkpoints_kept={epochs + 1}", "--fold", "0"], "train")
    written = [p.stat().st_mtime for p in sorted((train_dir / "train" / "fold_00" / "checkpoints")
                                                 .glob("history-*.json"))]
    per_epoch = float(np.min(np.diff([t0, *written])))  # the least disturbed epoch (the first includes start-up)
    startup = t_train - epochs * per_epoch               # start-up, data checks, test predictions, model save
    max_epochs, n_folds = int(data["train"]["max_epochs"]), int(data["stamps"]["n_folds"])
    parts = {"halos_s": t_halos, "mocks_s_per_halo": per_halo, "mocks_s": per_halo * n_halos,
             "train_s_per_epoch": per_epoch, "train_s_startup_per_fold": startup,
             "train_s_worst_case": n_folds * (startup + max_epochs * per_epoch),
             "paper_rule_train_s": n_folds * startup,
             "cpu_s_mocks_per_halo": cpu["mocks"] / n_sample, "cpu_s_train_3_epochs": cpu["train"]}
    load = os.getloadavg()
    result = {"config": str(config), "n_halos": n_halos, "sampled_halos": [int(i) for i in ids],
              "mock_ranks": ranks, "particles_per_halo": data["synthetic"]["particles_per_halo"],
              "max_epochs": max_epochs, "load_average_1_5_15_min_at_end": [round(x, 2) for x in load],
              "cores": os.cpu_count(), **{k: round(v, 1) for k, v in parts.items()}}
    (run_dir / "measure.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print("(add stamps, baseline and two evaluate runs, scaled from a --quick run's stage times)")
    return 0


def mpirun(ranks: int) -> tuple[str, ...]:
    if ranks <= 1:
        return ()
    root = ("--allow-run-as-root",) if os.geteuid() == 0 else ()
    return ("mpirun", *root, "--oversubscribe", "-np", str(ranks))


def share_upstream(run_dir: Path, paper_dir: Path) -> None:
    """<run>/paper_rule: a store whose groups other than predictions/ are symlinks into <run>/store.zarr."""
    store, shared = run_dir / "store.zarr", paper_dir / "store.zarr"
    shared.mkdir(parents=True, exist_ok=True)
    root = json.loads((store / "zarr.json").read_text())
    root.pop("consolidated_metadata", None)  # a snapshot of the other store's groups: never read through here
    (shared / "zarr.json").write_text(json.dumps(root, indent=2))
    for entry in store.iterdir():
        if entry.name in ("zarr.json", "predictions") or (shared / entry.name).exists():
            continue
        (shared / entry.name).symlink_to(os.path.relpath(entry, shared))
    physics = run_dir / "physics"
    if physics.exists() and not (paper_dir / "physics").exists():
        (paper_dir / "physics").symlink_to(os.path.relpath(physics, paper_dir))


def copy_checkpoints(run_dir: Path, paper_dir: Path, fold: int) -> None:
    source = run_dir / "train" / f"fold_{fold:02d}" / "checkpoints"
    target = paper_dir / "train" / f"fold_{fold:02d}" / "checkpoints"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)


def kept_epochs(directory: Path, n_folds: int, rule: str) -> list[dict]:
    """Per fold: the kept epoch, whether the criteria were met, epochs trained, and the kept row."""
    rows = []
    for fold in range(n_folds):
        with open(directory / "train" / f"fold_{fold:02d}" / "history.csv") as f:
            history = list(csv.DictReader(f))
        kept = next(r for r in history if r["kept"] == "1")
        met = kept["eligible" if rule == "patience" else "met"] == "1"
        rows.append({"fold": fold, "kept_epoch": int(kept["epoch"]), "criteria_met": met, "epochs_trained": len(history),
                     "val_loss": float(kept["val_loss"]), "slope": float(kept["slope"]),
                     "span_ratio": float(kept["span_ratio"])})
    return rows


def figures(path: Path) -> dict:
    """CNN and L_X scatter and their ratio from summary.json: `baseline.cnn_vs_lx` when the analysis
    writes it, else what the evaluate and baseline parts hold (labelled as such)."""
    summary = json.loads(path.read_text())
    baseline = summary.get("baseline", {})
    if "cnn_vs_lx" in baseline:
        return {"source": "baseline.cnn_vs_lx", **baseline["cnn_vs_lx"]}
    same = baseline.get("cnn_same_clusters") or {}
    levels = [{"r500c_error": lv.get("r500c_error"), "lx_sigma_dex": lv.get("sigma"),
               "ratio": lv.get("cnn_to_lx_ratio")} for lv in baseline.get("levels", [])]
    all_folds = summary.get("evaluate", {}).get("fits", {}).get("all_folds", {})
    return {"source": "evaluate.fits.all_folds and baseline.cnn_same_clusters/levels (histogram fit, no interval)",
            "cnn_sigma_dex_all_folds": all_folds.get("sigma"), "cnn_sigma_dex_same_clusters": same.get("sigma"),
            "clusters": same.get("n_clusters"), "lx_levels": levels}


def settings(data: dict, sets: dict, args) -> dict:
    def value(key):
        section, name = key.split(".")
        return sets.get(key, data[section][name])
    return {"config": args.config, "quick": args.quick, "mock_ranks": args.ranks,
            **{k: value(k) for k in ("synthetic.n_halos", "synthetic.particles_per_halo", "mocks.nbins",
                                     "train.max_epochs", "train.rule", "train.patience", "train.min_span",
                                     "train.slope_fit", "stamps.n_folds")},
            "projections": len(data["mocks"]["projections"])}


def print_report(report: dict, run_dir: Path) -> None:
    s = report["settings"]
    print(f"\nscience benchmark: {run_dir} ({report['total_minutes']} min; {s['synthetic.n_halos']} clusters x "
          f"{s['projections']} projections, {s['synthetic.particles_per_halo']} particles per halo, "
          f"{s['stamps.n_folds']} folds, at most {s['train.max_epochs']} epochs)")
    for rule, part in report["rules"].items():
        f = part["figures"]
        print(f"\nrule {rule!r}  ({f['source']})")
        if f["source"] == "baseline.cnn_vs_lx":
            print(f"  clusters {f['clusters']}, estimator {f['estimator']}")
            print(f"  CNN sigma   {f['cnn_sigma_dex']:.4f} dex  95% {_ci(f['cnn_sigma_dex_ci95'])}")
            print(f"  L_X sigma   {f['lx_sigma_dex']:.4f} dex  95% {_ci(f['lx_sigma_dex_ci95'])}")
            print(f"  CNN / L_X   {f['ratio']:.3f}      95% {_ci(f['ratio_ci95'])}   (paper: 0.79)")
        else:
            print(f"  CNN sigma all folds {_g(f['cnn_sigma_dex_all_folds'])} dex; on the {f['clusters']} "
                  f"baseline clusters {_g(f['cnn_sigma_dex_same_clusters'])} dex")
            for lv in f["lx_levels"]:
                print(f"  R500c error {lv['r500c_error']}: L_X sigma {_g(lv['lx_sigma_dex'])} dex, "
                      f"CNN / L_X {_g(lv['ratio'])} (paper: 0.79)")
        print("  fold  kept epoch  met  epochs  val_loss   slope  span")
        for r in part["kept_epochs"]:
            print(f"  {r['fold']:4d}  {r['kept_epoch']:10d}  {'yes' if r['criteria_met'] else 'no ':3s}  "
                  f"{r['epochs_trained']:6d}  {r['val_loss']:.5f}  {r['slope']:.3f}  {r['span_ratio']:.3f}")
    if report.get("against_base"):
        print_against(report["against_base"])
    print(f"\nstage times [s]: {json.dumps(report['stage_seconds'])}")
    print(f"written: {run_dir / 'benchmark.json'}")


def print_against(against: dict) -> None:
    switches = f"switches {json.dumps(against['switches'])}" if "switches" in against else "the same test images"
    print(f"\nagainst {against['base_run']} ({switches}), MLE sigma, paired cluster bootstrap:")
    for rule, part in against["rules"].items():
        if "not_done" in part:
            print(f"  rule {rule!r:10s} not compared: {part['not_done']}")
            continue
        if part["folds"] != "all":
            print(f"  rule {rule!r:10s} on the test images of fold{'s' * (len(part['folds']) > 1)} "
                  f"{', '.join(map(str, part['folds']))} only "
                  f"({part['per_image']['n_clusters']} clusters)")
        for level in ("per_image", "per_cluster"):
            c = part[level]
            within = "yes" if c["within_base_interval"] else "no"
            print(f"  rule {rule!r:10s} {level:11s} base {c['sigma_base']:.4f} {_ci(c['sigma_base_ci95'])}  "
                  f"this {c['sigma_other']:.4f} {_ci(c['sigma_other_ci95'])}  difference {c['difference']:+.4f} "
                  f"{_ci(c['difference_ci95'])}  within base's interval: {within}")


def _ci(pair) -> str:
    return f"[{pair[0]:.4f}, {pair[1]:.4f}]" if pair else "n/a"


def _g(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _clock(started: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - started))


if __name__ == "__main__":
    sys.exit(main())
