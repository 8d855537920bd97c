"""``visioncircuits zoo import-tflite FILE [FILE2] --out OUT.safetensors``: rebuild MobileNet weights."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="model zoo tools: import weights from other formats")
    cmds = p.add_subparsers(dest="zoo_command", metavar="{import-tflite}")
    cmds.required = True
    t = cmds.add_parser(
        "import-tflite",
        help="float weights from Google's quantized MobileNet .tflite files (needs the 'tflite' extra)",
        description="Dequantize a MobileNetV2/V1 .tflite classifier (or a MobileNetV1 embedding extractor plus its "
        "head file) into a float32 .safetensors file that load_model('mobilenet-...', weights=OUT) reads.",
    )
    t.add_argument(
        "files", nargs="+", metavar="FILE", help="one .tflite file, or an embedding extractor and its head file"
    )
    t.add_argument("--out", required=True, help="output .safetensors file (written atomically)")
    t.set_defaults(func=run_import_tflite)


def run_import_tflite(args: argparse.Namespace) -> int:
    from visioncircuits.errors import InputError
    from visioncircuits.zoo.tflite_import import import_tflite, save_import

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise InputError(f"--out must end in .safetensors, got {out}")
    if out.is_dir():
        raise InputError(f"--out is a directory: {out}")
    state, meta = import_tflite(args.files)
    save_import(state, meta, out)
    params = sum(v.numel() for v in state.values())
    load = (
        f"load_model('{meta['model']}', weights='{out}')"
        if meta["model"]
        else "no registered model has this width and input size"
    )
    print(
        f"wrote {out}: {meta['architecture']} width {meta['width_mult']}, {meta['input_size']} px, "
        f"{meta['num_classes']} logits, {len(state)} tensors, {params:,} parameters; {load}"
    )
    return 0
