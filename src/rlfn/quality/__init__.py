"""Image quality: MATLAB bicubic resize, the bicubic degradation, metrics and benchmark evaluation."""
