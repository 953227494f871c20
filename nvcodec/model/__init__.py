"""The NVTM model: config, grids, alignment flow, modulated SIREN."""

from .config import BaseNetConfig, FlowConfig, GridConfig, NVTMConfig
from .nvtm import NVTM, pixel_centres

__all__ = ["NVTM", "NVTMConfig", "GridConfig", "FlowConfig", "BaseNetConfig", "pixel_centres"]
