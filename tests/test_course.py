"""Exercise checks and the student-version generator, in both directions.

Every registered check is run with its reference answer (which must pass), with that answer
perturbed, with plausible mistakes and with an unfinished stub (which must all fail, each with
a message, a hint and the chapter to reread); then every kind of answer that is not a number
must fail with a sentence, never a traceback and never a pass. Hints come in tiers, and no
hint and no feedback gives a typed answer away. The plausible mistakes of the first four
chapters are listed here; test_course_{unet,losses,resnets}.py list those of the others.
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
from notebooks import ROOT

import mednotes.course
from mednotes.conv import convolve, correlate
from mednotes.course import (
    CHECKS,
    CheckFailed,
    Verdict,
    check,
    hint,
    make_student_notebook,
    write_student_versions,
)
from mednotes.course.__main__ import main
from mednotes.course.checks import _SHOWN
from mednotes.course.compare import NOT_ANSWERED, BadAnswer, Check, _to_array, judge, refined
from mednotes.course.registry import CHAPTERS, PAGES, page
from mednotes.course.student import assigned_names, drop_hidden_tests, strip_solutions

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
    elif spec.at_least is not None:  # a score to reach: just below it fails
        answer = spec.at_least - 0.01
    else:
        answer = perturbed(spec.reference())
    verdict, out = run(name, answer, capsys)
    assert not verdict and verdict.reason
    title, path = page(name)
    assert out.startswith(f"❌ {name}: ") and f"Hint: {spec.hints[0]}" in out
    assert f"Reread: [{title}](../{path})" in out


@pytest.mark.parametrize("name", list(CHECKS))
def test_unfinished_stub_fails(name, capsys):
    def stub(*args):
        raise NotImplementedError("Exercise: write your solution here")

    verdict, out = run(name, stub, capsys)
    assert not verdict and verdict.reason.startswith("not implemented yet")
    assert f"❌ {name}: not implemented yet" in out


@pytest.mark.parametrize("name", list(CHECKS))
def test_a_value_left_at_its_stub_is_not_implemented_yet(name, capsys):
    verdict, out = run(name, ..., capsys)  # the student version's `rf = ...  # your answer`
    assert not verdict and verdict.reason == NOT_ANSWERED
    assert f"❌ {name}: not implemented yet: replace the `...` with your answer." in out


@pytest.mark.parametrize("name", list(CHECKS))
def test_strict_raises_an_assertion_error_only_on_failure(name, capsys):
    spec = CHECKS[name]
    assert check(name, reference_answer(spec), strict=True)
    with pytest.raises(AssertionError, match=f"{name} has not passed yet") as failure:
        check(name, ..., strict=True)
    assert isinstance(failure.value, CheckFailed)
    assert failure.value._render_traceback_() == [f"CheckFailed: {failure.value}"]
    assert capsys.readouterr().out.count("❌") == 1


def test_quiet_prints_nothing_and_strict_and_quiet_take_only_bools(capsys):
    assert not check("water_hu", 5, quiet=True) and check("water_hu", 0, quiet=True)
    assert capsys.readouterr().out == ""
    with pytest.raises(TypeError, match="strict must be True or False, got int 1"):
        check("water_hu", 0, strict=1)
    with pytest.raises(TypeError, match="quiet must be True or False"):
        check("water_hu", 0, quiet="no")


def test_the_verdict_carries_what_was_printed(capsys):
    verdict = check("pool_size_vgg", 14)
    assert capsys.readouterr().out == verdict.message + "\n"
    assert verdict.hint == CHECKS["pool_size_vgg"].hints[0]
    assert verdict.reread == "[Pooling, downsampling and aliasing](../book/principles/03_pooling.ipynb)"
    assert 'More help: hint("pool_size_vgg") gives the next hint.' in verdict.message
    assert check("pool_size_vgg", 7).message == "✅ pool_size_vgg: correct."


# ------------------------------------------------------------------------ tiered hints


#: The chapters whose checks have tiered hints, named cases and listed mistakes (Part II's
#: practices may have single hints).
PART_ONE_MODULES = ("checks_first_look", "checks_convolution", "checks_layers",
                    "checks_pooling", "checks_unet", "checks_losses", "checks_resnets")
PART_ONE = [name for name in CHECKS if CHECKS.chapter[name] in PART_ONE_MODULES]


@pytest.mark.parametrize("name", PART_ONE)
def test_part_one_hints_come_in_tiers(name):
    hints = CHECKS[name].hints
    assert len(hints) >= 2 and len(set(hints)) == len(hints), "the idea, then the formula"


@pytest.mark.parametrize("name", list(CHECKS))
def test_hint_gives_the_next_level_then_repeats_the_last(name, capsys):
    hints = CHECKS[name].hints  # a single hint (allowed in Part II) is one level
    _SHOWN.pop(name, None)
    check(name, ...)                      # a failure shows level 1
    assert f"Hint: {hints[0]}" in capsys.readouterr().out
    for level in range(2, len(hints) + 1):
        hint(name)
        assert capsys.readouterr().out == (
            f"Hint {level} of {len(hints)} for {name}: {hints[level - 1]}\n")
    hint(name)
    assert "(the last one)" in capsys.readouterr().out


def test_hint_before_any_check_starts_at_level_one(capsys):
    _SHOWN.pop("window", None)
    hint("window")
    assert capsys.readouterr().out.startswith("Hint 1 of 2 for window: A window chooses")
    with pytest.raises(ValueError, match="unknown check 'windw'"):
        hint("windw")


def test_a_check_with_one_hint_still_works(capsys):
    """The Part II modules may define a single hint str: that is one level."""
    single = Check(reference=lambda: 3, hint="one hint only")
    assert single.hints == ("one hint only",)
    assert refined({"x": single}, ideas={"x": "the idea"})["x"].hints == (
        "the idea", "one hint only")
    with pytest.raises(ValueError, match="ideas name checks that do not exist: y"):
        refined({"x": single}, ideas={"y": "the idea"})
    with pytest.raises(ValueError, match="names must name every case: 1 cases, 2 names"):
        Check(reference=lambda a: a, cases=((1,),), hint="", names=("a", "b"))
    with pytest.raises(TypeError, match="hint must be a str or a non-empty tuple"):
        Check(reference=lambda: 3, hint=())


@pytest.mark.parametrize("name", [n for n in CHECKS if not CHECKS[n].wants_function])
def test_no_hint_states_the_answer(name):
    value = CHECKS[name].reference()
    for level, text in enumerate(CHECKS[name].hints, start=1):
        assert shows(text, value) == [], f"{name}: hint {level} gives the answer: {text!r}"


def test_every_check_names_its_chapter_by_the_chapter_s_own_title():
    assert set(PAGES) == set(CHAPTERS)
    for name in CHECKS:
        title, path = page(name)
        if name in PART_ONE:  # Part II's chapters are being written: present or not yet
            assert (ROOT / path).is_file(), (name, path)
        if (ROOT / path).is_file():
            first = nbformat.read(ROOT / path, as_version=4).cells[0].source.splitlines()[0]
            assert first == f"# {title}", (name, first)


def test_part_one_function_checks_with_tensor_inputs_name_their_cases():
    def takes_arrays(spec):
        return any(isinstance(a, (torch.Tensor, np.ndarray)) for case in spec.cases for a in case)

    unnamed = [n for n in PART_ONE if takes_arrays(CHECKS[n]) and not CHECKS[n].names]
    assert unnamed == []
    verdict = check("batchnorm_stats", lambda x: (x.mean((0, 2, 3)), x.var((0, 2, 3))))
    assert verdict.reason.startswith("in the small 2×2×2×2 batch you can do on paper, for ")
    volume = check("batchnorm_train", lambda x, g, b, eps: torch.nn.functional.batch_norm(
        x, None, None, g, b, True, 0.1, eps) if x.dim() == 4 else x)
    assert volume.reason.startswith("in the 5-D volume case, for ")


def _convolve_instead(f, g):
    return convolve(f, g, mode="valid")


def _correlate_valid(f, g):
    return correlate(f, g, mode="valid")


def _batch_dims(x):
    return (0, *range(2, x.dim()))


def _bn_shape(x):
    return (1, -1) + (1,) * (x.dim() - 2)


def _bn_train_unbiased(x, gamma, beta, eps):
    dims = _batch_dims(x)
    x_hat = (x - x.mean(dims, keepdim=True)) / torch.sqrt(x.var(dims, keepdim=True) + eps)
    return x_hat * gamma.view(_bn_shape(x)) + beta.view(_bn_shape(x))


def _bn_train_no_eps(x, gamma, beta, eps):
    return F.batch_norm(x, None, None, gamma, beta, True, 0.1, 0.0)


def _bn_eval_unbiased_fix(x, rm, rv, gamma, beta, eps):
    n = x.numel() / x.shape[1]
    return F.batch_norm(x, rm, rv * (n - 1) / n, gamma, beta, False, 0.1, eps)


def _correlate_same_off_by_one(f, g):
    return correlate(np.pad(f, g.shape[0] // 2 + 1), g, mode="valid")


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
    ("conv_output_size", lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s,
     "off by one: forgot the + 1"),
    ("conv_output_size", lambda n, k, s, p, d: (n + p - d * (k - 1) - 1) // s + 1,
     "padding on one side only"),
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
    ("batchnorm_train", _bn_train_unbiased, "unbiased variance"),
    ("batchnorm_train", _bn_train_no_eps, "forgot eps"),
    ("batchnorm_eval", _bn_eval_unbiased_fix, "running variance rescaled to biased"),
    ("correlate_same", _correlate_same_off_by_one, "one pixel too much padding"),
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
    # practices 16 and 19: one mistake each here, the others in test_course_convolution.py
    # and test_course_pooling.py
    ("conv1d_input_grad_by_hand", [-6, 11, -15], "padded on one side only: as long as y"),
    ("conv1d_weight_grad_by_hand", [-10, -10, -10], "the first tap's sum for every tap"),
    ("conv2d_input_grad", lambda g, w: F.conv_transpose2d(g, w.flip(-2, -1)),
     "flipped by hand, then conv_transpose2d: flipped twice"),
    ("conv2d_weight_grad", lambda x, g: F.conv2d(x.transpose(0, 1), g.transpose(0, 1)).transpose(
        0, 1) / g[0, 0].numel(), "a mean over the positions"),
    ("conv2d_input_grad_strided", lambda g, w, s, size: F.pad(F.conv_transpose2d(g, w), (
        0, size[1] - g.shape[-1] - w.shape[-1] + 1, 0, size[0] - g.shape[-2] - w.shape[-1] + 1)),
     "the stride ignored, zeros padded up to the size"),
    ("binomial_kernel_2d", [[0.25, 0.5, 0.25]] * 3, "the 1-D kernel in every row"),
    ("blur_gain_at_new_nyquist", 0.707, "|cos(πf)|, a 2-tap box, not cos²(πf)"),
    ("blur_frequency_response", lambda f: abs(math.cos(2 * math.pi * f)), "the outer taps only"),
    ("blurpool2d", lambda x, stride=2: x[..., ::stride, ::stride], "no blur: naive subsampling"),
    ("shift_equivariance", lambda op, x, shift: float(
        (torch.roll(x, shift, (2, 3)) - x).norm() / x.norm()), "the input's change measured"),
    ("max_vs_max_blur_shift_error", CHECKS["max_vs_max_blur_shift_error"].reference()[:1] * 2,
     "max pooling's error twice"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict, out = run(name, answer, capsys)
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out and "Reread: [" in out


def test_every_check_of_part_one_has_plausible_mistakes_listed():
    """Each chapter's practices list the mistakes students make, here or in
    test_course_<chapter>.py; a check without any would pass them unnoticed."""
    import test_course_convolution
    import test_course_layers
    import test_course_losses
    import test_course_pooling
    import test_course_resnets
    import test_course_unet

    modules = (test_course_convolution, test_course_layers, test_course_losses,
               test_course_pooling, test_course_resnets, test_course_unet)
    listed = {name for module in modules for name, _, _ in module.PLAUSIBLE_MISTAKES}
    listed |= {name for name, _, _ in PLAUSIBLE_MISTAKES}
    part_one = {name for name in CHECKS if CHECKS.chapter[name] in PART_ONE_MODULES}
    assert part_one - listed == set()


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
    """Value checks whose answer is one real number, typed by hand (not 0: no relative
    tolerance there)."""
    def typed_float(value) -> bool:
        return (not isinstance(value, (bool, int, tuple, list)) and np.size(value) == 1
                and float(value) != 0)

    return [name for name, spec in CHECKS.items() if not spec.wants_function
            and spec.at_least is None and typed_float(spec.reference())]


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
    ({"reference": lambda: 1.0, "at_least": float("nan")}, "at_least must be a finite number"),
    ({"reference": lambda: 1.0, "at_least": True}, "at_least must be a finite number"),
    ({"reference": lambda x: x, "cases": ((1,),), "at_least": 0.5}, "cannot be used with cases"),
])
def test_a_badly_defined_check_fails_early(kwargs, message):
    kwargs = {"hint": "", **kwargs}
    with pytest.raises((TypeError, ValueError), match=message):
        Check(**kwargs)


# ------------------------------------------------------------------------ no answer given away


def spellings(value) -> list[str]:
    """The ways feedback could write ``value``: int, repr, 2-4 decimals, a fraction, −."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.flatten().tolist() if value.ndim else value.item()
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


