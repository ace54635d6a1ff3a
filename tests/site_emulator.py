"""A site emulator: a SLURM of its own (state folder, ports) configured like a site's documented machine.

`Layout` describes a site as its documentation does: node types (cores, memory, GPUs, features),
partitions (nodes, time limit, default, whole-node), QOS with their time limits, and the site's
submission rules (an account required, --mem refused, -N required). `Emulator.load(layout)` writes
slurm.conf, gres.conf and a job_submit.lua from it and (re)starts slurmctld and one slurmd of its
own: the machine's node registers as the first node of the first node type; the other nodes are
declared only, which is enough for `sbatch --test-only` (SLURM plans on them) but not to run jobs.
The shared cluster of site_configs/local/slurm.sh is never touched: other ports, other state.

What is emulated and what is not: partition names, node counts and sizes (cores, memory, GPUs as
GRES, features for --constraint), time limits (partition MaxTime, EnforcePartLimits=ALL, per-QOS
limits in the Lua rules) and the rules of the submission filter are SLURM's own checks. QOS are
checked by the Lua filter (SLURM's QOS need its accounting database, which this emulator has not),
and memory is enforced at submission (a job asking more than a node has is refused), not by cgroups.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class NodeType:
    prefix: str
    count: int
    cpus: int
    memory_mb: int
    gpus: int = 0
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class Partition:
    name: str
    nodes: tuple[str, ...]  # node type prefixes
    max_time: str  # SLURM time, e.g. "2-00:00:00"
    default: bool = False
    exclusive: bool = False  # whole nodes only (OverSubscribe=EXCLUSIVE)


@dataclass(frozen=True)
class Layout:
    name: str
    source: str  # the documentation pages the layout comes from
    node_types: tuple[NodeType, ...]
    partitions: tuple[Partition, ...]
    qos: dict[str, int] = field(default_factory=dict)  # name: max minutes ({} = the site uses none)
    default_qos: str = ""
    require_account: bool = True
    refuse_mem: bool = False  # TACC: jobs asking --mem are refused
    require_nodes: bool = False  # TACC: -N is required
    mpi_default: str = "none"


class Emulator:
    """One SLURM instance of its own in `directory`, reconfigured per layout."""

    def __init__(self, directory: Path, ctld_port: int, slurmd_port: int):
        self.dir, self.ctld_port, self.slurmd_port = Path(directory), ctld_port, slurmd_port
        self.conf = self.dir / "slurm.conf"
        self.host = socket.gethostname().split(".")[0]
        self.layout: Layout | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def load(self, layout: Layout) -> None:
        """Write the layout's configuration and restart this instance's daemons with a clean state."""
        self.stop()
        for sub in ("spool", "state", "log", "gpus"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        subprocess.run(["rm", "-rf", str(self.dir / "state")], check=True)
        (self.dir / "state").mkdir()
        self._write(layout)
        env = self.env
        subprocess.run(["slurmctld", "-c"], env=env, check=True)
        subprocess.run(["slurmd"], env=env, check=True)
        self.layout = layout
        # every declared node answers through this machine's slurmd (NodeAddr): wait until all are idle
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=env, capture_output=True, text=True)
            states = dict(line.split() for line in set(out.stdout.splitlines()) if line.strip())
            if states and all(s.startswith(("idle", "mix", "alloc")) for s in states.values()):
                return
            for node, state in states.items():
                if state.startswith(("down", "drain", "inval")):
                    subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], env=env,
                                   capture_output=True)
            time.sleep(0.2)
        raise RuntimeError(f"the emulated {layout.name} did not come up: {self.dir / 'log'}")

    def stop(self) -> None:
        for daemon in ("slurmd", "slurmctld"):
            pid_file = self.dir / f"{daemon}.pid"
            if pid_file.is_file():
                try:
                    pid = int(pid_file.read_text().strip())
                    os.kill(pid, 15)
                    for _ in range(100):
                        os.kill(pid, 0)
                        time.sleep(0.05)
                except (ProcessLookupError, ValueError):
                    pass
                pid_file.unlink(missing_ok=True)

    def sbatch_test_only(self, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env, cwd=cwd, capture_output=True, text=True, timeout=60)

    # --- the files -------------------------------------------------------------------------

    def _node_names(self, node_type: NodeType, first: bool) -> list[str]:
        names = [f"{node_type.prefix}{i:04d}" for i in range(1, node_type.count + 1)]
        if first:
            names[0] = self.host  # the one node that registers: this machine, sized like the site's
        return names

    def _write(self, layout: Layout) -> None:
        d = self.dir
        lines = [
            f"ClusterName=emu{layout.name.replace('-', '')[:20]}", f"SlurmctldHost={self.host}",
            "AuthType=auth/munge", "CredType=cred/munge", "SlurmUser=root", "SlurmdUser=root",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory", f"MpiDefault={layout.mpi_default}",
            "ReturnToService=2", "SlurmdParameters=config_overrides", "GresTypes=gpu", "EnforcePartLimits=ALL",
            f"SlurmctldPort={self.ctld_port}", f"SlurmdPort={self.slurmd_port}",
            f"SlurmctldPidFile={d}/slurmctld.pid", f"SlurmdPidFile={d}/slurmd.pid", f"SlurmdSpoolDir={d}/spool",
            f"StateSaveLocation={d}/state", f"SlurmctldLogFile={d}/log/slurmctld.log",
            f"SlurmdLogFile={d}/log/slurmd.log", "JobCompType=jobcomp/none", "JobAcctGatherType=jobacct_gather/none",
            "MinJobAge=300", "MaxArraySize=1001", "JobSubmitPlugins=lua",
        ]
        gres, members = [], {}
        for i, nt in enumerate(layout.node_types):
            names = self._node_names(nt, first=(i == 0))
            members[nt.prefix] = names
            spec = f"CPUs={nt.cpus} RealMemory={nt.memory_mb} State=UNKNOWN"
            if nt.gpus:
                spec += f" Gres=gpu:{nt.gpus}"
                devices = []
                for k in range(nt.gpus):
                    dev = d / "gpus" / f"gpu{k}"
                    if not dev.exists():
                        os.mknod(dev, 0o600 | 0o020000, os.makedev(1, 3))  # a character device, like /dev/null
                    devices.append(str(dev))
                gres.append(f"NodeName={','.join(names)} Name=gpu File={','.join(devices)}")
            if nt.features:
                spec += f" Feature={','.join(nt.features)}"
            for name in names:
                addr = "" if name == self.host else f" NodeAddr={self.host}"
                lines.append(f"NodeName={name}{addr} {spec}")
        for p in layout.partitions:
            nodes = ",".join(n for prefix in p.nodes for n in members[prefix])
            lines.append(f"PartitionName={p.name} Nodes={nodes} MaxTime={p.max_time} State=UP"
                         + (" Default=YES" if p.default else "") + (" OverSubscribe=EXCLUSIVE" if p.exclusive else ""))
        (d / "slurm.conf").write_text("\n".join(lines) + "\n")
        (d / "gres.conf").write_text("\n".join(gres) + "\n")
        (d / "job_submit.lua").write_text(job_submit_lua(layout))


def job_submit_lua(layout: Layout) -> str:
    """The site's submission rules as SLURM's Lua filter: account, QOS and their limits, --mem, -N."""
    qos = ", ".join(f'["{k}"] = {v}' for k, v in layout.qos.items())
    return f"""-- emulated submission rules of {layout.name} (tests/site_emulator.py)
