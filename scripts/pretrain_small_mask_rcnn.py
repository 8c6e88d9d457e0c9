"""Pre-train labkit's small Mask R-CNN on synthetic shapes scenes: the checkpoint lecture 5 fine-tunes.

Lecture 5 fine-tunes a Mask R-CNN on pedestrians (PennFudanPed or its twin). Offline there is no COCO
checkpoint to start from, so this script makes one: :func:`labkit.mask_rcnn.small_mask_rcnn` with
4 classes (background, circle, square, triangle) trained from random weights on scenes of
:func:`labkit.data.yolo_twin.make_shapes_scene` at 128 px, a different task from pedestrians.
What transfers is what a COCO model brings to PennFudan, on a small scale: a backbone and FPN that see
edges, regions and objects, an RPN that proposes "object-like" boxes, box and mask heads that know what
an object's outline looks like. The class-specific predictors are replaced before fine-tuning.

Reproduce the shipped checkpoint (about 15 minutes on one idle CPU core; it trains on one thread)::

    python scripts/pretrain_small_mask_rcnn.py --out labkit/weights/small_mask_rcnn_shapes.pt

Training: a fresh scene for every image of every step (no epochs, no overfitting to a fixed set),
AdamW, linear warm-up then cosine decay, gradient clipping; then box and mask AP (COCO's AP@[.5:.95]
and AP@0.5, :func:`labkit.detection.mean_average_precision`) on held-out scenes drawn from another seed.
The shipped checkpoint (defaults: seed 0, 3000 steps of 4 scenes, 24 minutes on a busy 2-core machine)
scores box AP@[.5:.95] 0.657 (AP@0.5 0.869) and mask AP@[.5:.95] 0.684 (AP@0.5 0.871) on 200 held-out
scenes. It depends on the exact scenes ``make_shapes_scene`` draws: if that generator changes, rerun
this script and commit the new checkpoint.

The state_dict is saved in float32 (about 8 MB: no need for fp16 or pruning), written aside and renamed
into place, so an interrupted run never leaves a truncated checkpoint.

Determinism: scenes come from ``numpy.random.default_rng(seed)`` and the weights from
``torch.manual_seed(seed)``, and training runs on one thread (``--threads 1``), so a second run with
the same arguments and the same torch build on the same kind of CPU writes the same file, byte for
byte (checked: two runs give the same file after 5 steps and the same losses over 300 steps).
Another thread count, torch version or CPU (oneDNN picks kernels per instruction set) may sum in
another order: the last bits differ and, after thousands of steps, so do the weights, equally good.
"""
from __future__ import annotations

import argparse
import io
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from labkit.data.yolo_twin import SHAPE_CLASSES, make_shapes_scene
from labkit.detection import mean_average_precision
from labkit.mask_rcnn import SHAPES_CHECKPOINT, detections, small_mask_rcnn

IMAGE_SIZE = 128
MAX_OBJECTS = 5


def shapes_batch(rng: np.random.Generator, n: int, size: int = IMAGE_SIZE) -> tuple[list, list]:
    """``n`` fresh scenes as Mask R-CNN wants them: images float (3, H, W) in [0, 1] and target dicts.

    Labels are shifted by one: 0 is Mask R-CNN's background, so circle/square/triangle are 1/2/3.
    """
    images, targets = [], []
    for _ in range(n):
        scene = make_shapes_scene(rng, size, max_objects=MAX_OBJECTS)
        images.append(torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255)
        targets.append({"boxes": torch.from_numpy(scene.boxes),
                        "labels": torch.from_numpy(scene.labels) + 1,
                        "masks": torch.from_numpy(scene.masks).to(torch.uint8)})
    return images, targets


