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
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from conftest import DEVICES
from mednotes.train import History, fit, load_checkpoint, save_checkpoint
from mednotes.train.__main__ import main, toy_squares
from mednotes.train.lesion_objectives import dice_ce, lesion_dice
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


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    net, opt = trained_adam()
    path = save_checkpoint(tmp_path / "ck.pt", net, opt, epoch=1)
    before = path.read_bytes()

    def crash_half_way(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(torch, "save", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, net, opt, epoch=2)
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
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        save_checkpoint(tmp_path / "x.pt", small_segmenter(), None, epoch=-1)


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


def test_validation_without_metrics_records_only_the_loss():
    history = quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), regression_data(8, 1))
    assert history.keys() == ["epoch", "train_loss", "val_loss", "seconds", "lr"]


def test_fit_is_deterministic_under_its_seed():
    def run(seed):
        net = small_segmenter()
        quiet_fit(net, nn.CrossEntropyLoss(), segmentation_data(), epochs=2, seed=seed)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


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
    with pytest.raises(ValueError, match="schedule must be one of constant, cosine, onecycle"):
        lr_factor("step", 0, 10)
    with pytest.raises(ValueError, match="step must be in"):
        lr_factor("cosine", 10, 10)


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


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be an int >= 1, got 0"),
    ({"epochs": 2.0}, "epochs must be an int >= 1"),
    ({"lr": 0}, "lr must be a finite number > 0, got 0"),
    ({"lr": -1e-3}, "lr must be"),
    ({"lr": math.inf}, "lr must be"),
    ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of adam, adamw, sgd, got 'lbfgs'"),
    ({"weight_decay": -1}, "weight_decay must be"),
    ({"num_workers": -1}, "num_workers must be"),
    ({"amp": "yes"}, "amp must be 'auto', True or False"),
    ({"resume": True}, "resume=True needs checkpoint"),
    ({"metrics": {"mae": abs}, "val_data": None}, "metrics are computed on val_data"),
    ({"metrics": {"val_loss": abs}}, "metrics names must be str and not one of"),
    ({"val_batch_size": 0}, "val_batch_size must be"),
    ({"schedule": "linear"}, "schedule must be one of constant, cosine, onecycle, got 'linear'"),
])
def test_bad_arguments_raise_value_errors_naming_them(kwargs, message):
    args = {"val_data": regression_data(8), **kwargs}
    val = args.pop("val_data")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), regression_data(), val, **args)


def test_bad_data_and_loss_are_clear_errors():
    with pytest.raises(ValueError, match="train_data is empty"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), TensorDataset(torch.zeros(0, 3)))
    with pytest.raises(TypeError, match="train_data must be a map-style Dataset"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), iter([]))
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar .* got shape \(4, 1\)"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(reduction="none"), regression_data())
    with pytest.raises(ValueError, match=r"\(input, target\) pairs"):
        quiet_fit(nn.Linear(3, 1), nn.MSELoss(), TensorDataset(torch.zeros(4, 3)))


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

def test_dice_ce_pools_the_batch_or_averages_the_images():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 6, 6, generator=g)
    target = (torch.rand(3, 6, 6, generator=g) > 0.7).long()
    target[2] = 0  # an image without lesion
    ce = F.cross_entropy(logits, target)
    p, truth = logits.softmax(1)[:, 1].double().numpy(), (target == 1).double().numpy()
    pooled = 1 - (2 * (p * truth).sum() + 1) / (p.sum() + truth.sum() + 1)
    assert float(dice_ce(logits, target)) == pytest.approx(float(ce) + pooled, rel=1e-6)
    # Per image: the mean of the one-image losses (equal sizes, so the CE means agree too).
    singles = [float(dice_ce(logits[i:i + 1], target[i:i + 1])) for i in range(3)]
    assert float(dice_ce(logits, target, per_image=True)) == pytest.approx(
        sum(singles) / 3, rel=1e-6)


def test_lesion_dice_is_the_mean_of_per_image_dice():
    target = torch.zeros(3, 4, 4, dtype=torch.long)
    target[0, :2] = 1  # 8 lesion pixels
    target[1, 0, 0] = 1  # 1 lesion pixel, predicted nowhere
    pred = torch.zeros_like(target)
    pred[0, :1] = 1  # 4 of the 8 found, nothing else
    logits = torch.stack([1 - pred, pred], 1).float()
    expected = (2 * 4 / (4 + 8) + 0.0 + 1.0) / 3  # image 2: both empty counts as 1
    assert float(lesion_dice(logits, target)) == pytest.approx(expected)


def test_toy_squares_are_deterministic_and_labelled():
    a, b = toy_squares(3, size=16, seed=5), toy_squares(3, size=16, seed=5)
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    image, mask = a[0]
    assert image.shape == (1, 16, 16) and mask.shape == (16, 16)
    assert set(mask.unique().tolist()) == {0, 1}
    assert image[0][mask == 1].mean() > image[0][mask == 0].mean() + 0.5


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


def test_command_line_trains_on_brain_lesions(tmp_path, capsys):
    data = pytest.importorskip("mednotes.data")
    if not hasattr(data, "brain_lesions"):
        pytest.skip("mednotes.data.brain_lesions is not there yet")
    status = main(["--dataset", "brain-lesions", "--epochs", "1", "--size", "32", "--n-train",
                   "8", "--n-val", "4", "--batch-size", "4", "--base-channels", "4", "--depth",
                   "2", "--device", "cpu", "--quiet", "--out", str(tmp_path)])
    assert status == 0 and (tmp_path / "history.png").is_file()
    assert "best validation Dice" in capsys.readouterr().out


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
