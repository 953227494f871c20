"""Helpers every benchmark shares: clips, machine description, result files, CLI bits.

Each benchmark writes into one results folder: `<name>.csv` (one row per measurement),
`<name>.md` (a Markdown table plus the run's settings), `meta.json` (machine, commit,
settings) and PNG plots. Nothing here measures anything. A benchmark refuses to run from a
working tree with uncommitted changes (or outside git): its figures would name no commit that
reproduces them. `--allow-dirty` runs anyway and records `"dirty": true` in meta.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
#: the shared clips beside the checkout (`../shared/clips` from the repository root)
DEFAULT_CLIPS_DIR = REPO_ROOT.parent / "shared" / "clips"


# ------------------------------------------------------------------ clips

def find_clips(names: Sequence[str], clips_dir: Path = DEFAULT_CLIPS_DIR) -> list[Path]:
    """Resolve clip names to files: an existing path, or a file of `clips_dir` whose name
    starts with the given name (`foreman_cif` -> `foreman_cif_60f.y4m`)."""
    out = []
    for name in names:
        p = Path(name)
        if p.is_file():
            out.append(p)
            continue
        hits = sorted(clips_dir.glob(f"{name}*.y4m")) if clips_dir.is_dir() else []
        if not hits:
            raise SystemExit(f"clip {name!r} not found (no file, and nothing matches in {clips_dir})")
        out.append(hits[0])
    return out


def clip_label(path: Path) -> str:
    """Short name of a clip for tables and plots (file stem)."""
    return Path(path).stem


def prepare_clip(path: Path, frames: int | None, workdir: Path) -> Path:
    """`path` itself, or a copy of its first `frames` frames written to `workdir` (y4m)."""
    from nvcodec.video import create_writer, open_video

    with open_video(path) as reader:
        total = len(reader)
        if frames is None or frames >= total:
            return Path(path)
        workdir.mkdir(parents=True, exist_ok=True)
        dst = workdir / f"{Path(path).stem}_first{frames}f.y4m"
        with create_writer(dst, reader.info.replace(frames=frames), overwrite=True) as writer:
            for i in range(frames):
                writer.write(reader.read(i))
    return dst


def remove_work(out: Path) -> None:
    """Delete `<out>/work` (cut clips and other temporaries)."""
    import shutil

    shutil.rmtree(Path(out) / "work", ignore_errors=True)


def load_clip(path: Path, frames: int | None = None) -> tuple[Any, list, np.ndarray]:
    """(VideoInfo, source YUV frames, float32 RGB [T, H, W, 3] in [0, 1]); the first `frames` only."""
    from nvcodec.api import load_source
    from nvcodec.video.color import yuv_to_rgb

    info, frames = load_source(path, frame_range=None if frames is None else (0, frames))
    rgb = np.stack([yuv_to_rgb(f, info) for f in frames]).astype(np.float32)
    return info, frames, rgb


def rgb_uint8_tensor(rgb: np.ndarray):
    """float RGB in [0, 1] -> uint8 torch tensor [T, H, W, 3] (what nvcodec's fit takes)."""
    import torch

    return torch.from_numpy(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))


# ------------------------------------------------------------------ machine / provenance