def lr_factor(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up from 1% over ``warmup`` steps, then cosine decay to 0 at ``steps``."""
    if step < warmup:
        return 0.01 + 0.99 * step / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def evaluate_shapes(model: torch.nn.Module, n: int, seed: int) -> dict[str, float]:
    """Box and mask AP of ``model`` on ``n`` shapes scenes drawn from ``seed`` (never seen in training)."""
    rng = np.random.default_rng(seed)
    predictions, targets = [], []
    for start in range(0, n, 8):
        images, batch_targets = shapes_batch(rng, min(8, n - start))
        predictions += detections(model, images)
        targets += batch_targets
    for t in targets:
        t["masks"] = t["masks"].bool()
    box = mean_average_precision(predictions, targets, iou_type="bbox")
    mask = mean_average_precision(predictions, targets, iou_type="segm")
    return {"box_map": box["map"], "box_map_50": box["map_50"],
            "mask_map": mask["map"], "mask_map_50": mask["map_50"],
            **{f"mask_ap_{SHAPE_CLASSES[k - 1]}": v for k, v in sorted(mask["per_class"].items())}}


def save_atomic(state_dict: dict, path: Path) -> None:
    """torch.save to a temporary name beside ``path``, then rename: never a truncated checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Saved through a buffer: torch.save names the records inside the zip after the file it writes
    # (the temporary name here), while a buffer's are always "archive/...", so that equal weights
    # give byte-identical files.
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    try:
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHAPES_CHECKPOINT, help="where to write the state_dict")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps (default 3000)")
    parser.add_argument("--batch-size", type=int, default=4, help="scenes per step (default 4)")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate (default 2e-3)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up steps (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and training scenes (default 0)")
    parser.add_argument("--eval-scenes", type=int, default=200, help="held-out scenes for AP (default 200)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1; the checkpoint was made with 1)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be at least 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = small_mask_rcnn(num_classes=1 + len(SHAPE_CLASSES), image_size=IMAGE_SIZE)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"small_mask_rcnn(num_classes={1 + len(SHAPE_CLASSES)}): {n_params / 1e6:.2f}M parameters; "
          f"{args.steps} steps of {args.batch_size} fresh {IMAGE_SIZE}px shapes scenes, seed {args.seed}")
    # No weight decay on norms and biases: decaying BN scales towards 0 only hurts.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, args.steps, args.warmup))

    model.train()
    t0 = time.perf_counter()
    running: dict[str, float] = {}
    for step in range(args.steps):
        images, targets = shapes_batch(rng, args.batch_size)
        losses = model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"step {step}: loss is {loss.item()} ({ {k: v.item() for k, v in losses.items()} }); "
                                     f"lower --lr or raise --warmup")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Early proposals are poor and a few large box-regression gradients can throw training off.
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
        optimizer.step()
        scheduler.step()
        for k, v in losses.items():
            running[k] = 0.98 * running.get(k, v.item()) + 0.02 * v.item()
        if (step + 1) % 250 == 0 or step + 1 == args.steps:
            took = time.perf_counter() - t0
            print(f"step {step + 1:5d}/{args.steps}  loss {sum(running.values()):.3f}  "
                  + "  ".join(f"{k.removeprefix('loss_')} {v:.3f}" for k, v in running.items())
                  + f"  ({took / (step + 1):.2f} s/step, {took / 60:.1f} min)", flush=True)

    state_dict = {k: v.detach().clone() for k, v in model.state_dict().items()}
    save_atomic(state_dict, args.out)
    size_mb = args.out.stat().st_size / 1e6
    print(f"saved the state_dict to {args.out} ({size_mb:.1f} MB)")

    # Held-out scenes from another seed: a different stream of numbers, so scenes the model never saw.
    scores = evaluate_shapes(model, args.eval_scenes, seed=args.seed + 10_000)
    print(f"held-out shapes ({args.eval_scenes} scenes): box AP@[.5:.95] {scores['box_map']:.3f}  "
          f"AP@0.5 {scores['box_map_50']:.3f} | mask AP@[.5:.95] {scores['mask_map']:.3f}  "
          f"AP@0.5 {scores['mask_map_50']:.3f}")
    print("mask AP@[.5:.95] per class: " + "  ".join(
        f"{k.removeprefix('mask_ap_')} {v:.3f}" for k, v in scores.items() if k.startswith("mask_ap_")))
    return scores


if __name__ == "__main__":
    main()
