"""Stage 5, timing: the measurement mode, the shared timing loop, CUDA-event workers, GPU facts, run statistics."""
