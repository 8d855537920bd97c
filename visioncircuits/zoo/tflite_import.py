"""Rebuild MobileNet weights from Google's quantized .tflite files (no TensorFlow).

``import_tflite([file])`` (MobileNetV2, MobileNetV1) or ``import_tflite([extractor, head])``
(MobileNetV1 published in two parts: an embedding extractor up to the pooled feature, and a
head holding the 1x1 logits conv) returns a float32 state dict in the key layout of
``visioncircuits/zoo/mobilenet.py`` (1001 logits, "background" first, as in the file) and a
metadata dict. Every constant is dequantized as ``scale * (q - zero_point)``; the conv
sequence is mapped onto the modules in execution order, and each conv's kind (full or
depthwise), stride, padding (SAME), dilation, fused activation (ReLU6 or none) and shape
is checked, as is the data flow: each conv reads the previous output, each residual ADD joins
a block's input and its projection, the pool covers the whole map, and the two parts of a
split model meet at a tensor with identical quantization.
"""

from __future__ import annotations

import json
import os
from typing import Sequence, cast

import numpy as np
import torch
from torch import nn

from visioncircuits.errors import InputError
from visioncircuits.zoo.mobilenet import MODELS, MobileNetV1, MobileNetV2
from visioncircuits.zoo.tf_same import SameConv2d
from visioncircuits.zoo.tflite_read import Op, TfliteModel

CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
ALLOWED = set(CONVS) | {"ADD", "AVERAGE_POOL_2D", "RESHAPE", "SQUEEZE", "SOFTMAX"}
WIDTHS = {"v2": (1.0, 1.4, 1.3, 0.75, 0.5, 0.35), "v1": (1.0, 0.75, 0.5, 0.25)}


def _conv_plan(net: nn.Module) -> list[tuple[str, str, int, bool, tuple]]:
    """(key prefix, 'conv'|'dw', stride, relu6 after it, weight shape) per conv, execution order."""
    names = dict(net.named_modules())
    plan = []
    for name, m in net.named_modules():
        if isinstance(m, SameConv2d):
            kind = "dw" if m.groups > 1 else "conv"
            plan.append((name, kind, m.stride[0], f"{name}_relu6" in names, tuple(m.weight.shape)))
    head = net.classifier
    assert isinstance(head, torch.nn.Linear)
    plan.append(("classifier", "conv", 1, False, (head.out_features, head.in_features, 1, 1)))
    return plan


def _build(family: str, width: float, classes: int) -> nn.Module:
    with torch.device("meta"):
        return (MobileNetV2 if family == "v2" else MobileNetV1)(width, num_classes=classes)


def _match_architecture(family: str, shapes: list[tuple], classes: int, where: str) -> tuple[float, nn.Module]:
    for width in WIDTHS[family]:
        net = _build(family, width, classes)
        if [p[4] for p in _conv_plan(net)] == shapes:
            return width, net
    arch = "MobileNetV2" if family == "v2" else "MobileNetV1"
    raise InputError(
        f"{where}: the conv shapes fit no {arch} width ({', '.join(map(str, WIDTHS[family]))}); "
        f"{len(shapes)} convs, first {shapes[0] if shapes else None}"
    )


def _torch_weight(g: TfliteModel, op: Op) -> np.ndarray:
    w = g.constant(op.inputs[1])
    if op.type == "CONV_2D":
        return w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
    if op.options.get("depth_multiplier", 1) != 1 or w.shape[0] != 1:
        raise InputError(
            f"{g.path.name}: op {op.index} is a depthwise conv with depth multiplier != 1 (not a MobileNet)"
        )
    return w.transpose(3, 0, 1, 2)  # 1HWC -> C1HW


def _check_conv(g: TfliteModel, op: Op, prefix: str, kind: str, stride: int, relu6: bool) -> None:
    got_kind = "dw" if op.type == "DEPTHWISE_CONV_2D" else "conv"
    o = op.options
    problems = []
    if got_kind != kind:
        label = {"dw": "depthwise", "conv": "a full"}
        problems.append(f"is {label[got_kind]} conv, expected {label[kind]} conv")
    if tuple(o.get("stride", ())) != (stride, stride):
        problems.append(f"stride {o.get('stride')} != {stride}")
    if o.get("padding") != "SAME":
        problems.append(f"padding {o.get('padding')} != SAME")
    if tuple(o.get("dilation", (1, 1))) != (1, 1):
        problems.append(f"dilation {o.get('dilation')}")
    want_act = "RELU6" if relu6 else "NONE"
    if o.get("activation") != want_act:
        problems.append(f"fused activation {o.get('activation')} != {want_act}")
    if problems:
        raise InputError(f"{g.path.name}: op {op.index} ({prefix}) " + "; ".join(problems))


