"""TensorRT support for the ``tensorrt`` backend, split by concern.

- ``flavour``: which TensorRT is installed (10.x, 11.x or TensorRT-RTX), by feature tests.
- ``api``: the active flavour's module as ``trt`` (typed from the TensorRT-RTX stubs) and the logger.
- ``build``: ONNX -> serialized plan (parser errors, profile, builder settings, timing cache).
- ``runtime``: plan -> execution contexts on CUDA streams, timed with the shared CUDA-event worker.
- ``report``: the engine inspector's layers and the ONNX nodes fused into each.

Only ``backends/tensorrt.py`` and these modules import TensorRT, and only when a case runs.
"""