# A score to reach (``at_least``) has no secret answer: its threshold is stated in the practice.
VALUE_CHECKS = [name for name, spec in CHECKS.items()
                if not spec.wants_function and spec.at_least is None]


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


def _scalar_cases() -> list[tuple[str, int]]:
    """(check, case index) for every case of every function check whose reference is one
    number: feedback there must not give the number away."""
    return [(name, index) for name, spec in CHECKS.items() if spec.wants_function
            for index, case in enumerate(spec.cases)
            if _single_number(spec.reference(*case))]


@pytest.mark.parametrize("name, index", _scalar_cases(),
                         ids=[f"{n}-{i}" for n, i in _scalar_cases()])
def test_no_feedback_reveals_a_scalar_target_of_any_case(name, index):
    """Over every check and every case with a one-number reference: an answer wrong on that
    case alone is told too high or too low, never a difference or the target itself."""
    spec = CHECKS[name]
    one = Check(reference=spec.reference, hint=spec.hint, cases=(spec.cases[index],),
                rtol=spec.rtol, atol=spec.atol,
                names=(spec.names[index],) if spec.names else ())
    target = float(_to_array(spec.reference(*spec.cases[index])).reshape(-1)[0])
    for wrong in (lambda *a: spec.reference(*a) + 37, lambda *a: spec.reference(*a) * 1.37 + 0.01):
        reason = judge(one, wrong)
        assert re.search(r"too (high|low)$", reason), reason
        said = reason.split("): ", 1)[-1]       # what follows the named case and the call
        assert "difference" not in said and shows(said, target) == [], reason


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