def git_commit() -> str:
    """`<sha>` of HEAD, with `+dirty` when the working tree has changes (untracked files
    included: an uncommitted module can change what runs); '?' without git. Results folders
    do not count (a benchmark writes them before the commit that keeps them)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", ":(exclude)benchmarks/results"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (sha or "?") + ("+dirty" if dirty else "")


def is_dirty(commit: str) -> bool:
    """True when `commit` (from git_commit) names no commit that holds the code that ran."""
    return commit == "?" or commit.endswith("+dirty")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device: str = "cpu") -> dict[str, Any]:
    """Where and with what the numbers were measured."""
    import torch

    import nvcodec

    d: dict[str, Any] = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "nvcodec": nvcodec.__version__,
        "commit": git_commit(),
        "device": device,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    d["dirty"] = is_dirty(d["commit"])
    if device.startswith("cuda") and torch.cuda.is_available():
        d["gpu"] = torch.cuda.get_device_name(0)
    try:
        import av

        d["pyav"] = av.__version__
    except ImportError:  # pragma: no cover
        pass
    return d


def machine_line(meta: Mapping[str, Any]) -> str:
    """One Markdown line naming the machine and commit."""
    gpu = f", GPU {meta['gpu']}" if meta.get("gpu") else ""
    return (f"Measured {meta['date']} on {meta['cpu']} ({meta['cpu_count']} cores, torch "
            f"{meta['torch']}, {meta['torch_threads']} threads{gpu}), device `{meta['device']}`, "
            f"nvcodec {meta['nvcodec']} at commit `{meta['commit']}`.")


# ------------------------------------------------------------------ result files

def alternate_bursts(step, switch, bursts: int, per_burst: int = 8) -> dict[str, list[float]]:
    """Milliseconds per call of `step()` in bursts of `per_burst` calls, side A (`switch("A")`)
    and side B alternating A B, then B A, ..., after one unmeasured burst of each: an in-process
    A/B in which a drift of a shared machine falls on both sides."""
    import time

    ms: dict[str, list[float]] = {"A": [], "B": []}
    for v in "AB":
        switch(v)
        for _ in range(per_burst):
            step()
    for b in range(bursts):
        for v in ("AB" if b % 2 == 0 else "BA"):
            switch(v)
            t0 = time.perf_counter()
            for _ in range(per_burst):
                step()
            ms[v].append((time.perf_counter() - t0) / per_burst * 1e3)
    return ms


def encoder_fit_run(width: int, height: int, frames: int, bpp: float, threads: int):
    """A fit in progress (`fit.loop._Run`) of the model sizing picks for a clip of random bytes of
    this size at `bpp`, with the encoder's recipe on `threads` CPU threads: what the in-process
    step A/Bs time. Returns (run, samples per step)."""
    import torch

    from nvcodec.fit import fit_preset
    from nvcodec.fit.loop import _Run
    from nvcodec.model.nvtm import NVTM
    from nvcodec.rate.sizing import choose_config

    torch.set_num_threads(threads)
    cfg = choose_config(width, height, frames, bpp).config
    video = torch.randint(0, 256, (frames, height, width, 3), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    run = _Run(NVTM(cfg, width, height, frames, seed=0), video,
               fit_preset("encode", steps=10 ** 6, device="cpu", threads=threads), None, None)
    samples = run.opts.sets_per_step * run.opts.points_per_set * min(run.opts.frames_per_set, cfg.gop_size)
    return run, samples


def captured_point_set_call(run):
    """(the `_NativeSet` of `run`'s next step, and the xy, z, dz it ran on): one step, with its
    kernel call kept, so that a benchmark can call the kernel again on the same data."""
    from nvcodec.fit import dense

    seen = {}
    real = dense._NativeSet.run

    def keep(self, xy, z, dz):
        seen.update(set=self, args=(xy, z, dz))
        return real(self, xy, z, dz)

    dense._NativeSet.run = keep
    try:
        with run.engine.fitting_threads():
            run.step(0.5)
    finally:
        dense._NativeSet.run = real
    return (seen["set"], *seen["args"])


def print_step_ab(title: str, ms: Mapping[str, list[float]], labels: Mapping[str, str], samples: int) -> None:
    """The report of an `alternate_bursts` A/B of fitting steps: medians, samples per second,
    the ratio of the medians and the median of the burst-by-burst ratios."""
    import statistics

    a, b = statistics.median(ms["A"]), statistics.median(ms["B"])
    width = max(len(v) for v in labels.values())
    print(title)
    for side, median in (("A", a), ("B", b)):
        print(f"  {side} {labels[side]:{width}s}: median {median:.2f} ms/step ({samples / median / 1e3:.2f} M samples/s)")
    print(f"  A/B {a / b:.3f}; burst by burst, median of A_i / B_i "
          f"{statistics.median(x / y for x, y in zip(ms['A'], ms['B'])):.3f}")


def fmt(v: Any, digits: int = 3) -> str:
    """A table cell: floats rounded, None/NaN as '-'."""
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if math.isinf(v):
            return "inf"
        return f"{v:.{digits}f}"
    return str(v)


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Path:
    """Rows as CSV with exactly `columns` (missing keys left empty; floats in full)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                   headers: Sequence[str] | None = None, digits: int = 3) -> str:
    """A GitHub Markdown table of `columns` of `rows`."""
    head = list(headers or columns)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c), digits) for c in columns) + " |")
    return "\n".join(lines)