def _check_flow(g: TfliteModel, convs: list[Op], net: nn.Module, has_logits: bool) -> int:
    """Follow the tensors through stem, blocks, head and pool; returns the pooled feature tensor."""
    adds = {frozenset(op.inputs[:2]): op for op in g.ops if op.type == "ADD"}
    if convs[0].inputs[0] not in g.inputs:
        raise InputError(f"{g.path.name}: the first conv does not read the model input")
    current, pos, used = convs[0].outputs[0], 1, 0
    blocks = list(cast(nn.Module, net.blocks).children())
    for i, block in enumerate(blocks):
        n = sum(1 for m in block.modules() if isinstance(m, SameConv2d))
        ops = convs[pos : pos + n]
        block_in = current
        for op in ops:
            if op.inputs[0] != current:
                raise InputError(f"{g.path.name}: op {op.index} (blocks.{i}) does not read the previous layer's output")
            current = op.outputs[0]
        key = frozenset((block_in, current))
        if getattr(block, "residual", False):
            add = adds.get(key)
            if add is None:
                raise InputError(f"{g.path.name}: blocks.{i} has no residual ADD of its input and projection")
            if add.options.get("activation") != "NONE":
                act = add.options.get("activation")
                raise InputError(f"{g.path.name}: the residual ADD of blocks.{i} has fused activation {act}")
            current, used = add.outputs[0], used + 1
        elif key in adds:
            raise InputError(f"{g.path.name}: blocks.{i} has a residual ADD the architecture does not have")
        pos += n
    if used != len(adds):
        raise InputError(f"{g.path.name}: {len(adds)} ADD ops, {used} of them are residual sums of blocks")
    if hasattr(net, "head"):
        if convs[pos].inputs[0] != current:
            raise InputError(f"{g.path.name}: the head conv does not read the last block's output")
        current, pos = convs[pos].outputs[0], pos + 1
    pools = [op for op in g.ops if op.type == "AVERAGE_POOL_2D" and op.inputs[0] == current]
    if len(pools) != 1:
        raise InputError(f"{g.path.name}: no global average pool after the last conv layer")
    size = g.shape(current)[1:3]
    if tuple(pools[0].options.get("filter", ())) != size or g.shape(pools[0].outputs[0])[1:3] != (1, 1):
        raise InputError(
            f"{g.path.name}: the average pool (filter {pools[0].options.get('filter')}) does not cover the {size} map"
        )
    pooled = pools[0].outputs[0]
    if has_logits and convs[pos].inputs[0] != pooled:
        raise InputError(f"{g.path.name}: the logits conv does not read the pooled features")
    return pooled


def _input_range(g: TfliteModel) -> tuple[int, float, float]:
    """Input size and the float range of the uint8 input; the models expect [-1, 1]."""
    shape = g.shape(g.inputs[0])
    if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
        raise InputError(f"{g.path.name}: input shape {shape} is not (1, S, S, 3)")
    q = g.quant(g.inputs[0])
    lo, hi = (
        (-1.0, 1.0)
        if q is None
        else (float(q.scale[0] * (0 - q.zero_point[0])), float(q.scale[0] * (255 - q.zero_point[0])))
    )
    if abs(lo + 1) > 0.02 or abs(hi - 1) > 0.02:
        raise InputError(
            f"{g.path.name}: input range [{lo:.3g}, {hi:.3g}] is not [-1, 1]; the zoo's preprocessing would not fit"
        )
    return shape[1], lo, hi