@pytest.mark.parametrize("marker", ["###", "#"])
def test_strip_solutions_keeps_the_surroundings_and_indentation(marker):
    source = (f"x = 1\nif x:\n    {marker} BEGIN SOLUTION\n    y = 2\n    {marker} END SOLUTION\n"
              "print(y)")
    assert strip_solutions(source) == (
        'x = 1\nif x:\n    raise NotImplementedError("Exercise: write your solution here")\nprint(y)'
    )


def test_a_value_solution_becomes_a_stub_that_names_what_to_define():
    source = "### BEGIN SOLUTION\nmargin = (572 - 388) // 2\ntiles = 3 * 3\n### END SOLUTION"
    assert strip_solutions(source) == "margin = ...  # your answer\ntiles = ...  # your answer"
    # nbgrader's form: the stub line stands before the block already, and is not repeated
    assert strip_solutions("rf = ...  # your answer\n" + source.replace("margin", "rf")) == (
        "rf = ...  # your answer\ntiles = ...  # your answer")
    # a block that does more than assign values stays a NotImplementedError
    loop = "### BEGIN SOLUTION\nfor i in range(3):\n    print(i)\n### END SOLUTION"
    assert strip_solutions(loop).startswith("raise NotImplementedError(")
    assert assigned_names("a = b = 1\nc: int = 2") == ["a", "b", "c"]
    assert assigned_names("import math\nx = math.pi") == ["x"]
    assert assigned_names("import math") == []


