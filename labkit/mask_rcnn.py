"""A Mask R-CNN small enough to train on a laptop CPU, and the helpers lecture 5 fine-tunes it with.

Introduced in lecture 5 (segmentation, fine-tuning Mask R-CNN). torchvision's
``maskrcnn_resnet50_fpn`` has 44M parameters and resizes images to 800 px; offline there is no COCO
checkpoint to fine-tune from either. :func:`small_mask_rcnn` keeps every part of the architecture
(backbone + FPN, RPN, RoIAlign, box head, mask head) at about 2M parameters for 128 px images, and
:data:`SHAPES_CHECKPOINT` holds its weights pre-trained on synthetic shapes scenes (circles, squares,
triangles) by ``scripts/pretrain_small_mask_rcnn.py``: a different task from the pedestrians the
lecture fine-tunes it on, so the notebook shows real transfer.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.resnet import BasicBlock
from torchvision.ops import MultiScaleRoIAlign

from labkit.train import predict

# State dict of small_mask_rcnn(num_classes=4) (background, circle, square, triangle) trained on
# labkit.data.synthetic_shapes scenes of 128 px; written by scripts/pretrain_small_mask_rcnn.py.
SHAPES_CHECKPOINT: Path = Path(__file__).parent / "weights" / "small_mask_rcnn_shapes.pt"
SHAPES_CHECKPOINT_CLASSES = ("background", "circle", "square", "triangle")

FPN_CHANNELS = 64
STAGE_WIDTHS = (32, 64, 128, 256)  # strides 4, 8, 16, 32
BOX_HEAD_WIDTH = 128
MASK_HEAD_WIDTH = 64


def _stage(in_ch: int, out_ch: int) -> nn.Sequential:
    """One ResNet stage of a single BasicBlock that halves the resolution (stride 2)."""
    down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=2, bias=False), nn.BatchNorm2d(out_ch))
    return nn.Sequential(BasicBlock(in_ch, out_ch, stride=2, downsample=down))


class SmallResNet(nn.Module):
    """A ResNet-style body: a stem, then four stages of one BasicBlock each, widths 32/64/128/256.

    The stages' outputs have strides 4, 8, 16 and 32. ``forward(x: Tensor[B, 3, H, W])`` returns the
    last one; :class:`BackboneWithFPN` runs the children in order and keeps all four by name
    (``layer1`` ... ``layer4``). Introduced in lecture 5.
    """

    def __init__(self, widths: tuple[int, ...] = STAGE_WIDTHS) -> None:
        super().__init__()
        stem = widths[0]
        # A 3x3 stride-2 stem and a strided first stage instead of ResNet's 7x7 convolution + max-pool:
        # the same stride 4 after layer1, for a fraction of the compute at this width.
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        chans = (stem, *widths)
        for i in range(len(widths)):
            self.add_module(f"layer{i + 1}", _stage(chans[i], chans[i + 1]))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each residual branch (as torchvision's zero_init_residual): every
        # block starts as the identity, which keeps early training stable at small batch sizes.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


def small_mask_rcnn(num_classes: int, *, image_size: int = 128) -> MaskRCNN:
    """torchvision's :class:`MaskRCNN` scaled down to about 2M parameters for ``image_size`` px images.

    ``num_classes`` counts the background (2 for pedestrians, 4 for the shapes checkpoint). Every
    image is resized so that both sides are ``image_size`` at most (``min_size=max_size=image_size``),
    so give it images of that size and nothing is resized at all. The parts, small-image choices in
    brackets:

    - backbone: :class:`SmallResNet` (one BasicBlock per stage, widths 32/64/128/256, strides 4-32)
      in :class:`BackboneWithFPN` with 64 FPN channels, plus FPN's max-pool level (stride 64);
    - RPN: one anchor size per level (16, 32, 64, 128, 256 px), aspect ratios 0.5/1/2, 128 anchors
      sampled per image (torchvision: 256) and 500/250 proposals kept before/after NMS in training
      (torchvision: 2000/2000), 250/100 at test time (1000/1000);
    - RoI heads: :class:`MultiScaleRoIAlign` 7x7 for boxes, 14x14 for masks, with
      ``canonical_scale=56, canonical_level=3`` (torchvision: 224 and 4, meant for 800 px images:
      with those, every box under 112 px, i.e. nearly all of ours, would be pooled from the
      stride-4 map), one sample per RoIAlign bin (``sampling_ratio=1``: the bins are about one
      cell wide, and RoIAlign's backward pass was a third of the training step with 2x2), 64 RoIs
      sampled per image (512), a 128-wide two-layer box head (1024), a 4-conv mask head 64
      channels wide (256) and at most 20 detections per image (100): the mask head runs on every
      detection at test time and would otherwise dominate inference.

    The returned model's ``roi_heads.box_predictor`` and ``roi_heads.mask_predictor`` are the
    class-specific layers that :func:`replace_predictors` swaps. Introduced in lecture 5.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background and must be >= 2, got {num_classes}; "
                         f"for one object class (e.g. pedestrians) pass num_classes=2")
    if image_size < 32 or image_size % 32:
        raise ValueError(f"image_size must be a multiple of 32 (the backbone's stride) and >= 32, "
                         f"got {image_size}; resize or pad the images, e.g. to 128")
    body = SmallResNet()
    backbone = BackboneWithFPN(
        body, return_layers={f"layer{i}": str(i - 1) for i in range(1, 5)},
        in_channels_list=list(STAGE_WIDTHS), out_channels=FPN_CHANNELS)  # adds the "pool" level
    anchors = AnchorGenerator(sizes=((16,), (32,), (64,), (128,), (256,)),
                              aspect_ratios=((0.5, 1.0, 2.0),) * 5)
    levels = ["0", "1", "2", "3"]
    # LevelMapper puts a box of side s on level floor(canonical_level + log2(s / canonical_scale)),
    # clamped to the levels given (2..5 = strides 4..32 here). torchvision's 224 -> 4 is the same
    # rule as 56 -> 2: every box under 112 px, i.e. nearly all of ours, would come from the stride-4
    # map. With 56 -> 3 a box spans s / stride = 7 to 14 cells of its map (about the 7x7 RoI grid)
    # and boxes of 56 px and more are pooled from the deeper, more semantic levels.
    box_pool = MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=1,
                                  canonical_scale=56, canonical_level=3)
    mask_pool = MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=1,
                                   canonical_scale=56, canonical_level=3)
    box_head = TwoMLPHead(FPN_CHANNELS * 7 * 7, BOX_HEAD_WIDTH)
    mask_head = MaskRCNNHeads(FPN_CHANNELS, [MASK_HEAD_WIDTH] * 4, dilation=1)
    return MaskRCNN(
        backbone, num_classes=None,
        min_size=image_size, max_size=image_size,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=500, rpn_post_nms_top_n_train=250,
        rpn_pre_nms_top_n_test=250, rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128,
        box_roi_pool=box_pool, box_head=box_head,
        box_predictor=FastRCNNPredictor(BOX_HEAD_WIDTH, num_classes),
        box_batch_size_per_image=64, box_detections_per_img=20,
        mask_roi_pool=mask_pool, mask_head=mask_head,
        mask_predictor=MaskRCNNPredictor(MASK_HEAD_WIDTH, MASK_HEAD_WIDTH, num_classes),
    )


