"""A training loop a reader understands in one screen: :func:`fit`, :func:`evaluate`, :func:`predict`.

Introduced in lecture 1 (CNN internals), where a small CNN is trained so that its filters show
structure; every later lecture that trains a model (2 GAP/CAM, 3 chest X-rays, 4 YOLO, ...) uses it.

In the spirit of torchvision's ``references/detection/engine.py``: no callbacks, no hooks, just a
loop, a progress bar and a :class:`History` to plot with :func:`labkit.viz.plot_history`.
"""
from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from labkit.env import device as default_device

# A metric maps (outputs, targets) of one batch to the batch mean. Returning a 0-d tensor instead of
# a float lets fit() accumulate it on the device without a GPU sync per batch.
Metric = Callable[[Tensor, Tensor], "float | Tensor"]

# How often (in batches) the bar's loss is refreshed. Reading the loss is a GPU sync (.item()), so
# doing it every batch would stall the pipeline; every 10 batches costs nothing measurable.
POSTFIX_EVERY = 10


@dataclass
class History:
    """Per-epoch record of a :func:`fit` run; every list has one entry per epoch.

    ``metrics`` keys are ``"train_<name>"`` and ``"val_<name>"`` for each metric passed to fit.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    name: str = ""

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def best_epoch(self, key: str = "val_loss", mode: str = "min") -> int:
        """0-based index of the best epoch by ``key`` ("train_loss", "val_loss" or a metrics key).

        ``history.val_loss[history.best_epoch()]`` is the best validation loss; ties go to the
        earliest epoch. ``mode`` is "min" for losses, "max" for accuracies.
        """
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        values = self._series(key)
        if not values:
            raise ValueError(f"History has no {key!r} values yet (was fit given a val_loader?); "
                             f"try key='train_loss'")
        pick = min if mode == "min" else max
        return values.index(pick(values))

    def _series(self, key: str) -> list[float]:
        if key in ("train_loss", "val_loss"):
            return getattr(self, key)
        if key in self.metrics:
            return self.metrics[key]
        raise KeyError(f"unknown key {key!r}; choose from "
                       f"{['train_loss', 'val_loss', *self.metrics]}")

    def to_dict(self) -> dict:
        """Plain dict of lists (what checkpoints store, loadable with ``weights_only=True``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> History:
        return cls(train_loss=list(d["train_loss"]), val_loss=list(d["val_loss"]),
                   metrics={k: list(v) for k, v in d["metrics"].items()},
                   seconds=list(d["seconds"]), name=d.get("name", ""))


def accuracy(outputs: Tensor, targets: Tensor) -> float:
    """Top-1 accuracy of logits ``outputs: Tensor[N, C]`` against class indices ``targets: Tensor[N]``.

    Introduced in lecture 1 (CNN internals).
    """
    if outputs.ndim != 2 or targets.ndim != 1 or len(outputs) != len(targets):
        raise ValueError(f"accuracy expects outputs (N, C) and targets (N,), got "
                         f"{tuple(outputs.shape)} and {tuple(targets.shape)}; for one-hot targets "
                         f"pass targets.argmax(1)")
    if len(targets) == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return (outputs.argmax(1) == targets).float().mean().item()


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """model.eval() for the block, then every submodule back to the mode it had (not just the root's)."""
    modes = [m.training for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in zip(model.modules(), modes):
            m.training = mode


def to_device(obj, device: torch.device | str):
    """``obj`` with every tensor in it moved to ``device``: a tensor, or lists, tuples and dicts of them.

    Detection models take a list of images and a list of target dicts (lectures 4 and 5), so batches
    are not always one tensor. Anything that is not a tensor is returned as it is.
    """
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def _step_loss(model: nn.Module, inputs, targets, loss_fn: Callable | None) -> tuple[Tensor, object]:
    """(loss, outputs) of one batch: ``loss_fn(model(inputs), targets)``, or, with ``loss_fn=None``, the
    sum of the loss dict that ``model(inputs, targets)`` returns (torchvision detection models in train
    mode; outputs is then that dict)."""
    if loss_fn is None:
        losses = model(inputs, targets)
        if not isinstance(losses, Mapping):
            raise TypeError(f"loss_fn=None needs a model that returns a dict of losses when called as "
                            f"model(inputs, targets) (torchvision detection models do, in train mode); "
                            f"{type(model).__name__} returned {type(losses).__name__}. Pass a loss_fn.")
        return sum(losses.values()), losses
    outputs = model(inputs)
    return loss_fn(outputs, targets), outputs


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def evaluate(model: nn.Module, loader: Iterable, *, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None,
             device: torch.device | str | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``loader``, weighted by batch size.

    Returns ``{"loss": ..., <metric name>: ...}`` ("loss" only when ``loss_fn`` is given).
    ``loss_fn`` must return the batch mean (``reduction="mean"``, PyTorch's default). Runs under
    ``model.eval()`` and ``torch.inference_mode()`` and restores the model's modes afterwards.
    ``device`` defaults to the device of the model's parameters.
    Introduced in lecture 1 (CNN internals).
    """
    device = torch.device(device) if device is not None else _model_device(model)
    metrics = dict(metrics or {})
    loss_sum = torch.zeros((), device=device)  # stays on the device: one sync at the end
    sums: dict[str, float | Tensor] = {k: 0.0 for k in metrics}
    seen = 0
    with _eval_mode(model), torch.inference_mode():
        for inputs, targets in loader:
            inputs, targets = to_device(inputs, device), to_device(targets, device)
            outputs = model(inputs)
            n = len(inputs)
            if loss_fn is not None:
                loss_sum.add_(loss_fn(outputs, targets), alpha=n)
            for k, fn in metrics.items():
                sums[k] = sums[k] + fn(outputs, targets) * n
            seen += n
    if seen == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    result = {"loss": loss_sum.item() / seen} if loss_fn is not None else {}
    result.update({k: float(v) / seen for k, v in sums.items()})
    return result


def predict(model: nn.Module, loader: Iterable, *,
            device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """All outputs and targets of ``loader``, concatenated on the CPU: ``(Tensor[N, ...], Tensor[N, ...])``.

    Runs under ``model.eval()`` and ``torch.inference_mode()`` and restores the model's modes.
    The returned tensors are ordinary tensors without grad (not inference tensors), so they can be
    used freely afterwards. Introduced in lecture 1 (CNN internals).
    """
    device = torch.device(device) if device is not None else _model_device(model)
    outputs, targets = [], []
    with _eval_mode(model), torch.inference_mode():
        for x, y in loader:
            outputs.append(model(x.to(device, non_blocking=True)).cpu())
            targets.append(y.cpu() if isinstance(y, Tensor) else torch.as_tensor(y))
    if not outputs:
        raise ValueError("predict: the loader yielded no batches")
    # Concatenating outside inference_mode gives normal tensors a student can reuse anywhere.
    return torch.cat(outputs), torch.cat(targets)


def _rng_state() -> dict:
    """Every RNG a training epoch may draw from (shuffling, dropout, augmentation), as plain types."""
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": random.getstate(),
            "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]}


def _set_rng_state(state: Mapping) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))


def _save_atomic(obj: dict, path: Path) -> None:
    # A crash mid-write must never leave a truncated last.pt behind: write aside, then rename.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
        epochs: int, optimizer: torch.optim.Optimizer, loss_fn: Callable | None,
        scheduler=None, metrics: Mapping[str, Metric] | None = None,
        device: torch.device | str | None = None, amp: bool = False,
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        quiet: bool = False, name: str = "") -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Loaders yield ``(inputs, targets)``, each a tensor or a list/tuple/dict of tensors (moved to the
    device by :func:`to_device`); ``loss_fn`` returns the batch mean. ``loss_fn=None`` is for models
    that compute their own losses, as torchvision's detection models do: ``model(inputs, targets)``
    returns a dict of losses, which are summed (lecture 5, Mask R-CNN); then ``metrics`` and
    ``val_loader`` are not supported (evaluate those models with their own metric, e.g. AP). ``metrics`` maps a name
    to ``fn(outputs, targets) -> float`` (batch mean, e.g. :func:`accuracy`), recorded as
    ``"train_<name>"`` (on the training batches, in train mode) and ``"val_<name>"``.
    ``device`` defaults to :func:`labkit.env.device`; the model is moved there.
    ``amp=True`` uses mixed precision (``torch.autocast`` + ``GradScaler``) on CUDA only; elsewhere it
    prints a note and trains in fp32. ``scheduler.step()`` runs once per epoch (with the monitored
    loss for ``ReduceLROnPlateau``). With ``checkpoint=folder``, ``last.pt`` is written every epoch
    and ``best.pt`` whenever the val loss (train loss without a val_loader) improves; each holds the
    state_dicts of model, optimizer, scheduler and scaler, the 0-based ``epoch``, the ``history`` as
    a plain dict and the RNG states. ``resume=True`` continues from ``last.pt`` at the next epoch and
    returns the full history. ``quiet=True`` prints nothing. Introduced in lecture 1 (CNN internals).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if loss_fn is None and (metrics or val_loader is not None):
        raise ValueError("loss_fn=None (a model that returns its own losses) cannot compute metrics or a "
                         "val loss: in eval mode such a model returns predictions, not losses. Drop "
                         "metrics/val_loader and evaluate afterwards (e.g. labkit.detection.mean_average_precision).")
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    metrics = dict(metrics or {})
    use_amp = amp and device.type == "cuda"
    if amp and not use_amp and not quiet:
        print(f"note: amp=True needs CUDA; training in fp32 on {device.type}.")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    autocast = (lambda: torch.autocast("cuda")) if use_amp else contextlib.nullcontext
    monitor = "val_loss" if val_loader is not None else "train_loss"
    folder = Path(checkpoint) if checkpoint is not None else None

    history, start = History(name=name), 0
    if resume:
        if folder is None:
            raise ValueError("resume=True needs checkpoint=<folder> holding last.pt")
        if not (folder / "last.pt").is_file():
            raise FileNotFoundError(f"resume=True but there is no checkpoint at {folder / 'last.pt'}; "
                                    f"train once with checkpoint={str(folder)!r} or pass resume=False")
        state = torch.load(folder / "last.pt", map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when saved without AMP (e.g. on a CPU)
            scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])  # so the resumed epochs shuffle exactly as an uninterrupted run
        history, start = History.from_dict(state["history"]), state["epoch"] + 1
        history.name = name or history.name
        if start >= epochs and not quiet:
            print(f"note: {folder / 'last.pt'} already holds {start} epochs (>= epochs={epochs}); "
                  f"nothing to train. Raise epochs to train further.")
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)

    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        model.train()
        try:
            total = len(train_loader)
        except TypeError:  # an iterable-style dataset has no length; the bar just counts
            total = None
        bar = tqdm(total=total, desc=f"{name + ' ' if name else ''}epoch {epoch + 1}/{epochs}",
                   unit="batch", disable=quiet, leave=True)
        loss_sum = torch.zeros((), device=device)  # summed on the device; read every POSTFIX_EVERY
        sums: dict[str, float | Tensor] = {k: 0.0 for k in metrics}
        seen = 0
        for i, (inputs, targets) in enumerate(train_loader):
            inputs, targets = to_device(inputs, device), to_device(targets, device)
            optimizer.zero_grad(set_to_none=True)  # before the forward: old grads freed, lower peak memory
            with autocast():
                loss, outputs = _step_loss(model, inputs, targets, loss_fn)
            scaler.scale(loss).backward()  # scaler is a pass-through when amp is off
            scaler.step(optimizer)
            scaler.update()
            n = len(inputs)
            loss_sum.add_(loss.detach(), alpha=n)
            seen += n
            if metrics:
                with torch.no_grad():
                    for k, fn in metrics.items():
                        sums[k] = sums[k] + fn(outputs.detach(), targets) * n
            if not quiet:
                bar.update()
                if i % POSTFIX_EVERY == 0:
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", refresh=False)
        if seen == 0:
            bar.close()
            raise ValueError("fit: train_loader yielded no batches")

        history.train_loss.append(loss_sum.item() / seen)
        for k, v in sums.items():
            history.metrics.setdefault(f"train_{k}", []).append(float(v) / seen)
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn=loss_fn, metrics=metrics, device=device)
            history.val_loss.append(val.pop("loss"))
            for k, v in val.items():
                history.metrics.setdefault(f"val_{k}", []).append(v)
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(history._series(monitor)[-1])
            else:
                scheduler.step()
        history.seconds.append(time.perf_counter() - t0)

        last = {k: v[-1] for k, v in history.metrics.items()}
        bar.set_postfix(train_loss=f"{history.train_loss[-1]:.4f}",
                        **({"val_loss": f"{history.val_loss[-1]:.4f}"} if history.val_loss else {}),
                        **{k: f"{v:.4f}" for k, v in last.items()})
        bar.close()

        if folder is not None:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler is not None else None,
                     "scaler": scaler.state_dict(), "epoch": epoch,
                     "history": history.to_dict(), "rng": _rng_state()}
            _save_atomic(state, folder / "last.pt")
            if history.best_epoch(monitor) == epoch:
                _save_atomic(state, folder / "best.pt")
    return history
