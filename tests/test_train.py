"""mednotes.train: History, checkpoints, fit (resume, metrics, progress, errors), torchrun/DDP
and the command line."""

import importlib.util
import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES, determinism
from torch import nn
from torch.utils.data import TensorDataset

from mednotes.data import brain_lesions, toy_squares
from mednotes.losses import DiceCELoss
from mednotes.train import History, fit, load_checkpoint, save_checkpoint
from mednotes.train.__main__ import (
    _argmax_classes,
    _baselines,
    _datasets,
    _loss,
    false_alarm,
    lesion_dice,
    main,
    parser,
)
from mednotes.train.schedule import START, lr_factor

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- small learnable problems

def regression_data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    return TensorDataset(x, y)


def segmentation_data(n=22, size=8, seed=0):
    """Pixels brighter than zero are class 1; a 3x3 conv net learns it quickly."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, size, size, generator=g)
    return TensorDataset(x, (x[:, 0] > 0).long())


def small_segmenter(seed=0):
    """Conv, BatchNorm (buffers), dropout (randomness) and a 1x1 head: all that resume must
    restore or repeat."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Dropout(0.2), nn.Conv2d(4, 2, 1))


def quiet_fit(model, loss_fn, train, val=None, **kwargs):
    kwargs = {"epochs": 1, "lr": 0.01, "batch_size": 4, "device": "cpu", "progress": False,
              **kwargs}
    return fit(model, loss_fn, train, val, **kwargs)


# ----------------------------------------------------------------------------- History

RECORDS = [
    {"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "dice": 0.2, "seconds": 1.5, "lr": 1e-3},
    {"epoch": 2, "train_loss": 0.6, "val_loss": 0.5, "dice": 0.7, "seconds": 1.4, "lr": 1e-3},
    {"epoch": 3, "train_loss": 0.4, "val_loss": 0.7, "dice": 0.6, "seconds": 1.4, "lr": 1e-3},
]


def test_history_columns_records_and_repr():
    h = History(RECORDS)
    assert len(h) == 3
    assert h["val_loss"] == [0.9, 0.5, 0.7]
    assert h[-1]["epoch"] == 3
    assert h.keys() == ["epoch", "train_loss", "val_loss", "dice", "seconds", "lr"]
    assert h.metric_names() == ["dice"]
    text = repr(h)
    assert text.startswith("History(3 epochs")
    assert "val_loss" in text and "0.5000" in text and "0.001" in text
    assert repr(History()) == "History(0 epochs)"
    with pytest.raises(KeyError, match="no column 'iou'"):
        h["iou"]


def test_history_converts_scalar_tensors_and_refuses_other_values():
    h = History([{"epoch": 1, "train_loss": torch.tensor(0.5)}])
    assert h[0]["train_loss"] == 0.5 and type(h[0]["train_loss"]) is float
    with pytest.raises(TypeError, match=r"record\['train_loss'\] must be a number"):
        History([{"epoch": 1, "train_loss": "low"}])


def test_history_best_uses_min_for_losses_and_max_for_metrics():
    h = History(RECORDS)
    assert h.best("val_loss")["epoch"] == 2
    assert h.best("dice")["epoch"] == 2
    assert h.best("train_loss")["epoch"] == 3
    assert h.best("dice", mode="min")["epoch"] == 1
    with pytest.raises(ValueError, match="metric 'iou' is not in this history"):
        h.best("iou")
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        h.best("dice", mode="lowest")
    with pytest.raises(ValueError, match="empty"):
        History().best()


def test_history_best_skips_nan():
    h = History([{"epoch": 1, "val_loss": math.nan}, {"epoch": 2, "val_loss": 3.0}])
    assert h.best()["epoch"] == 2


def test_history_round_trips_through_a_weights_only_file(tmp_path):
    h = History(RECORDS)
    torch.save(h.to_dict(), tmp_path / "h.pt")
    again = History.from_dict(torch.load(tmp_path / "h.pt", weights_only=True))
    assert again == h and again.records is not h.records
    with pytest.raises(ValueError, match="records"):
        History.from_dict({"epochs": []})


def test_history_plot_has_labelled_loss_and_metric_panels():
    fig = History(RECORDS).plot(title="demo")
    loss_ax, metric_ax = fig.axes
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel()) == ("epoch", "loss")
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["training", "validation"]
    assert [t.get_text() for t in metric_ax.get_legend().get_texts()] == ["dice"]
    assert list(loss_ax.lines[1].get_ydata()) == [0.9, 0.5, 0.7]
    plt.close(fig)
    fig = History([{"epoch": 1, "train_loss": 1.0}]).plot()  # no validation: one panel
    assert len(fig.axes) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="empty"):
        History().plot()


@pytest.mark.parametrize("epochs", [1, 3, 40])
def test_history_plot_ticks_whole_epochs(epochs):
    fig = History([{"epoch": e, "train_loss": 1 / e, "val_loss": 1.0, "dice": 0.5}
                   for e in range(1, epochs + 1)]).plot()
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        if epochs == 1:
            assert ticks == [1.0]
    plt.close(fig)


# ------------------------------------------------------------------------- checkpoints

def trained_adam(seed=0):
    net = small_segmenter(seed)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    x, y = segmentation_data(4)[:]
    nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    return net, opt


