"""Every kept benchmark result names the commit that made it (issue 19)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"


def _folders_with_files() -> list[Path]:
    return sorted({p.parent for p in RESULTS.rglob("*") if p.is_file() and "work" not in p.relative_to(RESULTS).parts})


def _commits(meta: dict, folder: Path) -> list[str]:
    if "machine" in meta:  # written by the benchmark itself
        commit = meta["machine"]["commit"]
        assert commit != "?" and not commit.endswith("+dirty") and not meta["machine"].get("dirty"), folder
        return [commit]
    files = meta["files"]  # raw logs from before meta.json existed: provenance from git
    kept = {p.name for p in folder.iterdir() if p.is_file() and p.name != "meta.json"}
    assert kept == set(files), (folder, kept ^ set(files))
    return [c for f in files.values() for c in (f["added_in"], f["code_commit"])]


@pytest.mark.parametrize("folder", _folders_with_files(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_results_folder_names_a_real_commit(folder: Path):
    meta_path = folder / "meta.json"
    assert meta_path.exists(), f"{folder}: results without meta.json"
    commits = _commits(json.loads(meta_path.read_text()), folder)
    if shutil.which("git") and (REPO / ".git").exists():
        for c in commits:
            kind = subprocess.run(["git", "cat-file", "-t", c], cwd=REPO, capture_output=True, text=True).stdout.strip()
            assert kind == "commit", f"{folder}: {c} is not a commit of this repository"
