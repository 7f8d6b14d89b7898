"""How much disk ``pip install ultrasound-reader`` takes, measured in an installed environment.

Run with the environment's own Python (``.venv/bin/python packaging/install_size.py``):
it walks the requirement closure of the installed ``ultrasound-reader`` (its
``[project].dependencies``, no extras), adds up the files each distribution's RECORD
lists, and says how much of it is GPU-only: the NVIDIA CUDA libraries (``nvidia-*``),
``triton``, and torch's own CUDA libraries (``torch/lib/libtorch_cuda*``,
``libc10_cuda``...). Prints text, or one JSON object with ``--json``. Sizes in decimal
GB/MB (10^9, 10^6 bytes).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import re
import sys

from packaging.markers import default_environment
from packaging.requirements import Requirement

_GPU_LIB = re.compile(r"(^|/)lib[^/]*(cuda|cudnn|nccl|nvshmem|cublas|cufft|cusparse|cusolver|nvrtc|nvToolsExt)[^/]*\.so")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def measure(root: str = "ultrasound-reader") -> dict:
    dists = {}
    for d in md.distributions():
        dists.setdefault(_norm(d.metadata["Name"]), d)
    if _norm(root) not in dists:
        raise SystemExit(f"install_size: {root} is not installed in {sys.prefix}")
    env = default_environment()
    seen: set[str] = set()
    todo = [(root, ())]
    while todo:
        name, extras = todo.pop()
        n = _norm(name)
        if n in seen or n not in dists:
            continue
        seen.add(n)
        for r in dists[n].requires or []:
            req = Requirement(r)
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in (extras or ("",))):
                todo.append((req.name, tuple(req.extras)))
    sizes: dict[str, int] = {}
    gpu_in_torch = 0
    for n in seen:
        total = 0
        for f in dists[n].files or []:
            try:
                size = f.locate().stat().st_size
            except OSError:
                continue
            total += size
            if n == "torch" and _GPU_LIB.search(str(f)):
                gpu_in_torch += size
        sizes[n] = total
    gpu_dists = {n: s for n, s in sizes.items() if n.startswith("nvidia-") or n == "triton"}
    total = sum(sizes.values())
    gpu = sum(gpu_dists.values()) + gpu_in_torch
    return {
        "prefix": sys.prefix,
        "distributions": len(sizes),
        "total_gb": round(total / 1e9, 2),
        "ultrasound_reader_mb": round(sizes.get(_norm(root), 0) / 1e6, 1),
        "torch": dists["torch"].version if "torch" in dists else None,
        "nvidia_and_triton_gb": round(sum(gpu_dists.values()) / 1e9, 2),
        "nvidia_and_triton_distributions": len(gpu_dists),
        "torch_cuda_libraries_gb": round(gpu_in_torch / 1e9, 2),
        "without_gpu_parts_gb": round((total - gpu) / 1e9, 2),
        "largest_mb": {n: round(s / 1e6, 1) for n, s in sorted(sizes.items(), key=lambda x: -x[1])[:8]},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    m = measure()
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    print(f"ultrasound-reader and its {m['distributions'] - 1} dependencies in {m['prefix']}: {m['total_gb']} GB")
    print(f"  GPU-only: {m['nvidia_and_triton_gb']} GB in {m['nvidia_and_triton_distributions']} nvidia-*/triton "
          f"distributions, {m['torch_cuda_libraries_gb']} GB of CUDA libraries inside torch {m['torch']}")
    print(f"  everything else: {m['without_gpu_parts_gb']} GB")
    for n, s in m["largest_mb"].items():
        print(f"  {s:8.1f} MB  {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
