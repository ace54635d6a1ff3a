"""The whole chain of stages on SLURM: `xraymass submit` (submit.py) and `xraymass demo` (demo.py)."""
