"""The architecture (RLFN, its blocks, the ESA), names, the weights catalogue, checkpoints, loading, downloads and the loaded-model descriptor (SRModel)."""