def test_checkpoint_round_trip_loads_with_weights_only(tmp_path):
    net, opt = trained_adam()
    path = save_checkpoint(tmp_path / "sub" / "ck.pt", net, opt, epoch=7,
                           history=History(RECORDS), note="hello", numbers=[1, 2.5])
    assert path == tmp_path / "sub" / "ck.pt"
    raw = torch.load(path, weights_only=True)  # must not need pickle's code execution
    assert raw["epoch"] == 7

    fresh, fresh_opt = small_segmenter(seed=1), None
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.5)
    state = load_checkpoint(path, fresh, fresh_opt)
    for a, b in zip(net.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    assert fresh_opt.param_groups[0]["lr"] == 0.01
    saved, loaded = opt.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert all(torch.equal(saved[k]["exp_avg"], loaded[k]["exp_avg"]) for k in saved)
    assert state["epoch"] == 7 and state["history"] == History(RECORDS)
    assert state["extra"] == {"note": "hello", "numbers": [1, 2.5]}


def test_checkpoint_of_a_ddp_style_wrapper_has_plain_keys(tmp_path):
    net, _ = trained_adam()
    save_checkpoint(tmp_path / "ck.pt", nn.DataParallel(net), None, epoch=0)
    keys = torch.load(tmp_path / "ck.pt", weights_only=True)["model"].keys()
    assert not any(k.startswith("module.") for k in keys)
    with pytest.raises(ValueError, match="saved without one"):
        load_checkpoint(tmp_path / "ck.pt", small_segmenter(),
                        torch.optim.SGD(net.parameters(), 0.1))


@pytest.mark.parametrize("crash_in", ["torch.save", "os.fsync"])
def test_checkpoint_write_is_atomic(tmp_path, monkeypatch, crash_in):
    net, opt = trained_adam()
    path = save_checkpoint(tmp_path / "ck.pt", net, opt, epoch=1)
    before = path.read_bytes()

    def crash_half_way(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt("power cut")

    def crash_while_writing(descriptor):
        assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the file is half done
        raise KeyboardInterrupt("power cut")

    if crash_in == "torch.save":
        monkeypatch.setattr(torch, "save", crash_half_way)
    else:
        monkeypatch.setattr(os, "fsync", crash_while_writing)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, net, opt, epoch=2, overwrite=True)
    assert path.read_bytes() == before  # the old checkpoint is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left behind
    monkeypatch.undo()
    assert load_checkpoint(path, small_segmenter())["epoch"] == 1


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt", small_segmenter())
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint written by"):
        load_checkpoint(tmp_path / "other.pt", small_segmenter())
    with pytest.raises(ValueError, match="epoch must be an int >= 0, got -1"):
        save_checkpoint(tmp_path / "x.pt", small_segmenter(), None, epoch=-1)
    assert not (tmp_path / "x.pt").exists()


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_save_checkpoint_refuses_to_replace_a_file_without_overwrite(tmp_path):
    unrelated = tmp_path / "notes.pt"
    unrelated.write_bytes(b"my thesis draft")
    with pytest.raises(FileExistsError, match=r"notes\.pt' already exists; pass overwrite=True"):
        save_checkpoint(unrelated, small_segmenter(), None, epoch=1)
    assert unrelated.read_bytes() == b"my thesis draft"
    path = save_checkpoint(tmp_path / "ck.pt", small_segmenter(), None, epoch=1)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        save_checkpoint(path, small_segmenter(seed=1), None, epoch=2)
    assert path.read_bytes() == before
    save_checkpoint(path, small_segmenter(seed=1), None, epoch=2, overwrite=True)
    assert load_checkpoint(path)["epoch"] == 2


class Opaque:
    """An object that weights-only loading refuses."""


def module_level_function():
    return 1


@pytest.mark.parametrize("note", [Opaque(), module_level_function, lambda: 1, np.float64(1.5),
                                  np.zeros(2)], ids=["object", "function", "lambda",
                                                     "numpy-scalar", "numpy-array"])
def test_save_checkpoint_refuses_values_weights_only_loading_rejects(tmp_path, note):
    good = save_checkpoint(tmp_path / "good.pt", small_segmenter(), None, epoch=1)
    before = good.read_bytes()
    with pytest.raises(TypeError, match="extra keyword 'note' holds .* weights_only=True"):
        save_checkpoint(good, small_segmenter(seed=1), None, epoch=2, overwrite=True,
                        numbers=[1, 2], note=note)
    assert good.read_bytes() == before  # the good checkpoint is still there, still loadable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.pt"]
    assert load_checkpoint(good)["epoch"] == 1


@pytest.mark.parametrize("kwargs, error, message", [
    ({"path": 3}, TypeError, "path must be a str or path, got int 3"),
    ({"path": ""}, ValueError, "path must name a file"),
    ({"model": "net"}, TypeError, "model must be a torch.nn.Module, got str 'net'"),
    ({"optimizer": "adam"}, TypeError, "optimizer must be a torch.optim.Optimizer or None"),
    ({"epoch": 1.5}, TypeError, "epoch must be an int, got float 1.5"),
    ({"epoch": math.nan}, TypeError, "epoch must be an int, got float nan"),
    ({"epoch": "3"}, TypeError, "epoch must be an int, got str '3'"),
    ({"history": [1]}, TypeError, "history must be a History or None, got list"),
    ({"overwrite": "yes"}, TypeError, "overwrite must be True or False, got str 'yes'"),
])
def test_save_checkpoint_bad_arguments_name_them(tmp_path, monkeypatch, kwargs, error, message):
    monkeypatch.chdir(tmp_path)
    args = {"path": tmp_path / "ck.pt", "model": small_segmenter(), "optimizer": None,
            "epoch": 1, **kwargs}
    with pytest.raises(error, match=message):
        save_checkpoint(args.pop("path"), args.pop("model"), args.pop("optimizer"),
                        args.pop("epoch"), **args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, error, message", [
    ({"path": None}, TypeError, "path must be a str or path, got NoneType"),
    ({"model": "net"}, TypeError, "model must be a torch.nn.Module or None, got str"),
    ({"optimizer": 0.1}, TypeError, "optimizer must be a torch.optim.Optimizer or None"),
    ({"map_location": "gpu"}, ValueError, "map_location='gpu' is not a device"),
    ({"map_location": 3}, TypeError, "map_location must be a device"),
])
def test_load_checkpoint_bad_arguments_name_them(tmp_path, kwargs, error, message):
    path = save_checkpoint(tmp_path / "ck.pt", small_segmenter(), None, epoch=1)
    net = small_segmenter(seed=1)
    before = weights(net)
    with pytest.raises(error, match=message):
        load_checkpoint(**{"path": path, "model": net, **kwargs})
    assert same_weights(weights(net), before)


def test_a_checkpoint_that_does_not_fit_changes_nothing(tmp_path):
    path = save_checkpoint(tmp_path / "ck.pt", small_segmenter(), None, epoch=1)
    # Same first layers, a wider head: torch would copy the first layers, then fail.
    other = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Dropout(0.2), nn.Conv2d(4, 3, 1))
    before = weights(other)
    with pytest.raises(ValueError, match=r"does not fit the model: 4\.weight: checkpoint "
                                         r"\(2, 4, 1, 1\), model \(3, 4, 1, 1\); 4\.bias"):
        load_checkpoint(path, other)
    assert same_weights(weights(other), before)

    shorter = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4))
    before = weights(shorter)
    with pytest.raises(ValueError, match=r"unexpected keys 4\.weight, 4\.bias"):
        load_checkpoint(path, shorter)
    assert same_weights(weights(shorter), before)

    longer = nn.Sequential(*small_segmenter(), nn.Conv2d(2, 2, 1))
    before = weights(longer)
    with pytest.raises(ValueError, match=r"missing keys 5\.weight, 5\.bias"):
        load_checkpoint(path, longer)
    assert same_weights(weights(longer), before)


def test_a_checkpoint_with_another_dtype_kind_changes_nothing(tmp_path):
    net = nn.Linear(2, 1)
    net.register_buffer("count", torch.zeros(3, dtype=torch.int64))
    path = save_checkpoint(tmp_path / "ck.pt", net, None, epoch=1)
    other = nn.Linear(2, 1)
    other.register_buffer("count", torch.ones(3))  # float where the checkpoint has int64
    before = weights(other)
    with pytest.raises(ValueError, match="count: checkpoint dtype torch.int64, model dtype "
                                         "torch.float32"):
        load_checkpoint(path, other)
    assert same_weights(weights(other), before)


def test_an_optimizer_that_does_not_fit_leaves_model_and_optimizer_unchanged(tmp_path):
    net, opt = trained_adam()
    path = save_checkpoint(tmp_path / "ck.pt", net, opt, epoch=1)
    fresh = small_segmenter(seed=1)
    before = weights(fresh)
    # the optimizer sees only the head's parameters: 2 in its group, 6 in the checkpoint's
    head_only = torch.optim.Adam(fresh[4].parameters(), lr=0.5)
    with pytest.raises(ValueError, match="does not fit the optimizer: group 0 has 6 "
                                         "parameters saved, 2 in the optimizer"):
        load_checkpoint(path, fresh, head_only)
    assert same_weights(weights(fresh), before)
    assert head_only.param_groups[0]["lr"] == 0.5 and not head_only.state
    two_groups = torch.optim.Adam([{"params": fresh[0].parameters()},
                                   {"params": fresh[4].parameters()}])
    with pytest.raises(ValueError, match="1 parameter group.* saved, the optimizer has 2"):
        load_checkpoint(path, fresh, two_groups)
    assert same_weights(weights(fresh), before)


