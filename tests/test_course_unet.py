"""The U-Net sizes practice's checks: independent right answers pass, and the plausible
mistakes (forgetting the crop, one pixel per convolution, same-padding arithmetic for a valid
network, ...) fail with a verdict, never a traceback.

The generic tests in test_course.py (perturbed answers, stubs, the student version) run over
these checks too once they are registered.
"""

from __future__ import annotations

import math

import pytest

from mednotes.course import CHECKS, check

UNET_CHECKS = ("unet_572_output", "valid_output_size", "fits_valid", "smallest_valid_input",
               "valid_sizes_near_500", "same_sizes_near_500", "skip_crops",
               "overlap_tile_margin", "tiles_for_image")

# ------------------------------------------------------------------------ right answers, by hand


def walk(n, depth, per_conv=2, bottleneck=True, decoder=True):
    """The size after the network, or None when it does not fit (odd before a pool, or <= 0)."""
    for _ in range(depth):
        n -= 2 * per_conv
        if n <= 0 or n % 2:
            return None
        n //= 2
    if bottleneck:
        n -= 2 * per_conv
    for _ in range(depth):
        if n <= 0:
            return None
        n = 2 * n - (2 * per_conv if decoder else 0)
    return n if n > 0 else None


def closed_form(n, depth):
    return n - (12 * 2**depth - 8)          # the total shrink, for sizes that fit


def fits_by_walking(n, depth):
    return walk(n, depth) is not None


def fits_by_grid(n, depth):
    smallest = next(m for m in range(1, 10_000) if walk(m, depth))
    return n >= smallest and (n - smallest) % 2**depth == 0


RIGHT = [("unet_572_output", 388), ("valid_output_size", walk),
         ("valid_output_size", closed_form), ("fits_valid", fits_by_walking),
         ("fits_valid", fits_by_grid), ("smallest_valid_input", 188),
         ("valid_sizes_near_500", (492, 508)), ("valid_sizes_near_500", [492, 508]),
         ("same_sizes_near_500", (496, 512)), ("skip_crops", (176, 80, 32, 8)),
         ("overlap_tile_margin", 92), ("tiles_for_image", 9)]


@pytest.mark.parametrize("name, answer", RIGHT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RIGHT)])
def test_an_independent_right_answer_passes(name, answer, capsys):
    assert check(name, answer), capsys.readouterr().out


def test_every_unet_check_is_registered():
    assert set(UNET_CHECKS) <= set(CHECKS)


# ------------------------------------------------------------------------ plausible mistakes


def one_pixel_per_conv(n, depth):
    return walk(n, depth, per_conv=1)


def no_bottleneck(n, depth):
    return walk(n, depth, bottleneck=False)


def decoder_keeps_size(n, depth):
    return walk(n, depth, decoder=False)


def forgot_the_crop(n, depth):
    # The decoder grows back to the encoder's size, as if the skip set it: only level 0's
    # two convolutions are lost.
    return n - 4


def fits_like_same_padding(n, depth):
    return n % 2**depth == 0


def fits_first_pool_only(n, depth):
    return (n - 4) > 0 and (n - 4) % 2 == 0


def fits_without_positivity(n, depth):
    smallest = next(m for m in range(1, 10_000) if walk(m, depth))
    return (n - smallest) % 2**depth == 0


def fits_encoder_only(n, depth):
    for _ in range(depth):
        n -= 4
        if n <= 0 or n % 2:
            return False
        n //= 2
    return True


def fits_one_pixel_per_conv(n, depth):
    return walk(n, depth, per_conv=1) is not None


PLAUSIBLE_MISTAKES = [
    ("unet_572_output", 572, "same-padding arithmetic: the size is kept"),
    ("unet_572_output", walk(572, 4, per_conv=1), "one pixel per convolution"),
    ("unet_572_output", walk(572, 4, bottleneck=False), "forgot the bottleneck's convolutions"),
    ("unet_572_output", walk(572, 4, decoder=False), "forgot the decoder's convolutions"),
    ("unet_572_output", 568, "forgot the crop: back to the first level's size"),
    ("unet_572_output", 392, "stopped before the last two convolutions"),
    ("valid_output_size", lambda n, d: n, "same-padding arithmetic for a valid net"),
    ("valid_output_size", one_pixel_per_conv, "one pixel per convolution"),
    ("valid_output_size", no_bottleneck, "forgot the bottleneck's convolutions"),
    ("valid_output_size", decoder_keeps_size, "forgot the decoder's convolutions"),
    ("valid_output_size", forgot_the_crop, "forgot the crop"),
    ("valid_output_size", lambda n, d: n - 184, "the paper's shrink at every depth"),
    ("valid_output_size", lambda n, d: n - (12 * 2**d - 4), "off by 4 in the closed form"),
    ("fits_valid", fits_like_same_padding, "same-padding rule for a valid net"),
    ("fits_valid", fits_first_pool_only, "only the first pool checked"),
    ("fits_valid", fits_without_positivity, "the grid without the smallest size"),
    ("fits_valid", fits_encoder_only, "the decoder never checked"),
    ("fits_valid", fits_one_pixel_per_conv, "one pixel per convolution"),
    ("fits_valid", lambda n, d: True, "every size fits"),
    ("smallest_valid_input", 2**4, "same padding: 2**depth"),
    ("smallest_valid_input", next(m for m in range(1, 999) if fits_encoder_only(m, 4)),
     "the decoder never checked"),
    ("smallest_valid_input", next(m for m in range(1, 999) if fits_one_pixel_per_conv(m, 4)),
     "one pixel per convolution"),
    ("valid_sizes_near_500", (496, 512), "same-padding sizes for a valid net"),
    ("valid_sizes_near_500", (500, 516), "500 taken to fit"),
    ("valid_sizes_near_500", (476, 492), "both below"),
    ("valid_sizes_near_500", (492, 524), "skipped a size"),
    ("same_sizes_near_500", (492, 508), "valid-padding sizes for a same net"),
    ("same_sizes_near_500", (498, 500), "only even sizes required"),
    ("same_sizes_near_500", (480, 512), "multiples of 2**(depth + 1)"),
    ("skip_crops", (0, 0, 0, 0), "forgot the crop"),
    ("skip_crops", (8, 32, 80, 176), "levels in reverse order"),
    ("skip_crops", (88, 40, 16, 4), "per side, not both sides together"),
    ("skip_crops", (180, 84, 36, 12), "cropped before the decoder level's convolutions"),
    ("overlap_tile_margin", 184, "both sides together"),
    ("overlap_tile_margin", 46, "a quarter of the shrink"),
    ("overlap_tile_margin", 0, "same padding: no margin"),
    ("tiles_for_image", math.ceil(900 / 572) ** 2, "tiles placed by their input size"),
    ("tiles_for_image", math.ceil(900 / 388), "tiles along one axis only"),
    ("tiles_for_image", round(900 / 388) ** 2, "rounded instead of up"),
]


@pytest.mark.parametrize("name, answer, mistake", PLAUSIBLE_MISTAKES,
                         ids=[f"{n}-{m}" for n, _, m in PLAUSIBLE_MISTAKES])
def test_plausible_mistake_fails(name, answer, mistake, capsys):
    verdict = check(name, answer)
    out = capsys.readouterr().out
    assert not verdict, f"{mistake!r} passed the {name} check"
    assert out.startswith(f"❌ {name}: ") and "Hint:" in out


def test_a_function_that_returns_none_for_sizes_that_do_not_fit_is_told_so(capsys):
    verdict = check("valid_output_size", lambda n, d: None)
    assert "returned None" in verdict.reason
