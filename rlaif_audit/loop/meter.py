"""Wall time and peak memory of one loop stage (resident memory sampled in a thread; CUDA peak from torch)."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Any

SAMPLE_EVERY_S = 0.1


def _rss_bytes() -> int:
    """This process's resident memory now, in bytes."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def _cuda_reset() -> None:
    """Reset torch's CUDA peak counter (only when torch is already imported and a GPU is there)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _cuda_peak_mb() -> float | None:
    """Peak CUDA memory allocated since the reset, in MiB; None without torch or a GPU."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


class StageMeter:
    """Measures a ``with`` block: seconds, peak resident memory (MiB) and peak CUDA memory (MiB)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.seconds = 0.0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rlaif-audit-meter", daemon=True)

    def _sample(self) -> None:
        """Sample resident memory until the block ends."""
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.peak_rss = max(self.peak_rss, _rss_bytes())

    def __enter__(self) -> StageMeter:
        _cuda_reset()
        self.peak_rss = _rss_bytes()
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, _rss_bytes())
        self.seconds = time.perf_counter() - self.started

    def stats(self) -> dict[str, Any]:
        """Seconds, peak RSS and peak CUDA memory, rounded, as recorded in the stage marker."""
        return {
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "peak_cuda_mb": None if (peak := _cuda_peak_mb()) is None else round(peak, 1),
        }
