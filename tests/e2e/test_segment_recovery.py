"""What survives a lost segment: its record (a finished segment, validated before use) and a
killed worker process, replaced within the run or finished by --resume, with the same bytes."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from nvcodec import cli, parallel
from nvcodec.bitstream.reader import read_container
from nvcodec.compress import model_codec
from nvcodec.errors import InputError, WorkersLost
from nvcodec.segment import SegmentCode
from nvcodec.segment_record import read_record, record_key, write_record

VECTOR = Path(__file__).parents[2] / "bitstream_spec" / "vectors" / "tiny.nvc"


def test_a_record_round_trips_and_anything_else_is_refused(tmp_path):
    data = VECTOR.read_bytes()
    frames = read_container(data, known_types=model_codec.KNOWN_TYPES).segments[0].frame_count
    code = SegmentCode(data, frames, {"psnr_yuv": 30.5, "psnr_u": None, "psnr_v": float("inf")}, {"steps": 8},
                       {"width": 16}, {"qp": [22, 24]}, {"grids": 100})
    path = tmp_path / "o.nvc.ckpt.0.done"
    assert read_record(path, "k") is None  # none yet
    write_record(path, code, "k")
    assert read_record(path, "k") == code
    with pytest.raises(InputError, match="other options or other frames; delete it"):
        read_record(path, "another encode's key")
    blob = path.read_bytes()
    refusals = {"damaged": blob[:-1] + bytes([blob[-1] ^ 1]), "not an nvcodec segment record": b"\x80\x04pickle",
                "not JSON": blob[:16] + b"[" + blob[17:]}
    for why, bad in refusals.items():
        path.write_bytes(bad)
        with pytest.raises(InputError, match=why):
            read_record(path, "k")
    code.frames += 1  # a description that does not match its bytes
    write_record(path, code, "k")
    with pytest.raises(InputError, match="not the one segment it describes"):
        read_record(path, "k")


def test_the_record_key_is_the_options_that_shape_the_bytes(segmented):
    _, opts, _ = segmented
    key = record_key(opts, 4, 4)
    runs_only = dataclasses.replace(opts, workers=3, threads=1, progress=True, resume=True, ray="auto")
    assert record_key(runs_only, 4, 4) == key
    assert key not in (record_key(opts, 0, 4), record_key(dataclasses.replace(opts, seed=1), 4, 4),
                       record_key(dataclasses.replace(opts, bpp=1.0), 4, 4))


def _die_in_fit(marker: str, checkpoint_end: str, step: int) -> None:
    """A pool initializer (test only): the worker that saves `checkpoint_end`'s fit checkpoint at
    `step` SIGKILLs itself right after, the first time (`marker` does not exist yet) or every
    time (`marker` empty)."""
    import nvcodec.fit.loop as loop

    real = loop.save_checkpoint

    def save_then_die(path, model, opt, state, *rest):
        real(path, model, opt, state, *rest)
        if path.endswith(checkpoint_end) and state.step >= step and not (marker and os.path.exists(marker)):
            if marker:
                Path(marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)

    loop.save_checkpoint = save_then_die


def _dying_pools(monkeypatch, marker: str, checkpoint_end: str, step: int) -> None:
    def pool(workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_die_in_fit, initargs=(marker, checkpoint_end, step))

    monkeypatch.setattr(parallel, "_new_pool", pool)


def test_a_worker_killed_mid_fit_is_replaced_and_the_file_is_the_same(segment_clip, segmented, tmp_path,
                                                                      monkeypatch):
    """--workers 2; segment 2's worker SIGKILLs itself after step 3 of 8: a fresh pool resumes
    it from that checkpoint (and reruns what the broken pool lost); the bytes are the same."""
    from nvcodec import api

    out, opts, _ = segmented
    marker = tmp_path / "killed"
    _dying_pools(monkeypatch, str(marker), ".ckpt.1", 3)
    pools, real_run = [], parallel._pool_run
    monkeypatch.setattr(parallel, "_pool_run", lambda left, jobs, o, *a: pools.append((list(left), o.resume))
                        or real_run(left, jobs, o, *a))
    dst = tmp_path / "o.nvc"
    api.encode(segment_clip, dst, dataclasses.replace(opts, workers=2, fit_overrides={"checkpoint_every_s": 0}))
    assert marker.exists()  # the worker did die
    assert pools[0] == ([0, 1, 2], False) and len(pools) == 2 and 1 in pools[1][0] and pools[1][1]  # resumed
    assert dst.read_bytes() == (out / "w1.nvc").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed", "o.nvc"]


def test_workers_dying_every_time_stop_and_resume_finishes(segment_clip, segmented, tmp_path, monkeypatch):
    from nvcodec import api

    out, opts, _ = segmented
    opts = dataclasses.replace(opts, workers=2, fit_overrides={"checkpoint_every_s": 0})
    _dying_pools(monkeypatch, "", ".ckpt.0", 2)  # segment 1's worker dies at each try
    monkeypatch.setattr(parallel, "SEGMENT_RETRIES", 1)
    dst = tmp_path / "o.nvc"
    with pytest.raises(WorkersLost, match="died 2 times .*; the finished segments are kept and --resume finishes"):
        api.encode(segment_clip, dst, opts)
    assert not dst.exists() and (tmp_path / "o.nvc.ckpt.0").exists()
    monkeypatch.undo()
    api.encode(segment_clip, dst, dataclasses.replace(opts, resume=True))
    assert dst.read_bytes() == (out / "w1.nvc").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.nvc"]


def test_the_cli_says_workers_lost_in_one_line_with_the_resume_command(monkeypatch, capsys, tmp_path):
    from nvcodec import api

    def lost(*a, **k):
        raise WorkersLost("a worker process died 3 times; --resume finishes the file", resumable=True)

    monkeypatch.setattr(api, "encode", lost)
    args = ["encode", "in.y4m", "-o", str(tmp_path / "o.nvc"), "--workers", "2"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nvcodec: error: a worker process died 3 times; --resume finishes the file: nvcodec encode "
                   f"in.y4m -o {tmp_path / 'o.nvc'} --workers 2 --resume"]


def test_workers_lost_says_resume_only_when_something_is_kept():
    assert cli._workers_lost(WorkersLost("lost", resumable=False), ["encode", "a.y4m"]) == "error: lost"
    line = cli._workers_lost(WorkersLost("lost", resumable=True), ["encode", "a.y4m", "-o", "b.nvc"])
    assert line == "error: lost: nvcodec encode a.y4m -o b.nvc --resume"