def import_tflite(paths: Sequence[str | os.PathLike]) -> tuple[dict[str, torch.Tensor], dict]:
    """Float32 state dict (mobilenet.py keys, 1001 logits) and metadata from one or two .tflite files."""
    if not 1 <= len(paths) <= 2:
        raise InputError(f"give one .tflite file, or an embedding extractor and its head file; got {len(paths)} files")
    g = TfliteModel(paths[0])
    head = TfliteModel(paths[1]) if len(paths) == 2 else None
    for part in [g] + ([head] if head else []):
        bad = sorted({op.type for op in part.ops} - ALLOWED)
        if bad:
            raise InputError(
                f"{part.path.name}: unsupported ops {', '.join(bad)}; only MobileNet V1/V2 classifiers are handled"
            )
    convs = [op for op in g.ops if op.type in CONVS]
    if not convs:
        raise InputError(f"{g.path.name} has no convolutions; is it a MobileNet?")
    family = "v2" if any(op.type == "ADD" for op in g.ops) else "v1"
    pooled_last = (
        any(op.type == "AVERAGE_POOL_2D" for op in g.ops)
        and g.outputs
        and any(op.type == "AVERAGE_POOL_2D" and op.outputs[0] == g.outputs[0] for op in g.ops)
    )
    if head is not None:
        if not pooled_last:
            raise InputError(f"{g.path.name} already ends in logits; a head file is only for an embedding extractor")
        head_convs = [op for op in head.ops if op.type in CONVS]
        if len(head_convs) != 1 or head_convs[0].inputs[0] not in head.inputs:
            raise InputError(f"{head.path.name} is not a head file (one 1x1 logits conv reading its input)")
        out_q, in_q = g.quant(g.outputs[0]), head.quant(head.inputs[0])
        if out_q is None or in_q is None or not out_q.same_as(in_q):
            raise InputError(
                f"{g.path.name} output and {head.path.name} input have different quantization; "
                "not two parts of one model"
            )
        if g.shape(g.outputs[0]) != head.shape(head.inputs[0]):
            got, want = g.shape(g.outputs[0]), head.shape(head.inputs[0])
            raise InputError(f"{g.path.name} output {got} does not fit {head.path.name} input {want}")
        sources = [(g, op) for op in convs] + [(head, head_convs[0])]
    elif pooled_last:
        raise InputError(
            f"{g.path.name} ends at the pooled features (an embedding extractor): pass its head file as the second FILE"
        )
    else:
        sources = [(g, op) for op in convs]
    weights = [(part, op, _torch_weight(part, op)) for part, op in sources]
    classes = weights[-1][2].shape[0]
    width, net = _match_architecture(family, [tuple(w.shape) for _, _, w in weights], classes, g.path.name)
    plan = _conv_plan(net)
    _check_flow(g, convs, net, has_logits=head is None)
    size, lo, hi = _input_range(g)
    state: dict[str, torch.Tensor] = {}
    for (prefix, kind, stride, relu6, shape), (part, op, w) in zip(plan, weights, strict=True):
        _check_conv(part, op, prefix, kind, stride, relu6)
        bias = part.constant(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else np.zeros(shape[0])
        if bias.shape != (shape[0],):
            raise InputError(f"{part.path.name}: op {op.index} ({prefix}) bias shape {bias.shape} != ({shape[0]},)")
        if prefix == "classifier":
            w = w.reshape(w.shape[0], -1)
        state[f"{prefix}.weight"] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
        state[f"{prefix}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))
    arch = type(net).__name__
    name = next(
        (n for n, (cls, wm, s, *_rest) in MODELS.items() if cls.__name__ == arch and wm == width and s == size), None
    )
    meta = {
        "architecture": arch,
        "model": name,
        "width_mult": width,
        "input_size": size,
        "num_classes": classes,
        "input_range": [round(lo, 6), round(hi, 6)],
        "class_order": "0=background, 1..1000=ImageNet classes in sorted-wnid order"
        if classes == 1001
        else f"{classes} classes",
        "source_files": [p.path.name for p in [g] + ([head] if head else [])],
        "source_sha256": [p.sha256() for p in [g] + ([head] if head else [])],
        "conversion": "visioncircuits zoo import-tflite: scale * (q - zero_point), OHWI->OIHW, 1HWC->C1HW, float32",
    }
    return state, meta


def save_import(state: dict[str, torch.Tensor], meta: dict, out: str | os.PathLike) -> None:
    """Write the state dict as .safetensors atomically (metadata: one sorted JSON ``config`` key)."""
    from safetensors.torch import save

    from visioncircuits.atomic import write_bytes

    data = save({k: v.contiguous() for k, v in state.items()}, metadata={"config": json.dumps(meta, sort_keys=True)})
    write_bytes(out, data)
