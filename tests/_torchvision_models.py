"""torchvision's ResNet code, loaded as the reference for mednotes.nets.resnet, without torchvision.

Why not ``import torchvision``: the wheel that pairs with torch 2.13 (torchvision 0.28.0) is
built against CUDA torch. Next to the CPU torch of the course environment its compiled
operators do not load and ``import torchvision`` fails ("operator torchvision::nms does not
exist"). Installing it into the venv would also break MONAI, kornia and captum, which import
torchvision when they find it.

What this does instead: torchvision's model definitions are plain Python. :func:`install`
downloads the 0.28.0 wheel from the package index (``pip download --no-deps``) and extracts
only its ``.py`` files and metadata, each checked against the wheel's RECORD hashes, into
``.venv/torchvision-0.28.0/`` (ignored by git, never on ``sys.path``; no compiled file is
extracted, so none can be loaded). :func:`load_resnet` then imports
``torchvision/models/resnet.py`` from there under a private package name, so that
``torchvision`` itself stays unimported and ``import torchvision`` elsewhere behaves as before.
``torchvision/__init__.py`` (which loads the compiled ops) is never executed. One module is
replaced by a stub: ``transforms/_presets.py``, whose ``ImageClassification`` only appears in
the metadata of the pretrained weights (and whose package would drag in the compiled ops).
Everything that builds and runs the networks is torchvision's own file, and
:func:`load_resnet` checks that file's sha256 against the wheel's RECORD and against the
hash of 0.28.0 written here.

Install once (idempotent; the tests fail with this hint when the reference is missing)::

    .venv/bin/python tests/_torchvision_models.py

``MEDNOTES_TORCHVISION_REFERENCE`` points to another folder holding the extracted files.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

VERSION = "0.28.0"
#: sha256 of torchvision/models/resnet.py in the 0.28.0 wheel, as its RECORD writes it.
RESNET_SHA256 = "n68vMh_a9-29eRrtxuNhDH7fnIkhEsvXWGG-rh6VGNE"
REPO = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("MEDNOTES_TORCHVISION_REFERENCE",
                           REPO / ".venv" / f"torchvision-{VERSION}"))
#: The private name the extracted package is imported under (never "torchvision").
PACKAGE = "_mednotes_torchvision_reference"
INSTALL_HINT = (
    f"torchvision {VERSION}'s model code, the reference for mednotes.nets.resnet, is not in "
    f"{ROOT}. Install it (needs the package index, not torchvision itself) with:\n"
    f"    {os.path.relpath(sys.executable, REPO)} tests/_torchvision_models.py\n"
    f"which runs `pip download --no-deps torchvision=={VERSION}` and extracts the wheel's .py "
    "files there; never `pip install torchvision` into the venv (its compiled ops do not load "
    "next to the CPU torch, and it would break monai/kornia/captum)."
)


def _record_hash(data: bytes) -> str:
    """The hash as a wheel's RECORD writes it: urlsafe base64 of the sha256, unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _dist_info(root: Path) -> Path:
    return root / f"torchvision-{VERSION}.dist-info"


def _record(root: Path) -> dict[str, str]:
    """path -> RECORD hash (without the ``sha256=`` prefix) from the extracted RECORD."""
    with open(_dist_info(root) / "RECORD", newline="") as f:
        return {row[0]: row[1].removeprefix("sha256=") for row in csv.reader(f) if row and row[1]}


def _version(root: Path) -> str | None:
    metadata = _dist_info(root) / "METADATA"
    if not metadata.is_file():
        return None
    for line in metadata.read_text().splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def verify(root: Path = ROOT) -> Path:
    """Check that ``root`` holds torchvision VERSION's resnet.py, unmodified; return its path.

    Raises FileNotFoundError (with the install hint) when it is missing, and RuntimeError
    when it is there but is not the expected file.
    """
    resnet = root / "torchvision" / "models" / "resnet.py"
    if not resnet.is_file() or _version(root) is None:
        raise FileNotFoundError(INSTALL_HINT)
    if _version(root) != VERSION:
        raise RuntimeError(f"{root} holds torchvision {_version(root)}, expected {VERSION}")
    record = _record(root)
    for path, expected in record.items():  # every extracted file matches the wheel
        file = root / path
        if path.endswith(".py") and file.is_file() and _record_hash(file.read_bytes()) != expected:
            raise RuntimeError(f"{file} differs from the wheel's RECORD hash")
    if record.get("torchvision/models/resnet.py") != RESNET_SHA256:
        raise RuntimeError(f"{root}: resnet.py is not the one of torchvision {VERSION}")
    return resnet


def install(root: Path = ROOT) -> Path:
    """Download the torchvision wheel (no deps) and extract its .py files into ``root``.

    Idempotent: a ``root`` that already passes :func:`verify` is left alone.
    """
    try:
        return verify(root)
    except (FileNotFoundError, RuntimeError):
        pass
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", f"torchvision=={VERSION}", "-d", tmp], check=True)
        (wheel,) = Path(tmp).glob(f"torchvision-{VERSION}-*.whl")
        staging = Path(tmp) / "extracted"
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                keep = (name.startswith("torchvision/") and name.endswith(".py")) or name in (
                    f"torchvision-{VERSION}.dist-info/METADATA",
                    f"torchvision-{VERSION}.dist-info/RECORD")
                if keep:
                    zf.extract(name, staging)
        verify(staging)
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), root)
    return verify(root)


def _package(name: str, path: Path) -> types.ModuleType:
    """An empty package whose submodules are found in ``path``; its __init__ is not run."""
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    module.__package__ = name
    return module


def load_resnet(root: Path = ROOT) -> types.ModuleType:
    """torchvision VERSION's ``models/resnet.py`` as a module, loaded from ``root``.

    The module is registered as ``_mednotes_torchvision_reference.models.resnet`` (with its
    parents and the few torchvision modules it imports); ``sys.modules["torchvision"]`` is
    never touched.
    """
    resnet_path = verify(root)
    name = f"{PACKAGE}.models.resnet"
    if name in sys.modules:
        return sys.modules[name]
    package = root / "torchvision"
    stubs = {
        PACKAGE: _package(PACKAGE, package),
        f"{PACKAGE}.models": _package(f"{PACKAGE}.models", package / "models"),
        f"{PACKAGE}.transforms": _package(f"{PACKAGE}.transforms", package / "transforms"),
        f"{PACKAGE}.transforms._presets": types.ModuleType(f"{PACKAGE}.transforms._presets"),
    }

    class ImageClassification:  # only named in the pretrained weights' metadata
        """Stand-in for torchvision's preprocessing preset: never called by the tests."""

    stubs[f"{PACKAGE}.transforms._presets"].ImageClassification = ImageClassification
    before = {k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")}
    sys.modules.update(stubs)
    try:
        module = importlib.import_module(name)
    except BaseException:
        for key in [k for k in sys.modules if k == PACKAGE or k.startswith(PACKAGE + ".")]:
            del sys.modules[key]
        raise
    after = {k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")}
    if before != after:
        raise RuntimeError(f"loading the reference imported torchvision modules {after - before}")
    if Path(module.__file__).resolve() != resnet_path.resolve():
        raise RuntimeError(f"loaded {module.__file__}, expected {resnet_path}")
    module.VERSION = VERSION
    return module


if __name__ == "__main__":
    print(f"torchvision {VERSION} model code in {install()}")
