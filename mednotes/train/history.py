"""History: what happened in each epoch of a training run, as numbers and as a figure."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

#: Keys every record has (``val_loss`` only when there was validation data).
CORE_KEYS = ("epoch", "train_loss", "val_loss", "seconds", "lr")


class History:
    """Per-epoch records of a training run: ``epoch`` (1-based), ``train_loss``, ``val_loss``
    (with validation data), one entry per metric, ``seconds`` (wall time of the epoch,
    validation included) and ``lr`` (learning rate at the end of the epoch).

    ``history["val_loss"]`` gives one column as a list, ``history[-1]`` one record as a dict.

    Args:
        records: an iterable of dicts mapping str to numbers.

    Explained in: Training a segmentation network.

    Example:
        >>> h = History([{"epoch": 1, "train_loss": 0.9, "val_loss": 0.8, "dice": 0.5},
        ...              {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6, "dice": 0.7}])
        >>> h["dice"]
        [0.5, 0.7]
        >>> h.best("val_loss")["epoch"]
        2
        >>> History.from_dict(h.to_dict()) == h
        True
    """

    def __init__(self, records: Iterable[dict[str, Any]] = ()):
        self.records: list[dict[str, float | int]] = []
        for record in records:
            self.append(record)

    def append(self, record: dict[str, Any]) -> None:
        """Add the record of one epoch (a dict of str to int/float; tensors are converted)."""
        if not isinstance(record, dict):
            raise TypeError(f"record must be a dict, got {type(record).__name__}")
        clean = {}
        for key, value in record.items():
            if not isinstance(key, str):
                raise TypeError(f"record keys must be str, got {key!r}")
            if hasattr(value, "item"):  # a scalar tensor or numpy number
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"record[{key!r}] must be a number, got {type(value).__name__}")
            clean[key] = value
        self.records.append(clean)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | str):
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(f"no column {key!r} in this history; it has {self.keys()}")
            return [record.get(key, math.nan) for record in self.records]
        return self.records[key]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.records == other.records

    def keys(self) -> list[str]:
        """Column names, in order of first appearance."""
        found: dict[str, None] = {}
        for record in self.records:
            found.update(dict.fromkeys(record))
        return list(found)

    def metric_names(self) -> list[str]:
        """The columns that are not core keys (epoch, losses, seconds, lr): the metrics."""
        return [key for key in self.keys() if key not in CORE_KEYS]

    def best(self, metric: str = "val_loss", mode: str | None = None) -> dict[str, float | int]:
        """The record of the epoch where ``metric`` was best.

        Args:
            metric: a column name, e.g. ``"val_loss"`` or a metric such as ``"dice"``.
            mode: ``"min"`` or ``"max"``. By default ``"min"`` for names containing
                ``"loss"`` and ``"max"`` otherwise. Ties go to the earliest epoch; NaNs never win.

        Example:
            >>> History([{"epoch": 1, "dice": 0.4}, {"epoch": 2, "dice": 0.3}]).best("dice")
            {'epoch': 1, 'dice': 0.4}
        """
        if not isinstance(metric, str):
            raise TypeError(f"metric must be a column name (str), got {type(metric).__name__}")
        if mode is None:
            mode = "min" if "loss" in metric else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if not self.records:
            raise ValueError("the history is empty: there is no best epoch yet")
        if metric not in self.keys():
            raise ValueError(f"metric {metric!r} is not in this history; it has {self.keys()}")
        candidates = [r for r in self.records if not math.isnan(r.get(metric, math.nan))]
        if not candidates:
            raise ValueError(f"metric {metric!r} is NaN or missing in every epoch")
        choose = min if mode == "min" else max
        return dict(choose(candidates, key=lambda r: r[metric]))

    def to_dict(self) -> dict[str, list[dict[str, float | int]]]:
        """Plain lists, dicts, floats and ints: safe for ``torch.load(weights_only=True)``."""
        return {"records": [dict(record) for record in self.records]}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> History:
        """Rebuild a History from :meth:`to_dict`'s output."""
        if not isinstance(state, dict) or "records" not in state:
            raise ValueError("state must be a dict with a 'records' list, as made by to_dict()")
        return cls(state["records"])

    def __repr__(self) -> str:
        if not self.records:
            return "History(0 epochs)"
        keys = self.keys()
        rows = [[_fmt(record.get(key, math.nan)) for key in keys] for record in self.records]
        widths = [max(len(key), *(len(row[i]) for row in rows)) for i, key in enumerate(keys)]
        lines = ["  ".join(key.rjust(w) for key, w in zip(keys, widths))]
        lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
        body = "\n".join("  " + line for line in lines)
        return f"History({len(self)} epoch{'s' if len(self) != 1 else ''}\n{body}\n)"

    def plot(self, title: str | None = None):
        """Loss curves (train and validation) and, beside them, the validation metrics.

        The x axis counts epochs with whole-number ticks.

        Returns:
            the matplotlib figure: one panel for losses, one more when there are metrics.

        Example:
            >>> h = History([{"epoch": 1, "train_loss": 0.9, "val_loss": 0.8, "dice": 0.5},
            ...              {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6, "dice": 0.7}])
            >>> fig = h.plot()
            >>> [ax.get_ylabel() for ax in fig.axes]
            ['loss', 'metric on validation data']
            >>> import matplotlib.pyplot as plt; plt.close(fig)
        """
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        if not self.records:
            raise ValueError("the history is empty: train for at least one epoch before plotting")
        metrics = self.metric_names()
        fig, axes = plt.subplots(1, 2 if metrics else 1, figsize=(9 if metrics else 4.5, 3.2),
                                 squeeze=False)
        epochs = self["epoch"]
        loss_ax = axes[0, 0]
        for key, label in (("train_loss", "training"), ("val_loss", "validation")):
            if key in self.keys():
                loss_ax.plot(epochs, self[key], marker="o", markersize=3, label=label)
        loss_ax.set(xlabel="epoch", ylabel="loss", title="Loss")
        if metrics:
            metric_ax = axes[0, 1]
            for key in metrics:
                metric_ax.plot(epochs, self[key], marker="o", markersize=3, label=key)
            metric_ax.set(xlabel="epoch", ylabel="metric on validation data", title="Metrics")
        for ax in axes.flat:
            ax.grid(alpha=0.3)
            # Epochs are whole numbers: integer ticks, even for a run of one epoch.
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(frameon=False)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4f}"
