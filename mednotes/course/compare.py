"""What one exercise check is (:class:`Check`), and how an answer is judged against it.

:func:`judge` runs an answer, a value or a student's function, through a check's test inputs
and says in one short sentence what is wrong, or returns ``""`` when nothing is. Every
mistake a student can make becomes such a sentence, never a traceback and never a pass:
text in quotes, True/False, complex numbers, None, NaN, a wrong shape, a function that
raises or takes the wrong number of arguments.

This module knows nothing about particular exercises; the ``checks_<chapter>`` modules
define those, and :mod:`mednotes.course.registry` collects them.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mednotes._checks import describe, is_int, sizes

#: What an unfinished exercise (a stub from the student version) is told: a function that
#: still raises ``NotImplementedError``, or a value left at its stub ``name = ...``.
NOT_IMPLEMENTED = "not implemented yet: replace the `raise NotImplementedError` line"
NOT_ANSWERED = "not implemented yet: replace the `...` with your answer"

#: Relative tolerance for a number typed by hand (a value check with a non-integer reference):
#: the answer rounded to three significant figures passes (0.167 for 1/6), 0.17 does not.
TYPED_RTOL = 5e-3

#: Tolerances for what a student's function computes: rounding error only.
COMPUTED_RTOL, COMPUTED_ATOL = 1e-5, 1e-6


@dataclass(frozen=True)
class Check:
    """One exercise check: the reference, the inputs to try a function on, and its hints.

    Args:
        reference: computes the right answer from the library itself, called on each case.
        hint: what a failed answer is told, never the numeric answer: one str, or a tuple of
            tiers that :func:`~mednotes.course.hint` hands out one at a time, the idea first
            (level 1), then the formula or the step (level 2).
        cases: the argument tuples a function answer is called with; ``((),)`` (the default)
            means the answer is a plain value, such as a number to work out on paper.
        names: one name per case, as the feedback calls it ("the 5-D volume case"); optional.
        rtol, atol: tolerances for floating-point answers. An integer reference (a count, a
            size) is compared exactly. When not given, a typed value is compared to three
            significant figures (:data:`TYPED_RTOL`) and a function's result up to rounding
            error (:data:`COMPUTED_RTOL`, :data:`COMPUTED_ATOL`).
        at_least: for a score to reach rather than a value to match (a trained network's
            held-out Dice): the answer passes when it is a finite number ``>= at_least``;
            ``reference()`` then gives the best possible score, and is not compared with.

    Example:
        >>> square = Check(reference=lambda x: x * x, cases=((2,), (3.5,)), hint="x times x")
        >>> judge(square, lambda x: x**2)
        ''
        >>> judge(square, lambda x: 2 * x)
        'for your function(3.5): the result is too low'
        >>> Check(reference=lambda: 1 / 6, hint="").tolerance
        (0.005, 0.0)
        >>> named = Check(reference=lambda x: x * x, cases=((2,), (3.5,)), hint=("idea", "x·x"),
        ...               names=("the integer case", "the half-integer case"))
        >>> judge(named, lambda x: 2 * x), named.hints
        ('in the half-integer case, for your function(3.5): the result is too low', ('idea', 'x·x'))
        >>> dice = Check(reference=lambda: 1.0, hint="train longer", at_least=0.6)
        >>> judge(dice, 0.72), judge(dice, 0.41)
        ('', 'the score 0.41 is below the threshold of 0.6')
    """

    reference: Callable[..., Any]
    hint: str | tuple[str, ...]
    cases: tuple[tuple, ...] = ((),)
    rtol: float | None = None
    atol: float | None = None
    names: tuple[str, ...] = ()
    at_least: float | None = None

    def __post_init__(self) -> None:
        if not callable(self.reference):
            raise TypeError(f"reference must be a function, got {describe(self.reference)}")
        if not (isinstance(self.hint, str) or isinstance(self.hint, tuple) and self.hint
                and all(isinstance(h, str) for h in self.hint)):
            raise TypeError(f"hint must be a str or a non-empty tuple of str (one per level), "
                            f"got {describe(self.hint)}")
        if not isinstance(self.cases, tuple) or not self.cases \
                or not all(isinstance(case, tuple) for case in self.cases):
            raise TypeError("cases must be a non-empty tuple of argument tuples, such as "
                            f"((2,), (3.5,)); got {describe(self.cases)}")
        if self.at_least is not None:
            if isinstance(self.at_least, bool) or not isinstance(self.at_least, numbers.Real) \
                    or not np.isfinite(self.at_least):
                raise ValueError(f"at_least must be a finite number or None, got "
                                 f"{describe(self.at_least)}")
            if self.cases != ((),):
                raise ValueError("at_least is for a score typed or computed in the notebook "
                                 "(a value check); it cannot be used with cases")
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, numbers.Real) or not value >= 0):
                raise ValueError(f"{name} must be a number >= 0 or None, got {describe(value)}")
        if not isinstance(self.names, tuple) or not all(isinstance(n, str) for n in self.names):
            raise TypeError(f"names must be a tuple of str, got {describe(self.names)}")
        if self.names and len(self.names) != len(self.cases):
            raise ValueError(f"names must name every case: {len(self.cases)} cases, "
                             f"{len(self.names)} names")

    @property
    def hints(self) -> tuple[str, ...]:
        """The hints, level 1 (the idea) first; a single ``hint`` str is one level."""
        return (self.hint,) if isinstance(self.hint, str) else self.hint

    @property
    def wants_function(self) -> bool:
        """True when the answer must be a function (the check has test inputs to call it on)."""
        return self.cases != ((),)

    @property
    def tolerance(self) -> tuple[float, float]:
        """``(rtol, atol)`` for a non-integer reference, defaults filled in."""
        if self.wants_function:
            rtol, atol = COMPUTED_RTOL, COMPUTED_ATOL
        else:
            rtol, atol = TYPED_RTOL, 0.0
        return (rtol if self.rtol is None else self.rtol, atol if self.atol is None else self.atol)


def refined(checks: dict[str, Check], *, ideas: dict[str, str] | None = None,
            names: dict[str, tuple[str, ...]] | None = None) -> dict[str, Check]:
    """``checks`` with a first-level hint (the idea) put before each check's own hint, and
    names given to their cases; a chapter module writes these beside its checks.

    Example:
        >>> plain = {"square": Check(reference=lambda x: x * x, cases=((2,),), hint="x·x")}
        >>> refined(plain, ideas={"square": "a square"}, names={"square": ("the 2 case",)})[
        ...     "square"].hints
        ('a square', 'x·x')
    """
    out = dict(checks)
    for kind, table in (("ideas", ideas or {}), ("names", names or {})):
        unknown = sorted(set(table) - set(out))
        if unknown:
            raise ValueError(f"{kind} name checks that do not exist: {', '.join(unknown)}")
    for name, idea in (ideas or {}).items():
        out[name] = dataclasses.replace(out[name], hint=(idea, *out[name].hints))
    for name, case_names in (names or {}).items():
        out[name] = dataclasses.replace(out[name], names=tuple(case_names))
    return out


class BadAnswer(ValueError):
    """An answer that cannot be compared at all; its message is the feedback to print."""


# ------------------------------------------------------------------------ describing values


def _a(text: str) -> str:
    """``"int 1"`` -> ``"an int 1"``."""
    return f"{'an' if text[:1] in 'aeiou' else 'a'} {text}"


def _what(value: object) -> str:
    """``an int 1``, ``a str '0'``, ``None``: a value with its type, for messages."""
    return "None" if value is None else _a(describe(value))


def _short(value: object) -> str:
    """An argument as a reader recognises it: numbers as written, arrays by their size."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        kind = "tensor" if isinstance(value, torch.Tensor) else "array"
        if len(value.shape) == 1:
            return f"a {value.shape[0]}-value {kind}"
        return f"a {sizes(value.shape) or 'scalar'} {kind}"
    if value is None or isinstance(value, (bool, numbers.Number, str)):
        text = repr(value)
        return text if len(text) <= 30 else text[:27] + "..."
    return _a(type(value).__name__)


