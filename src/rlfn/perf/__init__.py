"""Efficiency: FLOPs and parameter counts, benchmarks, ONNX and TorchScript export."""
