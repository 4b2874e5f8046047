from __future__ import annotations
import ctypes as ctypes
import os as os
import sys as sys
from tensorrt_rtx_bindings.tensorrt_rtx import APILanguage
from tensorrt_rtx_bindings.tensorrt_rtx import ActivationType
from tensorrt_rtx_bindings.tensorrt_rtx import AllocatorFlag
from tensorrt_rtx_bindings.tensorrt_rtx import AttentionIOForm
from tensorrt_rtx_bindings.tensorrt_rtx import AttentionNormalizationOp
from tensorrt_rtx_bindings.tensorrt_rtx import BoundingBoxFormat
from tensorrt_rtx_bindings.tensorrt_rtx import Builder
from tensorrt_rtx_bindings.tensorrt_rtx import BuilderFlag
from tensorrt_rtx_bindings.tensorrt_rtx import CausalMaskKind
from tensorrt_rtx_bindings.tensorrt_rtx import CollectiveOperation
from tensorrt_rtx_bindings.tensorrt_rtx import ComputeCapability
from tensorrt_rtx_bindings.tensorrt_rtx import CudaGraphStrategy
from tensorrt_rtx_bindings.tensorrt_rtx import CumulativeOperation
from tensorrt_rtx_bindings.tensorrt_rtx import DLAWorkspaceAllocationStrategy
from tensorrt_rtx_bindings.tensorrt_rtx import DataType
from tensorrt_rtx_bindings.tensorrt_rtx import DeviceType
from tensorrt_rtx_bindings.tensorrt_rtx import DimensionOperation
from tensorrt_rtx_bindings.tensorrt_rtx import Dims
from tensorrt_rtx_bindings.tensorrt_rtx import Dims2
from tensorrt_rtx_bindings.tensorrt_rtx import Dims3
from tensorrt_rtx_bindings.tensorrt_rtx import Dims4
from tensorrt_rtx_bindings.tensorrt_rtx import DimsExprs
from tensorrt_rtx_bindings.tensorrt_rtx import DimsHW
from tensorrt_rtx_bindings.tensorrt_rtx import DynamicPluginTensorDesc
from tensorrt_rtx_bindings.tensorrt_rtx import DynamicShapesKernelSpecializationStrategy
from tensorrt_rtx_bindings.tensorrt_rtx import ElementWiseOperation
from tensorrt_rtx_bindings.tensorrt_rtx import EngineCapability
from tensorrt_rtx_bindings.tensorrt_rtx import EngineInspector
from tensorrt_rtx_bindings.tensorrt_rtx import EngineInvalidityDiagnostics
from tensorrt_rtx_bindings.tensorrt_rtx import EngineStat
from tensorrt_rtx_bindings.tensorrt_rtx import EngineValidity
from tensorrt_rtx_bindings.tensorrt_rtx import ErrorCode
from tensorrt_rtx_bindings.tensorrt_rtx import ErrorCodeTRT
from tensorrt_rtx_bindings.tensorrt_rtx import ExecutionContextAllocationStrategy
from tensorrt_rtx_bindings.tensorrt_rtx import FallbackString
from tensorrt_rtx_bindings.tensorrt_rtx import FillOperation
from tensorrt_rtx_bindings.tensorrt_rtx import GatherMode
from tensorrt_rtx_bindings.tensorrt_rtx import HardwareCompatibilityLevel
from tensorrt_rtx_bindings.tensorrt_rtx import IActivationLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IAssertionLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IAttention
from tensorrt_rtx_bindings.tensorrt_rtx import IAttentionBoundaryLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IAttentionInputLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IAttentionOutputLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IBuilderConfig
from tensorrt_rtx_bindings.tensorrt_rtx import ICastLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IConcatenationLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IConditionLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IConstantLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IConvolutionLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ICudaEngine
from tensorrt_rtx_bindings.tensorrt_rtx import ICumulativeLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IDebugListener
from tensorrt_rtx_bindings.tensorrt_rtx import IDeconvolutionLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IDequantizeLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IDimensionExpr
from tensorrt_rtx_bindings.tensorrt_rtx import IDistCollectiveLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IDynamicQuantizeLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IEinsumLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IElementWiseLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IErrorRecorder
from tensorrt_rtx_bindings.tensorrt_rtx import IExecutionContext
from tensorrt_rtx_bindings.tensorrt_rtx import IExprBuilder
from tensorrt_rtx_bindings.tensorrt_rtx import IFillLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IGatherLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IGpuAllocator
from tensorrt_rtx_bindings.tensorrt_rtx import IGpuAsyncAllocator
from tensorrt_rtx_bindings.tensorrt_rtx import IGridSampleLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IHostMemory
from tensorrt_rtx_bindings.tensorrt_rtx import IIdentityLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IIfConditional
from tensorrt_rtx_bindings.tensorrt_rtx import IIfConditionalBoundaryLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IIfConditionalInputLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IIfConditionalOutputLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IIteratorLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IKVCacheUpdateLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ILRNLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ILayer
from tensorrt_rtx_bindings.tensorrt_rtx import ILogger
from tensorrt_rtx_bindings.tensorrt_rtx import ILoop
from tensorrt_rtx_bindings.tensorrt_rtx import ILoopBoundaryLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ILoopOutputLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IMatrixMultiplyLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IMoELayer
from tensorrt_rtx_bindings.tensorrt_rtx import INMSLayer
from tensorrt_rtx_bindings.tensorrt_rtx import INetworkDefinition
from tensorrt_rtx_bindings.tensorrt_rtx import INonZeroLayer
from tensorrt_rtx_bindings.tensorrt_rtx import INormalizationLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IOneHotLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IOptimizationProfile
from tensorrt_rtx_bindings.tensorrt_rtx import IOutputAllocator
from tensorrt_rtx_bindings.tensorrt_rtx import IPaddingLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IParametricReLULayer
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginCapability
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginCreator
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginCreatorInterface
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginCreatorV3One
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginCreatorV3Quick
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginRegistry
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginResource
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginResourceContext
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV2
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV2DynamicExt
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV2DynamicExtBase
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV2Ext
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV2Layer
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3Layer
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3OneBuild
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3OneBuildV2
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3OneCore
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3OneRuntime
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3QuickBuild
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3QuickCore
from tensorrt_rtx_bindings.tensorrt_rtx import IPluginV3QuickRuntime
from tensorrt_rtx_bindings.tensorrt_rtx import IPoolingLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IProfiler
from tensorrt_rtx_bindings.tensorrt_rtx import IProgressMonitor
from tensorrt_rtx_bindings.tensorrt_rtx import IQuantizeLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IRaggedSoftMaxLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IRecurrenceLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IReduceLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IResizeLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IReverseSequenceLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IRotaryEmbeddingLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IRuntimeCache
from tensorrt_rtx_bindings.tensorrt_rtx import IRuntimeConfig
from tensorrt_rtx_bindings.tensorrt_rtx import IScaleLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IScatterLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ISelectLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ISerializationConfig
from tensorrt_rtx_bindings.tensorrt_rtx import IShapeLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IShuffleLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ISliceLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ISoftMaxLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ISqueezeLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IStreamReaderV2
from tensorrt_rtx_bindings.tensorrt_rtx import IStreamWriter
from tensorrt_rtx_bindings.tensorrt_rtx import ITensor
from tensorrt_rtx_bindings.tensorrt_rtx import ITimingCache
from tensorrt_rtx_bindings.tensorrt_rtx import ITopKLayer
from tensorrt_rtx_bindings.tensorrt_rtx import ITripLimitLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IUnaryLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IUnsqueezeLayer
from tensorrt_rtx_bindings.tensorrt_rtx import IVersionedInterface
from tensorrt_rtx_bindings.tensorrt_rtx import IWeightsManager
from tensorrt_rtx_bindings.tensorrt_rtx import InterfaceInfo
from tensorrt_rtx_bindings.tensorrt_rtx import InterpolationMode
from tensorrt_rtx_bindings.tensorrt_rtx import KVCacheMode
from tensorrt_rtx_bindings.tensorrt_rtx import LayerInformationFormat
from tensorrt_rtx_bindings.tensorrt_rtx import LayerType
from tensorrt_rtx_bindings.tensorrt_rtx import Logger
from tensorrt_rtx_bindings.tensorrt_rtx import LoopOutput
from tensorrt_rtx_bindings.tensorrt_rtx import MatrixOperation
from tensorrt_rtx_bindings.tensorrt_rtx import MemoryPoolType
from tensorrt_rtx_bindings.tensorrt_rtx import MoEActType
from tensorrt_rtx_bindings.tensorrt_rtx import NetworkDefinitionCreationFlag
from tensorrt_rtx_bindings.tensorrt_rtx import NodeIndices
from tensorrt_rtx_bindings.tensorrt_rtx import OnnxParser
from tensorrt_rtx_bindings.tensorrt_rtx import OnnxParserFlag
from tensorrt_rtx_bindings.tensorrt_rtx import OnnxParserRefitter
from tensorrt_rtx_bindings.tensorrt_rtx import PaddingMode
from tensorrt_rtx_bindings.tensorrt_rtx import ParserError
from tensorrt_rtx_bindings.tensorrt_rtx import Permutation
from tensorrt_rtx_bindings.tensorrt_rtx import PluginArgDataType
from tensorrt_rtx_bindings.tensorrt_rtx import PluginArgType
from tensorrt_rtx_bindings.tensorrt_rtx import PluginCapabilityType
from tensorrt_rtx_bindings.tensorrt_rtx import PluginCreatorVersion
from tensorrt_rtx_bindings.tensorrt_rtx import PluginField
from tensorrt_rtx_bindings.tensorrt_rtx import PluginFieldCollection
from tensorrt_rtx_bindings.tensorrt_rtx import PluginFieldCollection_
from tensorrt_rtx_bindings.tensorrt_rtx import PluginFieldType
from tensorrt_rtx_bindings.tensorrt_rtx import PluginTensorDesc
from tensorrt_rtx_bindings.tensorrt_rtx import PoolingType
from tensorrt_rtx_bindings.tensorrt_rtx import PreviewFeature
from tensorrt_rtx_bindings.tensorrt_rtx import Profiler
from tensorrt_rtx_bindings.tensorrt_rtx import ProfilingVerbosity
from tensorrt_rtx_bindings.tensorrt_rtx import ReduceOperation
from tensorrt_rtx_bindings.tensorrt_rtx import Refitter
from tensorrt_rtx_bindings.tensorrt_rtx import ResizeCoordinateTransformation
from tensorrt_rtx_bindings.tensorrt_rtx import ResizeRoundMode
from tensorrt_rtx_bindings.tensorrt_rtx import ResizeSelector
from tensorrt_rtx_bindings.tensorrt_rtx import Runtime
from tensorrt_rtx_bindings.tensorrt_rtx import RuntimePlatform
from tensorrt_rtx_bindings.tensorrt_rtx import SampleMode
from tensorrt_rtx_bindings.tensorrt_rtx import ScaleMode
from tensorrt_rtx_bindings.tensorrt_rtx import ScatterMode
from tensorrt_rtx_bindings.tensorrt_rtx import SeekPosition
from tensorrt_rtx_bindings.tensorrt_rtx import SerializationFlag
from tensorrt_rtx_bindings.tensorrt_rtx import TacticSource
from tensorrt_rtx_bindings.tensorrt_rtx import TempfileControlFlag
from tensorrt_rtx_bindings.tensorrt_rtx import TensorFormat
from tensorrt_rtx_bindings.tensorrt_rtx import TensorIOMode
from tensorrt_rtx_bindings.tensorrt_rtx import TensorLocation
from tensorrt_rtx_bindings.tensorrt_rtx import TensorRTPhase
from tensorrt_rtx_bindings.tensorrt_rtx import TilingOptimizationLevel
from tensorrt_rtx_bindings.tensorrt_rtx import TimingCacheKey
from tensorrt_rtx_bindings.tensorrt_rtx import TimingCacheValue
from tensorrt_rtx_bindings.tensorrt_rtx import TopKOperation
from tensorrt_rtx_bindings.tensorrt_rtx import TripLimit
from tensorrt_rtx_bindings.tensorrt_rtx import UnaryOperation
from tensorrt_rtx_bindings.tensorrt_rtx import Weights
from tensorrt_rtx_bindings.tensorrt_rtx import WeightsRole
from tensorrt_rtx_bindings.tensorrt_rtx import get_builder_plugin_registry
from tensorrt_rtx_bindings.tensorrt_rtx import get_nv_onnx_parser_version
from tensorrt_rtx_bindings.tensorrt_rtx import get_plugin_registry
from tensorrt_rtx_bindings.tensorrt_rtx import init_libnvinfer_plugins
import tensorrt_rtx_libs as tensorrt_rtx_libs
import warnings as warnings
from . import tensorrt_rtx
__all__: list[str] = ['APILanguage', 'ActivationType', 'AllocatorFlag', 'AttentionIOForm', 'AttentionNormalizationOp', 'BoundingBoxFormat', 'Builder', 'BuilderFlag', 'CausalMaskKind', 'CollectiveOperation', 'ComputeCapability', 'CudaGraphStrategy', 'CumulativeOperation', 'DLAWorkspaceAllocationStrategy', 'DataType', 'DeviceType', 'DimensionOperation', 'Dims', 'Dims2', 'Dims3', 'Dims4', 'DimsExprs', 'DimsHW', 'DynamicPluginTensorDesc', 'DynamicShapesKernelSpecializationStrategy', 'ElementWiseOperation', 'EngineCapability', 'EngineInspector', 'EngineInvalidityDiagnostics', 'EngineStat', 'EngineValidity', 'ErrorCode', 'ErrorCodeTRT', 'ExecutionContextAllocationStrategy', 'FallbackString', 'FillOperation', 'GatherMode', 'HardwareCompatibilityLevel', 'IActivationLayer', 'IAssertionLayer', 'IAttention', 'IAttentionBoundaryLayer', 'IAttentionInputLayer', 'IAttentionOutputLayer', 'IBuilderConfig', 'ICastLayer', 'IConcatenationLayer', 'IConditionLayer', 'IConstantLayer', 'IConvolutionLayer', 'ICudaEngine', 'ICumulativeLayer', 'IDebugListener', 'IDeconvolutionLayer', 'IDequantizeLayer', 'IDimensionExpr', 'IDistCollectiveLayer', 'IDynamicQuantizeLayer', 'IEinsumLayer', 'IElementWiseLayer', 'IErrorRecorder', 'IExecutionContext', 'IExprBuilder', 'IFillLayer', 'IGatherLayer', 'IGpuAllocator', 'IGpuAsyncAllocator', 'IGridSampleLayer', 'IHostMemory', 'IIdentityLayer', 'IIfConditional', 'IIfConditionalBoundaryLayer', 'IIfConditionalInputLayer', 'IIfConditionalOutputLayer', 'IIteratorLayer', 'IKVCacheUpdateLayer', 'ILRNLayer', 'ILayer', 'ILogger', 'ILoop', 'ILoopBoundaryLayer', 'ILoopOutputLayer', 'IMatrixMultiplyLayer', 'IMoELayer', 'INMSLayer', 'INetworkDefinition', 'INonZeroLayer', 'INormalizationLayer', 'IOneHotLayer', 'IOptimizationProfile', 'IOutputAllocator', 'IPaddingLayer', 'IParametricReLULayer', 'IPluginCapability', 'IPluginCreator', 'IPluginCreatorInterface', 'IPluginCreatorV3One', 'IPluginCreatorV3Quick', 'IPluginRegistry', 'IPluginResource', 'IPluginResourceContext', 'IPluginV2', 'IPluginV2DynamicExt', 'IPluginV2DynamicExtBase', 'IPluginV2Ext', 'IPluginV2Layer', 'IPluginV3', 'IPluginV3Layer', 'IPluginV3OneBuild', 'IPluginV3OneBuildV2', 'IPluginV3OneCore', 'IPluginV3OneRuntime', 'IPluginV3QuickBuild', 'IPluginV3QuickCore', 'IPluginV3QuickRuntime', 'IPoolingLayer', 'IProfiler', 'IProgressMonitor', 'IQuantizeLayer', 'IRaggedSoftMaxLayer', 'IRecurrenceLayer', 'IReduceLayer', 'IResizeLayer', 'IReverseSequenceLayer', 'IRotaryEmbeddingLayer', 'IRuntimeCache', 'IRuntimeConfig', 'IScaleLayer', 'IScatterLayer', 'ISelectLayer', 'ISerializationConfig', 'IShapeLayer', 'IShuffleLayer', 'ISliceLayer', 'ISoftMaxLayer', 'ISqueezeLayer', 'IStreamReaderV2', 'IStreamWriter', 'ITensor', 'ITimingCache', 'ITopKLayer', 'ITripLimitLayer', 'IUnaryLayer', 'IUnsqueezeLayer', 'IVersionedInterface', 'IWeightsManager', 'InterfaceInfo', 'InterpolationMode', 'KVCacheMode', 'LayerInformationFormat', 'LayerType', 'Logger', 'LoopOutput', 'MatrixOperation', 'MemoryPoolType', 'MoEActType', 'NetworkDefinitionCreationFlag', 'NodeIndices', 'OnnxParser', 'OnnxParserFlag', 'OnnxParserRefitter', 'PaddingMode', 'ParserError', 'Permutation', 'PluginArgDataType', 'PluginArgType', 'PluginCapabilityType', 'PluginCreatorVersion', 'PluginField', 'PluginFieldCollection', 'PluginFieldCollection_', 'PluginFieldType', 'PluginTensorDesc', 'PoolingType', 'PreviewFeature', 'Profiler', 'ProfilingVerbosity', 'ReduceOperation', 'Refitter', 'ResizeCoordinateTransformation', 'ResizeRoundMode', 'ResizeSelector', 'Runtime', 'RuntimePlatform', 'SampleMode', 'ScaleMode', 'ScatterMode', 'SeekPosition', 'SerializationFlag', 'TacticSource', 'TempfileControlFlag', 'TensorFormat', 'TensorIOMode', 'TensorLocation', 'TensorRTPhase', 'TilingOptimizationLevel', 'TimingCacheKey', 'TimingCacheValue', 'TopKOperation', 'TripLimit', 'UnaryOperation', 'Weights', 'WeightsRole', 'attr', 'bfloat16', 'bool', 'common_enter', 'common_exit', 'ctypes', 'e8m0', 'float16', 'float32', 'fp4', 'fp8', 'get_builder_plugin_registry', 'get_nv_onnx_parser_version', 'get_plugin_registry', 'init_libnvinfer_plugins', 'int32', 'int4', 'int64', 'int8', 'nptype', 'os', 'sys', 'tensorrt_rtx', 'tensorrt_rtx_libs', 'uint8', 'value', 'volume', 'warnings']
def _itemsize(trt_type):
    """
        Returns the size in bytes of this :class:`DataType`.
        The returned size is a rational number, possibly a `Real` denoting a fraction of a byte.
    
        :arg trt_type: The TensorRT data type.
    
        :returns: The size of the type.
        
    """