def test_hidden_tests_are_removed():
    source = ('check("x", x, strict=True)\n### BEGIN HIDDEN TESTS\nassert _check("x", x)\n'
              "### END HIDDEN TESTS\nprint(1)")
    assert strip_solutions(source) == 'check("x", x, strict=True)\nprint(1)'


def test_the_website_keeps_the_solutions_and_drops_only_the_hidden_tests():
    source = ("### BEGIN SOLUTION\nx = 2\n### END SOLUTION\ncheck('x', x)\n"
              "    ### BEGIN HIDDEN TESTS\n    assert x == 2\n    ### END HIDDEN TESTS\nprint(x)")
    assert drop_hidden_tests(source) == (
        "### BEGIN SOLUTION\nx = 2\n### END SOLUTION\ncheck('x', x)\nprint(x)")
    assert drop_hidden_tests("x = 1\n# a comment") == "x = 1\n# a comment"
    for broken, message in (("### BEGIN HIDDEN TESTS\nx = 1", "never closed"),
                            ("x = 1\n### END HIDDEN TESTS", "line 2: END HIDDEN TESTS without"),
                            ("# BEGIN HIDDEN TESTS\n# BEGIN HIDDEN TESTS", "line 2: BEGIN HIDDEN")):
        with pytest.raises(ValueError, match=message):
            drop_hidden_tests(broken)


