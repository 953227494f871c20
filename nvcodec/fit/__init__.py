"""Fitting an NVTM model to a clip (sampling, optical-flow guidance, the training loop)."""

from .loop import FitOptions, FitProgress, FitResult, evaluate_psnr, fit, load_checkpoint
from .optical_flow import FlowTargets, compute_flow_targets
from .sampler import Batch, PixelSampler

__all__ = ["fit", "FitOptions", "FitProgress", "FitResult", "evaluate_psnr", "load_checkpoint",
           "compute_flow_targets", "FlowTargets", "PixelSampler", "Batch"]
