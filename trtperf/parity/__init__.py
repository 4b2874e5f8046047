"""Stage 4, parity: the reference runner (ONNX Runtime), the pure comparator and the default tolerances."""
