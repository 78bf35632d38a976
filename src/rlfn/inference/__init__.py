"""Running a loaded model on images: the Upscaler, tiling, the fast CPU path, heap reuse and device choice."""
