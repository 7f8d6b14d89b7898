"""Convert a pickled PyTorch state dict (``.pt``/``.pth``) to safetensors, explicitly.

Bundles never contain pickles: loading one can run arbitrary code. This is the one
deliberate way in: ``python -m ultrasound_reader.ai.convert IN.pt OUT.safetensors``.
It unpickles with ``torch.load(weights_only=True)``, which accepts only tensors and
plain containers, so even here no code from the file runs. The result is a plain
weights file; put it into a bundle with ``save_bundle`` (which writes the hashes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ultrasound_reader.errors import UserError


def convert_pickle(src: str | Path, dst: str | Path) -> Path:
    """Read a tensor-only pickle (optionally ``{"state_dict": ...}``) and write safetensors."""
    import pickle
    import warnings

    import torch
    from safetensors.torch import save_file

    src, dst = Path(src), Path(dst)
    if dst.suffix != ".safetensors":
        raise UserError(f"{dst}: output must end in .safetensors")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol; the refusal below says it all
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(src, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{src}: no such file") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise UserError(f"{src}: not a tensor-only PyTorch file ({str(exc).splitlines()[0]})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{src}: expected a state dict of tensors")
    save_file({k: v.contiguous().clone() for k, v in obj.items()}, str(dst))
    return dst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ultrasound_reader.ai.convert", description=__doc__.splitlines()[0])
    p.add_argument("src", help="pickled state dict (.pt/.pth)")
    p.add_argument("dst", help="output .safetensors")
    args = p.parse_args(argv)
    try:
        out = convert_pickle(args.src, args.dst)
    except UserError as exc:
        print(f"convert: error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
