"""Progress of a long phase on stderr, the way video tools show it.

On a terminal one line is redrawn in place; into a log or a pipe (stderr not a terminal)
each update is a plain line, at most one per `log_every_s`, so that a CI log holds every
update once and nothing else (a redrawing bar written to a file repeats itself). Disabled
(`-q`), it writes nothing. The text of an update is the caller's; `bar` and `eta` format the
two parts every phase shares.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

_ERASE = "\r\x1b[K"


def bar(fraction: float, width: int = 20) -> str:
    """`[#######-------------]` for a fraction in [0, 1]."""
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def eta(elapsed: float, fraction: float) -> str:
    """`~12 s left` from the time so far and the fraction done ('' before there is a rate)."""
    if fraction <= 0 or fraction >= 1:
        return ""
    left = elapsed * (1 - fraction) / fraction
    return f"~{left:.0f} s left" if left < 120 else f"~{left / 60:.0f} min left"


class ProgressLine:
    def __init__(self, label: str, *, enabled: bool = True, stream: TextIO | None = None,
                 log_every_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.enabled = label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.log_every_s, self.clock = log_every_s, clock
        self.tty = enabled and _is_terminal(self.stream)
        self._last_logged: float | None = None
        self._pending = ""
        self._drawn = False

    def update(self, text: str, force: bool = False) -> None:
        """The phase's state now; a log only gets it when `log_every_s` has passed (or `force`)."""
        if not self.enabled:
            return
        line = f"{self.label}: {text}"
        if self.tty:
            self._write(_ERASE + line)
            self._drawn = True
            return
        now = self.clock()
        if force or self._last_logged is None or now - self._last_logged >= self.log_every_s:
            self._write(line + "\n")
            self._last_logged, self._pending = now, ""
        else:
            self._pending = line

    def close(self, text: str | None = None) -> None:
        """End the phase: its final state, once (a terminal's line is erased when there is none)."""
        if not self.enabled:
            return
        if text is not None:
            line = f"{self.label}: {text}"
            self._write((_ERASE + line + "\n") if self.tty else line + "\n")
        elif self.tty and self._drawn:
            self._write(_ERASE)
        elif self._pending:
            self._write(self._pending + "\n")
        self._drawn, self._pending = False, ""

    def _write(self, s: str) -> None:
        self.stream.write(s)
        self.stream.flush()

    def __enter__(self) -> "ProgressLine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
