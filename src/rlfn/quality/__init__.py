"""Image quality: MATLAB bicubic resize, the bicubic and real-world degradations, degraded LR sets, metrics
and benchmark evaluation."""
