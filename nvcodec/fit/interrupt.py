"""Ctrl-C and SIGTERM during a fit: a flag checked between steps, so a checkpoint holds a
consistent state."""

from __future__ import annotations

import signal
import threading


class StopSignals:
    """Turn the first Ctrl-C (or SIGTERM, what `kill` and job schedulers send) into a flag
    checked between steps (a consistent state to checkpoint); a second one interrupts at
    once. Main thread only."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.hit = False
        self._old: dict = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except ValueError:  # pragma: no cover
                    pass
        return self

    def _handle(self, signum, frame) -> None:  # pragma: no cover - exercised manually
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


__all__ = ["StopSignals"]