def replace_predictors(model: MaskRCNN, num_classes: int) -> MaskRCNN:
    """Swap the box and mask predictors of ``model`` for new ones with ``num_classes`` outputs.

    The class-specific layers of Mask R-CNN are the box classifier + box regressor
    (:class:`FastRCNNPredictor`) and the mask logits (:class:`MaskRCNNPredictor`); everything before
    them (backbone, FPN, RPN, box and mask heads) is class-agnostic and keeps its trained weights.
    The new layers are freshly initialised. ``num_classes`` counts the background. Works for
    torchvision's ``maskrcnn_resnet50_fpn`` too. Returns ``model`` (changed in place).
    Introduced in lecture 5.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background and must be >= 2, got {num_classes}; "
                         f"for one object class pass num_classes=2")
    heads = model.roi_heads
    if heads.mask_predictor is None:
        raise ValueError("model has no mask branch (a Faster R-CNN?); replace_predictors needs a Mask R-CNN")
    in_features = heads.box_predictor.cls_score.in_features
    in_channels = heads.mask_predictor.conv5_mask.in_channels
    hidden = heads.mask_predictor.conv5_mask.out_channels
    device = heads.box_predictor.cls_score.weight.device
    heads.box_predictor = FastRCNNPredictor(in_features, num_classes).to(device)
    heads.mask_predictor = MaskRCNNPredictor(in_channels, hidden, num_classes).to(device)
    return model


def _as_image_batches(images_or_loader) -> Iterable[list[Tensor]]:
    """Yield lists of (3, H, W) float images from a tensor, a list of tensors or a loader."""
    if isinstance(images_or_loader, Tensor):
        if images_or_loader.ndim == 3:
            images_or_loader = images_or_loader[None]
        if images_or_loader.ndim != 4 or images_or_loader.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W) or (3, H, W), got "
                             f"{tuple(images_or_loader.shape)}")
        yield list(images_or_loader)
        return
    if isinstance(images_or_loader, (list, tuple)) and all(isinstance(x, Tensor) for x in images_or_loader):
        yield list(images_or_loader)
        return
    for batch in images_or_loader:
        # A detection loader yields (images, targets); a loader of images alone yields a tensor or
        # a list of (3, H, W) tensors.
        is_images = isinstance(batch, Tensor) or (
            isinstance(batch, (list, tuple)) and all(isinstance(x, Tensor) and x.ndim == 3 for x in batch))
        images = batch if is_images else batch[0]
        yield from _as_image_batches(images)


def detections(model: nn.Module, images_or_loader, *, mask_threshold: float = 0.5) -> list[dict[str, Tensor]]:
    """Predictions of a detection model, one dict per image, on the CPU.

    ``images_or_loader``: a float tensor ``(B, 3, H, W)`` (or one ``(3, H, W)`` image), a list of
    ``(3, H, W)`` tensors, or a loader yielding ``(images, targets)`` batches (targets are ignored).
    Each dict has ``boxes`` (N, 4) xyxy pixels, ``scores`` (N,), ``labels`` (N,) int64 and, for a Mask
    R-CNN, ``masks`` (N, H, W) bool: the soft masks thresholded at ``mask_threshold``. That is the
    format of :func:`labkit.detection.mean_average_precision`. Runs through
    :func:`labkit.train.predict` (eval mode, inference mode, the model's modes restored after).
    Introduced in lecture 5.
    """
    def binarize(preds: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        # (N, 1, H, W) probabilities; squeeze(1), not squeeze(), so that a single detection keeps
        # its (1, H, W) shape (a bug of the book's code).
        return [{**p, "masks": p["masks"].squeeze(1) > mask_threshold} if "masks" in p else p for p in preds]

    batches = ((images, []) for images in _as_image_batches(images_or_loader))  # no targets to keep
    preds, _ = predict(model, batches, postprocess=binarize)
    return preds
