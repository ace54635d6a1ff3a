"""`xraymass demo` (`make demo`): the whole chain on the embedded default, through the local SLURM.

    xraymass demo --config pipeline/demo.yaml

Starts the one-node SLURM of site_configs/local/ when no SLURM answers, submits the chain with
`xraymass submit` (halos -> mocks -> stamps -> train array -> evaluate) through the real job
scripts, waits with a progress line per change, then prints the results table and figure paths.
Running it again resumes: finished stages are not submitted again.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ..config import Config
from ..errors import XraymassError

POLL_S = 5.0
FINISHED_OK = {"COMPLETED"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", default="local", help="site to submit to (default: local, started if needed)")


def run(cfg: Config, args: argparse.Namespace) -> int:
    from ..sites.site import load_site, repository_home
    from .submit import job_exports, plan_chain, submit_chain

    started = time.monotonic()
    home = repository_home()
    ensure_slurm(home, args.site)
    site = load_site(args.site, home)
    steps = plan_chain(cfg)
    if steps:
        Path("logs").mkdir(exist_ok=True)
        print(f"demo: submitting {', '.join(s.stage for s in steps)} for {cfg.run_dir}", flush=True)
        submit_args = argparse.Namespace(overrides=args.overrides, dry_run=False, hold=False)
        ids = submit_chain(steps, site, home, job_exports(Path(args.config).resolve(), site, home), submit_args)
        wait_for_chain(dict(zip((s.stage for s in steps), ids)), started)
    print_results(cfg, time.monotonic() - started)
    return 0


def ensure_slurm(home: Path, site: str) -> None:
    """Use the SLURM that answers; for the local site, start the one-node cluster if none does."""
    if _sinfo_answers():
        return
    if site != "local":
        raise XraymassError("no SLURM answers here (sinfo fails); run the demo on a login node of the site")
    script = home / "site_configs" / "local" / "slurm.sh"
    env_line = subprocess.run(["bash", str(script), "env"], capture_output=True, text=True).stdout
    os.environ["SLURM_CONF"] = env_line.split("=", 1)[1].strip()  # jobs and clients below inherit it
    if _sinfo_answers():
        return
    print("demo: starting the local one-node SLURM (site_configs/local/slurm.sh start)", flush=True)
    out = subprocess.run(["bash", str(script), "start"], capture_output=True, text=True)
    if out.returncode != 0:
        raise XraymassError(f"could not start the local SLURM: {' '.join(out.stderr.split())}")


def _sinfo_answers() -> bool:
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def job_states(job_id: str) -> list[tuple[str, str, str]]:
    """(task id, state, reason) of each task of a job (an array has one per task); [] once SLURM forgets it."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True)
    tasks = []
    for line in out.stdout.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        task = fields.get("JobId", job_id) + (f"_{fields['ArrayTaskId']}" if "ArrayTaskId" in fields else "")
        tasks.append((task, fields.get("JobState", "UNKNOWN"), fields.get("Reason", "None")))
    return tasks


def wait_for_chain(jobs: dict[str, str], started: float) -> None:
    """Poll until every job has finished; print a line whenever a stage's state changes.

    A failed stage leaves its dependants pending forever (DependencyNeverSatisfied): they are
    cancelled and the failure is reported with the log to read."""
    last: dict[str, str] = {}
    while True:
        pending = False
        for stage, job in jobs.items():
            tasks = job_states(job)
            if not tasks:  # SLURM forgets finished jobs after MinJobAge: keep the last state seen
                continue
            summary = ",".join(sorted({state for _, state, _ in tasks}))
            if last.get(stage) != summary:
                last[stage] = summary
                print(f"demo: [{_clock(started)}] {stage:<9} job {job}: {summary}", flush=True)
            failed = [t for t, state, _ in tasks if state not in FINISHED_OK | {"PENDING", "RUNNING", "CONFIGURING",
                                                                                  "COMPLETING", "REQUEUED"}]
            never = any(reason == "DependencyNeverSatisfied" for _, _, reason in tasks)
            if failed or never:
                _cancel(jobs.values())
                raise XraymassError(f"the {stage} job {job} did not complete ({summary}); "
                                    f"see logs/xraymass-{stage}-{job}*.out")
            pending |= any(state not in FINISHED_OK for _, state, _ in tasks)
        if not pending:
            return
        time.sleep(POLL_S)


def _cancel(jobs) -> None:
    subprocess.run(["scancel", *jobs], capture_output=True)


def _clock(started: float) -> str:
    return time.strftime("%M:%S", time.gmtime(time.monotonic() - started))


def print_results(cfg: Config, elapsed: float) -> None:
    """The results table: CNN scatter and bias, best fold, CNN against L_X; then the figures."""
    results = cfg.run_dir / "results"
    summary_path = results / "summary.json"
    if not summary_path.is_file():
        raise XraymassError(f"{summary_path} is missing: the evaluate job did not write its results")
    summary = json.loads(summary_path.read_text())
    print(f"\nxraymass demo: results for {cfg.run_dir} (wall time {elapsed / 60:.1f} min)")
    print(results_table(summary))
    print(f"\nreport:  {results / 'report.md'}")
    for figure in sorted(results.glob("*.png")):
        print(f"figure:  {figure}")
    sys.stdout.flush()


def results_table(summary: dict) -> str:
    rows = [("sample", "sigma [dex]", "sigma [%]", "mu [dex]", "paper sigma, mu")]
    paper = {"all_folds": "0.051 (11.6%), -0.022", "all_folds_subset": "0.041 (9.6%), -0.036",
             "best_fold": "0.033 (7.7%), -0.027", "best_fold_subset": "0.025 (5.7%), -0.021"}
    evaluate = summary.get("evaluate", {})
    for key, fit in ((k, evaluate.get("fits", {}).get(k)) for k in paper):
        if fit:
            label = key.replace("_subset", ", 14.0<logM<14.5").replace("_", " ")
            if key.startswith("best"):
                label += f" ({evaluate['best_fold']})"
            rows.append((label, _f(fit.get("sigma"), ".3f"), _f(fit.get("sigma_percent"), ".1f"),
                         _f(fit.get("mu"), "+.3f"), paper[key]))
    cluster = (evaluate.get("per_cluster") or {}).get("fit")
    if cluster:
        rows.append(("per cluster (mean of views)", _f(cluster.get("sigma"), ".3f"), _f(cluster.get("sigma_percent"), ".1f"),
                     _f(cluster.get("mu"), "+.3f"), "(not in the paper)"))
    test = (evaluate.get("uncertainty") or {}).get("test")
    if test:
        rows.append(("coverage of 68% / 95% intervals", f"{100 * test['coverage_68']:.0f}% / {100 * test['coverage_95']:.0f}%",
                     "", "", f"width 95%: {test['width_95_dex']:.3f} dex, CRPS {test['crps_dex']:.4f} dex"))
    for level in summary.get("baseline", {}).get("levels", []):
        ratio = level.get("cnn_to_lx_ratio")
        rows.append((f"core-excised L_X, {100 * level['r500c_error']:g}% R500c error",
                     _f(level.get("sigma"), ".3f"), _f(level.get("sigma_percent"), ".1f"), "",
                     "14.6% (3%), 22.2% (5%)" if level["r500c_error"] else "")
                    + ((f"CNN/L_X = {ratio:.2f}",) if ratio else ()))
    widths = [max(len(str(r[i])) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def _f(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)