def test_moment_shapes_that_do_not_fit_the_parameters_are_refused(tmp_path):
    net = nn.Linear(2, 3)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "ck.pt", net, opt, epoch=1)
    state = torch.load(path, weights_only=True)
    # A hand-edited file: the same keys and parameter count, moments of another shape.
    state["optimizer"]["state"][0]["exp_avg"] = torch.zeros(4, 4)
    torch.save(state, tmp_path / "edited.pt")
    fresh = nn.Linear(2, 3)
    fresh_opt = torch.optim.Adam(fresh.parameters())
    before = weights(fresh)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 in group 0: "
                                         r"checkpoint \(4, 4\), parameter \(3, 2\)"):
        load_checkpoint(tmp_path / "edited.pt", fresh, fresh_opt)
    assert same_weights(weights(fresh), before) and not fresh_opt.state


def unreadable_files(folder):
    """Files named .pt that are not checkpoints: empty, truncated, numpy, text."""
    good = save_checkpoint(folder / "good.pt", small_segmenter(), None, epoch=1).read_bytes()
    files = {"empty.pt": b"", "truncated.pt": good[: len(good) // 2],
             "text.pt": b"epoch,loss\n1,0.5\n"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    np.save(folder / "array.npy", np.arange(3))
    (folder / "array.npy").rename(folder / "numpy.pt")
    np.savez(folder / "arrays.npz", a=np.arange(3))
    (folder / "arrays.npz").rename(folder / "numpy-zip.pt")
    return ["empty.pt", "truncated.pt", "text.pt", "numpy.pt", "numpy-zip.pt"]


def test_unreadable_files_are_clear_value_errors_naming_the_path(tmp_path):
    for name in unreadable_files(tmp_path):
        reason = "the file is empty" if name == "empty.pt" else "damaged or in another format"
        with pytest.raises(ValueError, match=rf"{name}' is not a readable checkpoint: .*{reason}"):
            load_checkpoint(tmp_path / name, small_segmenter())
    with pytest.raises(ValueError, match="is not a file, so not a checkpoint"):
        load_checkpoint(tmp_path)


# --------------------------------------------------------------------------------- fit

@pytest.mark.parametrize("device", DEVICES)
def test_fit_learns_a_small_problem(device):
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    data = regression_data()
    history = quiet_fit(net, nn.MSELoss(), data, data, epochs=15, lr=0.05, device=device)
    assert history["epoch"] == list(range(1, 16))
    assert history[-1]["train_loss"] < 0.01 * history[0]["train_loss"]
    assert history[-1]["val_loss"] < 1e-3
    assert next(net.parameters()).device.type == device
    assert all(r["seconds"] > 0 and r["lr"] == 0.05 for r in history.records)


def test_metrics_are_batch_weighted_means_over_the_validation_data():
    # 10 validation samples in batches of 4, 4, 2: an unweighted mean of batch means differs.
    x = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    val = TensorDataset(x, x)
    seen = []

    def mean_target(logits, target):
        seen.append(len(target))
        return target.mean()

    history = quiet_fit(nn.Linear(1, 1), nn.MSELoss(), val, val,
                        metrics={"mean_target": mean_target, "as_float": lambda p, t: 2.0})
    assert seen == [4, 4, 2]
    assert history[0]["mean_target"] == pytest.approx(4.5)
    assert history[0]["as_float"] == 2.0
    assert history.metric_names() == ["mean_target", "as_float"]


class Given(nn.Module):
    """Outputs its input unchanged, whatever the optimizer does: its input is the logits."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x + 0 * self.unused


def test_per_sample_metrics_average_the_defined_values_of_the_whole_validation_set():
    # 7 samples in batches of 3, 3, 1; NaN = undefined for that sample. The second batch is
    # all NaN: an average of batch means would be NaN, or would weight the batches wrongly.
    values = torch.tensor([0.5, math.nan, 1.0, math.nan, math.nan, math.nan, 0.0])
    x = torch.arange(7, dtype=torch.float32).reshape(7, 1)
    data = TensorDataset(x, x)
    per_sample = lambda p, t: values[t[:, 0].long()]
    as_rows = lambda p, t: torch.stack([per_sample(p, t), 2 * per_sample(p, t)], 1)
    never = lambda p, t: torch.full((len(t),), math.nan)
    history = quiet_fit(Given(), nn.MSELoss(), data, data, batch_size=3,
                        metrics={"per_sample": per_sample, "rows": as_rows, "never": never})
    assert history[0]["per_sample"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert history[0]["rows"] == pytest.approx((0.75 + 1.5 + 0.0) / 3)  # row means first
    assert math.isnan(history[0]["never"])
    assert history[0]["val_loss"] == 0.0


@pytest.mark.parametrize("result, error, message", [
    (lambda p, t: t[:2, 0], ValueError,
     (r"metrics\['m'\] must return a scalar \(the batch mean\) or one value per sample, shape "
      r"\(4,\) or \(4, C\) for this batch of 4; got shape \(2,\)")),
    (lambda p, t: "good", TypeError, r"metrics\['m'\] must return a scalar tensor or float"),
    (lambda p, t: torch.zeros(4, dtype=torch.complex64), TypeError, "real numbers"),
])
def test_metric_results_of_the_wrong_kind_name_the_metric(result, error, message):
    data = regression_data(8)
    with pytest.raises(error, match=message):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), data, data, metrics={"m": result})


def test_validation_without_metrics_records_only_the_loss():
    history = quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), regression_data(8, 1))
    assert history.keys() == ["epoch", "train_loss", "val_loss", "seconds", "lr"]


@pytest.mark.parametrize("schedule", ["constant", "onecycle"])
def test_resume_after_two_epochs_equals_four_epochs_straight(tmp_path, schedule):
    data, val = segmentation_data(), segmentation_data(6, seed=1)
    straight = small_segmenter()
    expected = quiet_fit(straight, nn.CrossEntropyLoss(), data, val, epochs=4, batch_size=5,
                         schedule=schedule)

    ckpt = tmp_path / "run" / "ck.pt"
    first = small_segmenter()
    # The interrupted run was planned for 4 epochs: the schedule spans the planned steps.
    # An epoch is 5 training + 2 validation batches: crash in the third epoch.
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(first, crashes_after(2 * 7 + 3, nn.CrossEntropyLoss()), data, val,
                  epochs=4, batch_size=5, checkpoint=ckpt, schedule=schedule)
    assert load_checkpoint(ckpt)["epoch"] == 2
    resumed = small_segmenter(seed=99)  # its own weights are replaced by the checkpoint's
    history = quiet_fit(resumed, nn.CrossEntropyLoss(), data, val, epochs=4, batch_size=5,
                        checkpoint=ckpt, resume=True, schedule=schedule)

    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["train_loss"] == expected["train_loss"]
    assert history["val_loss"] == expected["val_loss"]
    assert history["lr"] == expected["lr"]
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 4 and state["history"]["epoch"] == [1, 2, 3, 4]
    best = load_checkpoint(tmp_path / "run" / "ck-best.pt")
    assert best["epoch"] == history.best("val_loss")["epoch"]


def crashes_after(calls, loss_fn):
    """``loss_fn`` that raises KeyboardInterrupt on call ``calls + 1``: a crash mid-run."""
    count = {"n": 0}

    def loss(logits, target):
        count["n"] += 1
        if count["n"] > calls:
            raise KeyboardInterrupt
        return loss_fn(logits, target)

    return loss


@pytest.mark.parametrize("schedule", ["constant", "cosine", "onecycle"])
def test_the_learning_rate_follows_the_schedule_step_by_step(schedule):
    net = nn.Linear(3, 1)
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.Adam, "step", spy)
        history = quiet_fit(net, nn.MSELoss(), regression_data(16), epochs=3, batch_size=4,
                            lr=0.1, schedule=schedule)
    assert len(seen) == 12
    expected = [0.1 * lr_factor(schedule, i, 12) for i in range(12)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert history["lr"] == pytest.approx(expected[3::4], rel=1e-12)  # last step of each epoch
    if schedule != "constant":
        assert max(seen) == pytest.approx(0.1) and seen[-1] < 0.01


def test_lr_factor_shapes_and_errors():
    onecycle = [lr_factor("onecycle", i, 100) for i in range(100)]
    assert onecycle[0] == pytest.approx(START) and max(onecycle) == 1.0
    assert onecycle.index(1.0) == 20  # warm-up takes the first 20% of the steps
    assert all(a <= b for a, b in zip(onecycle[:20], onecycle[1:21]))  # rises, then
    assert all(a >= b for a, b in zip(onecycle[20:], onecycle[21:]))  # falls
    cosine = [lr_factor("cosine", i, 100) for i in range(100)]
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5) and 0 < cosine[-1] < 1e-3
    with pytest.raises(ValueError, match="schedule must be one of 'constant', 'cosine', "
                       "'onecycle'; got 'step'"):
        lr_factor("step", 0, 10)
    with pytest.raises(ValueError, match=r"step must be in \[0, total\), got step=10"):
        lr_factor("cosine", 10, 10)
    with pytest.raises(ValueError, match="step must be an int >= 0, got -1"):
        lr_factor("cosine", -1, 10)
    with pytest.raises(TypeError, match="step must be an int, got float 1.5"):
        lr_factor("cosine", 1.5, 10)
    with pytest.raises(ValueError, match="total must be a positive int, got 0"):
        lr_factor("constant", 0, 0)
    with pytest.raises(TypeError, match="total must be an int, got float nan"):
        lr_factor("constant", 0, math.nan)


def test_resume_without_a_checkpoint_file_starts_afresh(tmp_path):
    history = quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), epochs=2,
                        checkpoint=tmp_path / "new.pt", resume=True)
    assert history["epoch"] == [1, 2] and (tmp_path / "new.pt").is_file()
    assert not (tmp_path / "new-best.pt").exists()  # "best" needs validation data


def test_progress_false_prints_nothing(capfd):
    quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), regression_data(8, 1),
              metrics={"mae": lambda p, t: (p - t).abs().mean()}, progress=False)
    assert capfd.readouterr() == ("", "")


def test_progress_shows_one_bar_per_epoch_with_loss_and_metrics(capfd):
    quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), regression_data(8, 1),
              metrics={"mae": lambda p, t: (p - t).abs().mean()}, epochs=2, progress=True)
    err = capfd.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err
    assert "train_loss=" in err and "val_loss=" in err and "mae=" in err


def test_amp_on_cpu_means_bfloat16_autocast():
    seen = []

    class Probe(nn.Linear):
        def forward(self, x):
            out = super().forward(x)
            seen.append(out.dtype)
            return out

    history = quiet_fit(Probe(3, 1), nn.MSELoss(), regression_data(8), amp=True)
    assert seen and set(seen) == {torch.bfloat16} and math.isfinite(history[0]["train_loss"])
    seen.clear()
    quiet_fit(Probe(3, 1), nn.MSELoss(), regression_data(8), amp="auto")  # off on CPU
    assert set(seen) == {torch.float32}


def test_a_non_finite_loss_stops_training_with_a_clear_error():
    def broken(prediction, target):
        return (prediction - target).mean() * math.nan

    with pytest.raises(FloatingPointError, match="training loss is nan after epoch 1"):
        quiet_fit(nn.Linear(3, 1), broken, regression_data())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, ValueError, "epochs must be a positive int, got 0"),
    ({"epochs": 2.0}, TypeError, "epochs must be an int, got float 2.0"),
    ({"epochs": "3"}, TypeError, "epochs must be an int, got str '3'"),
    ({"lr": 0}, ValueError, "lr must be > 0, got 0.0"),
    ({"lr": -1e-3}, ValueError, "lr must be > 0, got -0.001"),
    ({"lr": math.inf}, ValueError, "lr must be finite, got inf"),
    ({"lr": math.nan}, ValueError, "lr must be finite, got nan"),
    ({"lr": "0.1"}, TypeError, "lr must be a real number, got str '0.1'"),
    ({"lr": True}, TypeError, "lr must be a real number, got bool True"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
    ({"batch_size": -4}, ValueError, "batch_size must be a positive int, got -4"),
    ({"batch_size": 4.0}, TypeError, "batch_size must be an int, got float 4.0"),
    ({"val_batch_size": 0}, ValueError, "val_batch_size must be a positive int, got 0"),
    ({"optimizer": "lbfgs"}, ValueError,
     "optimizer must be one of 'adam', 'adamw', 'sgd'; got 'lbfgs'"),
    ({"weight_decay": -1}, ValueError, "weight_decay must be >= 0, got -1.0"),
    ({"weight_decay": math.nan}, ValueError, "weight_decay must be finite, got nan"),
    ({"num_workers": -1}, ValueError, "num_workers must be an int >= 0, got -1"),
    ({"seed": -1}, ValueError, "seed must be an int between 0 and 4294967295, got -1"),
    ({"seed": 2**32}, ValueError, "seed must be an int between 0 and 4294967295"),
    ({"seed": 1.5}, TypeError, "seed must be an int, got float 1.5"),
    ({"amp": "yes"}, TypeError, "amp must be 'auto', True or False, got str 'yes'"),
    ({"amp": "on"}, TypeError, "amp must be 'auto', True or False, got str 'on'"),
    ({"amp": 1}, TypeError, "amp must be 'auto', True or False, got int 1"),
    ({"resume": "False"}, TypeError, "resume must be True or False, got str 'False'"),
    ({"resume": 0}, TypeError, "resume must be True or False, got int 0"),
    ({"progress": "no"}, TypeError, "progress must be True or False, got str 'no'"),
    ({"deterministic": "yes"}, TypeError, "deterministic must be True or False, got str"),
    ({"overwrite": "True"}, TypeError, "overwrite must be True or False, got str 'True'"),
    ({"resume": True}, ValueError, "resume=True needs checkpoint=<path>"),
    ({"overwrite": True}, ValueError, "overwrite=True needs checkpoint=<path>"),
    ({"resume": True, "overwrite": True, "checkpoint": "ck.pt"}, ValueError,
     "pass only one of them"),
    ({"checkpoint": 3}, TypeError, "checkpoint must be a path or None, got int 3"),
    ({"checkpoint": ""}, ValueError, "checkpoint must name a file"),
    ({"device": "gpu"}, ValueError, "device='gpu' is not a device"),
    ({"device": 0}, TypeError, "device must be a device such as 'cpu' or 'cuda', got int 0"),
    ({"device": "tpu:0"}, ValueError, "device='tpu:0' is not a device"),
    ({"metrics": {"mae": abs}, "val_data": None}, ValueError,
     "metrics are computed on val_data"),
    ({"metrics": {"val_loss": abs}}, ValueError, "metrics names must be str and not one of"),
    ({"metrics": [abs]}, TypeError, "metrics must be a dict name -> callable"),
    ({"metrics": {"mae": 3}}, TypeError, r"metrics\['mae'\] must be callable"),
    ({"best": "iou", "metrics": {"dice": abs}}, ValueError,
     "best must be 'val_loss' or one of the metrics ('dice',), got 'iou'"),
    ({"best": 3}, TypeError, "best must be a column name (str), got int 3"),
    ({"schedule": "linear"}, ValueError,
     "schedule must be one of 'constant', 'cosine', 'onecycle'; got 'linear'"),
])
def test_bad_arguments_raise_errors_naming_them(tmp_path, monkeypatch, kwargs, error, message):
    monkeypatch.chdir(tmp_path)  # a relative checkpoint path lands here, if anywhere
    args = {"val_data": regression_data(8), **kwargs}
    val = args.pop("val_data")
    calls = []

    def loss(prediction, target):
        calls.append(1)
        return nn.functional.mse_loss(prediction, target)

    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        quiet_fit(nn.Linear(3, 1), loss, regression_data(), val, **args)
    assert calls == [] and list(tmp_path.iterdir()) == []  # refused before any work


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_fit_on_a_device_this_machine_lacks_names_the_argument():
    with pytest.raises(ValueError, match="device='cuda' asks for cuda, which this machine"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), device="cuda")


def test_bad_model_loss_and_metric_types_name_the_argument():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        quiet_fit("net", nn.MSELoss(), regression_data())
    with pytest.raises(TypeError, match="loss_fn must be callable, got str 'mse'"):
        quiet_fit(nn.Linear(3, 1), "mse", regression_data())
    with pytest.raises(TypeError, match="loss_fn must return a scalar tensor, got float"):
        quiet_fit(nn.Linear(3, 1), lambda p, t: 0.5, regression_data())


def test_bad_data_and_loss_are_clear_errors():
    with pytest.raises(ValueError, match="train_data is empty"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), TensorDataset(torch.zeros(0, 3)))
    with pytest.raises(TypeError, match="train_data must be a map-style Dataset"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), iter([]))
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar .* got shape \(4, 1\)"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(reduction="none"), regression_data())
    with pytest.raises(ValueError, match=r"\(input, target\) pairs"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), TensorDataset(torch.zeros(4, 3)))


# --------------------------------------------------------- determinism, kept to fit's run

def spying_loss(seen, fail_after=None):
    """MSE that records whether deterministic algorithms are on at each call."""
    def loss(prediction, target):
        seen.append(torch.are_deterministic_algorithms_enabled())
        if fail_after is not None and len(seen) > fail_after:
            raise RuntimeError("out of memory (pretend)")
        return nn.functional.mse_loss(prediction, target)

    return loss


@pytest.mark.parametrize("before", [(False, False, True, False), (True, False, False, True)],
                         ids=["off-with-benchmark", "on-strict"])
def test_fit_deterministic_restores_the_global_settings(restore_determinism, monkeypatch,
                                                       before):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2:]
    expected = determinism()
    seen = []
    quiet_fit(nn.Linear(3, 1), spying_loss(seen), regression_data(8), deterministic=True)
    assert seen and all(seen)  # on during the run
    assert determinism() == expected  # and exactly as before afterwards
    seen.clear()
    with pytest.raises(RuntimeError, match="pretend"):
        quiet_fit(nn.Linear(3, 1), spying_loss(seen, fail_after=1), regression_data(8),
                  deterministic=True)
    assert seen == [True, True] and determinism() == expected  # restored on errors too


def test_fit_by_default_leaves_determinism_alone(restore_determinism):
    torch.use_deterministic_algorithms(False)
    seen = []
    quiet_fit(nn.Linear(3, 1), spying_loss(seen), regression_data(8), epochs=2)
    assert seen and not any(seen)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("deterministic", [False, True])
def test_two_fits_with_the_same_seed_give_the_same_weights(restore_determinism, deterministic):
    def run(seed):
        net = small_segmenter()
        quiet_fit(net, nn.CrossEntropyLoss(), segmentation_data(), epochs=2, seed=seed,
                  deterministic=deterministic)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    first = run(5)
    assert torch.equal(first, run(5))
    assert not torch.equal(first, run(6))  # the seed matters: equality is not trivial


# --------------------------------------------------- checkpoint files fit does not own

def counting(loss_fn, calls):
    def loss(prediction, target):
        calls.append(1)
        return loss_fn(prediction, target)

    return loss


def previous_run(folder):
    """A finished run's checkpoint and best file, as fit wrote them."""
    quiet_fit(small_segmenter(), nn.CrossEntropyLoss(), segmentation_data(),
              segmentation_data(6, seed=1), epochs=1, checkpoint=folder / "ck.pt")
    return {name: (folder / name).read_bytes() for name in ("ck.pt", "ck-best.pt")}


@pytest.mark.parametrize("existing", ["ck.pt", "ck-best.pt", "both"])
def test_fit_refuses_to_replace_checkpoints_without_resume_or_overwrite(tmp_path, existing):
    files = previous_run(tmp_path)
    if existing != "both":
        (tmp_path / ("ck-best.pt" if existing == "ck.pt" else "ck.pt")).unlink()
        files = {existing: files[existing]}
    calls = []
    with pytest.raises(FileExistsError, match="checkpoint: .* already exists?; pass "
                                              "resume=True to continue from it or "
                                              "overwrite=True to replace it"):
        quiet_fit(small_segmenter(seed=1), counting(nn.CrossEntropyLoss(), calls),
                  segmentation_data(), segmentation_data(6, seed=1), epochs=2,
                  checkpoint=tmp_path / "ck.pt")
    assert calls == []  # refused before any training
    assert {name: (tmp_path / name).read_bytes() for name in files} == files


def test_fit_refuses_an_unrelated_file_at_the_checkpoint_path(tmp_path):
    unrelated = tmp_path / "results.pt"
    unrelated.write_bytes(b"three weeks of GPU time")
    with pytest.raises(FileExistsError, match=r"results\.pt' already exists"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), checkpoint=unrelated)
    assert unrelated.read_bytes() == b"three weeks of GPU time"
    # Without validation data there is no best file, so a "-best" sibling is not fit's.
    sibling = tmp_path / "new-best.pt"
    sibling.write_bytes(b"someone else's")
    quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), checkpoint=tmp_path / "new.pt")
    assert sibling.read_bytes() == b"someone else's"


