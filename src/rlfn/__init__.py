"""rlfn: the Residual Local Feature Network for fast single-image super-resolution."""
from .errors import CheckpointMismatchError, RLFNError, UnknownModelError
from .inference.upscaler import Upscaler, upscale
from .models.descriptor import SRModel
from .models.loader import load_file, load_model
from .models.registry import VARIANTS, create_model, list_models
from .models.rlfn import RLFN
from .models.spandrel_bridge import register_spandrel
from .quality.imresize import imresize
from .quality.metrics import psnr, psnr_rgb, psnr_y, ssim, ssim_y

__version__ = "0.1.0"

__all__ = [
    "RLFN", "SRModel", "Upscaler", "upscale", "create_model", "list_models", "load_model", "load_file", "imresize",
    "register_spandrel",
    "psnr", "ssim", "psnr_y", "ssim_y", "psnr_rgb", "VARIANTS",
    "RLFNError", "UnknownModelError", "CheckpointMismatchError",
]