def test_the_website_drops_exactly_what_nbgraders_clear_hidden_tests_drops():
    import copy

    from nbgrader.preprocessors import ClearHiddenTests

    clear = ClearHiddenTests(enforce_metadata=False)
    cells = [cell for path in EXERCISES for cell in nbformat.read(path, as_version=4).cells
             if cell.cell_type == "code" and "BEGIN HIDDEN TESTS" in cell.source]
    assert len(cells) >= 10  # the practices' check cells: the comparison below has material
    for cell in cells:
        reference, _ = clear.preprocess_cell(copy.deepcopy(cell), {}, 0)
        assert drop_hidden_tests(cell.source) == reference.source
    with pytest.raises(TypeError, match="source must be"):
        drop_hidden_tests(["### BEGIN HIDDEN TESTS"])


@pytest.mark.parametrize("source, message", [
    ("# END SOLUTION", "END SOLUTION without BEGIN"),
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another"),
    ("### BEGIN HIDDEN TESTS\nx = 1", "HIDDEN TESTS block is never closed"),
    ("### END HIDDEN TESTS", "END HIDDEN TESTS without BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\nx = 1\n### END HIDDEN TESTS\n### END SOLUTION",
     "line 2: BEGIN HIDDEN TESTS inside another block"),
])
def test_strip_solutions_rejects_broken_markers(source, message):
    with pytest.raises(ValueError, match=message):
        strip_solutions(source)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_student_version_has_no_solution_and_no_output(path):
    instructor = nbformat.read(path, as_version=4)
    student = make_student_notebook(instructor)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in code and "HIDDEN TESTS" not in code and "_check(" not in code
    assert "NotImplementedError" in code or "= ...  # your answer" in code
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert all("nbgrader" not in c.metadata for c in student.cells)
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
    used = []
    for cell in notebook.cells:
        names = CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []
        if not names:
            continue
        text = _cell_text(cell)
        assert "✅" not in text and "NameError" not in text, text
        # One graded check per cell: every check runs, says "not implemented yet" (a stubbed
        # function raises NotImplementedError, a stubbed value is `...`) and fails the cell.
        assert names == [names[0]], f"one check per graded cell, not {names}"
        if CHECKS[names[0]].at_least is not None:
            # A score to reach (a network's held-out Dice) is measured on whatever the student
            # built, here the untrained network: it fails by falling short of the threshold.
            assert f"❌ {names[0]}: the score " in text and "below the threshold" in text, text
        else:
            assert f"❌ {names[0]}: not implemented yet" in text, text
        assert f"CheckFailed: {names[0]} has not passed yet" in text, text
        used.append(names[0])
    instructor = [n for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"
                  for n in dict.fromkeys(CHECK_CALL.findall(c.source))]
    assert used == instructor and used, "every check of the practice ran, and failed"
    printed = _printed(notebook)
    for name in {n for c in notebook.cells for n in CHECK_CALL.findall(c.source)}:
        if not CHECKS[name].wants_function and CHECKS[name].at_least is None:
            answer = CHECKS[name].reference()  # (a threshold has no answer to give away)
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