@pytest.mark.parametrize("which", ["ck.pt", "ck-best.pt"])
def test_resume_refuses_a_file_that_is_not_a_mednotes_checkpoint(tmp_path, which):
    previous_run(tmp_path)
    torch.save({"weights": torch.zeros(3)}, tmp_path / which)  # someone else's file
    files = {name: (tmp_path / name).read_bytes() for name in ("ck.pt", "ck-best.pt")}
    calls = []
    with pytest.raises(ValueError, match=rf"resume=True cannot continue from checkpoint: "
                                         rf".*{which}' is not a checkpoint written by"):
        quiet_fit(small_segmenter(), counting(nn.CrossEntropyLoss(), calls),
                  segmentation_data(), segmentation_data(6, seed=1), epochs=2,
                  checkpoint=tmp_path / "ck.pt", resume=True)
    assert calls == []
    assert {name: (tmp_path / name).read_bytes() for name in files} == files


def test_resume_refuses_an_unreadable_file(tmp_path):
    (tmp_path / "ck.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="resume=True cannot continue from checkpoint: .*empty"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(),
                  checkpoint=tmp_path / "ck.pt", resume=True)
    assert (tmp_path / "ck.pt").read_bytes() == b""


def test_resume_into_a_model_that_does_not_fit_trains_nothing(tmp_path):
    previous_run(tmp_path)
    files = {name: (tmp_path / name).read_bytes() for name in ("ck.pt", "ck-best.pt")}
    wider = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 2, 1))
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    calls = []
    with pytest.raises(ValueError, match="does not fit the model"):
        quiet_fit(wider, counting(nn.CrossEntropyLoss(), calls), segmentation_data(),
                  segmentation_data(6, seed=1), epochs=2, checkpoint=tmp_path / "ck.pt",
                  resume=True)
    assert calls == []
    assert all(torch.equal(before[k], v) for k, v in wider.state_dict().items())
    assert {name: (tmp_path / name).read_bytes() for name in files} == files


