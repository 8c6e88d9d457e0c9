"""Train lecture 3's chest X-ray classifier data-parallel with ``torchrun`` (book/scaling.md).

One machine, all its GPUs (or 2 CPU processes to try it; gloo is used without CUDA)::

    torchrun --standalone --nproc_per_node=gpu scripts/train_ddp.py --epochs 10 --amp
    torchrun --standalone --nproc_per_node=2 scripts/train_ddp.py --size 64 --limit 256 --epochs 1

Several machines: the same command on each, with ``--nnodes``, ``--node_rank`` and a rendezvous
address instead of ``--standalone`` (book/scaling.md). Without ``torchrun``, ``python
scripts/train_ddp.py`` trains in one process: the training code does not change, only the launcher.

The model is torchvision's ResNet-18 (untrained; ``--weights DEFAULT`` starts from ImageNet when the
weights can be had) on the chest X-ray films of lecture 3 (``labkit.data.get("chest-xray")``: the
real films if they are on disk, else the synthetic twin, said on rank 0). ``--batch`` is per rank;
the learning rate is scaled linearly with the job's effective batch (``--lr`` is for 32 images).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.distributed as dist
import torchvision
from torch import nn
from torch.utils.data import DataLoader, Subset

import labkit
from labkit import distributed
from labkit.data import get
from labkit.data.chest_xray import XrayTensors, load_split
from labkit.train import accuracy, fit

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--size", type=int, default=224, help="film size in pixels")
    parser.add_argument("--batch", type=int, default=32, help="images per rank and step")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate for 32 images a step")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N films only (a smoke test)")
    parser.add_argument("--weights", default=None, help="torchvision ResNet-18 weights, e.g. DEFAULT")
    parser.add_argument("--amp", action="store_true", help="mixed precision on CUDA (bf16 where supported)")
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/train_ddp"))
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint/last.pt")
    parser.add_argument("--workers", type=int, default=2, help="data-loader processes per rank")
    return parser.parse_args()


def data(size: int, limit: int) -> tuple[XrayTensors, XrayTensors]:
    """The films as tensors; rank 0 writes the twin (or downloads) before the other ranks read it."""
    with distributed.rank0_first():
        root, _ = get("chest-xray", quiet=not distributed.is_main())
    train = load_split(root, "train", size, channels=3)
    test = load_split(root, "test", size, channels=3)
    sets = [XrayTensors(x, y, mean=IMAGENET_MEAN, std=IMAGENET_STD) for x, y, _ in (train, test)]
    if limit:  # a random share (the files are sorted by class)
        gen = torch.Generator().manual_seed(0)
        sets = [Subset(s, torch.randperm(len(s), generator=gen)[:limit].tolist()) for s in sets]
    return sets[0], sets[1]


def main() -> None:
    args = parse_args()
    device = distributed.init()  # joins the process group under torchrun; None in one process
    world = dist.get_world_size() if distributed.active() else 1
    labkit.seed_everything(0)  # the same initial weights on every rank
    train_set, test_set = data(args.size, args.limit)

    model = torchvision.models.resnet18(weights=args.weights)
    model.fc = nn.Linear(model.fc.in_features, 2)
    lr = args.lr * args.batch * world / 32  # linear scaling with the effective batch (Goyal et al., 2017)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    if distributed.is_main():
        print(f"{world} process(es), {args.batch} films each per step: effective batch "
              f"{args.batch * world}, learning rate {lr:g}; {len(train_set)} training films")
    loader = DataLoader(train_set, batch_size=args.batch, shuffle=True, num_workers=args.workers,
                        pin_memory=device is not None and device.type == "cuda")
    history = fit(model, loader, DataLoader(test_set, batch_size=2 * args.batch), epochs=args.epochs,
                  optimizer=optimizer, loss_fn=nn.CrossEntropyLoss(), metrics={"accuracy": accuracy},
                  device=device, amp=args.amp, checkpoint=args.checkpoint, resume=args.resume,
                  name="chest X-ray")
    if distributed.is_main():
        best = history.best_epoch("val_accuracy", mode="max")
        print(f"best test accuracy {history.metrics['val_accuracy'][best]:.1%} after epoch {best + 1}; "
              f"checkpoints in {args.checkpoint}")
    if distributed.active():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