local site = "{layout.name}"
local qos_max_minutes = {{ {qos} }}
local use_qos = {str(bool(layout.qos)).lower()}
local default_qos = "{layout.default_qos}"

function slurm_job_submit(job_desc, part_list, submit_uid)
  if {str(layout.require_account).lower()} and (job_desc.account == nil or job_desc.account == "") then
    slurm.log_user(site .. ": every job must name a project: --account=<project>")
    return slurm.ESLURM_INVALID_ACCOUNT
  end
  if {str(layout.refuse_mem).lower()} and job_desc.pn_min_memory ~= nil and job_desc.pn_min_memory ~= slurm.NO_VAL64 then
    slurm.log_user(site .. ": do not request memory (--mem, --mem-per-cpu): jobs get whole nodes")
    return slurm.ERROR
  end
  if {str(layout.require_nodes).lower()} and (job_desc.min_nodes == nil or job_desc.min_nodes == slurm.NO_VAL) then
    slurm.log_user(site .. ": give the number of nodes (-N)")
    return slurm.ERROR
  end
  if use_qos then
    local q = job_desc.qos
    if q == nil or q == "" then q = default_qos end
    local limit = qos_max_minutes[q]
    if limit == nil then
      slurm.log_user(site .. ": no QOS '" .. tostring(q) .. "'")
      return slurm.ESLURM_INVALID_QOS
    end
    if job_desc.time_limit ~= nil and job_desc.time_limit ~= slurm.NO_VAL and job_desc.time_limit > limit then
      slurm.log_user(site .. ": QOS " .. q .. " allows at most " .. limit .. " minutes")
      return slurm.ESLURM_INVALID_TIME_LIMIT
    end
    job_desc.qos = nil  -- the emulator has no accounting database to hold QOS
  end
  return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  return slurm.SUCCESS
end

return slurm.SUCCESS
"""