@pytest.mark.parametrize("best, scores, expected", [
    ("score", [0.2, 0.9, 0.5], 2),  # highest score wins
    ("score", [0.2, 0.9, 0.9], 2),  # ties go to the earliest epoch
    ("score", [math.nan, 0.3, math.nan], 2),  # NaN never wins
    ("score", [math.nan] * 3, 3),  # all NaN so far: the latest epoch
    ("val_loss", [0.2, 0.9, 0.5], None),  # the default: lowest validation loss
])
def test_the_best_checkpoint_is_the_epoch_history_best_names(tmp_path, best, scores, expected):
    values = iter(scores)
    history = quiet_fit(small_segmenter(), nn.CrossEntropyLoss(), segmentation_data(),
                        segmentation_data(6, seed=1), epochs=3, val_batch_size=6,
                        metrics={"score": lambda p, t: next(values)}, best=best,
                        checkpoint=tmp_path / "ck.pt")
    saved = load_checkpoint(tmp_path / "ck-best.pt")["epoch"]
    assert saved == (history.best("val_loss")["epoch"] if expected is None else expected)
    if not all(math.isnan(v) for v in scores):
        assert history.best(best)["epoch"] == saved


def test_overwrite_replaces_a_previous_run(tmp_path):
    files = previous_run(tmp_path)
    history = quiet_fit(small_segmenter(seed=3), nn.CrossEntropyLoss(), segmentation_data(),
                        segmentation_data(6, seed=1), epochs=2, checkpoint=tmp_path / "ck.pt",
                        overwrite=True)
    assert history["epoch"] == [1, 2]
    assert load_checkpoint(tmp_path / "ck.pt")["epoch"] == 2
    assert (tmp_path / "ck.pt").read_bytes() != files["ck.pt"]


