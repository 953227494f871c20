"""Segments as Ray tasks (`--ray`): the same bytes as one local worker on a local Ray of 2 CPUs,
how tasks are shaped, how their failures read, and a clear line without Ray installed."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from types import SimpleNamespace

import pytest

from nvcodec import api, cli, ray_engine
from nvcodec.errors import EncodeError, InputError, WorkersLost


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs, no dashboard, for the module (`--ray auto` then uses it as it is)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_tasks_give_the_bytes_of_one_worker(local_ray, segment_clip, segmented, tmp_path):
    out, opts, _ = segmented
    dst = tmp_path / "r.nvc"
    report = api.encode(segment_clip, dst, dataclasses.replace(opts, ray="auto"))
    assert dst.read_bytes() == (out / "w1.nvc").read_bytes()
    assert [s["frames"] for s in report.segments] == [4, 4, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nvc"]  # records removed with the checkpoints
    assert local_ray.is_initialized()  # a Ray the caller started stays up


@pytest.mark.slow
def test_cli_ray_auto_starts_and_stops_its_own_ray(sample_crop, tmp_path):
    pytest.importorskip("ray")
    clip = sample_crop(tmp_path / "c16.y4m", 64, 48, 16)
    outs = {}
    for name, extra in (("ray", ["--ray", "auto"]), ("one", [])):
        outs[name] = tmp_path / f"{name}.nvc"
        r = subprocess.run([sys.executable, "-m", "nvcodec", "encode", str(clip), "-o", str(outs[name]), "--bpp",
                            "1.5", "--steps", "3", "--segment-frames", "10", "--device", "cpu", *extra],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    assert outs["ray"].read_bytes() == outs["one"].read_bytes()


def _cluster(cpus: list[float], gpus: float = 0):
    nodes = [{"Alive": True, "Resources": {"CPU": c}} for c in cpus] + [{"Alive": False, "Resources": {"CPU": 1}}]
    return SimpleNamespace(cluster_resources=lambda: {"CPU": sum(cpus), **({"GPU": gpus} if gpus else {})},
                           nodes=lambda: nodes)


def test_a_task_takes_a_gpu_where_there_are_gpus_else_its_share_of_the_cores():
    opts = api.EncodeOptions()
    assert ray_engine._task_shape(_cluster([2]), opts, 3) == ({"num_cpus": 1}, 1, 2)
    assert ray_engine._task_shape(_cluster([16]), opts, 3) == ({"num_cpus": 5}, 5, 3)
    assert ray_engine._task_shape(_cluster([16, 4]), opts, 2) == ({"num_cpus": 4}, 4, 5)  # fits the small node
    assert ray_engine._task_shape(_cluster([16, 16], gpus=4), opts, 9) == ({"num_gpus": 1, "num_cpus": 8}, 8, 4)
    cpu = dataclasses.replace(opts, device="cpu", threads=2)
    assert ray_engine._task_shape(_cluster([16], gpus=4), cpu, 9) == ({"num_cpus": 2}, 2, 8)


def test_a_failed_task_reads_as_its_own_error_or_as_lost_workers():
    ray = pytest.importorskip("ray")

    def failing(error):
        def get(ref):
            raise error
        return SimpleNamespace(get=get, exceptions=ray.exceptions)

    cause = EncodeError("the rate target cannot be met")
    with pytest.raises(EncodeError, match="^the rate target cannot be met$"):
        ray_engine._result(failing(ray.exceptions.RayTaskError("_fit_task", "Traceback ...", cause)), None, 0, True)
    with pytest.raises(WorkersLost, match=r"segment 2's Ray task failed 3 times \(WorkerCrashedError: .*--resume fini"):
        ray_engine._result(failing(ray.exceptions.WorkerCrashedError()), None, 1, True)


def test_ray_is_not_combined_with_workers():
    with pytest.raises(InputError, match="leave --workers out"):
        ray_engine.check_ray_options(api.EncodeOptions(ray="auto", workers=2))


def test_without_ray_the_option_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    assert cli.main(["encode", "in.y4m", "-o", str(tmp_path / "o.nvc"), "--ray", "auto"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        'nvcodec: error: --ray needs Ray, an optional extra: pip install "nvcodec[ray]"']
