"""The GPU check: one command to run whenever a CUDA machine is at hand (``make test-gpu``).

It runs, in order, and prints a summary with the seconds each step took:

1. the ``gpu``-marked tests: CPU/CUDA parity of every public op forward and backward
   (tests/test_gpu.py), the max-pool tie-breaking gradient on CUDA, U-Net output parity, an
   AMP ``fit`` with a GradScaler then a resume, and every test parametrized over CUDA;
2. a 1-process ``torchrun`` smoke run of ``python -m mednotes.train`` on CUDA (NCCL);
3. the convolution, pooling and network (U-Net against MONAI) benchmarks in quick mode, on
   CUDA.

It needs a Python whose torch sees a GPU, with pytest and the test references (scipy, kornia,
nbformat); the book's own tools (nbval, Jupyter Book) are not needed, so it also runs with a
preinstalled CUDA torch: ``make test-gpu GPU_PYTHON=python3``. A test file that cannot be
imported there (a missing reference library) is reported as a collection error and fails the
step rather than being skipped quietly. The whole check takes a few minutes on one GPU; each step
has a time limit so that the total stays under 8.

Exit status: 0 when every step passed, 1 when one failed, 2 when there is no CUDA device.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (what, command, seconds allowed)
STEPS = [
    ("gpu tests", [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-o", "addopts=",
                   "-p", "no:cacheprovider", "--continue-on-collection-errors",
                   "--ignore=tests/test_book.py", "tests/"], 300),
    ("torchrun, 1 process, NCCL", None, 90),  # the command needs a temporary folder
    ("conv benchmark (quick)", [sys.executable, "benchmarks/conv.py", "--device", "cuda",
                                "--quick"], 90),
    ("pooling benchmark (quick)", [sys.executable, "benchmarks/pooling.py", "--device",
                                   "cuda", "--quick"], 60),
    ("nets benchmark (quick)", [sys.executable, "benchmarks/nets.py", "--quick"], 150),
]


def torchrun_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
            "-m", "mednotes.train", "--dataset", "toy", "--size", "32", "--n-train", "32",
            "--n-val", "8", "--epochs", "2", "--batch-size", "8", "--device", "cuda",
            "--out", str(out / "run"), "--quiet"]


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("make test-gpu needs a CUDA device, and torch sees none "
              f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}).")
        return 2
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.get_device_name(0)}; python {sys.version.split()[0]}", flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for what, command, limit in STEPS:
            command = command or torchrun_command(Path(scratch))
            print(f"\n=== {what}: {' '.join(command[1:])}", flush=True)
            began = time.perf_counter()
            try:
                status = subprocess.run(command, cwd=ROOT, env=env, timeout=limit).returncode
            except subprocess.TimeoutExpired:
                status = f"timed out after {limit} s"
            seconds = time.perf_counter() - began
            if what.startswith("torchrun") and status == 0:
                written = Path(scratch) / "run" / "checkpoint.pt"
                status = 0 if written.is_file() else "no checkpoint.pt written"
            results.append((what, status, seconds))
    print("\n=== summary")
    for what, status, seconds in results:
        verdict = "passed" if status == 0 else f"FAILED ({status})"
        print(f"{what:<28} {verdict:<24} {seconds:6.1f} s")
    return 0 if all(status == 0 for _, status, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