def common_enter(this):
    ...
def common_exit(this, exc_type, exc_value, traceback):
    """
        Context managers are deprecated and have no effect. Objects are automatically freed when
        the reference count reaches 0.
        
    """
def nptype(trt_type):
    """
        Returns the numpy-equivalent of a TensorRT :class:`DataType` .
    
        :arg trt_type: The TensorRT data type to convert.
    
        :returns: The equivalent numpy type.
        
    """
def volume(iterable):
    """
        Computes the volume of an iterable.
    
        :arg iterable: Any python iterable, including a :class:`Dims` object.
    
        :returns: The volume of the iterable. This will return 1 for empty iterables, as a scalar has an empty shape and the volume of a tensor with empty shape is 1.
        
    """
__version__: str = '1.7.1.116'
attr: str = 'VERBOSE'
bfloat16: tensorrt_rtx.DataType
bool: tensorrt_rtx.DataType
e8m0: tensorrt_rtx.DataType
float16: tensorrt_rtx.DataType
float32: tensorrt_rtx.DataType
fp4: tensorrt_rtx.DataType
fp8: tensorrt_rtx.DataType
int32: tensorrt_rtx.DataType
int4: tensorrt_rtx.DataType
int64: tensorrt_rtx.DataType
int8: tensorrt_rtx.DataType
uint8: tensorrt_rtx.DataType
value: tensorrt_rtx.ILogger.Severity
