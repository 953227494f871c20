"""Published UVG (1920x1080) rate-distortion points, for reference plots only.

Copied number for number (nothing added, nothing re-computed) from the C3 repository's
baseline table: file `baselines/uvg.py`, dict `RESULTS` (average over the UVG sequences),
of google-deepmind/c3_neural_compression at commit
ce70560e8219655e76e8d5bb78b60af776d72318 (Apache-2.0). Only the entries for NeRV, HNeRV,
FFNeRV, HiNeRV, C3, HM and VTM are kept. Each entry keeps the `source` and `reference`
that file gives for it (who measured the numbers, and the paper / software).

These are another dataset (UVG 1080p, 600 or 300 frames per sequence) measured by other
people on other machines: never compare them point for point with our clips, and never
compute a BD-rate against them. The file does not say per entry whether PSNR is on RGB
or on YUV; we do not guess.
"""

from __future__ import annotations

from typing import Any

#: where every number below was taken from
TAKEN_FROM = {
    "repository": "google-deepmind/c3_neural_compression",
    "path": "baselines/uvg.py",
    "commit": "ce70560e8219655e76e8d5bb78b60af776d72318",
    "dict": "RESULTS",
    "dataset": "UVG 1080p (average over sequences)",
}

UVG_RESULTS: dict[str, dict[str, Any]] = {
    "C3 (Adaptive)": {
        "bpp": (0.01594833859347827, 0.02268396719193247, 0.033139908094155894, 0.05459793865953716,
                0.08459428009726773, 0.12762070219697697, 0.25398065725859764, 0.44254081146819296),
        "psnr": (32.925598689488005, 33.96687752859933, 35.02668489728655, 36.327970777239116,
                 37.44999258858817, 38.36397443498884, 39.704908643450054, 40.794677189418245),
        "source": "Our experiments (the C3 authors)",
        "reference": "https://arxiv.org/abs/2312.02753",
        "type": "neural-field",
    },
    "HEVC (HM 18.0, Random Access)": {
        "bpp": (0.754, 0.1878, 0.073, 0.0324, 0.0155, 0.0075),
        "psnr": (41.515, 39.4299, 38.0631, 36.4091, 34.6332, 32.79),
        "source": "Communication with HiNeRV authors",
        "reference": "https://www.itu.int/rec/T-REC-H.265",
        "type": "classical",
    },
    "VTM (17.0, Random Access)": {
        "bpp": (0.20067550237689696, 0.1585183056905156, 0.12094572271619523, 0.09602879923014414,
                0.048752813346329194, 0.02604843568589006, 0.014397781647387005, 0.007948939012186159),
        "psnr": (39.612552642822266, 39.343265533447266, 39.025550842285156, 38.739532470703125,
                 37.595733642578125, 36.29216766357422, 34.86935043334961, 33.3802604675293),
        "source": "Our experiments (the C3 authors); qp=(17, 18, 19, 20, 24, 28, 32, 36), default settings",
        "reference": "https://github.com/fraunhoferhhi/vvenc",
        "type": "classical",
    },
    "HiNeRV": {
        "bpp": (0.01488571429, 0.02974285714, 0.05802857143, 0.1154285714, 0.2261571429),
        "psnr": (34.53182857, 36.01264286, 37.45017143, 38.60161429, 39.6261),
        "source": "https://github.com/hmkx/HiNeRV/tree/main/results/uvg_results.xlsx",
        "reference": "https://arxiv.org/abs/2306.09818",
        "type": "neural-field",
    },
    "FFNeRV": {
        "bpp": (0.0182, 0.0546, 0.0890, 0.131, 0.180, 0.239),
        "psnr": (32.71, 35.55, 36.76, 37.64, 38.33, 38.91),
        "source": "Paper, Table 11.",
        "reference": "https://arxiv.org/abs/2212.12294",
        "type": "neural-field",
    },
    "HNeRV": {
        "bpp": (0.015204, 0.029544, 0.057952, 0.115287, 0.233589),
        "psnr": (32.493094, 33.682530, 34.936854, 36.146509, 37.344033),
        "source": "HiNeRV paper, from figure using plot digitizer.",
        "reference": "https://arxiv.org/abs/2304.02633",
        "type": "neural-field",
    },
    "NeRV": {
        "bpp": (0.0142574, 0.0283747, 0.0563083, 0.1121414, 0.2285840),
        "psnr": (30.94369, 32.74380, 34.39044, 35.97299, 37.58784),
        "source": "HiNeRV paper, from figure using plot digitizer.",
        "reference": "https://arxiv.org/abs/2110.13903",
        "type": "neural-field",
    },
}


def rows() -> list[dict[str, Any]]:
    """One row per published point: method, bpp, psnr, source, reference, taken_from."""
    where = f"{TAKEN_FROM['repository']}/{TAKEN_FROM['path']}@{TAKEN_FROM['commit'][:12]}"
    out = []
    for name, d in UVG_RESULTS.items():
        for b, p in zip(d["bpp"], d["psnr"]):
            out.append({"method": name, "bpp": b, "psnr": p, "source": d["source"],
                        "reference": d["reference"], "taken_from": where})
    return out
