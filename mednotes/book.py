"""Tie the numbers a chapter's prose states to the run that produced them.

A sentence such as "about half of the units die" is a claim about a measurement. Two tools
keep text and numbers from drifting apart:

- :func:`glue` hands a number to the page, where the text shows it with myst-nb's role
  ``{glue:text}`name:.2f```. In a notebook it stores the value in the cell's output, where
  the book build finds it (a notebook front end shows nothing); in a script it only returns
  the value.
- :func:`expect` states the range the prose promises. If a change to the code or data moves
  the number out of that range, the chapter fails to execute, so ``make test`` and
  ``make book`` catch a text that no longer matches its numbers.

Explained in: every chapter (the hidden cells after each experiment).

Example:
    >>> from mednotes.book import expect, glue
    >>> ratio = glue("example_ratio", 0.48)
    >>> expect("fraction of dead units", ratio, 0.4, 0.6)
    0.48
"""

from __future__ import annotations

import math
import numbers

from mednotes._checks import check_bool, check_number

__all__ = ["expect", "glue"]


def _plain(value, name: str):
    """A Python scalar (myst-nb formats its ``text/plain`` form, so ``np.float64(...)`` fails)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # torch and numpy scalars
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise TypeError(f"{name} must be a real number or a string, got {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def glue(name: str, value, *, display: bool = False):
    """Make ``value`` available to the page's text as ``{glue:text}`name```; return it.

    Args:
        name: the key the Markdown refers to (letters, digits, ``_`` and ``-``).
        value: a real number (Python, NumPy or a one-element tensor) or a string.
        display: also show the value as the cell's output.

    Returns:
        ``value`` as a plain Python ``int``, ``float`` or ``str``.

    Example:
        >>> glue("dead_fraction", 0.5)
        0.5
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"name must be a non-empty string of letters, digits, '_' and '-', "
                         f"got {name!r}")
    check_bool("display", display)
    value = _plain(value, "value")
    shell = _kernel()
    if shell is None:  # a script or a doctest: no page to hand the value to
        return value
    # myst-nb's own glue() does exactly this, but importing it pulls in nbformat and
    # jsonschema (seconds per chapter); tests/test_book_helpers.py checks the two agree.
    from IPython.display import display as show

    bundle, metadata = shell.display_formatter.format(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    show({prefix + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata)
    return value


#: The MIME prefix under which myst-nb looks for glued values that are not displayed.
GLUE_PREFIX = "application/papermill.record/"


def _kernel():
    """The running IPython shell, or None outside IPython (or without IPython installed)."""
    import sys

    if "IPython" not in sys.modules:  # never imported: certainly not inside a kernel
        return None
    from IPython import get_ipython

    return get_ipython()


def expect(what: str, value, low=None, high=None):
    """Fail loudly if a number the text states leaves the range the text promises.

    Args:
        what: a few words naming the number, used in the error message.
        value: the measured number.
        low: smallest value the text allows (inclusive), or ``None`` for no lower bound.
        high: largest value the text allows (inclusive), or ``None`` for no upper bound.

    Returns:
        ``value`` as a plain Python number, so that ``glue`` can take it in turn.

    Raises:
        AssertionError: the measurement no longer supports the text (NaN never does).

    Example:
        >>> expect("variance ratio", 3.9, low=3.5, high=4.5)
        3.9
        >>> expect("variance ratio", 5.0, high=4.5)
        Traceback (most recent call last):
        ...
        AssertionError: variance ratio is 5, but the text says it is at most 4.5: rewrite the text or find out what changed
    """
    if not isinstance(what, str) or not what:
        raise ValueError(f"what must be a non-empty string, got {what!r}")
    value = _plain(value, "value")
    if isinstance(value, str):
        raise TypeError("value must be a real number, got str")
    if low is None and high is None:
        raise ValueError("give low, high or both: a claim without a range checks nothing")
    if low is not None:
        check_number("low", low)
    if high is not None:
        check_number("high", high)
    if low is not None and high is not None and low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    if low is not None and high is not None:
        promise = f"between {low:g} and {high:g}"
    elif low is not None:
        promise = f"at least {low:g}"
    else:
        promise = f"at most {high:g}"
    inside = not math.isnan(value) and (low is None or value >= low) and (high is None or value <= high)
    if not inside:
        raise AssertionError(f"{what} is {value:g}, but the text says it is {promise}: "
                             "rewrite the text or find out what changed")
    return value
