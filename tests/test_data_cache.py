"""mednotes.data._cache: arrays kept on disk between processes, and the brain template in it."""

from __future__ import annotations

import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mednotes.data import _cache
from mednotes.data._cache import cache_dir, cached_arrays, fingerprint

CALLS: list[tuple] = []


def ramp(n: int) -> dict[str, np.ndarray]:
    CALLS.append((n,))
    return {"values": np.arange(n, dtype=np.float32) / 7, "shape": np.array([n, 1])}


def wrong_names(n: int) -> dict[str, np.ndarray]:
    return {"values": np.zeros(n)}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDNOTES_CACHE", str(tmp_path / "cache"))
    CALLS.clear()
    return tmp_path / "cache"


def stored(folder: Path) -> list[Path]:
    return sorted(folder.glob("*")) if folder.exists() else []


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDNOTES_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("MEDNOTES_CACHE", "  ")
    assert cache_dir() is None  # set but empty: off
    monkeypatch.delenv("MEDNOTES_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "mednotes"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "mednotes"


def test_computed_once_then_read_back_equal(folder):
    first = cached_arrays("ramp", ("values", "shape"), ramp, args=(5,))
    assert CALLS == [(5,)]
    (path,) = stored(folder)
    assert path.name.startswith("ramp-") and path.suffix == ".npz"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by others, like any cache
    again = cached_arrays("ramp", ("values", "shape"), ramp, args=(5,))
    assert CALLS == [(5,)]  # not computed a second time
    for name in ("values", "shape"):
        assert again[name].dtype == first[name].dtype
        np.testing.assert_array_equal(again[name], first[name])
    np.testing.assert_array_equal(again["values"], np.arange(5, dtype=np.float32) / 7)


def test_arguments_and_package_versions_are_part_of_the_key(folder):
    cached_arrays("ramp", ("values", "shape"), ramp, args=(5,))
    cached_arrays("ramp", ("values", "shape"), ramp, args=(6,))
    cached_arrays("ramp", ("values", "shape"), ramp, args=(5,), packages=("numpy",))
    assert CALLS == [(5,), (6,), (5,)]
    assert len(stored(folder)) == 3
    assert len(cached_arrays("ramp", ("values", "shape"), ramp, args=(6,))["values"]) == 6


def test_the_key_changes_with_the_source_code():
    assert fingerprint(ramp) != fingerprint(wrong_names)
    assert fingerprint(ramp) == fingerprint(ramp)
    assert fingerprint(ramp, ["numpy"]) != fingerprint(ramp, ["torch"])
    assert fingerprint(ramp, ["no-such-package-here"]) != fingerprint(ramp)
    assert fingerprint(len) is None  # no Python source: nothing would notice a change


@pytest.mark.parametrize("damage", ["garbage", "truncated", "lacks an array"])
def test_a_damaged_file_is_computed_again_and_replaced(folder, damage):
    cached_arrays("ramp", ("values", "shape"), ramp, args=(4,))
    (path,) = stored(folder)
    if damage == "garbage":
        path.write_bytes(b"not an npz file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    else:
        np.savez_compressed(path, values=np.zeros(4))
    with pytest.warns(RuntimeWarning, match="damaged"):
        again = cached_arrays("ramp", ("values", "shape"), ramp, args=(4,))
    assert CALLS == [(4,), (4,)]
    np.testing.assert_array_equal(again["values"], np.arange(4, dtype=np.float32) / 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached_arrays("ramp", ("values", "shape"), ramp, args=(4,))  # the file is whole again
    assert CALLS == [(4,), (4,)]


def test_an_unwritable_folder_only_means_nothing_is_kept(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    monkeypatch.setenv("MEDNOTES_CACHE", str(blocker / "cache"))  # cannot be created
    CALLS.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            assert len(cached_arrays("ramp", ("values", "shape"), ramp, args=(3,))["values"]) == 3
    assert CALLS == [(3,), (3,)]


def test_an_empty_setting_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDNOTES_CACHE", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    CALLS.clear()
    for _ in range(2):
        cached_arrays("ramp", ("values", "shape"), ramp, args=(3,))
    assert CALLS == [(3,), (3,)]
    assert list(tmp_path.rglob("*.npz")) == []


def test_no_temporary_file_is_left_behind(folder, monkeypatch):
    cached_arrays("ramp", ("values", "shape"), ramp, args=(3,))

    def broken_save(file, **arrays):
        file.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(_cache.np, "savez_compressed", broken_save)
    cached_arrays("ramp", ("values", "shape"), ramp, args=(9,))  # the write fails, quietly
    assert [p.suffix for p in stored(folder)] == [".npz"]


def test_compute_must_return_the_names_it_is_cached_under(folder):
    with pytest.raises(ValueError, match=r"compute returned \['values'\], expected \['shape', 'values'\]"):
        cached_arrays("wrong", ("values", "shape"), wrong_names, args=(2,))
    assert stored(folder) == []


def test_the_brain_template_read_back_equals_nilearn_s(folder):
    """The cached template is exactly what nilearn gives, and so is the one the book uses
    (which may come from the reader's own cache folder)."""
    from mednotes.data.images import _brain, _compute_brain, brain_template

    reference = _compute_brain(2)  # straight from nilearn, no cache involved
    _brain.__wrapped__(2)  # computed and stored
    (path,) = stored(folder)
    assert path.name.startswith("brain-2mm-")
    volume, spacing = _brain.__wrapped__(2)  # read back
    assert torch.equal(volume, torch.from_numpy(reference["volume"]))
    assert spacing == tuple(reference["spacing"]) == (2.0, 2.0, 2.0)
    assert torch.equal(brain_template()[0], volume)
