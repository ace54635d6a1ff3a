"""Each site's machine as its documentation describes it, for the site emulator (tests/site_emulator.py).

Node counts are the few nodes a chain needs, not the machine's thousands; sizes, partitions, time
limits, QOS, GPUs and features follow the pages cited (the same pages as the site's site.yaml).
A site without an entry here gets `derived_layout`: partitions and node sizes read from its own
site.yaml (nothing to compare against but SLURM's own consistency checks).
"""
from __future__ import annotations

import os
import re

from site_emulator import Layout, NodeType, Partition

GB = 1024  # MB

LAYOUTS: dict[str, Layout] = {
    "local": Layout(
        "local", "site_configs/local/slurm.sh (this machine)",
        (NodeType("local", 1, os.cpu_count() or 2, 20 * GB),),
        (Partition("debug", ("local",), "INFINITE", default=True),),
        require_account=False, mpi_default="none"),
    "generic": Layout(
        "generic", "a typical GPU cluster (the template's own values)",
        (NodeType("gpu", 2, 32, 256 * GB, gpus=4),),
        (Partition("batch", ("gpu",), "1-00:00:00", default=True),),
        require_account=False, mpi_default="pmix"),
    "perlmutter": Layout(
        "perlmutter", "https://docs.nersc.gov/jobs/policy/ ; https://docs.nersc.gov/systems/perlmutter/architecture/",
        (NodeType("nid0", 4, 256, 512 * GB, features=("cpu",)),  # 2x EPYC 7763, 2 threads per core
         NodeType("nid2", 2, 128, 256 * GB, gpus=4, features=("gpu",))),  # 1x EPYC 7763, 4x A100
        (Partition("regular", ("nid0", "nid2"), "2-00:00:00", default=True),),
        qos={"regular": 48 * 60, "shared": 48 * 60, "debug": 30, "preempt": 48 * 60}, default_qos="debug",
        mpi_default="cray_shasta"),
    "frontier": Layout(
        "frontier", "https://docs.olcf.ornl.gov/systems/frontier_user_guide.html",
        (NodeType("frontier", 4, 56, 512 * GB, gpus=8),),  # 56 usable cores, 8 GCDs
        (Partition("batch", ("frontier",), "02:00:00", default=True),  # 1-91 nodes: at most 2 h
         Partition("extended", ("frontier",), "1-00:00:00")),
        mpi_default="cray_shasta"),
    "alps": Layout(
        "alps", "https://docs.cscs.ch/clusters/daint/ ; https://docs.cscs.ch/alps/hardware/",
        (NodeType("nid", 2, 288, 480 * GB, gpus=4),),  # 4x GH200: 4x 72 cores, 4x H100
        (Partition("normal", ("nid",), "1-00:00:00", default=True),
         Partition("debug", ("nid",), "00:30:00")),
        mpi_default="cray_shasta"),
    "lumi": Layout(
        "lumi", "https://docs.lumi-supercomputer.eu/runjobs/scheduled-jobs/partitions/",
        (NodeType("nidc", 2, 128, 256 * GB),  # LUMI-C: 2x EPYC 7763
         NodeType("nidg", 1, 56, 480 * GB, gpus=8)),  # LUMI-G: 56 usable cores, 8 GCDs
        (Partition("small", ("nidc",), "3-00:00:00"),
         Partition("standard", ("nidc",), "2-00:00:00", exclusive=True),
         Partition("debug", ("nidc",), "00:30:00"),
         Partition("small-g", ("nidg",), "3-00:00:00"),
         Partition("standard-g", ("nidg",), "2-00:00:00", exclusive=True),
         Partition("dev-g", ("nidg",), "03:00:00")),
        mpi_default="cray_shasta"),
    "juwels-booster": Layout(
        "juwels-booster", "https://apps.fz-juelich.de/jsc/hps/juwels/configuration.html ; "
                          "https://apps.fz-juelich.de/jsc/hps/juwels/batchsystem.html",
        (NodeType("jwc", 4, 48, 96 * GB),  # JUWELS Cluster: 2x Xeon Platinum 8168
         NodeType("jwb", 1, 48, 512 * GB, gpus=4)),  # Booster: 2x EPYC 7402, 4x A100
        (Partition("batch", ("jwc",), "1-00:00:00"),
         Partition("devel", ("jwc",), "02:00:00"),
         Partition("booster", ("jwb",), "1-00:00:00"),
         Partition("develbooster", ("jwb",), "02:00:00")),
        mpi_default="pspmix"),
    "vista": Layout(
        "vista", "https://docs.tacc.utexas.edu/hpc/vista/#running",
        (NodeType("gg", 2, 144, 237 * GB),  # Grace-Grace
         NodeType("gh", 1, 72, 116 * GB, gpus=1)),  # Grace-Hopper, 1 H100 (not requested with --gres)
        (Partition("gg", ("gg",), "2-00:00:00"),
         Partition("gh", ("gh",), "2-00:00:00"),
         Partition("gh-dev", ("gh",), "02:00:00")),
        refuse_mem=True, require_nodes=True, mpi_default="pmix"),
}

# A site unlike the local one, as a new user of a strict centre meets it: other partition names and
# no default partition, short partition time limits, an account required, memory limited to what a
# node has (refused at submission), another default MPI plugin.
STRICT = Layout(
    "strict", "an emulated centre (acceptance test of docs/sites.md)",
    (NodeType("cn", 1, os.cpu_count() or 2, 6 * GB),),
    (Partition("short", ("cn",), "00:20:00"), Partition("long", ("cn",), "02:00:00")),
    require_account=True, mpi_default="pmi2")


def layout_for(site) -> Layout:
    return LAYOUTS.get(site.name) or derived_layout(site)


def derived_layout(site) -> Layout:
    """A machine that fits the site's own requests: its partitions, the largest node any stage asks for."""
    from xraymass.stages import CHAIN as STAGES

    cpus, memory, gpus, features, partitions, nodes = 2, 4 * GB, 0, set(), set(), 1
    for stage in STAGES:
        o = site.options[stage]
        per_node = int(o.get("ntasks-per-node", o.get("ntasks", 1)))
        cpus = max(cpus, per_node * int(o.get("cpus-per-task", 1)))
        memory = max(memory, _mb(o.get("mem", "0")), _mb(o.get("mem-per-cpu", "0")) * cpus)
        gpu = re.search(r"(\d+)$", str(o.get("gpus-per-node", o.get("gres", "0"))))
        gpus = max(gpus, int(gpu.group(1)) if gpu else 0)
        features |= set(re.findall(r"[A-Za-z0-9_]+", str(o.get("constraint", ""))))
        partitions |= set(str(o.get("partition", "")).split(",")) - {""}
        nodes = max(nodes, int(str(o.get("nodes", 1)).split("-")[-1]))
    node = NodeType("node", nodes, cpus, memory + GB, gpus=gpus, features=tuple(sorted(features)))
    parts = tuple(Partition(p, ("node",), "7-00:00:00") for p in sorted(partitions)) or \
        (Partition("batch", ("node",), "7-00:00:00", default=True),)
    return Layout(site.name, "derived from its site.yaml", (node,), parts,
                  require_account=bool(site.cfg.slurm["account"]), mpi_default=site.cfg.mpi["srun_mpi"])


def _mb(value: str) -> int:
    found = re.fullmatch(r"(\d+)([KMGT]?)", str(value))
    if not found:
        return 0
    n, unit = int(found.group(1)), found.group(2) or "M"
    return {"K": n // 1024, "M": n, "G": n * 1024, "T": n * 1024 * 1024}[unit]
