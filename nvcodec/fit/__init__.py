"""Fitting an NVTM model to a clip: options and presets, the two batch engines (point sets,
random pixels), the schedule's phases, checkpoints and the training loop."""

from .checkpoint import EncodeCheckpoint, load_checkpoint
from .dense import supports_dense
from .evaluate import evaluate_psnr
from .loop import fit
from .optical_flow import FlowTargets, compute_flow_targets
from .options import FIT_PRESETS, FitOptions, FitProgress, FitResult, fit_preset
from .sampler import Batch, PixelSampler

__all__ = ["fit", "FitOptions", "FitProgress", "FitResult", "FIT_PRESETS", "fit_preset", "evaluate_psnr",
           "load_checkpoint", "EncodeCheckpoint", "compute_flow_targets", "FlowTargets", "PixelSampler", "Batch", "supports_dense"]
