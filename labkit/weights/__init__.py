"""Small checkpoints shipped with labkit (state_dicts, loaded with ``weights_only=True``).

- ``small_mask_rcnn_shapes.pt``: :func:`labkit.mask_rcnn.small_mask_rcnn` with 4 classes, pre-trained on
  synthetic shapes scenes; reproduced by ``scripts/pretrain_small_mask_rcnn.py``. Lecture 5 fine-tunes it.
"""