def _name(answer: Callable) -> str:
    """The function's own name, or "your function" for a lambda or a callable object."""
    name = getattr(answer, "__name__", "")
    return name if name.isidentifier() else "your function"


def _call(answer: Callable, args: tuple) -> str:
    """``my_window(a 5-value tensor, 40.0, 400.0)``: the call that went wrong, for messages."""
    return f"{_name(answer)}({', '.join(_short(a) for a in args)})"


def _shape(shape: tuple[int, ...]) -> str:
    return "a single number" if shape == () else f"shape {shape}"


# ------------------------------------------------------------------------ values to arrays


def _is_flag(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_count(value: object) -> bool:
    """True for integers and containers of them: such references are compared exactly."""
    if isinstance(value, (tuple, list)):
        return bool(value) and all(_is_count(v) for v in value)
    if isinstance(value, torch.Tensor):
        return not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "iu"
    return is_int(value)


def _to_array(value: object, label: str = "the answer") -> np.ndarray:
    """``value`` as a float64 numpy array, or :class:`BadAnswer` saying why it is not a number.

    Tensors may live on any device (CUDA ones are copied to the CPU); tuples and lists, of
    numbers or of tensors, nested or not, become one array when their items have one shape.

    Example:
        >>> _to_array((torch.tensor([1, 2]), torch.tensor([3.0, 4.0]))).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
        >>> _to_array("0")
        Traceback (most recent call last):
        ...
        mednotes.course.compare.BadAnswer: the answer is a str '0'; give a number, not text in quotes
    """
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise BadAnswer(f"{label} is a complex tensor: complex numbers are not accepted")
        if value.dtype == torch.bool:
            raise BadAnswer(f"{label} is a tensor of True/False: True/False is not a number")
        return value.detach().to("cpu", torch.float64).numpy()
    if isinstance(value, (tuple, list)):
        parts = [_to_array(item, f"item {i} of {label}") for i, item in enumerate(value)]
        shapes = {part.shape for part in parts}
        if len(shapes) > 1:
            listed = ", ".join(str(part.shape) for part in parts)
            raise BadAnswer(f"the items of {label} have different shapes ({listed})")
        return np.stack(parts) if parts else np.zeros((0,))
    if value is None:
        raise BadAnswer(f"{label} is None; give a number")
    if isinstance(value, (str, bytes)):
        raise BadAnswer(f"{label} is {_what(value)}; give a number, not text in quotes")
    if _is_flag(value):
        raise BadAnswer(f"{label} is {_what(value)}: True/False is not a number")
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        raise BadAnswer(f"{label} is {_what(value)}: complex numbers are not accepted; "
                        "give a real number")
    if isinstance(value, numbers.Real):
        return np.asarray(float(value))
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind in "iuf":
            return value.astype(np.float64)
        if kind == "O":
            return _to_array(value.tolist(), label)
        what = {"b": "True/False is not a number", "c": "complex numbers are not accepted",
                "U": "give numbers, not text", "S": "give numbers, not text"}
        raise BadAnswer(f"{label} is an array of dtype {value.dtype}: "
                        f"{what.get(kind, 'give numbers')}")
    raise BadAnswer(f"{label} is {_a(type(value).__name__)}; give a number, an array or a tensor")


# ------------------------------------------------------------------------ comparing


def _not_finite(have: np.ndarray, want: np.ndarray, label: str) -> str:
    """A sentence about NaN or inf in ``have`` where ``want`` has something else there."""
    nan = np.isnan(have) & ~np.isnan(want)
    inf = np.isinf(have) & (have != want)
    for mask, kind, cause in ((nan, "NaN", "a 0/0 somewhere?"),
                              (inf, "inf", "a division by zero?")):
        if mask.any():
            where = "" if have.ndim == 0 else f" at {int(mask.sum())} of {have.size} positions"
            return f"{label} has {kind}{where} where the reference has a number ({cause})"
    return ""


def _which_way(have: np.ndarray, want: np.ndarray, wrong: np.ndarray, label: str) -> str:
    """"the answer is too high", or which items are too high or too low: never a number.

    A difference would give a typed answer away (answer + difference = target), so only the
    direction is told, item by item for a tuple.
    """
    def way(index) -> str:
        return "too high" if have[index] > want[index] else "too low"

    if want.ndim == 0:
        return f"{label} is {way(())}"
    places = [tuple(int(i) for i in place) for place in np.argwhere(wrong)]
    named = [f"item {p[0] if len(p) == 1 else p} is {way(p)}" for p in places[:3]]
    more = f", and {len(places) - 3} more are wrong" if len(places) > 3 else ""
    return f"in {label}, {', '.join(named)}{more}"


def compare(got: object, expected: object, check: Check, label: str = "the answer") -> str:
    """What is wrong with ``got`` as an answer whose reference is ``expected``; ``""`` if nothing.

    The feedback never lets a student work the reference out: a single number or a typed
    tuple is told only "too high" or "too low"; a function's result with several values
    (an image, a tensor) is told its largest difference from the reference.

    Example:
        >>> spec = Check(reference=lambda: 1 / 6, hint="")
        >>> compare(0.167, 1 / 6, spec), compare(0.17, 1 / 6, spec)
        ('', 'the answer is too high')
        >>> compare((32, 32), (32, 33), Check(reference=lambda: (32, 33), hint=""))
        'in the answer, item 1 is too low'
        >>> compare(False, 0.0, spec)
        'the answer is a bool False: True/False is not a number'
    """
    if _is_flag(expected):
        if not _is_flag(got):
            return f"{label} is {_what(got)}; the answer here is True or False"
        return "" if bool(got) == bool(expected) else f"{label} is {bool(got)}, which is not right"
    want = _to_array(expected, "the reference")
    try:
        have = _to_array(got, label)
    except BadAnswer as err:
        return str(err)
    if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)) \
            and len(got) != len(expected):
        return f"{label} has {len(got)} item(s) where {len(expected)} were expected"
    if have.shape != want.shape:
        if isinstance(expected, (tuple, list)) and not isinstance(got, (tuple, list)):
            return (f"{label} is one value ({_shape(have.shape)}) where {len(expected)} values "
                    f"were expected; return them together, as in `return a, b`")
        return f"{label} has {_shape(have.shape)} where {_shape(want.shape)} was expected"
    problem = _not_finite(have, want, label)
    if problem:
        return problem
    rtol, atol = (0.0, 0.0) if _is_count(expected) else check.tolerance
    close = np.isclose(have, want, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return ""
    if (~np.isfinite(want) & np.isfinite(have)).any():
        return f"{label} has a number where the reference has NaN or inf"
    if want.size > 1 and check.wants_function:
        worst = float(np.max(np.abs(have - want)[~close]))
        return f"values differ from the reference (largest difference {worst:.3g})"
    return _which_way(have, want, ~close, label)


def _arity_problem(answer: Callable, check: Check) -> str:
    """A sentence when ``answer`` cannot take the check's arguments; ``""`` when it can."""
    args = check.cases[0]
    try:
        signature = inspect.signature(answer)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return ""
    try:
        signature.bind(*args)
        return ""
    except TypeError:
        pass
    if not args:
        return "this check wants a value, not a function that needs arguments; give the value"
    names = ", ".join(signature.parameters)
    try:
        wanted = f" ({', '.join(inspect.signature(check.reference).parameters)})"
    except (TypeError, ValueError):
        wanted = ""
    count = len(signature.parameters)
    return (f"{_name(answer)} takes {count} argument{'s' * (count != 1)} ({names}), "
            f"but the check calls it with {len(args)}{wanted}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    text = text[0] if text else ""
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _below(answer: Any, threshold: float) -> str:
    """What is wrong with a score that must reach ``threshold``; ``""`` when it does."""
    try:
        score = _to_array(answer, "the score")
    except BadAnswer as err:
        return str(err)
    if score.size != 1 or _is_flag(answer):
        return f"the answer should be a single number, the score; got {_what(answer)}"
    value = float(score.reshape(()))
    if not np.isfinite(value):
        shown = "NaN" if np.isnan(value) else str(value)
        return f"the score is {shown}, not a number that can reach the threshold"
    return "" if value >= threshold else (
        f"the score {value:.3g} is below the threshold of {threshold:g}")


def judge(check: Check, answer: Any) -> str:
    """What is wrong with ``answer`` for ``check``, in one sentence; ``""`` when it is right.

    A function answer is called on every case (on copies, so that in-place updates cannot
    leak from one call into the next) and judged at the first case that goes wrong, which the
    sentence names. ``...`` (the student version's stub for a value) is "not implemented yet".
    """
    if answer is Ellipsis:
        return NOT_ANSWERED
    if callable(answer):
        problem = _arity_problem(answer, check)
        if problem:
            return problem
    elif check.wants_function:
        return (f"this check calls a function on its own test inputs, but the answer is "
                f"{_what(answer)}; pass the function itself (its name, no parentheses)")
    for index, args in enumerate(check.cases):
        expected = check.reference(*copy.deepcopy(args))
        if not callable(answer):
            problem = (compare(answer, expected, check) if check.at_least is None
                       else _below(answer, check.at_least))
            if problem:
                return problem
            continue
        where = f"for {_call(answer, args)}: " if args else ""
        if check.names:
            where = f"in {check.names[index]}, {where}"
        try:
            got = answer(*copy.deepcopy(args))
        except NotImplementedError:
            return NOT_IMPLEMENTED
        except Exception as err:  # noqa: BLE001 - the student's code failed: that is feedback
            return f"{where}your code raised {_first_line(err)}"
        if got is Ellipsis:
            return NOT_IMPLEMENTED
        if got is None:
            return f"{where}your function returned None; it needs a `return` line"
        problem = (compare(got, expected, check, "the result" if args else "the answer")
                   if check.at_least is None else _below(got, check.at_least))
        if problem:
            return where + problem
    return ""


__all__ = ["COMPUTED_ATOL", "COMPUTED_RTOL", "NOT_ANSWERED", "NOT_IMPLEMENTED", "TYPED_RTOL",
           "BadAnswer", "Check", "compare", "judge", "refined"]
