"""The defaults a user sees: one home, read by the library's options and the CLI's help.

Torch-free, so that the CLI can show them without loading the model code.
"""

from __future__ import annotations

#: target bits per pixel of `encode` (file bytes x 8 / (W x H x frames))
DEFAULT_BPP = 0.1

#: the encoder preset (nvcodec.effort) when neither --time nor --steps is given: ~10 s per
#: million pixels, the old fixed 60 s on a 60-frame CIF clip
DEFAULT_PRESET = "medium"

#: default cap on the base network's per-pixel, per-frame multiply-adds (`siren.synthesis_macs`).
#: It bounds decoding cost whatever the clip length (the network otherwise widens with the
#: budget) and puts the rest of the budget into the grids. 2500 admits a 3 x 32 base network:
#: CIF decodes at ~27-35 frames/s on two CPU cores (3 x 48: ~23, uncapped 3 x 64: ~17;
#: benchmarks/RESULTS.md, "Decode speed"); its cost in quality against the uncapped network is
#: to be measured again ("Decoding cost cap": the earlier runs named no commit).
DEFAULT_MAX_DECODE_MACS = 2500

#: `nvcodec demo`: the bundled clip at a rate and budget that show the codec in half a minute
DEMO_BPP = 0.2
DEMO_TIME_BUDGET = 30.0

#: x264/x265 constant-rate factor of decode's .mp4/.mkv/.mov output: near-transparent, so that
#: what a viewer sees is nvcodec's output and not the preview codec's (--crf sets it)
DEFAULT_CRF = 12

#: what `eval --metrics` may ask for, and what it measures unless asked (PSNR is always
#: measured; MS-SSIM costs ~0.5 s a CIF frame on 2 cores, LPIPS needs its weights)
EVAL_METRICS = ("psnr", "msssim", "lpips")
DEFAULT_EVAL_METRICS = ("psnr", "msssim")

#: a segment's default size (`encode --segment-frames`): the most whole GOPs whose pixels stay
#: under this, so that one segment's fit holds ~1 GB of frames and float RGB
DEFAULT_SEGMENT_PIXELS = 64_000_000

#: times a segment whose worker died (killed, out of memory, a lost Ray node) is tried again
#: within one encode (`--workers`: with a fresh pool, from its fit checkpoint; `--ray`: Ray's task retries)
SEGMENT_RETRIES = 2

#: how decode renders frames between the coded ones (--fps-mult, --fps): "motion"
#: (motion-compensated interpolation of the decoded neighbours, nvcodec.interpolation) or
#: "model" (the model evaluated at that time, NVC.md 11.10: between coded frames it cross-fades,
#: and even a fit taught the in-between times loses to "motion"; RESULTS.md "In-between frames")
INBETWEEN_MODES = ("motion", "model")
DEFAULT_INBETWEEN = "motion"