@pytest.mark.parametrize("out", ["exercises", "exercises/student", "exercises/a/b"])
def test_writer_refuses_the_instructor_folder_and_any_folder_inside_it(out):
    with pytest.raises(ValueError, match="out must lie outside the instructor folder"):
        write_student_versions(ROOT / "exercises", ROOT / out, force=True)
    with pytest.raises(ValueError, match="out must lie outside"):
        write_student_versions(EXERCISES[0], ROOT / out, force=True)
    assert not (ROOT / "exercises" / "student").exists()


def test_command_line(tmp_path, capsys):
    assert main(["student", str(ROOT / "exercises"), "--out", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["student", str(ROOT / "exercises"), "--out", str(tmp_path)]) == 2
    assert "already exist" in capsys.readouterr().err
    assert main(["student", str(tmp_path / "nothing.txt"), "--out", str(tmp_path / "x")]) == 2


# ------------------------------------------------------------------------ the converter


def _converter():
    import importlib.util

    spec = importlib.util.spec_from_file_location("convert_exercises",
                                                  ROOT / "tools" / "convert_exercises.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _old_format_notebook() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_markdown_cell("# Practice\n\nCompanion to the chapter "
                                      "{doc}`../book/principles/03_pooling`; see {cite:p}`x`."),
        nbformat.v4.new_code_cell("from mednotes.course import check"),
        nbformat.v4.new_code_cell("# BEGIN SOLUTION\nlast_side = 224 // 2**5\n# END SOLUTION"),
        nbformat.v4.new_code_cell('check("pool_size_vgg", last_side)\ncheck("water_hu", 0)'),
        nbformat.v4.new_code_cell("def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION"),
        nbformat.v4.new_code_cell('if check("alias_frequency", f):\n    print("ok")'),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def test_the_converter_writes_nbgrader_s_format_and_plain_links():
    convert = _converter()
    problems: list[str] = []
    once = convert.convert_notebook(_old_format_notebook(), ROOT / "exercises", problems)
    twice = convert.convert_notebook(once, ROOT / "exercises", problems)
    assert nbformat.writes(once) == nbformat.writes(twice), "converting twice changes nothing"
    assert problems == ["MyST role {cite:p} left as it is: {cite:p}`x`"] * 2
    markdown, _imports, value, vgg, _water, function, alias = once.cells
    assert "[Pooling, downsampling and aliasing](../book/principles/03_pooling.ipynb)" in (
        markdown.source)
    assert value.source == ("last_side = ...  # your answer\n### BEGIN SOLUTION\n"
                            "last_side = 224 // 2**5\n### END SOLUTION")
    assert "    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION" in function.source
    assert vgg.source.startswith('check("pool_size_vgg", last_side, strict=True)\n'
                                 "### BEGIN HIDDEN TESTS\n")
    assert 'assert _check("pool_size_vgg", last_side, quiet=True)' in vgg.source
    assert alias.source.startswith('if check("alias_frequency", f, strict=True):\n    print("ok")')
    grades = [c.metadata.get("nbgrader") for c in once.cells]
    assert grades[:2] == [None, None]
    assert _imports.source == "from mednotes.course import check, hint"
    assert [g["grade_id"] for g in grades[2:]] == [
        "last_side", "check-pool_size_vgg", "check-water_hu", "f", "check-alias_frequency"]
    assert all(g["schema_version"] == 3 for g in grades[2:])
    assert [(g["solution"], g["grade"], g["locked"], g.get("points")) for g in grades[2:]] == [
        (True, False, False, None), (False, True, True, 1), (False, True, True, 1),
        (True, False, False, None), (False, True, True, 1)]
    student = make_student_notebook(once)
    assert student.cells[2].source == "last_side = ...  # your answer"
    assert student.cells[3].source == 'check("pool_size_vgg", last_side, strict=True)'


def test_the_practices_of_part_one_are_converted():
    convert = _converter()
    paths = [p for p in EXERCISES if int(p.name[:2]) <= 10]
    assert len(paths) == 11 and convert.main(["--check", *map(str, paths)]) == 0
