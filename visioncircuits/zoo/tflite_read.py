"""Read a .tflite flatbuffer into plain Python: ops in execution order, tensors, constants.

Uses the pure-Python ``tflite`` schema bindings (the optional extra ``tflite``; no
TensorFlow). Every problem with the file is an :class:`InputError` naming it, so the CLI
prints one line.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from visioncircuits.errors import InputError

MAGIC = b"TFL3"  # file identifier at bytes 4..8 of every TFLite flatbuffer


@dataclass
class Op:
    index: int
    type: str  # builtin operator name, e.g. "CONV_2D"
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class Quant:
    scale: np.ndarray  # float64, one value per tensor or per channel
    zero_point: np.ndarray  # int64, same length
    axis: int

    def same_as(self, other: "Quant") -> bool:
        return (
            self.scale.shape == other.scale.shape
            and np.allclose(self.scale, other.scale, rtol=1e-6, atol=0)
            and np.array_equal(self.zero_point, other.zero_point)
        )


class TfliteModel:
    """The single subgraph of a TFLite file: ``ops``, tensor shapes, quantization and constants."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            import tflite
        except ImportError:
            raise InputError(
                "reading .tflite files needs the 'tflite' package: pip install 'visioncircuits[tflite]'"
            ) from None
        self._tfl = tflite
        if not self.path.is_file():
            raise InputError(f"TFLite file not found: {self.path}")
        self.buf = self.path.read_bytes()
        if len(self.buf) < 8 or self.buf[4:8] != MAGIC:
            raise InputError(f"{self.path} is not a TFLite model (no '{MAGIC.decode()}' identifier)")
        try:
            self.model = tflite.Model.GetRootAsModel(self.buf, 0)
            if self.model.SubgraphsLength() != 1:
                raise InputError(f"{self.path}: expected one subgraph, found {self.model.SubgraphsLength()}")
            self.graph = self.model.Subgraphs(0)
            opnames = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
            self.ops = [self._op(i, opnames) for i in range(self.graph.OperatorsLength())]
            self.inputs = [int(i) for i in self.graph.InputsAsNumpy()]
            self.outputs = [int(i) for i in self.graph.OutputsAsNumpy()]
        except InputError:
            raise
        except Exception as e:  # a damaged flatbuffer fails anywhere inside the bindings
            raise InputError(f"{self.path} is a damaged TFLite file ({type(e).__name__}: {str(e)[:120]})") from None

    # ------------------------------------------------------------------ ops
    def _op(self, i: int, opnames: dict) -> Op:
        tfl = self._tfl
        op = self.graph.Operators(i)
        code = self.model.OperatorCodes(op.OpcodeIndex())
        name = opnames.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), f"op{code.BuiltinCode()}")
        rec = Op(i, name, [int(j) for j in op.InputsAsNumpy()], [int(j) for j in op.OutputsAsNumpy()])
        table = op.BuiltinOptions()
        kinds = {
            "CONV_2D": tfl.Conv2DOptions,
            "DEPTHWISE_CONV_2D": tfl.DepthwiseConv2DOptions,
            "ADD": tfl.AddOptions,
            "AVERAGE_POOL_2D": tfl.Pool2DOptions,
        }
        if name in kinds and table is not None:
            o = kinds[name]()
            o.Init(table.Bytes, table.Pos)
            acts = {v: k for k, v in vars(tfl.ActivationFunctionType).items() if not k.startswith("_")}
            rec.options["activation"] = acts.get(o.FusedActivationFunction(), str(o.FusedActivationFunction()))
            if name != "ADD":
                pads = {v: k for k, v in vars(tfl.Padding).items() if not k.startswith("_")}
                rec.options["padding"] = pads.get(o.Padding(), str(o.Padding()))
                rec.options["stride"] = (o.StrideH(), o.StrideW())
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                rec.options["dilation"] = (o.DilationHFactor(), o.DilationWFactor())
            if name == "DEPTHWISE_CONV_2D":
                rec.options["depth_multiplier"] = o.DepthMultiplier()
            if name == "AVERAGE_POOL_2D":
                rec.options["filter"] = (o.FilterHeight(), o.FilterWidth())
        return rec

    # ------------------------------------------------------------------ tensors
    def shape(self, t: int) -> tuple[int, ...]:
        return tuple(int(v) for v in self.graph.Tensors(t).ShapeAsNumpy())

    def quant(self, t: int) -> Optional[Quant]:
        q = self.graph.Tensors(t).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None
        scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float64)
        zp = (
            np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64) if q.ZeroPointLength() else np.zeros(scale.shape, np.int64)
        )
        return Quant(scale, zp, int(q.QuantizedDimension()))

    def constant(self, t: int) -> np.ndarray:
        """A constant tensor as float64: ``scale * (q - zero_point)`` for quantized integers."""
        tensor = self.graph.Tensors(t)
        dtypes = {
            self._tfl.TensorType.UINT8: np.uint8,
            self._tfl.TensorType.INT8: np.int8,
            self._tfl.TensorType.INT32: np.int32,
            self._tfl.TensorType.FLOAT32: np.float32,
            self._tfl.TensorType.FLOAT16: np.float16,
        }
        if tensor.Type() not in dtypes:
            raise InputError(f"{self.path}: tensor {tensor.Name().decode()} has unsupported type {tensor.Type()}")
        buffer = self.model.Buffers(tensor.Buffer())
        if buffer is None or buffer.DataLength() == 0:
            raise InputError(f"{self.path}: tensor {tensor.Name().decode()} is not a constant (no data)")
        values = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtypes[tensor.Type()])
        shape = self.shape(t)
        if values.size != int(np.prod(shape)):
            raise InputError(
                f"{self.path}: tensor {tensor.Name().decode()} holds {values.size} values for shape {shape}"
            )
        values = values.reshape(shape)
        q = self.quant(t)
        if values.dtype.kind == "f" or q is None:
            return values.astype(np.float64)
        scale, zp = q.scale, q.zero_point
        if scale.size > 1:  # per-channel along q.axis
            bshape = [1] * values.ndim
            bshape[q.axis] = scale.size
            scale, zp = scale.reshape(bshape), zp.reshape(bshape)
        return (values.astype(np.float64) - zp) * scale

    def tensor_name(self, t: int) -> str:
        return self.graph.Tensors(t).Name().decode(errors="replace")

    def sha256(self) -> str:
        return hashlib.sha256(self.buf).hexdigest()
