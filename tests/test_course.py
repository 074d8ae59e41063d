"""Exercise checks and the student-version generator, in both directions.

Every registered check is run with its reference answer (which must pass), with that answer
perturbed, with plausible mistakes and with an unfinished stub (which must all fail, each with
a message); then every kind of answer that is not a number must fail with a sentence, never a
traceback and never a pass.
"""

from __future__ import annotations

import ast
import math
import re
from fractions import Fraction

import nbclient
import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES

import mednotes.course
from mednotes.conv import convolve, correlate
from mednotes.course import CHECKS, Verdict, check, make_student_notebook, write_student_versions
from mednotes.course.__main__ import main
from mednotes.course.compare import BadAnswer, Check, _to_array, judge
from mednotes.course.registry import CHAPTERS
from mednotes.course.student import strip_solutions
from notebooks import ROOT

EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
COURSE = ROOT / "mednotes" / "course"
CHECK_CALL = re.compile(r"""check\(\s*["'](\w+)["']""")


def reference_answer(spec: Check):
    """The answer a student who got everything right gives: the function, or its value."""
    return spec.reference if spec.wants_function else spec.reference()


def perturbed(value):
    """``value`` with one thing wrong: the last number off by one, or a flag flipped."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (tuple, list)):
        return type(value)([*value[:-1], perturbed(value[-1])])
    if isinstance(value, torch.Tensor):
        value = value.detach().contiguous().clone()
        value.view(-1)[-1] += 1
        return value
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.reshape(-1)[-1] += 1
        return value
    return value + 1


def run(name, answer, capsys) -> tuple[Verdict, str]:
    verdict = check(name, answer)
    return verdict, capsys.readouterr().out


# ------------------------------------------------------------------------ every check, both ways


@pytest.mark.parametrize("name", list(CHECKS))
def test_reference_answer_passes(name, capsys):
    verdict, out = run(name, reference_answer(CHECKS[name]), capsys)
    assert isinstance(verdict, Verdict) and verdict.passed and bool(verdict), verdict.reason
    assert out == f"✅ {name}: correct.\n"


@pytest.mark.parametrize("name", list(CHECKS))
def test_perturbed_answer_fails(name, capsys):
    spec = CHECKS[name]
    if spec.wants_function:
        def answer(*args):
            return perturbed(spec.reference(*args))
    else:
        answer = perturbed(spec.reference())
    verdict, out = run(name, answer, capsys)
    assert not verdict and verdict.reason
    assert out.startswith(f"❌ {name}: ") and f"Hint: {spec.hint}" in out


@pytest.mark.parametrize("name", list(CHECKS))
def test_unfinished_stub_fails(name, capsys):
    def stub(*args):
        raise NotImplementedError("Exercise: write your solution here")

    verdict, out = run(name, stub, capsys)
    assert not verdict and verdict.reason.startswith("not implemented yet")
    assert f"❌ {name}: not implemented yet" in out


def _convolve_instead(f, g):
    return convolve(f, g, mode="valid")


def _correlate_valid(f, g):
    return correlate(f, g, mode="valid")


def _batch_dims(x):
    return (0, *range(2, x.dim()))


#: Wrong ways to predict an alias; before (0.45, 4), (0.4, 4) and (0.7, 2) were among the
#: cases, the single fold passed.
ALIAS_MISTAKES = [
    ("alias_frequency", lambda f, s: f, "no aliasing"),
    ("alias_frequency", lambda f, s: f if f <= 1 / (2 * s) else abs(1 / s - f),
     "a single fold about the new Nyquist limit"),
    ("alias_frequency", lambda f, s: min(f, abs(1 / s - f)), "a single fold, written with min"),
    ("alias_frequency", lambda f, s: f if f <= 1 / (2 * s) else 1 / s - f,
     "a single fold without abs()"),
    ("alias_frequency", lambda f, s: f - round(f * s) / s, "forgot the abs()"),
    ("alias_frequency", lambda f, s: f if f <= 1 / s else abs(2 / s - f),
     "1/s taken as the Nyquist limit"),
    ("alias_frequency", lambda f, s: abs(f - round(f * s / 2) * 2 / s),
     "folded about multiples of 2/s (Nyquist taken as 1/s)"),
    ("alias_frequency", lambda f, s: abs(f * s - round(f * s)), "in cycles per new pixel"),
    ("alias_frequency", lambda f, s: abs(f - int(f * s) / s), "floor instead of round"),
    ("alias_frequency", lambda f, s: f % (1 / s), "wrapped but not folded"),
    ("alias_frequency", lambda f, s: abs(f - round(f / s) * s), "multiplied by s, not 1/s"),
    ("alias_frequency", lambda f, s: abs(f - round(f)) / s, "wrong sampling rate"),
]

#: Mistakes students make, each of which must fail: (check, wrong answer, why it is wrong).
PLAUSIBLE_MISTAKES = [
    ("water_hu", -1000, "air, not water"),
    ("air_hu", -1024, "the usual intercept, not air"),
    ("air_hu", 1000, "sign"),
    ("hu_from_raw", lambda s, m, b: s * m, "forgot the intercept"),
    ("hu_from_raw", lambda s, m, b: (s + b) * m, "intercept before the slope"),
    ("window", lambda hu, c, w: (hu - c) / w, "no offset, no clipping"),
    ("window", lambda hu, c, w: (hu - (c - w / 2)) / w, "no clipping"),
    ("conv_output_size", lambda n, k, s, p, d: (n + 2 * p - k) // s + 1, "ignored dilation"),
    ("conv_output_size", lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) / s + 1,
     "/ instead of //"),
    ("conv_params", lambda ci, co, k, bias, dims: co * ci * k**dims, "forgot the bias"),
    ("conv_params", lambda ci, co, k, bias, dims: co * ci * k * k + co * bias, "always 2D"),
    ("conv_macs", 128 * 128 * 64 * 3 * 3, "forgot the input channels"),
    ("conv_macs", 128 * 128 * 64 * 64 * 3 * 3 + 1, "off by one, which a tolerance would pass"),
    ("receptive_field", 9, "ignored the jump after the stride"),
    ("correlate_loops", _convolve_instead, "flipped the kernel"),
    ("convolve_loops", _correlate_valid, "did not flip the kernel"),
    ("correlate_same", _correlate_valid, "no padding"),
    ("batchnorm_stats", lambda x: (x.mean(_batch_dims(x)), x.var(_batch_dims(x))),
     "unbiased variance"),
    ("batchnorm_stats", lambda x: (x.mean(0), x.var(0, unbiased=False)), "only over the batch"),
    ("batchnorm_train", lambda x, g, b, eps: F.batch_norm(x, None, None, None, None, True),
     "forgot gamma and beta"),
    ("batchnorm_running", lambda rm, rv, x, m: (
        (1 - m) * rm + m * x.mean(_batch_dims(x)),
        (1 - m) * rv + m * x.var(_batch_dims(x), unbiased=False)), "biased running variance"),
    ("batchnorm_eval", lambda x, rm, rv, g, b, eps: F.batch_norm(x, None, None, g, b, True, 0.1,
                                                                 eps), "used the batch statistics"),
    ("block_params", lambda ci, co, k, dim, norm, bias: co * ci * k**dim + co * bias,
     "forgot the norm's gamma and beta"),
    ("block_default_bias", lambda norm: norm is None, "only without a norm"),
    ("block_default_bias", lambda norm: False, "never"),
    ("block_macs", lambda ci, co, k, dim, size, s: co * (size // s) ** dim * ci * k**dim,
     "floor instead of ceil"),
    ("encoder_stage_params", 64 * 32 * 27 + 64 * 64 * 27, "forgot the norms"),
    ("encoder_stage_params", 64 * 32 * 27 + 64 * 64 * 27 + 4 * 64 + 2 * 64, "with conv biases"),
    ("pool_output_size", lambda n, k, s, p, ceil: (n + 2 * p - k) // s + 1, "ignored ceil_mode"),
    ("pool_output_size", lambda n, k, s, p, ceil: -(-(n + 2 * p - k) // s) + 1 if ceil
     else (n + 2 * p - k) // s + 1, "ceil_mode without the padding rule"),
    ("pool_size_vgg", 14, "four halvings"),
    ("pool_size_odd", (32, 32), "ceil_mode changes nothing"),
    ("pool_size_odd", (33, 32), "swapped"),
    *ALIAS_MISTAKES,
    ("nyquist_after_stride", 1 / 3, "forgot the half"),
    ("nyquist_after_stride", 0.5, "the original Nyquist"),
    ("nyquist_after_stride", 1 / 4, "1/(s + 1)"),
    ("nyquist_after_stride", 0.17, "rounded to two figures: 2% off"),
    ("water_hu", 0.4, "close to 0 is not the definition"),
    ("air_hu", -1000.4, "close to -1000 is not the definition"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict, out = run(name, answer, capsys)
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out


@pytest.mark.parametrize("answer", [lambda f, s: abs(f - round(f * s) / s),
                                    lambda f, s: min(f % (1 / s), 1 / s - f % (1 / s))],
                         ids=["round", "wrap-then-fold"])
def test_alias_frequency_accepts_correct_formulas(answer, capsys):
    assert check("alias_frequency", answer)


def test_alias_frequency_needs_the_cases_past_one_fold():
    """Its first nine cases alone accept the single fold; the later ones reject it."""
    spec = CHECKS["alias_frequency"]
    single_fold = ALIAS_MISTAKES[1][1]
    first_nine = Check(reference=spec.reference, hint="", cases=spec.cases[:9], atol=spec.atol)
    assert judge(first_nine, single_fold) == ""
    assert "for your function(0.45, 4): the result is too high" in judge(spec, single_fold)


def test_every_check_is_used_by_an_exercise_and_every_used_check_exists():
    used = {name for path in EXERCISES
            for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
            for name in CHECK_CALL.findall(cell.source)}
    assert used - set(CHECKS) == set(), "exercises call checks that do not exist"
    assert set(CHECKS) - used == set(), "checks that no exercise uses"


# ------------------------------------------------------------- answers that are not numbers


def _only_the_mean(x):
    return x.mean(_batch_dims(x))


def _window_two_arguments(hu, c):
    return hu


BAD_ANSWERS = [
    ("water_hu", "0", "the answer is a str '0'; give a number, not text in quotes"),
    ("air_hu", "-1000", "the answer is a str '-1000'; give a number, not text in quotes"),
    ("water_hu", False, "the answer is a bool False: True/False is not a number"),
    ("air_hu", np.bool_(True), "True/False is not a number"),
    ("water_hu", 0j, "the answer is a complex 0j: complex numbers are not accepted"),
    ("air_hu", np.complex128(-1000), "complex numbers are not accepted"),
    ("water_hu", None, "the answer is None"),
    ("water_hu", float("nan"), "the answer has NaN where the reference has a number"),
    ("air_hu", -math.inf, "the answer has inf where the reference has a number"),
    ("conv_macs", np.array([1.0, 2.0]), "the answer has shape (2,) where a single number was"),
    ("conv_macs", object(), "the answer is an object; give a number, an array or a tensor"),
    ("pool_size_odd", (32, "33"), "item 1 of the answer is a str '33'"),
    ("pool_size_odd", (32,), "the answer has 1 item(s) where 2 were expected"),
    ("pool_size_odd", (32, 33j), "item 1 of the answer is a complex 33j"),
    ("hu_from_raw", lambda s, m, b: "0", "the result is a str '0'; give a number, not text"),
    ("hu_from_raw", lambda s, m, b: s > 0, "a tensor of True/False: True/False is not a number"),
    ("hu_from_raw", lambda s, m, b: None, "your function returned None; it needs a `return`"),
    ("hu_from_raw", lambda s, m, b: (s * m + b).flatten()[:3],
     "the result has shape (3,) where shape (128, 128) was expected"),
    ("hu_from_raw", lambda s, m, b: 1 / 0,
     "for your function(a 128×128 tensor, 1.0, -1024.0): your code raised ZeroDivisionError"),
    ("window", lambda hu, c, w: hu * torch.nan, "the result has NaN at 5 of 5 positions"),
    ("window", lambda hu, c, w: torch.complex(hu, hu), "complex numbers are not accepted"),
    ("window", _window_two_arguments,
     "_window_two_arguments takes 2 arguments (hu, c), but the check calls it with 3 (hu, c, w)"),
    ("window", 0.5, "but the answer is a float 0.5; pass the function itself"),
    ("water_hu", lambda x: 0, "this check wants a value, not a function that needs arguments"),
    ("batchnorm_stats", _only_the_mean,
     "the result is one value (shape (2,)) where 2 values were expected; return them together"),
    ("block_default_bias", lambda norm: 1, "the result is an int 1; the answer here is True or"),
    ("window", None, "the answer is None; pass the function itself"),
]


@pytest.mark.parametrize("name, answer, message", BAD_ANSWERS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_ANSWERS)])
def test_an_answer_that_is_not_a_number_fails_with_a_sentence(name, answer, message, capsys):
    verdict, out = run(name, answer, capsys)  # never raises: a wrong answer is a verdict
    assert not verdict and message in verdict.reason
    assert out.startswith(f"❌ {name}: ") and message in out and "Hint:" in out


def test_nan_passes_only_where_the_reference_is_nan():
    spec = Check(reference=lambda: [1.0, math.nan], hint="")
    assert judge(spec, [1.0, math.nan]) == ""
    assert judge(spec, np.array([1.0, math.nan])) == ""
    assert "has a number where the reference has NaN" in judge(spec, [1.0, 2.0])
    assert "has NaN at 1 of 2 positions" in judge(spec, [math.nan, math.nan])


def test_counts_are_exact_but_real_numbers_have_a_tolerance():
    count = Check(reference=lambda: 10**9, hint="")
    real = Check(reference=lambda: 1e9, hint="")
    assert judge(count, 10**9) == "" and judge(count, 1e9) == ""  # 1e9 is the same number
    assert judge(count, 10**9 + 1) == "the answer is too high"
    assert judge(real, 1e9 + 1) == ""  # within the typed tolerance


# ------------------------------------------------------------------------ typed decimals


@pytest.mark.parametrize("typed, passes", [
    (0.167, True), (0.1667, True), (1 / 6 * (1 + 1e-3), True), (1 / 6 * (1 - 1e-3), True),
    (1 / 6, True), (0.17, False), (0.16, False), (1 / 6 * (1 + 1e-2), False),
    (1 / 6 * (1 - 1e-2), False)])
def test_a_typed_decimal_passes_to_three_significant_figures(typed, passes, capsys):
    assert bool(check("nyquist_after_stride", typed)) is passes


def _typed_float_checks() -> list[str]:
    return [name for name, spec in CHECKS.items() if not spec.wants_function
            and not isinstance(spec.reference(), (bool, int, tuple, list))
            and spec.reference() != 0]


def test_every_typed_decimal_check_is_found():
    assert "nyquist_after_stride" in _typed_float_checks()


@pytest.mark.parametrize("name", _typed_float_checks())
def test_typed_decimals_pass_within_1e3_and_fail_1e2_off(name, capsys):
    value = CHECKS[name].reference()
    for factor in (1 + 1e-3, 1 - 1e-3):
        assert check(name, value * factor), f"{name}: {factor} x the answer should pass"
    for factor in (1 + 1e-2, 1 - 1e-2):
        assert not check(name, value * factor), f"{name}: {factor} x the answer should fail"


def test_computed_results_keep_a_tight_tolerance(capsys):
    reference = CHECKS["alias_frequency"].reference
    assert not check("alias_frequency", lambda f, s: reference(f, s) * (1 + 1e-3))
    assert check("alias_frequency", lambda f, s: reference(f, s) * (1 + 1e-12))


@pytest.mark.parametrize("kwargs, message", [
    ({"reference": 3}, "reference must be a function"),
    ({"reference": lambda: 3, "hint": None}, "hint must be a str"),
    ({"reference": lambda x: x, "cases": (1, 2)}, "cases must be a non-empty tuple"),
    ({"reference": lambda: 3, "rtol": -1.0}, "rtol must be a number >= 0"),
])
def test_a_badly_defined_check_fails_early(kwargs, message):
    kwargs = {"hint": "", **kwargs}
    with pytest.raises((TypeError, ValueError), match=message):
        Check(**kwargs)


# ------------------------------------------------------------------------ no answer given away


def spellings(value) -> list[str]:
    """The ways feedback could write ``value``: int, repr, 2-4 decimals, a fraction, −."""
    if isinstance(value, (tuple, list)):
        return [f"({', '.join(str(v) for v in value)})"] + [s for v in value for s in spellings(v)]
    value = float(value)
    texts = {repr(value), f"{value:g}", f"{value:.3g}"}
    texts |= {f"{value:.{n}f}" for n in range(1, 5)}
    if value.is_integer():
        texts.add(str(int(value)))
    else:
        fraction = Fraction(value).limit_denominator(1000)
        if abs(float(fraction) - value) < 1e-12:
            texts.add(f"{fraction.numerator}/{fraction.denominator}")
    texts |= {t.replace("0.", ".", 1) for t in texts if t.startswith("0.")}
    texts |= {t.replace("-", "−") for t in texts}
    return sorted(texts)


def shows(text: str, value) -> list[str]:
    """The spellings of ``value`` that stand as a number of their own in ``text``."""
    return [s for s in spellings(value)
            if re.search(rf"(?<![\w.]){re.escape(s)}(?!\d|\.\d)", text)]


def test_spellings_find_a_number_only_where_it_stands_alone():
    assert shows("it is 0.167 here", 1 / 6) == ["0.167"] and shows("1/6 of it", 1 / 6)
    assert shows("1000 · (μ − μ_water)", -1000) == [] and shows("at −1000 HU", -1000)
    assert shows("(k − 1)", 0) == [] and shows("10.5 or 2107", 10) == []
    assert shows("(32, 33)", (32, 33)) and shows("item 33", (32, 33))


def _wrong_values(value):
    """Wrong typed answers: the reference moved by an amount no hint would contain."""
    if isinstance(value, (tuple, list)):
        return [type(value)(v + 37 if i == j else v for j, v in enumerate(value))
                for i in range(len(value))]
    if isinstance(value, bool):
        return [not value]
    return [value + 37, value - 37] if isinstance(value, int) else [value * 1.37, value * 0.63]


VALUE_CHECKS = [name for name, spec in CHECKS.items() if not spec.wants_function]


@pytest.mark.parametrize("name", VALUE_CHECKS)
def test_feedback_on_a_wrong_value_does_not_give_the_answer_away(name, capsys):
    value = CHECKS[name].reference()
    for wrong in _wrong_values(value):
        verdict, out = run(name, wrong, capsys)
        assert not verdict
        for feedback in (out, verdict.reason):
            assert shows(feedback, value) == [], f"{name}: the answer shows in {feedback!r}"
            assert "difference" not in feedback, f"{name}: a difference shows in {feedback!r}"
            if not isinstance(value, (tuple, list)):
                assert shows(feedback, abs(wrong - value)) == [], feedback
        assert re.search(r"too (high|low)", verdict.reason), verdict.reason


def _single_number(value) -> bool:
    return not isinstance(value, (bool, np.bool_)) and _to_array(value).size == 1


def _scalar_function_checks() -> list[str]:
    return [name for name, spec in CHECKS.items() if spec.wants_function
            and all(_single_number(spec.reference(*case)) for case in spec.cases)]


def test_scalar_function_checks_are_found():
    assert {"conv_output_size", "pool_output_size", "alias_frequency"} <= set(
        _scalar_function_checks())


@pytest.mark.parametrize("name", _scalar_function_checks())
def test_a_function_with_a_single_number_result_is_told_no_difference(name, capsys):
    spec = CHECKS[name]
    verdict, out = run(name, lambda *args: spec.reference(*args) + 37, capsys)
    assert not verdict and "too high" in verdict.reason
    assert "difference" not in out and "37" not in out


def test_a_result_with_many_values_is_told_its_largest_difference():
    spec = Check(reference=lambda x: x * 2, cases=((np.arange(4.0),),), hint="")
    assert judge(spec, lambda x: x * 2 + np.array([0, 0, 0.5, 0])).endswith(
        "values differ from the reference (largest difference 0.5)")
    typed = Check(reference=lambda: (3, 4), hint="")
    assert judge(typed, (3, 5)) == "in the answer, item 1 is too high"
    many = Check(reference=lambda: list(range(6)), hint="")
    assert judge(many, [9, 9, 9, 9, 9, 9]).endswith(", and 3 more are wrong")


def test_a_student_function_cannot_change_the_check_inputs_for_the_next_call(capsys):
    def in_place(running_mean, running_var, x, momentum):  # correct, but updates in place
        dims = _batch_dims(x)
        n = x.numel() / x.shape[1]
        running_mean.mul_(1 - momentum).add_(momentum * x.mean(dims))
        running_var.mul_(1 - momentum).add_(momentum * x.var(dims, unbiased=False) * n / (n - 1))
        return running_mean, running_var

    before = [arg.clone() for arg in CHECKS["batchnorm_running"].cases[0][:2]]
    assert check("batchnorm_running", in_place) and check("batchnorm_running", in_place)
    after = CHECKS["batchnorm_running"].cases[0][:2]
    assert all(torch.equal(b, a) for b, a in zip(before, after))
    assert capsys.readouterr().out.count("✅") == 2


# ------------------------------------------------------------------------ tuples and devices


def test_to_array_takes_tuples_and_lists_of_tensors_and_nested_numbers():
    pair = (torch.tensor([1.0, 2.0]), torch.tensor([3, 4]))
    assert _to_array(pair).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert _to_array([torch.ones(2, 2), np.zeros((2, 2))]).shape == (2, 2, 2)
    assert _to_array(((1, 2), (3, 4.5))).tolist() == [[1.0, 2.0], [3.0, 4.5]]
    assert _to_array(torch.tensor(2.0, dtype=torch.bfloat16)).dtype == np.float64
    with pytest.raises(BadAnswer, match=r"the items of the answer have different shapes"):
        _to_array((torch.ones(2), torch.ones(3)))
    with pytest.raises(BadAnswer, match=r"item 1 of item 0 of the answer is None"):
        _to_array(((1, None), (2, 3)))


def test_check_accepts_a_tuple_or_a_list_of_tensors(capsys):
    def as_list(x):
        dims = _batch_dims(x)
        return [x.mean(dims), x.var(dims, unbiased=False)]

    def float32_tuple(x):
        return tuple(t.float() for t in as_list(x))

    assert check("batchnorm_stats", as_list) and check("batchnorm_stats", float32_tuple)
    assert capsys.readouterr().out.count("✅ batchnorm_stats: correct.") == 2


@pytest.mark.parametrize("device", DEVICES)
def test_check_accepts_tensors_on_any_device(device, capsys):
    def stats_on_device(x):
        x = x.to(device)
        dims = _batch_dims(x)
        return x.mean(dims), x.var(dims, unbiased=False)

    def hu_on_device(stored, slope, intercept):
        return stored.to(device) * slope + intercept

    assert check("batchnorm_stats", stats_on_device) and check("hu_from_raw", hu_on_device)
    wrong = check("hu_from_raw", lambda s, m, b: s.to(device) * m)
    assert not wrong and "values differ from the reference" in wrong.reason
    pair = (torch.ones(3, device=device), torch.zeros(3, device=device))
    assert _to_array(pair).tolist() == [[1.0] * 3, [0.0] * 3]
    out = capsys.readouterr().out
    assert out.count("✅") == 2 and "❌ hu_from_raw" in out


# ------------------------------------------------------------------------ names and layout


def test_unknown_names_suggest_close_ones():
    with pytest.raises(ValueError, match=r"unknown check 'windw'; did you mean 'window'\?"):
        check("windw", 1)
    with pytest.raises(ValueError, match=r"did you mean 'pool_size_odd' or 'pool_size_vgg'"):
        check("pool_size_od", 1)
    with pytest.raises(ValueError, match=r"unknown check 'nope'; the checks are: air_hu, "):
        check("nope", 1)
    with pytest.raises(TypeError, match=r"name must be the check's name as a str.*got int 3"):
        check(3, 1)


def test_checks_are_listed_before_any_check_runs():
    assert "window" in CHECKS and len(CHECKS) == len(list(CHECKS)) > 20
    assert isinstance(CHECKS["window"], Check)
    with pytest.raises(TypeError):
        CHECKS["window"] = CHECKS["air_hu"]  # read-only


def _course_imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mednotes.course"):
            found.add(node.module.removeprefix("mednotes.course").lstrip(".") or "__init__")
    return found


def test_course_modules_import_each_other_without_a_cycle():
    modules = {p.stem: _course_imports(p) for p in COURSE.glob("*.py")}
    modules["registry"] |= set(CHAPTERS)  # imported by name, on first use
    assert modules["compare"] == set(), "the comparison machinery must not know the exercises"
    for chapter in CHAPTERS:
        assert modules[chapter] == {"compare"}, chapter

    def visit(module, path):
        assert module not in path, f"import cycle: {' -> '.join([*path, module])}"
        for imported in modules.get(module, ()):
            visit(imported, [*path, module])

    for module in modules:
        visit(module, [])
    assert mednotes.course.check is check and callable(check)  # not shadowed by a submodule


def test_no_function_in_the_course_package_is_over_80_lines():
    long = [f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in COURSE.glob("*.py") for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 80]
    assert long == []


# ------------------------------------------------------------------------ student versions


def test_strip_solutions_keeps_the_surroundings_and_indentation():
    source = "x = 1\nif x:\n    # BEGIN SOLUTION\n    y = 2\n    # END SOLUTION\nprint(y)"
    assert strip_solutions(source) == (
        'x = 1\nif x:\n    raise NotImplementedError("Exercise: write your solution here")\nprint(y)'
    )


@pytest.mark.parametrize("source, message", [
    ("# END SOLUTION", "END SOLUTION without BEGIN"),
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another"),
])
def test_strip_solutions_rejects_broken_markers(source, message):
    with pytest.raises(ValueError, match=message):
        strip_solutions(source)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_student_version_has_no_solution_and_no_output(path):
    instructor = nbformat.read(path, as_version=4)
    student = make_student_notebook(instructor)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in code and "NotImplementedError" in code
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert instructor.cells[0].source == student.cells[0].source
    assert any("BEGIN SOLUTION" in c.source for c in instructor.cells), "instructor copy changed"


def _cell_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        if output.get("output_type") == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
    return "\n".join(parts)


def _printed(notebook) -> str:
    """What the cells printed or displayed, check verdicts and tracebacks left out."""
    text = "\n".join(output.get("text", "") + output.get("data", {}).get("text/plain", "")
                     for cell in notebook.cells for output in cell.get("outputs", []))
    return "\n".join(line for line in text.splitlines()
                     if not line.startswith(("✅ ", "❌ ", "   Hint: ")))


@pytest.mark.slow
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_generated_student_version_fails_every_check(path, tmp_path):
    """Run the whole student notebook, errors and all, as a student who fills nothing in.

    Nothing in it may pass, and nothing it prints may give a typed answer away: a cell that
    shows the library's own answer (a receptive-field table, a pooled shape) runs only once
    the student's answer has passed.
    """
    [written] = write_student_versions(path, tmp_path)
    notebook = nbformat.read(written, as_version=4)
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    checked = 0
    for cell in notebook.cells:
        names = CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []
        if not names:
            continue
        text = _cell_text(cell)
        assert "✅" not in text, text
        # A stubbed function prints ❌ ... not implemented yet; a stubbed value was never
        # assigned, so the check cell stops at a NameError: either way, nothing passes.
        first = names[0]
        assert (f"❌ {first}: not implemented yet" in text
                or re.search(r"NameError: name '\w+' is not defined", text)), text
        checked += 1
    assert checked >= 1
    printed = _printed(notebook)
    for name in {n for c in notebook.cells for n in CHECK_CALL.findall(c.source)}:
        if not CHECKS[name].wants_function:
            answer = CHECKS[name].reference()
            assert shows(printed, answer) == [], f"the student version shows {name}'s answer"


def test_writer_never_overwrites_without_force(tmp_path):
    out = tmp_path / "student"
    write_student_versions(ROOT / "exercises", out)
    target = out / EXERCISES[0].name
    target.write_text("a student's work")
    with pytest.raises(FileExistsError, match="--force"):
        write_student_versions(ROOT / "exercises", out)
    assert target.read_text() == "a student's work"
    write_student_versions(ROOT / "exercises", out, force=True)
    assert "BEGIN SOLUTION" not in target.read_text()


def test_writer_refuses_to_write_over_the_instructor_folder():
    with pytest.raises(ValueError, match="out must differ"):
        write_student_versions(ROOT / "exercises", ROOT / "exercises", force=True)


def test_command_line(tmp_path, capsys):
    assert main(["student", str(ROOT / "exercises"), "--out", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["student", str(ROOT / "exercises"), "--out", str(tmp_path)]) == 2
    assert "already exist" in capsys.readouterr().err
    assert main(["student", str(tmp_path / "nothing.txt"), "--out", str(tmp_path / "x")]) == 2
