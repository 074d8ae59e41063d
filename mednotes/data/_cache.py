"""An on-disk cache for arrays that take seconds to derive from installed packages.

Loading the MNI152 template through nilearn costs about 5 s in every new Python process
(importing nilearn, then resampling three 1 mm volumes to 2 mm); reading the same arrays back
from a compressed ``.npz`` file costs about 0.1 s. Every chapter on brain images starts a
process, so the cache saves those seconds once per chapter and per test run.

Where: ``$MEDNOTES_CACHE`` if set (an empty value turns the cache off), else
``$XDG_CACHE_HOME/mednotes``, else ``~/.cache/mednotes``. A file is named after what it holds
and a digest of everything its content depends on (the computing function's source code and
the versions of the packages it reads), so a new nilearn or a changed function gets a new
file instead of a stale answer. Files are written atomically; a folder that cannot be written
only means that nothing is cached; a damaged file is computed again and replaced.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

import numpy as np

ENV_VAR = "MEDNOTES_CACHE"


def cache_dir() -> Path | None:
    """The folder of mednotes' cached arrays, or None when ``MEDNOTES_CACHE`` is set empty.

    Example:
        >>> import os
        >>> old = os.environ.get("MEDNOTES_CACHE")
        >>> os.environ["MEDNOTES_CACHE"] = "/tmp/mednotes-cache"
        >>> cache_dir()
        PosixPath('/tmp/mednotes-cache')
        >>> os.environ["MEDNOTES_CACHE"] = ""
        >>> cache_dir() is None
        True
        >>> _ = os.environ.pop("MEDNOTES_CACHE") if old is None else os.environ.update(MEDNOTES_CACHE=old)
    """
    chosen = os.environ.get(ENV_VAR)
    if chosen is not None:
        return Path(chosen).expanduser() if chosen.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mednotes"


def fingerprint(function: Callable, packages: Iterable[str] = ()) -> str | None:
    """A digest of ``function``'s source code and the installed versions of ``packages``.

    None when the source cannot be read (then nothing is cached: a change to the function
    could not be noticed).

    Example:
        >>> fingerprint(cache_dir) == fingerprint(cache_dir)
        True
        >>> fingerprint(cache_dir) == fingerprint(cache_dir, ["numpy"])
        False
    """
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return None
    digest = hashlib.sha256(source.encode())
    for package in packages:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"\n{package}=={version}".encode())
    return digest.hexdigest()[:16]


def _read(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays ``names`` stored at ``path``; None without such a file; ValueError if damaged."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            missing = set(names) - set(stored.files)
            if missing:
                raise ValueError(f"it lacks {sorted(missing)}")
            return {name: stored[name] for name in names}
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        # not there, not a file, or someone else's: compute (and try to store it)
        return None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(str(error) or type(error).__name__) from error


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save atomically: a temporary file in the same folder, then a rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez_compressed(file, **arrays)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the data are not secret
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cached_arrays(name: str, names: tuple[str, ...],
                  compute: Callable[..., dict[str, np.ndarray]], args: tuple = (),
                  packages: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """``compute(*args)``, or the arrays it returned before, read back from the cache folder.

    Args:
        name: what the arrays are, for the file name (``brain-2mm``).
        names: the names of the arrays that ``compute`` returns.
        compute: a function (not a lambda: its source is part of the key) that returns a
            dict of name -> numpy array; called when nothing valid is stored.
        args: the arguments for ``compute``; their ``repr`` is part of the key.
        packages: the installed packages whose data ``compute`` reads; their versions, and
            ``compute``'s source code, are part of the file's name.

    Returns:
        The dict, the same arrays whether computed now or read back.

    Example:
        >>> import os, tempfile
        >>> old = os.environ.get("MEDNOTES_CACHE")
        >>> os.environ["MEDNOTES_CACHE"] = tempfile.mkdtemp()
        >>> def squares():
        ...     print("computing")
        ...     return {"x": np.arange(4) ** 2}
        >>> cached_arrays("squares", ("x",), squares)["x"]
        computing
        array([0, 1, 4, 9])
        >>> cached_arrays("squares", ("x",), squares)["x"]     # read back, not computed
        array([0, 1, 4, 9])
        >>> _ = os.environ.pop("MEDNOTES_CACHE") if old is None else os.environ.update(MEDNOTES_CACHE=old)
    """
    folder, key = cache_dir(), fingerprint(compute, packages)
    if folder is None or key is None:
        return compute(*args)
    key = hashlib.sha256(f"{key} {args!r}".encode()).hexdigest()[:16]
    path = folder / f"{name}-{key}.npz"
    try:
        stored = _read(path, names)
    except ValueError as error:
        warnings.warn(f"mednotes: the cached file {path} is damaged ({error}); computing it "
                      "again", RuntimeWarning, stacklevel=2)
        stored = None
    if stored is not None:
        return stored
    arrays = compute(*args)
    if set(arrays) != set(names):
        raise ValueError(f"cached_arrays({name!r}): compute returned {sorted(arrays)}, "
                         f"expected {sorted(names)}")
    try:
        _write(path, arrays)
    except OSError:
        pass  # a read-only or missing home: the arrays are still returned, just not kept
    return arrays
