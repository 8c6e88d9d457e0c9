"""Hidden cases for the checks of lecture 11 (explainable AI): inputs only, never answers.

Homework (book/homework.md): ``python -m labkit.homework grade`` runs each check of
``labkit.checks.l11_xai`` on these cases after the public ones; the references compute the expected
answers in the grader. Not in labkit nor in the student notebooks. The trees are written out as plain
tensors and dicts (the grader's sandbox has torch, not labkit).
"""
import torch

_gen = torch.Generator().manual_seed(1111)


def _rand(*shape: int, relu: bool = False) -> torch.Tensor:
    t = torch.randn(*shape, generator=_gen, dtype=torch.float64).round(decimals=3)
    return t.clamp_min(0) if relu else t


def _peak(h: int, w: int, row: int, col: int) -> torch.Tensor:
    cam = torch.zeros(h, w)
    cam[row, col] = 1.0
    return cam


def _tree(n_classes: int, k: int) -> tuple[torch.Tensor, dict]:
    """A random balanced-ish tree: leaves joined in random pairs, each parent the mean of its two children."""
    weights = [w for w in torch.randn(n_classes, k, generator=_gen).round(decimals=2)]
    open_nodes, children = list(range(n_classes)), {}
    while len(open_nodes) > 1:
        pick = torch.randperm(len(open_nodes), generator=_gen)[:2].tolist()
        a, b = open_nodes[pick[0]], open_nodes[pick[1]]
        node = len(weights)
        children[node] = (a, b)
        weights.append((weights[a] + weights[b]) / 2)
        open_nodes = [n for n in open_nodes if n not in (a, b)] + [node]
    return torch.stack(weights), children


def _tree_cases(batch: bool) -> list[dict]:
    cases = []
    for n, k in ((3, 2), (4, 8), (7, 5), (10, 16), (5, 3)):
        weights, children = _tree(n, k)
        x = torch.randn(*((9, k) if batch else (k,)), generator=_gen).round(decimals=2)
        cases.append(dict(node_weights=weights, children=children, features=x))
    # A tie at the root: the left child wins.
    tie_w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    tie_x = torch.tensor([1.0, 1.0])
    cases.append(dict(node_weights=tie_w, children={2: (0, 1)}, features=tie_x[None] if batch else tie_x))
    return cases


HIDDEN_CASES = {
    "check_grad_cam_map": [
        dict(activations=_rand(64, 7, 7, relu=True), gradients=_rand(64, 7, 7)),
        dict(activations=_rand(3, 1, 9, relu=True), gradients=_rand(3, 1, 9)),        # one row
        dict(activations=torch.zeros(5, 3, 3, dtype=torch.float64), gradients=_rand(5, 3, 3)),  # no activity
        dict(activations=_rand(2, 6, 4, relu=True), gradients=-_rand(2, 6, 4, relu=True)),     # all weights <= 0
        dict(activations=_rand(32, 12, 12, relu=True).float(), gradients=_rand(32, 12, 12).float()),  # float32
    ],
    "check_pointing_hit": [
        dict(cam=_peak(10, 10, 9, 9), boxes=torch.tensor([[5.0, 5.0, 10.0, 10.0]])),   # the last pixel
        dict(cam=_peak(10, 10, 5, 4), boxes=torch.tensor([[5.0, 5.0, 10.0, 10.0]])),   # one column left
        dict(cam=_peak(7, 9, 6, 0), boxes=torch.tensor([[0.0, 6.0, 1.0, 7.0]])),        # a one-pixel box
        dict(cam=_peak(4, 4, 0, 3), boxes=torch.tensor([[0.0, 0.0, 2.0, 2.0], [3.0, 0.0, 4.0, 1.0]])),
        dict(cam=torch.tensor([[0.1, 0.9, 0.9], [0.2, 0.3, 0.4]]), boxes=torch.tensor([[2.0, 0.0, 3.0, 2.0]])),  # tie
        dict(cam=_peak(6, 6, 2, 2), boxes=torch.tensor([[2.5, 2.5, 4.0, 4.0]])),        # fractional edge
    ],
    "check_energy_in_box": [
        dict(cam=_rand(12, 9, relu=True), boxes=torch.tensor([[0.0, 0.0, 9.0, 12.0]])),     # the whole map: 1
        dict(cam=_rand(12, 9, relu=True), boxes=torch.zeros(0, 4)),                          # no box: 0
        dict(cam=_rand(8, 8, relu=True), boxes=torch.tensor([[1.0, 1.0, 4.0, 4.0], [1.0, 1.0, 4.0, 4.0]])),  # twice
        dict(cam=_rand(8, 8, relu=True), boxes=torch.tensor([[-3.0, -3.0, 2.0, 2.0]])),      # before the edge
        dict(cam=_rand(20, 30, relu=True), boxes=torch.tensor([[5.0, 2.0, 12.0, 18.0], [10.0, 10.0, 25.0, 19.0]])),
    ],
    "check_rank_correlation": [
        dict(a=_rand(6, 6), b=_rand(6, 6)),
        dict(a=torch.tensor([[1.0, 1.0, 1.0, 2.0]]), b=torch.tensor([[4.0, 3.0, 2.0, 1.0]])),  # many ties
        dict(a=_rand(4, 5), b=torch.full((4, 5), 2.0, dtype=torch.float64)),                  # constant second
        dict(a=torch.arange(20.0).reshape(4, 5), b=torch.arange(20.0).reshape(4, 5).exp()),
        dict(a=_rand(1, 30).abs(), b=_rand(1, 30).abs()),
    ],
    "check_hard_path": _tree_cases(batch=False),
    "check_soft_inference": _tree_cases(batch=True),
}