def test_a_checkpoint_folder_that_cannot_be_written_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    calls = []
    with pytest.raises(ValueError, match="checkpoint: cannot write into the folder"):
        quiet_fit(nn.Linear(3, 1), counting(nn.MSELoss(), calls), regression_data(),
                  checkpoint=blocker / "run" / "ck.pt")
    assert calls == [] and blocker.read_text() == "not a folder"
    with pytest.raises(ValueError, match="is a folder; checkpoint must name a file"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), checkpoint=tmp_path)


# ------------------------------------------------------ outputs and targets that disagree

def test_a_target_that_would_be_broadcast_is_refused_on_the_first_batch():
    x = torch.randn(16, 3)
    flat = TensorDataset(x, x.sum(1))  # target (N,) for an output (N, 1)
    calls = []
    with pytest.raises(ValueError, match=r"output shape \(4, 1\) and target shape \(4,\) "
                                         r"differ: a floating-point target must have"):
        quiet_fit(nn.Linear(3, 1), counting(nn.MSELoss(), calls), flat)
    assert calls == []
    # a hand-written loss broadcasts silently, without torch's warning: refused as well
    with pytest.raises(ValueError, match=r"output shape \(4, 1\) and target shape \(4,\)"):
        quiet_fit(nn.Linear(3, 1), lambda p, t: ((p - t) ** 2).mean(), flat)
    # same number of dims, another shape
    with pytest.raises(ValueError, match=r"output shape \(4, 1\) and target shape \(4, 2\)"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), TensorDataset(x, x[:, :2]))


def test_torchs_broadcast_warning_becomes_an_error():
    x = torch.randn(16, 3)
    integers = TensorDataset(x, (x.sum(1) > 0).long())  # not floating: only torch's warning
    with pytest.raises(ValueError, match=r"output shape \(4, 1\) and target shape \(4,\) "
                                         r"differ and loss_fn would broadcast them"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), integers)


def test_a_validation_target_that_would_be_broadcast_is_refused():
    x = torch.randn(8, 3)
    with pytest.raises(ValueError, match=r"output shape \(4, 1\) and target shape \(4,\)"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), TensorDataset(x, x.sum(1)))


def test_segmentation_targets_of_other_shapes_still_train():
    # CrossEntropyLoss: logits (N, C, H, W) and integer targets (N, H, W).
    torch.manual_seed(0)
    net = small_segmenter()
    history = quiet_fit(net, nn.CrossEntropyLoss(), segmentation_data(),
                        segmentation_data(6, seed=1), epochs=6, lr=0.05)
    assert history[-1]["val_loss"] < 0.6 * history[0]["val_loss"]
    # BCEWithLogitsLoss: a floating-point mask of the output's shape (N, 1, H, W)
    x, y = segmentation_data()[:]
    binary = TensorDataset(x, y[:, None].float())
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))
    history = quiet_fit(net, nn.BCEWithLogitsLoss(), binary, binary, epochs=6, lr=0.05)
    assert history[-1]["val_loss"] < 0.8 * history[0]["val_loss"]


# ------------------------------------------------------------------ torchrun, 2 processes

