"""The schedule explorer: its learning-rate curves against torch's scheduler and a hand formula,
its runs against fit's own records, its refusals, its redraw and its static twin."""

import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from mednotes.train import History
from mednotes.widgets import schedules
from mednotes.widgets.schedules import (
    lr_curve,
    schedule_animation,
    schedule_explorer,
    schedule_runs,
)

STEPS_PER_EPOCH = 4  # 16 samples in batches of 4


@pytest.fixture(scope="module")
def runs():
    x = torch.linspace(-1, 1, 16).reshape(16, 1)
    data = TensorDataset(x, 2 * x)

    def score(pred, target):  # a per-sample metric that rises as the fit improves
        return 1 / (1 + (pred - target).abs().flatten())

    return schedule_runs(lambda: torch.nn.Linear(1, 1), torch.nn.MSELoss(), data, data,
                         lrs=(0.01, 0.1), seeds=(0, 1), epochs=3, batch_size=4,
                         metrics={"dice": score}, device="cpu")


@pytest.mark.parametrize("steps", [1, 7, 50])
def test_cosine_matches_torch_cosine_annealing(steps):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.0)
    want = []
    for _ in range(steps):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    np.testing.assert_allclose(lr_curve("cosine", 0.3, steps), want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("steps", [1, 5, 10, 123])
def test_onecycle_matches_the_hand_formula(steps):
    warm = max(1, round(0.2 * steps))
    want = []
    for i in range(steps):
        if i < warm:
            want.append(0.04 + 0.96 * i / warm)
        else:
            want.append(0.5 + 0.5 * math.cos(math.pi * (i - warm) / (steps - warm)))
    np.testing.assert_allclose(lr_curve("onecycle", 2.0, steps), 2.0 * np.array(want),
                               rtol=1e-12)
    assert lr_curve("onecycle", 2.0, steps).max() <= 2.0
    np.testing.assert_array_equal(lr_curve("constant", 2.0, steps), np.full(steps, 2.0))


def test_runs_are_fits_own_records(runs):
    assert list(runs) == [(s, lr) for s in ("constant", "cosine", "onecycle")
                          for lr in (0.01, 0.1)]
    for (schedule, peak), histories in runs.items():
        assert len(histories) == 2 and all(len(h) == 3 for h in histories)
        curve = lr_curve(schedule, peak, 3 * STEPS_PER_EPOCH)
        for h in histories:  # fit records the rate of each epoch's last step
            np.testing.assert_allclose(h["lr"], curve[STEPS_PER_EPOCH - 1::STEPS_PER_EPOCH],
                                       rtol=1e-12)
    # a seed starts from the same weights and batches whatever the schedule: with a constant
    # rate the same run twice gives the same history, apart from the wall time
    again = schedule_runs(lambda: torch.nn.Linear(1, 1), torch.nn.MSELoss(),
                          TensorDataset(torch.linspace(-1, 1, 16).reshape(16, 1),
                                        2 * torch.linspace(-1, 1, 16).reshape(16, 1)),
                          None, schedules=("constant",), lrs=(0.1,), seeds=(1,), epochs=3,
                          batch_size=4, device="cpu")
    assert again["constant", 0.1][0]["train_loss"] == runs["constant", 0.1][1]["train_loss"]


def test_bad_input_is_refused_with_the_argument_named(runs):
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr_curve("linear", 0.1, 10)
    with pytest.raises(ValueError, match="peak"):
        lr_curve("cosine", 0.0, 10)
    with pytest.raises(ValueError, match="peak"):
        lr_curve("cosine", math.nan, 10)
    with pytest.raises(ValueError, match="steps"):
        lr_curve("cosine", 0.1, 0)
    with pytest.raises(TypeError, match="steps"):
        lr_curve("cosine", 0.1, 2.5)
    with pytest.raises(TypeError, match="make_model must be a function"):
        schedule_runs(torch.nn.Linear(1, 1), torch.nn.MSELoss(), None, None)
    with pytest.raises(TypeError, match="lrs must be a non-empty list"):
        schedule_runs(lambda: None, torch.nn.MSELoss(), None, None, lrs=0.1)
    with pytest.raises(ValueError, match="schedules must be one of"):
        schedule_runs(lambda: None, torch.nn.MSELoss(), None, None, schedules=("step",))
    with pytest.raises(TypeError, match="runs must be the dict"):
        schedule_explorer([1], 4)
    with pytest.raises(ValueError, match="runs must map"):
        schedule_explorer({("step", 0.1): runs["cosine", 0.1]}, 4)
    with pytest.raises(ValueError, match="must be a non-empty list of History"):
        schedule_explorer({("cosine", 0.1): []}, 4)
    with pytest.raises(ValueError, match="has no column 'iou'"):
        schedule_explorer(runs, 4, metric="iou")
    with pytest.raises(ValueError, match="does not follow the 'onecycle' schedule"):
        schedule_explorer({("onecycle", 0.1): runs["cosine", 0.1]}, 4)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        schedule_explorer(runs, 3)
    with pytest.raises(ValueError, match="lr must be one of the peak rates"):
        schedule_explorer(runs, 4, schedule="cosine", lr=0.05)
    with pytest.raises(ValueError, match="interval_ms must be a positive int"):
        schedule_animation(runs, 4, interval_ms=0)
    with pytest.raises(TypeError, match="metric must be a column name"):
        schedule_animation(runs, 4, metric=3)


def test_explorer_redraws_and_reports_the_shown_runs(runs):
    box = schedule_explorer(runs, STEPS_PER_EPOCH)
    buttons, slider, readout, picture = box.children
    first, text = bytes(picture.value), readout.value
    assert text.startswith("constant, peak lr 0.01: best validation dice")
    best = [max(h["dice"]) for h in runs["constant", 0.01]]
    assert f"{np.mean(best):.3f} ± {np.std(best, ddof=1):.3f}" in text
    buttons.value = "onecycle"
    assert bytes(picture.value) != first and bytes(picture.value).startswith(b"\x89PNG")
    assert readout.value.startswith("onecycle, peak lr 0.01")
    slider.value = 0.1
    assert readout.value.startswith("onecycle, peak lr 0.1:")


def test_explorer_moves_to_the_nearest_rate_a_schedule_was_run_with(runs):
    partial = {("constant", 0.01): runs["constant", 0.01], ("cosine", 0.1): runs["cosine", 0.1]}
    box = schedule_explorer(partial, STEPS_PER_EPOCH)
    buttons, slider, readout, _ = box.children
    buttons.value = "cosine"
    assert slider.value == 0.1 and readout.value.startswith("cosine, peak lr 0.1:")


def test_figure_draws_the_runs_it_is_asked_for(runs):
    fig, update = schedules._schedule_figure(runs, STEPS_PER_EPOCH, "dice")
    mean, sd = update("cosine", 0.1)
    ax_lr, ax_loss, ax_metric = fig.axes
    histories = runs["cosine", 0.1]
    coloured = [line for line in ax_lr.get_lines() if line.get_linewidth() > 2]
    np.testing.assert_allclose(coloured[0].get_ydata(), lr_curve("cosine", 0.1, 12))
    thick = [line for line in ax_metric.get_lines() if line.get_linewidth() > 2]
    np.testing.assert_allclose(thick[0].get_ydata(),
                               np.mean([h["dice"] for h in histories], axis=0))
    thin = [line for line in ax_loss.get_lines() if 0.85 < line.get_linewidth() < 1.0]
    np.testing.assert_allclose(thin[1].get_ydata(), histories[1]["train_loss"])
    assert mean == pytest.approx(np.mean([max(h["dice"]) for h in histories]))
    assert "cosine, peak lr 0.1" in fig._suptitle.get_text()


def test_static_twin_has_a_frame_per_setting_and_loads_nothing(runs):
    from mednotes.widgets import animation_html

    html = animation_html(schedule_animation(runs, STEPS_PER_EPOCH))
    assert "http://" not in html and "https://" not in html
    assert html.count("frames[5]") == 1 and html.count("frames[6]") == 0


def test_histories_with_nan_metrics_are_shown():
    nan_run = [History([{"epoch": 1, "train_loss": 0.5, "dice": math.nan, "lr": 0.01},
                        {"epoch": 2, "train_loss": 0.4, "dice": 0.3, "lr": 0.01}])]
    box = schedule_explorer({("constant", 0.01): nan_run}, 2)
    assert "best validation dice 0.300" in box.children[2].value
