"""mednotes.book: numbers handed to the prose, and ranges the prose promises."""

import math

import numpy as np
import pytest
import torch

from mednotes.book import expect, glue


@pytest.mark.parametrize("value, plain", [(np.float64(0.25), 0.25), (torch.tensor(3), 3),
                                          (torch.tensor([2.5]).sum(), 2.5), (7, 7), ("ok", "ok")])
def test_glue_returns_plain_python_scalars(value, plain):
    out = glue("key", value)
    assert out == plain and type(out) is type(plain)


@pytest.mark.parametrize("display", [False, True])
@pytest.mark.parametrize("value", [np.float32(0.5), 3, "text"])
def test_glue_publishes_what_myst_nb_glue_publishes(monkeypatch, value, display):
    """Our glue skips importing myst-nb (seconds per chapter) but must hand over the same data."""
    from IPython.core.interactiveshell import InteractiveShell
    from myst_nb import glue as myst_glue

    shell = InteractiveShell.instance()
    published = []
    monkeypatch.setattr(shell.display_pub, "publish",
                        lambda data, metadata=None, **kw: published.append((data, metadata)))
    plain = value.item() if isinstance(value, np.generic) else value  # what glue hands over
    glue("ratio", value, display=display)
    myst_glue("ratio", plain, display=display)
    ours, theirs = published
    assert ours == theirs
    assert ours[1]["scrapbook"]["name"] == "ratio"
    assert any(key.endswith("text/plain") for key in ours[0])


def test_glue_outside_ipython_only_returns_the_value(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert glue("ratio", np.float64(0.25)) == 0.25


@pytest.mark.parametrize("low, high", [(0.4, 0.6), (0.5, None), (None, 0.5), (0.5, 0.5)])
def test_expect_passes_inside_the_range(low, high):
    assert expect("fraction", torch.tensor(0.5), low, high) == 0.5


@pytest.mark.parametrize("value, low, high, says", [(0.7, 0.4, 0.6, "between 0.4 and 0.6"),
                                                    (0.1, 0.2, None, "at least 0.2"),
                                                    (3.0, None, 2.0, "at most 2"),
                                                    (math.nan, 0.0, 1.0, "between 0 and 1")])
def test_expect_fails_outside_the_range_and_says_what_the_text_claims(value, low, high, says):
    with pytest.raises(AssertionError, match=f"fraction is .*{says}"):
        expect("fraction", value, low, high)


@pytest.mark.parametrize("call, error, match", [
    (lambda: glue("", 1.0), ValueError, "name"),
    (lambda: glue("two words", 1.0), ValueError, "name"),
    (lambda: glue("k", [1.0]), TypeError, "value"),
    (lambda: glue("k", True), TypeError, "value"),
    (lambda: glue("k", torch.ones(2)), TypeError, "value"),
    (lambda: glue("k", 1.0, display=1), TypeError, "display"),
    (lambda: expect("x", 1.0), ValueError, "low, high"),
    (lambda: expect("x", 1.0, 2.0, 1.0), ValueError, "low"),
    (lambda: expect("x", 1.0, math.nan), ValueError, "low"),
    (lambda: expect("x", 1.0, None, math.inf), ValueError, "high"),
    (lambda: expect("x", "1.0", 0.0), TypeError, "value"),
    (lambda: expect("", 1.0, 0.0), ValueError, "what"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
