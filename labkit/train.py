"""A training loop a reader understands in one screen: :func:`fit`, :func:`evaluate`, :func:`predict`.

Introduced in lecture 1 (CNN internals), where a small CNN is trained so that its filters show
structure; lectures 2 to 5 (GAP/CAM, chest X-rays, YOLO, Mask R-CNN) train their models with it.

In the spirit of torchvision's ``references/detection/engine.py``: :func:`fit` is a loop over
:func:`train_one_epoch` and :func:`evaluate`, with a progress bar and a :class:`History` to plot with
:func:`labkit.viz.plot_history`; no callbacks, no hooks. :func:`eval_mode`, :func:`model_device` and
:func:`to_device` are the small helpers the rest of the package shares.
"""
from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler
from tqdm.auto import tqdm

from labkit import distributed
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
    Introduced in lecture 1 (CNN internals).
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
def eval_mode(model: nn.Module) -> Iterator[None]:
    """``model.eval()`` for the block, then every submodule back to its own mode, even on error.

    Not just the root's mode: a half-frozen model (a backbone kept in eval mode while the head
    trains) comes back half frozen. ``with eval_mode(model): ...`` is what :func:`evaluate`,
    :func:`predict`, :func:`labkit.models.summary`, :mod:`labkit.cam` and
    :func:`labkit.mask_rcnn.detections` run under. Introduced in lecture 1 (CNN internals).
    """
    modes = [m.training for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in zip(model.modules(), modes):
            m.training = mode


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter; the CPU for a model without parameters.

    Where :func:`evaluate`, :func:`predict` and :mod:`labkit.cam` send the inputs when no device
    is given. Introduced in lecture 1 (CNN internals).
    """
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def to_device(obj: Any, device: torch.device | str) -> Any:
    """``obj`` with every tensor in it moved to ``device``: a tensor, or lists, tuples and dicts of them.

    Detection models take a list of images and a list of target dicts (lectures 4 and 5), so batches
    are not always one tensor. Anything that is not a tensor is returned as it is.
    Introduced in lecture 1 (CNN internals).
    """
    if isinstance(obj, Tensor):
        # A copy to the GPU may overlap with compute; a copy back to the CPU must block, or the
        # host could read the tensor before it has arrived.
        return obj.to(device, non_blocking=torch.device(device).type != "cpu")
    if isinstance(obj, Mapping):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def _autocast(amp_dtype: torch.dtype | None, scaler: torch.amp.GradScaler):
    """The forward pass's precision: autocast to ``amp_dtype`` (fp16 when only a scaler is on)."""
    if amp_dtype is None and scaler.is_enabled():
        amp_dtype = torch.float16
    return torch.autocast("cuda", dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()


def _means(loss_sum: Tensor, sums: Mapping[str, float | Tensor], seen: int,
           device: torch.device) -> dict[str, float]:
    """``{"loss": ..., <metric>: ...}`` as sums / items seen; under torchrun, the job's sums."""
    if distributed.active():  # one all-reduce of [loss, metrics..., seen] over the ranks
        packed = torch.stack([loss_sum.float(), *(torch.as_tensor(v, device=device).float()
                                                  for v in sums.values()),
                              torch.tensor(float(seen), device=device)])
        total = distributed.reduce_sums(packed).tolist()
        seen_all = total[-1]
        return {"loss": total[0] / seen_all,
                **{k: v / seen_all for k, v in zip(sums, total[1:-1])}}
    return {"loss": loss_sum.item() / seen, **{k: float(v) / seen for k, v in sums.items()}}


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


def train_one_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer, *,
                    loss_fn: Callable | None, metrics: Mapping[str, Metric] | None = None,
                    device: torch.device | str | None = None,
                    scaler: torch.amp.GradScaler | None = None, bar: tqdm | None = None,
                    amp_dtype: torch.dtype | None = None) -> dict[str, float]:
    """One pass over ``loader`` in train mode, one optimizer step per batch.

    Returns ``{"loss": ..., <metric name>: ...}``, batch means weighted by batch size, as
    :func:`evaluate` does (the metrics on the training batches, computed in train mode).
    ``loss_fn=None``: the model returns its own loss dict (see :func:`fit`). ``amp_dtype``
    (``torch.bfloat16`` or ``torch.float16``) runs the forward pass under ``torch.autocast`` on
    CUDA; fp16 needs an enabled ``scaler`` (a ``GradScaler``), which alone also means fp16 autocast.
    ``bar`` (a tqdm bar) is advanced every batch. ``device`` defaults to the device of the model's
    parameters. Under ``torchrun`` the sums behind the means are added over all ranks.
    Introduced in lecture 1 (CNN internals), as the body of :func:`fit`.
    """
    device = torch.device(device) if device is not None else model_device(model)
    metrics = dict(metrics or {})
    if scaler is None:
        scaler = torch.amp.GradScaler("cuda", enabled=False)  # disabled: a pass-through
    show = bar is not None and not bar.disable
    model.train()
    loss_sum = torch.zeros((), device=device)  # summed on the device; read every POSTFIX_EVERY
    sums: dict[str, float | Tensor] = {k: 0.0 for k in metrics}
    seen = 0
    for i, (inputs, targets) in enumerate(loader):
        inputs, targets = to_device(inputs, device), to_device(targets, device)
        optimizer.zero_grad(set_to_none=True)  # before the forward: old grads freed, lower peak memory
        with _autocast(amp_dtype, scaler):
            loss, outputs = _step_loss(model, inputs, targets, loss_fn)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        n = len(inputs)
        loss_sum.add_(loss.detach(), alpha=n)
        seen += n
        if metrics:
            with torch.no_grad():
                for k, fn in metrics.items():
                    sums[k] = sums[k] + fn(outputs.detach(), targets) * n
        if show:
            bar.update()
            if i % POSTFIX_EVERY == 0:
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", refresh=False)
    if seen == 0:
        raise ValueError("train_one_epoch: the training loader yielded no batches")
    return _means(loss_sum, sums, seen, device)


def evaluate(model: nn.Module, loader: Iterable, *, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None,
             device: torch.device | str | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``loader``, weighted by batch size.

    Returns ``{"loss": ..., <metric name>: ...}`` ("loss" only when ``loss_fn`` is given).
    ``loss_fn`` must return the batch mean (``reduction="mean"``, PyTorch's default). Runs under
    :func:`eval_mode` and ``torch.inference_mode()``. ``device`` defaults to the device of the
    model's parameters. Introduced in lecture 1 (CNN internals).
    """
    device = torch.device(device) if device is not None else model_device(model)
    metrics = dict(metrics or {})
    loss_sum = torch.zeros((), device=device)  # stays on the device: one sync at the end
    sums: dict[str, float | Tensor] = {k: 0.0 for k in metrics}
    seen = 0
    with eval_mode(model), torch.inference_mode():
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
    result = _means(loss_sum, sums, seen, device)
    if loss_fn is None:
        del result["loss"]
    return result


def predict(model: nn.Module, loader: Iterable, *, device: torch.device | str | None = None,
            postprocess: Callable | None = None) -> tuple[Tensor | list, Tensor | list]:
    """All outputs and targets of ``loader``, on the CPU: ``(Tensor[N, ...], Tensor[N, ...])``.

    ``loader`` yields ``(inputs, targets)``; nested inputs (a list of images) are moved with
    :func:`to_device`. Tensors are concatenated; a list of dicts per batch (a detection model's
    outputs, its targets) becomes one list with a dict per image. ``postprocess(outputs)`` runs on
    each batch's outputs before they leave the device (:func:`labkit.mask_rcnn.detections`
    thresholds masks there, so soft masks of every image are never held at once). Runs under
    :func:`eval_mode` and ``torch.inference_mode()``; concatenated tensors are ordinary tensors
    without grad (not inference tensors). ``device`` defaults to the device of the model's
    parameters. Introduced in lecture 1 (CNN internals).
    """
    device = torch.device(device) if device is not None else model_device(model)
    outputs, targets = [], []
    with eval_mode(model), torch.inference_mode():
        for inputs, y in loader:
            out = model(to_device(inputs, device))
            outputs.append(to_device(postprocess(out) if postprocess is not None else out, "cpu"))
            targets.append(to_device(y, "cpu"))
    if not outputs:
        raise ValueError("predict: the loader yielded no batches")
    # Concatenating outside inference_mode gives normal tensors a student can reuse anywhere.
    return _join(outputs), _join(targets)


def _join(batches: list) -> Tensor | list:
    """Per-batch results as one: lists of dicts (one per image) chained, anything else concatenated."""
    if all(isinstance(b, (list, tuple)) and all(isinstance(d, Mapping) for d in b) for b in batches):
        return [d for b in batches for d in b]
    return torch.cat([torch.as_tensor(b) for b in batches])


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


def save_atomic(obj: dict, path: Path) -> None:
    """``torch.save`` that never leaves a half-written file: write aside, then rename (creates the folder).

    Used by ``fit``'s checkpoints and by lecture 9 for its SRResNet and SRGAN weights.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _save_checkpoint(folder: Path, epoch: int, history: History, monitor: str, model: nn.Module,
                     optimizer: torch.optim.Optimizer, scheduler: LRScheduler | None,
                     scaler: torch.amp.GradScaler) -> None:
    """``last.pt`` after every epoch, and ``best.pt`` too when ``monitor`` is at its best so far."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "scaler": scaler.state_dict(), "epoch": epoch,
             "history": history.to_dict(), "rng": _rng_state()}
    save_atomic(state, folder / "last.pt")
    if history.best_epoch(monitor) == epoch:
        save_atomic(state, folder / "best.pt")


def _resume(folder: Path | None, model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: LRScheduler | None, scaler: torch.amp.GradScaler,
            device: torch.device) -> tuple[History, int]:
    """Load ``folder/last.pt`` into model, optimizer, scheduler, scaler and the RNGs; return
    (history so far, next epoch)."""
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
    return History.from_dict(state["history"]), state["epoch"] + 1


def _length(loader: Iterable) -> int | None:
    """Batches per epoch for the progress bar; None for an iterable-style dataset (the bar just counts)."""
    try:
        return len(loader)
    except TypeError:
        return None


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
        epochs: int, optimizer: torch.optim.Optimizer, loss_fn: Callable | None,
        scheduler: LRScheduler | None = None, metrics: Mapping[str, Metric] | None = None,
        device: torch.device | str | None = None, amp: bool = False,
        checkpoint: str | os.PathLike | None = None, resume: bool = False,
        quiet: bool = False, name: str = "") -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Each epoch is :func:`train_one_epoch`, then :func:`evaluate` on ``val_loader`` if given.
    Loaders yield ``(inputs, targets)``, each a tensor or a list/tuple/dict of tensors (moved to the
    device by :func:`to_device`); ``loss_fn`` returns the batch mean. ``loss_fn=None`` is for models
    that compute their own losses, as torchvision's detection models do: ``model(inputs, targets)``
    returns a dict of losses, which are summed (lecture 5, Mask R-CNN); then ``metrics`` and
    ``val_loader`` are not supported (evaluate those models with their own metric, e.g. AP).
    ``metrics`` maps a name to ``fn(outputs, targets) -> float`` (batch mean, e.g. :func:`accuracy`),
    recorded as ``"train_<name>"`` (on the training batches, in train mode) and ``"val_<name>"``.
    ``device`` defaults to :func:`labkit.env.device`; the model is moved there.
    ``amp=True`` trains in mixed precision on CUDA: bf16 autocast where the GPU supports it (no
    scaling needed), else fp16 autocast with a ``GradScaler``; elsewhere it prints a note and trains
    in fp32. ``scheduler.step()`` runs once per epoch (with the monitored
    loss for ``ReduceLROnPlateau``); to step one after every batch, hook it to the optimizer as
    lecture 4 does (``optimizer.register_step_post_hook(lambda *_: scheduler.step())``, and pass no
    ``scheduler``). With ``checkpoint=folder``, ``last.pt`` is written every epoch
    and ``best.pt`` whenever the val loss (train loss without a val_loader) improves; each holds the
    state_dicts of model, optimizer, scheduler and scaler, the 0-based ``epoch``, the ``history`` as
    a plain dict and the RNG states. ``resume=True`` continues from ``last.pt`` at the next epoch and
    returns the full history. ``quiet=True`` prints nothing. Introduced in lecture 1 (CNN internals).

    Under ``torchrun --nproc_per_node=N`` the same call trains data-parallel (:mod:`labkit.distributed`,
    book/scaling.md): each rank joins the process group, takes ``cuda:<LOCAL_RANK>`` (or the CPU with
    gloo), wraps the model in ``DistributedDataParallel``, reads its share of each loader (training:
    a ``DistributedSampler`` keeping the loader's shuffle setting, reshuffled every epoch;
    validation: every item once), and reports the job's means. Only rank 0 shows the bar and writes
    checkpoints, which hold the plain model's state_dict, so ``resume=True`` works with any number of
    ranks (or none). ``batch_size`` is per rank.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if loss_fn is None and (metrics or val_loader is not None):
        raise ValueError("loss_fn=None (a model that returns its own losses) cannot compute metrics or a "
                         "val loss: in eval mode such a model returns predictions, not losses. Drop "
                         "metrics/val_loader and evaluate afterwards (e.g. labkit.detection.mean_average_precision).")
    rank_device = distributed.init()  # None unless started by torchrun with several processes
    if rank_device is not None:
        device = rank_device
    device = torch.device(device) if device is not None else default_device()
    quiet = quiet or not distributed.is_main()
    model.to(device)
    use_amp = amp and device.type == "cuda"
    if amp and not use_amp and not quiet:
        print(f"note: amp=True needs CUDA; training in fp32 on {device.type}.")
    amp_dtype = None
    if use_amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    monitor = "val_loss" if val_loader is not None else "train_loss"
    folder = Path(checkpoint) if checkpoint is not None else None

    history, start = History(name=name), 0
    if resume:
        history, start = _resume(folder, model, optimizer, scheduler, scaler, device)
        history.name = name or history.name
        if start >= epochs and not quiet:
            print(f"note: {folder / 'last.pt'} already holds {start} epochs (>= epochs={epochs}); "
                  f"nothing to train. Raise epochs to train further.")
    if folder is not None and distributed.is_main():
        folder.mkdir(parents=True, exist_ok=True)
    trained = model
    if distributed.active():
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
        train_loader = distributed.shard_loader(train_loader, train=True)
        if val_loader is not None:
            val_loader = distributed.shard_loader(val_loader, train=False)

    for epoch in range(start, epochs):
        distributed.set_epoch(train_loader, epoch)
        t0 = time.perf_counter()
        desc = f"{name + ' ' if name else ''}epoch {epoch + 1}/{epochs}"
        with tqdm(total=_length(train_loader), desc=desc, unit="batch", disable=quiet, leave=True) as bar:
            train = train_one_epoch(trained, train_loader, optimizer, loss_fn=loss_fn, metrics=metrics,
                                    device=device, scaler=scaler, bar=bar, amp_dtype=amp_dtype)
            val = {}
            if val_loader is not None:
                val = evaluate(model, val_loader, loss_fn=loss_fn, metrics=metrics, device=device)
            history.train_loss.append(train.pop("loss"))
            if val:
                history.val_loss.append(val.pop("loss"))
            for prefix, result in (("train", train), ("val", val)):
                for k, v in result.items():
                    history.metrics.setdefault(f"{prefix}_{k}", []).append(v)
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(history._series(monitor)[-1])
            elif scheduler is not None:
                scheduler.step()
            history.seconds.append(time.perf_counter() - t0)
            bar.set_postfix(train_loss=f"{history.train_loss[-1]:.4f}",
                            **({"val_loss": f"{history.val_loss[-1]:.4f}"} if history.val_loss else {}),
                            **{k: f"{v[-1]:.4f}" for k, v in history.metrics.items()})
        if folder is not None:
            if distributed.is_main():
                _save_checkpoint(folder, epoch, history, monitor, model, optimizer, scheduler, scaler)
            distributed.barrier()  # no rank reads a checkpoint before rank 0 has written it
    return history