DDP_SCRIPT = textwrap.dedent('''
    """One SGD step of a tiny conv net, run by torchrun (2 processes) or directly (1)."""
    import os
    import sys

    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from mednotes.train import fit


    def one_step(batch_size, out):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 2, 1))
        g = torch.Generator().manual_seed(1)
        x = torch.randn(8, 1, 6, 6, generator=g)
        data = TensorDataset(x, (x[:, 0] > 0.3).long())
        fit(net, nn.CrossEntropyLoss(), data, epochs=1, lr=0.1, batch_size=batch_size,
            optimizer="sgd", device="cpu", progress=False)
        torch.save({"world_size": int(os.environ.get("WORLD_SIZE", "1")),
                    "params": {k: p.detach().clone() for k, p in net.named_parameters()},
                    "grads": {k: p.grad.clone() for k, p in net.named_parameters()}},
                   f"{out}-rank{os.environ.get('RANK', '0')}.pt")


    if __name__ == "__main__":
        one_step(int(sys.argv[1]), sys.argv[2])
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_agree_with_one_process_on_the_full_batch(tmp_path):
    script = tmp_path / "ddp_step.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
           "MEDNOTES_DEVICE": "cpu"}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"  # keep gloo on the loopback interface
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_port()}",
               str(script), "4", str(tmp_path / "ddp")]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]

    spec = importlib.util.spec_from_file_location("ddp_step", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.one_step(8, str(tmp_path / "single"))  # one process, the whole batch of 8

    single = torch.load(tmp_path / "single-rank0.pt", weights_only=True)
    ranks = [torch.load(tmp_path / f"ddp-rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert single["world_size"] == 1 and [r["world_size"] for r in ranks] == [2, 2]
    for rank in ranks:
        for kind in ("grads", "params"):
            for name, expected in single[kind].items():
                torch.testing.assert_close(rank[kind][name], expected, rtol=1e-6, atol=1e-6,
                                           msg=f"{kind}[{name}]")
    # the step really moved the weights, so agreement is not trivial
    assert any(g.abs().max() > 1e-3 for g in single["grads"].values())


# ------------------------------------------------------------------------ command line

def test_toy_squares_are_deterministic_and_labelled():
    a, b = toy_squares(3, size=16, seed=5), toy_squares(3, size=16, seed=5)
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    image, mask = a[0]
    assert image.shape == (1, 16, 16) and mask.shape == (16, 16)
    assert set(mask.unique().tolist()) == {0, 1}
    assert image[0][mask == 1].mean() > image[0][mask == 0].mean() + 0.5


def test_toy_squares_bad_arguments_name_them():
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        toy_squares(0)
    with pytest.raises(ValueError, match="size must be an int >= 4, got 3"):
        toy_squares(2, size=3)
    with pytest.raises(TypeError, match="size must be an int, got float 16.0"):
        toy_squares(2, size=16.0)
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        toy_squares(2, seed=-1)


def test_history_best_needs_a_column_name():
    with pytest.raises(TypeError, match="metric must be a column name"):
        History(RECORDS).best(3)


def test_torchrun_variables_that_are_not_ints_are_clear_errors(monkeypatch):
    from mednotes.train import distributed

    monkeypatch.setenv("LOCAL_RANK", "one")
    with pytest.raises(ValueError, match="LOCAL_RANK must be an int >= 0, got 'one'"):
        distributed.local_rank()
    monkeypatch.setenv("WORLD_SIZE", "-2")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an int >= 0, got '-2'"):
        distributed.launched()
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not distributed.launched() and distributed.local_rank() == 0


TOY = ["--dataset", "toy", "--epochs", "1", "--size", "16", "--n-train", "8", "--n-val", "4",
       "--batch-size", "8", "--base-channels", "4", "--depth", "2", "--device", "cpu",
       "--quiet"]


def usage_error(argv, capsys) -> str:
    """The one error line of a usage error (exit status 2, no traceback)."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def outputs(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_command_line_refuses_to_replace_an_earlier_run(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main([*TOY, "--out", str(out)]) == 0
    before = outputs(out)
    assert set(before) == {"checkpoint.pt", "checkpoint-best.pt", "history.png"}
    capsys.readouterr()
    line = usage_error([*TOY, "--out", str(out), "--seed", "1"], capsys)
    assert ("already holds checkpoint.pt, checkpoint-best.pt, history.png from an earlier "
            "run; pass --resume to continue it or --force to replace it") in line
    assert outputs(out) == before
    (out / "checkpoint.pt").unlink()  # the plot alone is enough to refuse
    (out / "checkpoint-best.pt").unlink()
    assert "already holds history.png" in usage_error([*TOY, "--out", str(out)], capsys)
    assert (out / "history.png").read_bytes() == before["history.png"]


def test_command_line_force_replaces_and_resume_continues(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main([*TOY, "--out", str(out)]) == 0
    before = outputs(out)
    assert main([*TOY, "--out", str(out), "--seed", "1", "--force"]) == 0
    assert outputs(out)["checkpoint.pt"] != before["checkpoint.pt"]
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    assert main([*TOY[:2], "--epochs", "2", *TOY[4:], "--out", str(out), "--seed", "1",
                 "--resume"]) == 0
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["epoch"] == 2 and state["history"]["epoch"] == [1, 2]
    assert "not allowed with argument" in usage_error(
        [*TOY, "--out", str(out), "--resume", "--force"], capsys)


def test_command_line_resume_refuses_a_foreign_checkpoint(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    line = usage_error([*TOY, "--out", str(out), "--resume"], capsys)
    assert "--resume: " in line and "is not a readable checkpoint" in line
    assert outputs(out) == {"checkpoint.pt": b"not a checkpoint"}


def test_command_line_checks_the_out_folder_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = usage_error([*TOY, "--out", str(blocker / "run")], capsys)
    assert "cannot create or write into this folder" in line
    assert "--out" in usage_error([*TOY, "--out", str(blocker)], capsys)
    assert blocker.read_text() == "x"


@pytest.mark.parametrize("args, message", [
    (["--lr", "-1"], "--lr must be > 0, got -1.0"),
    (["--lr", "0"], "--lr must be > 0, got 0.0"),
    (["--lr", "nan"], "--lr must be finite, got nan"),
    (["--lr", "inf"], "--lr must be finite, got inf"),
    (["--device", "gpu"], "--device='gpu' is not a device"),
    (["--num-workers", "-1"], "--num-workers must be an int >= 0, got -1"),
    (["--epochs", "0"], "--epochs must be a positive int, got 0"),
    (["--seed", "-1"], "--seed must be an int between 0 and 4294967295, got -1"),
    (["--batch-size", "0"], "--batch-size must be a positive int, got 0"),
    (["--size", "16", "--depth", "4"], "--size 16 is too small for --depth 4"),
    (["--size", "18", "--depth", "2"], "--size must be divisible by 2**depth = 4"),
])
def test_command_line_bad_arguments_are_usage_errors(tmp_path, capsys, args, message):
    argv = [*TOY, "--out", str(tmp_path / "run"), *args]
    assert message in usage_error(argv, capsys)
    assert not (tmp_path / "run").exists()  # nothing created, nothing trained


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_command_line_cuda_without_cuda_is_a_usage_error(tmp_path, capsys):
    line = usage_error([*TOY, "--out", str(tmp_path / "run"), "--device", "cuda"], capsys)
    assert "--device='cuda' asks for cuda, which this machine does not have" in line


def test_command_line_brain_lesions_too_small_is_a_usage_error(tmp_path, capsys):
    argv = ["--dataset", "brain-lesions", "--size", "16", "--depth", "2", "--n-train", "2",
            "--n-val", "2", "--out", str(tmp_path / "run")]
    line = usage_error(argv, capsys)
    assert "--dataset brain-lesions cannot be built" in line and "size must be" in line
    assert not (tmp_path / "run").exists()


def test_command_line_trains_and_writes_checkpoint_and_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    status = main(["--dataset", "toy", "--epochs", "2", "--size", "16", "--n-train", "16",
                   "--n-val", "4", "--batch-size", "8", "--base-channels", "4", "--depth", "2",
                   "--device", "cpu", "--out", str(out)])
    assert status == 0
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt", "checkpoint-best.pt",
                                               "history.png"}
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["epoch"] == 2 and state["history"].metric_names() == ["dice"]
    captured = capsys.readouterr()
    assert "best validation Dice" in captured.out and "epoch 2/2" in captured.err


def test_command_line_channels_last_trains_the_same_network_in_channels_last_order(tmp_path):
    runs = {}
    for flag in ([], ["--channels-last"]):
        out = tmp_path / ("cl" if flag else "plain")
        assert main([*TOY[:2], "--epochs", "2", *TOY[4:], "--out", str(out), *flag]) == 0
        runs[bool(flag)] = load_checkpoint(out / "checkpoint.pt")
    convs = [k for k, v in runs[True]["model"].items()
             if v.dim() == 4 and v.shape[1] > 1 and v.shape[-1] > 1]
    assert convs  # the 3x3 convolutions' weights (with one input channel both orders agree)
    memory = torch.channels_last
    assert all(runs[True]["model"][k].is_contiguous(memory_format=memory) for k in convs)
    assert not any(runs[False]["model"][k].is_contiguous(memory_format=memory) for k in convs)
    # Only the memory layout differs: the same steps give the same losses, to rounding.
    for plain, last in zip(runs[False]["history"].records, runs[True]["history"].records):
        assert last["train_loss"] == pytest.approx(plain["train_loss"], rel=1e-4)
        assert last["val_loss"] == pytest.approx(plain["val_loss"], rel=1e-4)


def test_command_line_trains_on_brain_lesions(tmp_path, capsys):
    status = main(["--dataset", "brain-lesions", "--epochs", "1", "--size", "32", "--n-train",
                   "8", "--n-val", "10", "--batch-size", "4", "--base-channels", "4", "--depth",
                   "2", "--device", "cpu", "--quiet", "--out", str(tmp_path)])
    assert status == 0 and (tmp_path / "history.png").is_file()
    out = capsys.readouterr().out
    # 1 of these 10 validation images has no lesion: left out of the Dice, counted apart.
    assert ("data: brain-lesions 32x32, made in " in out and "8 training images (lesion-rich: "
            "none without lesion; " in out and "10 validation images (9 with a lesion, 1 "
            "without)" in out)
    assert "false alarms" in out.splitlines()[2]
    assert ("Dice = mean over the 9 validation images with a lesion of 2|P∩G| / (|P|+|G|)"
            in out and "the 1 lesion-free images are left out of it" in out)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["history"].metric_names() == [
        "dice", "false_alarm"]


def hand_made_validation():
    """Five 1x4 images, their targets, and predictions given as logits (see Given)."""
    target = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1],
                           [1, 0, 0, 0]])[:, None]
    guess = torch.tensor([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1],
                          [0, 0, 0, 0]])[:, None]
    logits = F.one_hot(guess, 2).movedim(-1, 1).float()
    return TensorDataset(logits, target)


def test_lesion_dice_and_false_alarm_per_image():
    logits, target = hand_made_validation().tensors
    torch.testing.assert_close(lesion_dice(logits, target),
                               torch.tensor([2 / 3, math.nan, math.nan, 1.0, 0.0]),
                               equal_nan=True)
    torch.testing.assert_close(false_alarm(logits, target),
                               torch.tensor([math.nan, 0.0, 1.0, math.nan, math.nan]),
                               equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_the_two_class_argmax_equals_torch_argmax_ties_and_nan_included(dtype):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randint(-2, 3, (6, 2, 9, 7), generator=gen).to(dtype)  # many ties
    where = torch.rand(logits.shape, generator=gen)
    logits[where < 0.1] = math.nan  # NaN in one channel, in the other, and in both
    logits[where > 0.95] = math.inf
    assert (logits[:, 0] == logits[:, 1]).any() and logits[:, 0].isnan().any()
    assert (logits[:, 0].isnan() & logits[:, 1].isnan()).any()
    expected = logits.float().argmax(1)
    assert torch.equal(_argmax_classes(logits), expected)
    assert _argmax_classes(logits).dtype == torch.long
    three = torch.randn(2, 3, 4, 4, generator=gen)  # other class counts: argmax itself
    assert torch.equal(_argmax_classes(three), three.argmax(1))
    volume = torch.randn(2, 2, 3, 4, 5, generator=gen)  # 3D logits
    assert torch.equal(_argmax_classes(volume), volume.argmax(1))


def test_the_validation_dice_is_the_mean_over_the_images_that_have_a_lesion():
    # Batches of 2: (lesion, empty), (empty, lesion), (lesion). Lesion images score 2/3, 1
    # and 0; an average of batch means would give (2/3 * 2 + 1 * 2 + 0) / 5 = 0.667.
    val = hand_made_validation()
    history = quiet_fit(Given(), DiceCELoss(include_background=False), val, val,
                        batch_size=2, metrics={"dice": lesion_dice, "false_alarm": false_alarm})
    assert history[0]["dice"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert history[0]["false_alarm"] == pytest.approx(1 / 2)  # 1 of the 2 lesion-free images
    assert _baselines(val) == (0.0, 1.0)  # no lesion anywhere; perfect


def test_command_line_defaults_are_the_recipe():
    args = parser().parse_args([])
    assert (args.dataset, args.loss, args.batch_dice, args.schedule, args.train_lesions,
            args.amp) == ("brain-lesions", "dice-ce", False, "onecycle", "rich", "auto")
    loss = _loss(args)
    assert isinstance(loss, DiceCELoss)
    assert loss.options["batch"] is False and loss.options["include_background"] is False
    small = parser().parse_args(["--size", "32", "--n-train", "6", "--n-val", "10"])
    train, val = _datasets(small)
    assert bool(((train.tensors[1] == 1).flatten(1).sum(1) > 0).all())  # lesions everywhere
    default = _datasets(parser().parse_args(["--size", "32", "--n-train", "6", "--n-val", "10",
                                             "--train-lesions", "default"]))[0]
    rich_share, default_share = ((d.tensors[1] == 1).float().mean() for d in (train, default))
    assert rich_share > 1.4 * default_share  # 1.9% against 1.2% of the pixels
    expected = brain_lesions(10, size=32, dim=2, seed=1_000_003)  # the dataset's defaults
    assert all(torch.equal(val[i][1], expected[i][1]) for i in range(10))


def test_command_line_help_shows_every_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no line breaks inside a hyphenated default
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo the line wrapping
    shown = 0
    for action in parser()._actions:
        if action.option_strings and action.dest != "help":
            assert f"(default: {action.default})" in text, action.dest
            shown += 1
    assert shown > 20 and "(default: dice-ce)" in text and "(default: rich)" in text


def test_command_line_prints_device_data_epochs_and_what_the_dice_means(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TOY[:2], "--epochs", "3", *TOY[4:], "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device: cpu (") and lines[0].endswith("threads), float32")
    share = (toy_squares(8, 16, seed=0).tensors[1] == 1).float().mean()
    assert lines[1].startswith("data: toy 16x16, made in ") and lines[1].endswith(
        f"8 training images (toy squares; lesion {share:.1%} of pixels), 4 validation images "
        "(4 with a lesion, 0 without)")
    assert lines[2].split() == ["epoch", "train", "loss", "val", "loss", "Dice", "seconds"]
    history = load_checkpoint(out / "checkpoint.pt")["history"]
    for line, record in zip(lines[3:6], history.records):
        assert line.split()[0] == str(record["epoch"])
        assert float(line.split()[3]) == pytest.approx(record["dice"], abs=5e-4)
        assert float(line.split()[4]) == pytest.approx(record["seconds"], abs=0.05)
    assert lines[6].startswith("3 epochs in ") and " s per epoch" in lines[6]
    best = history.best("dice")
    assert lines[7] == (f"best validation Dice {best['dice']:.3f} at epoch {best['epoch']} of "
                        f"3, saved in {out / 'checkpoint-best.pt'} (last epoch: checkpoint.pt; "
                        "curves: history.png)")
    assert load_checkpoint(out / "checkpoint-best.pt")["epoch"] == best["epoch"]
    assert lines[8] == ("Dice = mean over the 4 validation images with a lesion of "
                        "2|P∩G| / (|P|+|G|), P the predicted and G the true lesion pixels: "
                        "predicting no lesion anywhere scores 0.000, a perfect segmentation "
                        "1.000")
    assert len(lines) == 9


def test_command_line_lists_the_valid_choices(capsys):
    with pytest.raises(SystemExit):
        main(["--dataset", "mnist"])
    assert "invalid choice: 'mnist' (choose from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--model", "resnet"])
    assert "'unet'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--dataset", "toy", "--size", "20", "--depth", "3"])
    assert "--size must be divisible by 2**depth = 8" in capsys.readouterr().err


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "mednotes.train", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--dataset {brain-lesions,toy}" in done.stdout


def test_command_line_docstring_examples_run():
    # pytest's --doctest-modules skips __main__.py, so its examples (lesion_dice, false_alarm,
    # RandomPatches) are run here.
    import doctest

    import mednotes.train.__main__ as command_line

    result = doctest.testmod(command_line, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0, result
