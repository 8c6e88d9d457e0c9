"""Data parallelism for :func:`labkit.train.fit`: the same loop under ``torchrun``.

Used by :func:`labkit.train.fit` and the book page "Scaling up" (``book/scaling.md``); the example is
``scripts/train_ddp.py``. Nothing here is home-made parallelism: ``torchrun`` starts one process per
device and sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init` joins PyTorch's process group from those variables (``env://``), NCCL on GPUs and gloo
on CPUs; :class:`~torch.nn.parallel.DistributedDataParallel` all-reduces the gradients; each rank
reads its own share of the data through :class:`~torch.utils.data.DistributedSampler`
(:func:`shard_loader`), and :func:`reduce_sums` adds up the per-rank sums behind every mean that
``fit`` reports. Without ``torchrun`` none of it runs and ``fit`` behaves as in a single process.
"""
from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler

__all__ = ["Launch", "launched", "init", "is_main", "shard_loader", "EvenShardSampler",
           "reduce_sums", "set_epoch", "barrier", "active", "rank0_first", "TIMEOUT"]

# How long a collective (an all-reduce, a barrier) waits for the other ranks before it fails
# (LABKIT_DDP_TIMEOUT seconds, default 600). When a rank dies, torchrun stops the others at once;
# the timeout bounds what torchrun cannot see, such as a rank stuck in its own code.
TIMEOUT = datetime.timedelta(seconds=float(os.environ.get("LABKIT_DDP_TIMEOUT", "600")))


@dataclass(frozen=True)
class Launch:
    """Where this process sits in a ``torchrun`` job: global rank, rank on this machine, job size."""

    rank: int
    local_rank: int
    world_size: int


def launched() -> Launch | None:
    """The job this process was started in by ``torchrun`` (from its environment), else None."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    try:
        return Launch(rank=int(os.environ["RANK"]), local_rank=int(os.environ.get("LOCAL_RANK", 0)),
                      world_size=int(os.environ["WORLD_SIZE"]))
    except ValueError as err:
        raise RuntimeError(f"RANK/LOCAL_RANK/WORLD_SIZE must be integers (torchrun sets them): {err}")


def init() -> torch.device | None:
    """Join the process group of a ``torchrun`` job (once) and return this rank's device.

    NCCL and ``cuda:<LOCAL_RANK>`` when CUDA is available, gloo and the CPU otherwise. Returns None
    when the process was not started by ``torchrun`` (a job of one process initialises nothing).
    """
    job = launched()
    if job is None or job.world_size < 2 and not dist.is_initialized():
        return None
    cuda = torch.cuda.is_available()
    if cuda:
        if job.local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {job.local_rank} but only {torch.cuda.device_count()} "
                               f"GPU(s): start torchrun with --nproc_per_node <= the number of GPUs")
        torch.cuda.set_device(job.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", init_method="env://", timeout=TIMEOUT)
    return torch.device("cuda", job.local_rank) if cuda else torch.device("cpu")


def active() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main() -> bool:
    """True on rank 0, and in a process that is not part of a job: the one that prints and saves."""
    return not active() or dist.get_rank() == 0


class EvenShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, rank + 2 world, ...``: every item exactly once over all ranks.

    For evaluation: :class:`~torch.utils.data.DistributedSampler` pads the last ranks with repeated
    items so all ranks take equally many steps, which training needs but which would count a few
    validation items twice. Evaluation has no collective per step, so uneven shares are fine.
    """

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.length, self.rank, self.world_size = length, rank, world_size

    def __iter__(self):
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world_size))


def _shared_seed(loader: DataLoader) -> int:
    """The shuffling seed of the job: rank 0's, so that all ranks permute the data the same way."""
    seed = loader.generator.initial_seed() if loader.generator is not None else torch.initial_seed()
    seed_t = torch.tensor([seed % 2**62], dtype=torch.int64)
    if active():
        dist.broadcast(seed_t, src=0)
    return int(seed_t)


def shard_loader(loader: Iterable, *, train: bool, rank: int | None = None,
                 world_size: int | None = None) -> Iterable:
    """``loader`` rebuilt so that this rank reads only its share of the dataset.

    Training (``train=True``): a :class:`~torch.utils.data.DistributedSampler` that keeps the
    loader's shuffle setting (a ``RandomSampler`` means shuffle), seeded alike on all ranks, and
    reshuffled each epoch by :func:`set_epoch`. Evaluation: an :class:`EvenShardSampler`. Batch size,
    collate function, workers, pinning and ``drop_last`` are kept; ``batch_size`` stays per rank, so
    the job's effective batch is ``world_size`` times larger (book/scaling.md). A loader that
    already has a distributed sampler, and any loader outside a job of several ranks, is returned as
    it is.
    """
    if rank is None or world_size is None:
        if not active():
            return loader
        rank, world_size = dist.get_rank(), dist.get_world_size()
    if not isinstance(loader, DataLoader):
        raise TypeError(f"under torchrun, fit shards a torch.utils.data.DataLoader across ranks; got "
                        f"{type(loader).__name__}. Wrap the data in a DataLoader, or shard it yourself "
                        f"(each rank its own part) and pass a DataLoader with a DistributedSampler.")
    if isinstance(loader.sampler, (DistributedSampler, EvenShardSampler)):
        return loader
    if loader.batch_size is None:
        raise ValueError("under torchrun, fit needs a DataLoader built with batch_size (it replaces the "
                         "sampler); with a custom batch_sampler, give each rank its share yourself.")
    if train:
        sampler: Sampler = DistributedSampler(
            loader.dataset, num_replicas=world_size, rank=rank,
            shuffle=isinstance(loader.sampler, RandomSampler), seed=_shared_seed(loader),
            drop_last=loader.drop_last)
    else:
        sampler = EvenShardSampler(len(loader.dataset), rank, world_size)
    workers = loader.num_workers
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      num_workers=workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
                      drop_last=loader.drop_last, timeout=loader.timeout,
                      worker_init_fn=loader.worker_init_fn, multiprocessing_context=(
                          loader.multiprocessing_context if workers else None),
                      persistent_workers=loader.persistent_workers if workers else False,
                      prefetch_factor=loader.prefetch_factor if workers else None)


def barrier() -> None:
    """Wait for every rank (nothing outside a job of several ranks)."""
    if active():
        dist.barrier()


@contextlib.contextmanager
def rank0_first(timeout: datetime.timedelta = datetime.timedelta(hours=2)) -> Iterator[None]:
    """Run the block on rank 0, then on the other ranks: download or write data once, read it after.

    The wait has its own, long ``timeout`` (a dataset download can take an hour), on a separate gloo
    group, so the training collectives keep their short one. Outside a job it just runs the block.
    """
    if not active():
        yield
        return
    group = dist.new_group(backend="gloo", timeout=timeout)
    if not is_main():
        dist.barrier(group=group)  # until rank 0 is done
    try:
        yield
    finally:
        if is_main():
            dist.barrier(group=group)
        dist.destroy_process_group(group)


def set_epoch(loader: Iterable, epoch: int) -> None:
    """Tell a loader's :class:`~torch.utils.data.DistributedSampler` the epoch (a new shuffle each)."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)


def reduce_sums(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over all ranks (a copy; unchanged outside a job of several ranks).

    ``fit`` sends ``[loss sum, metric sums..., items seen]`` so that every rank divides the job's
    totals and reports the same mean as one process reading all the data.
    """
    if not active():
        return values
    total = values.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total
