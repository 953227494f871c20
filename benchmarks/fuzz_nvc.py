"""Structure-aware fuzzing of the .nvc decoder: only NvcodecError may ever escape.

    python -m benchmarks.fuzz_nvc --cases 10000 --seed 0 [--base file.nvc] [--timeout 10]

Each case mutates a small valid .nvc file (built once from the bundled sample clip,
4 frames, 3 fitting steps, unless --base is given) with one structure-aware mutation
(see nvc_mutations.MUTATIONS: bit flips with and without CRC repair, truncation at and
around every chunk boundary, inflated length fields, swapped / duplicated / missing
chunks, header fields, the configuration (MCFB members, or hostile MCFG JSON), grid and
weight payload fields, random bytes, ...), then runs the library's decoding path on it in a
worker subprocess:

    read_container -> model_codec.model_from_container -> render one frame, and api.info

A case ends as one of: ``accepted`` (decoded), ``refused`` (an NvcodecError subclass),
``other`` (any other exception: a bug), ``timeout`` (over --timeout seconds; the worker
is killed and restarted) or ``crash`` (the worker died, e.g. a segfault in a native
library). ``other``, ``timeout`` and ``crash`` must all be 0; the exit status is 1
otherwise. The slowest case and the worker's peak RSS are reported too.

The file layout and the mutations are in benchmarks/nvc_mutations.py, shared with
tests/hardening/test_fuzz_nvc.py, which runs a bounded number of them in-process through
hypothesis; this module is the driver (the decoding path, the base file, the workers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from .nvc_mutations import case_bytes, split

# --------------------------------------------------------------------------- the decoding path

#: frames are rendered at most this large (the model is resolution-free; a hostile header
#: may declare 16384x16384, which is a legitimate if expensive request, not a parser bug)
RENDER_MAX_PIXELS = 96 * 72


def decode_path(data: bytes, scratch: Path) -> str:
    """Run the library path on `data`; returns 'accepted' or raises what it raises."""
    from nvcodec import api
    from nvcodec.bitstream import read_container
    from nvcodec.compress import model_codec
    from nvcodec.render import render_frame

    container = read_container(data, known_types=model_codec.KNOWN_TYPES)
    model = model_codec.model_from_container(container, "cpu")
    h = container.header
    s = min(1.0, math.sqrt(RENDER_MAX_PIXELS / (h.width * h.height)))
    w, hh = max(1, int(h.width * s)), max(1, int(h.height * s))
    rgb = render_frame(model, float(h.frames - 1) / 2, w, hh)
    if rgb.shape != (hh, w, 3) or not (rgb >= 0).all() or not (rgb <= 1).all():
        raise AssertionError(f"render_frame returned {rgb.shape} {rgb.dtype} out of [0, 1]")
    scratch.write_bytes(data)
    info = api.info(scratch)
    if info["width"] != h.width or info["frames"] != h.frames:
        raise AssertionError("api.info disagrees with the container header")
    return "accepted"


def classify(data: bytes, scratch: Path) -> tuple[str, str]:
    """(outcome, detail) of one case, in-process."""
    from nvcodec.errors import NvcodecError

    try:
        return decode_path(data, scratch), ""
    except NvcodecError as e:
        return "refused", f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - the point: anything else is a bug
        return "other", f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------- base file

def build_base(path: Path) -> bytes:
    """A small valid .nvc: 4 frames of the bundled clip, 3 fitting steps on the CPU (a few seconds)."""
    import torch

    from nvcodec import api
    from nvcodec.model import presets
    from nvcodec.video import sample_clip_path

    torch.set_num_threads(1)  # one thread is much faster on a shared 2-core machine
    api.encode(sample_clip_path(), path, api.EncodeOptions(bpp=0.3, steps=3, progress=False, frame_range=(0, 4),
                                                           overwrite=True, device="cpu",
                                                           model_template=presets.paper()))
    return path.read_bytes()


# --------------------------------------------------------------------------- worker / driver

def _worker(base_path: str, seed: int) -> None:
    """Read case indices on stdin, answer one JSON line per case on stdout."""
    import torch

    torch.set_num_threads(1)
    base = Path(base_path).read_bytes()
    scratch = Path(tempfile.mkdtemp(prefix="nvcfuzz")) / "case.nvc"
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write on the answer channel
    classify(base, scratch)  # warm up (imports, first-call costs) before anything is timed
    for line in sys.stdin:
        i = int(line)
        kind, data = case_bytes(base, seed, i)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        outcome, detail = classify(data, scratch)
        dt = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out.write(json.dumps({"i": i, "kind": kind, "outcome": outcome, "detail": detail[:300], "seconds": dt,
                              "rss_kb": rss, "rss_grew_kb": rss - rss0, "size": len(data)}) + "\n")
        out.flush()


class _Worker:
    def __init__(self, base_path: Path, seed: int) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fuzz_nvc", "--worker", "--base", str(base_path), "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=root,
            text=True, bufsize=1)

    def run(self, i: int, timeout: float) -> dict | None:
        """The worker's answer, or None on timeout/crash (the caller then restarts it)."""
        assert self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(f"{i}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def run(cases: int, seed: int, base_path: Path, timeout: float, start_timeout: float = 120.0,
        log: Callable[[str], None] = print, show_refusals: int = 0) -> dict:
    counts: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    bad: list[dict] = []
    slowest: dict | None = None
    peak_rss = 0
    biggest_growth: dict | None = None
    worker = _Worker(base_path, seed)
    first = True
    t0 = time.perf_counter()
    for i in range(cases):
        res = worker.run(i, start_timeout if first else timeout)
        if res is None:
            code = worker.proc.poll()
            outcome = "timeout" if code is None else "crash"
            kind, data = case_bytes(base_path.read_bytes(), seed, i)
            res = {"i": i, "kind": kind, "outcome": outcome, "seconds": timeout if outcome == "timeout" else None,
                   "detail": "" if code is None else f"worker exit status {code}", "size": len(data)}
            worker.kill()
            worker = _Worker(base_path, seed)
            first = True
        else:
            first = False
            peak_rss = max(peak_rss, res["rss_kb"])
            if biggest_growth is None or res["rss_grew_kb"] > biggest_growth["rss_grew_kb"]:
                biggest_growth = res
        counts[res["outcome"]] += 1
        by_kind.setdefault(res["kind"].split("+")[0], Counter())[res["outcome"]] += 1
        if res["outcome"] in ("other", "timeout", "crash"):
            bad.append(res)
            log(f"case {i} ({res['kind']}): {res['outcome']}: {res.get('detail', '')}")
        elif res["outcome"] == "refused" and show_refusals:
            show_refusals -= 1
            log(f"case {i} ({res['kind']}): refused: {res['detail']}")
        if res.get("seconds") is not None and (slowest is None or res["seconds"] > slowest["seconds"]):
            slowest = res
        if (i + 1) % 500 == 0:
            log(f"... {i + 1}/{cases} cases, {dict(counts)}, {time.perf_counter() - t0:.0f} s")
    worker.kill()
    return {"cases": cases, "seed": seed, "counts": {k: counts.get(k, 0) for k in
                                                     ("accepted", "refused", "other", "timeout", "crash")},
            "by_mutation": {k: dict(v) for k, v in sorted(by_kind.items())}, "failures": bad,
            "slowest": slowest, "peak_rss_mb": round(peak_rss / 1024, 1),
            "largest_rss_growth": biggest_growth, "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base", type=Path, help="valid .nvc to mutate (default: built from the sample clip)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--show-refusals", type=int, default=0, help="print the first N refusal messages")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        _worker(str(a.base), a.seed)
        return 0
    tmp = None
    if a.base is None:
        tmp = tempfile.TemporaryDirectory(prefix="nvcfuzz")
        a.base = Path(tmp.name) / "base.nvc"
        print("building the base file from the sample clip ...", file=sys.stderr, flush=True)
        build_base(a.base)
    split(a.base.read_bytes())  # a malformed base is a usage error
    summary = run(a.cases, a.seed, a.base, a.timeout, log=lambda m: print(m, file=sys.stderr, flush=True),
                  show_refusals=a.show_refusals)
    if a.json:
        print(json.dumps(summary, indent=1))
    else:
        c = summary["counts"]
        print(f"{summary['cases']} cases (seed {summary['seed']}) in {summary['seconds']} s: "
              f"accepted {c['accepted']}, refused with NvcodecError {c['refused']}, other exception {c['other']}, "
              f"timeouts {c['timeout']}, crashes {c['crash']}")
        for kind, cnt in summary["by_mutation"].items():
            print(f"  {kind:18s} {dict(cnt)}")
        s = summary["slowest"]
        if s:
            print(f"slowest case: #{s['i']} ({s['kind']}) {s['outcome']} in {s['seconds']:.2f} s")
        g = summary["largest_rss_growth"]
        print(f"worker peak RSS {summary['peak_rss_mb']} MB"
              + (f"; largest growth {g['rss_grew_kb'] / 1024:.0f} MB at case #{g['i']} ({g['kind']})" if g else ""))
        for f in summary["failures"][:20]:
            print(f"FAIL #{f['i']} ({f['kind']}): {f['outcome']}: {f.get('detail', '')}")
    if tmp is not None:
        tmp.cleanup()
    bad = summary["counts"]
    return 1 if bad["other"] or bad["timeout"] or bad["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
