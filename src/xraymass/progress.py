"""Progress a person can read: a tqdm bar on a terminal, a periodic single line in batch logs."""
from __future__ import annotations

import sys
import time


class Progress:
    """Count done items of `total`. On a terminal: a tqdm bar; otherwise one line every `every` s:
    `[stage] done/total  rate/s  ETA`. Only the rank that creates it with enabled=True prints."""

    def __init__(self, stage: str, total: int, enabled: bool = True, every: float = 30.0, unit: str = "halo"):
        self.stage, self.total, self.enabled, self.every, self.unit = stage, total, enabled, every, unit
        self.done = 0
        self.start = self._last = time.monotonic()
        self._bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=stage, unit=unit)

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            print(self.line(now), file=sys.stderr, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left == left else "--:--:--"
        return f"[{self.stage}] {self.done}/{self.total} {self.unit}s  {rate:.3g}/s  ETA {eta}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