def write_markdown(path: Path, title: str, sections: Iterable[str], meta: Mapping[str, Any]) -> Path:
    """A Markdown report: title, machine line, then the given sections (tables, notes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = [f"# {title}", "", machine_line(meta), ""]
    for s in sections:
        body += [s, ""]
    path.write_text("\n".join(body))
    return path


def write_meta(out: Path, meta: Mapping[str, Any], settings: Mapping[str, Any]) -> Path:
    """meta.json: the machine description and the run's settings."""
    out.mkdir(parents=True, exist_ok=True)
    p = out / "meta.json"
    p.write_text(json.dumps({"machine": dict(meta), "settings": dict(settings)}, indent=2, default=str))
    return p


# ------------------------------------------------------------------ CLI

def finish(out: Path, meta: Mapping[str, Any], settings: Mapping[str, Any], keep_work: bool = False) -> int:
    """A benchmark's last steps: meta.json, the work folder gone (unless kept), where the results are."""
    write_meta(out, meta, settings)
    if not keep_work:
        remove_work(out)
    say(f"results in {out}")
    return 0


def float_list(text: str) -> list[float]:
    """'0.05,0.1' -> [0.05, 0.1]."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from e


def int_list(text: str) -> list[int]:
    """'23,28' -> [23, 28]."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e


def str_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


class ResultsParser(argparse.ArgumentParser):
    """An argument parser that, once the arguments are parsed (before anything runs), refuses a
    working tree whose code no commit holds, unless --allow-dirty."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        ns, rest = super().parse_known_args(args, namespace)
        commit = git_commit()
        if not ns.allow_dirty and is_dirty(commit):
            self.error(f"the working tree is at {commit!r} (uncommitted changes, or no git): results written now "
                       "would name no commit that reproduces them; commit first, or pass --allow-dirty "
                       "(recorded in meta.json as \"dirty\": true)")
        return ns, rest


def base_parser(name: str, description: str) -> argparse.ArgumentParser:
    """A parser with the options every benchmark has: --out, --clips-dir, --device, --seed, --threads,
    --allow-dirty."""
    p = ResultsParser(prog=f"python -m benchmarks.{name}", description=description,
                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / name,
                   help="results folder (CSV, Markdown, PNG, meta.json)")
    p.add_argument("--clips-dir", type=Path, default=DEFAULT_CLIPS_DIR,
                   help="where clip names given without a path are looked up")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (for the neural methods)")
    p.add_argument("--seed", type=int, default=0, help="seed of every model initialisation and sampler")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (None: torch's choice)")
    p.add_argument("--allow-dirty", action="store_true",
                   help="run from a tree with uncommitted changes (meta.json records dirty: true)")
    return p


def apply_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def say(msg: str) -> None:
    """Progress on stderr (results go to files)."""
    print(msg, file=sys.stderr, flush=True)


def log_axis(ax, axis: str = "x") -> None:
    """A log axis labelled at 1, 2, 5 x 10^k with plain numbers (no overlapping minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(NullFormatter())


def pyplot():
    """matplotlib.pyplot with a non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Lay out, write as PNG and close (every benchmark plot is saved the same way)."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
