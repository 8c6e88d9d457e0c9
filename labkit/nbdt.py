"""A neural-backed decision tree (NBDT) induced from a classifier's last layer: hierarchy and inference.

Wan et al., *NBDT: Neural-Backed Decision Trees* (ICLR 2021) turn a trained network into a decision
tree without retraining it (their fine-tuning with a tree loss is the optional second step):

1. **Induced hierarchy.** Each row ``w_c`` of the final linear layer is a point for class ``c``;
   agglomerative clustering of these points (here ``scipy.cluster.hierarchy.linkage``, Ward's method on
   the L2-normalised rows) joins the two closest clusters at a time, giving a binary tree whose leaves
   are the classes. An inner node gets the **mean of its two children's vectors**, as in the paper.
2. **Inference** on the network's penultimate features ``x`` (the GAP output). At an inner node each
   child ``j`` scores ``<x, w_j>``. *Hard* inference follows the best child from the root to a leaf.
   *Soft* inference turns each node's child scores into probabilities with a softmax and gives every
   leaf the product of the probabilities along its path; the prediction is the most probable leaf, so
   one bad decision near the root can be outvoted lower down.
3. **Tree loss** (optional): fine-tune with the network's cross-entropy plus the cross-entropy of the
   soft-inference leaf probabilities, so that the network's last layer and its tree agree
   (:func:`finetune_with_tree_loss`; here only the last layer is trained, on stored features).

Node ids follow scipy: leaves ``0 .. C-1`` are the classes, inner node ``C + i`` is row ``i`` of the
linkage matrix, the root is ``2C - 2``. Introduced in lecture 11 (explainable AI).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.cluster import hierarchy
from torch import Tensor

__all__ = ["InducedTree", "induce_hierarchy", "hard_inference", "soft_inference", "hard_path",
           "decision_path", "node_weights_of", "finetune_with_tree_loss"]


@dataclass(frozen=True)
class InducedTree:
    """An induced hierarchy: ``linkage`` (scipy's ``(C-1, 4)`` matrix, for ``dendrogram``), ``children``
    (inner node -> its two children), ``node_weights`` ``Tensor[2C-1, K]`` (rows ``0..C-1`` are the
    class weights), ``classes`` (leaf names). Introduced in lecture 11 (explainable AI)."""

    linkage: np.ndarray
    children: dict[int, tuple[int, int]]
    node_weights: Tensor
    classes: tuple[str, ...]

    @property
    def root(self) -> int:
        return 2 * len(self.classes) - 2

    def leaves(self, node: int) -> list[int]:
        """The classes below ``node``, left to right."""
        if node < len(self.classes):
            return [node]
        left, right = self.children[node]
        return self.leaves(left) + self.leaves(right)

    def name(self, node: int) -> str:
        """A leaf's class, or an inner node's classes joined by "+" (NBDT names them with WordNet)."""
        return "+".join(self.classes[leaf] for leaf in self.leaves(node))


def induce_hierarchy(fc_weight: Tensor, classes: tuple[str, ...] | list[str] | None = None, *,
                     method: str = "ward") -> InducedTree:
    """Cluster the rows of ``fc_weight: Tensor[C, K]`` into a binary tree (see the module docstring).

    ``classes`` names the leaves (default ``"0" .. "C-1"``); ``method`` is scipy's linkage method.
    Introduced in lecture 11 (explainable AI).
    """
    weight = torch.as_tensor(fc_weight).detach().float().cpu()
    if weight.ndim != 2 or weight.shape[0] < 2:
        raise ValueError(f"fc_weight must be (C, K) with at least 2 classes, got {tuple(weight.shape)}; "
                         "pass the weight of the final linear layer (model.fc.weight)")
    n = weight.shape[0]
    classes = tuple(str(c) for c in (classes if classes is not None else range(n)))
    if len(classes) != n:
        raise ValueError(f"{len(classes)} class names for {n} rows of fc_weight")
    unit = torch.nn.functional.normalize(weight, dim=1).double().numpy()
    linkage = hierarchy.linkage(unit, method=method)
    nodes = [row for row in weight]
    children = {}
    for i, (a, b, _, _) in enumerate(linkage):
        a, b = int(a), int(b)
        children[n + i] = (a, b)
        nodes.append((nodes[a] + nodes[b]) / 2)
    return InducedTree(linkage, children, torch.stack(nodes), classes)


def _features(tree: InducedTree, features: Tensor) -> Tensor:
    features = torch.as_tensor(features).float()
    if features.ndim != 2 or features.shape[1] != tree.node_weights.shape[1]:
        raise ValueError(f"features must be (N, K={tree.node_weights.shape[1]}), the penultimate features "
                         f"(after global average pooling), got {tuple(features.shape)}")
    return features.to(tree.node_weights.device)


def hard_path(tree: InducedTree, features: Tensor) -> list[int]:
    """The nodes visited by hard inference for one feature vector ``Tensor[K]``: root ... leaf.
    Introduced in lecture 11 (explainable AI)."""
    x = _features(tree, torch.as_tensor(features).reshape(1, -1))[0]
    node, path = tree.root, [tree.root]
    while node in tree.children:
        left, right = tree.children[node]
        node = left if x @ tree.node_weights[left] >= x @ tree.node_weights[right] else right
        path.append(node)
    return path


def hard_inference(tree: InducedTree, features: Tensor) -> Tensor:
    """Hard-inference classes ``LongTensor[N]`` of features ``Tensor[N, K]``: at each node, the child
    with the larger inner product (the left one on a tie). Introduced in lecture 11."""
    x = _features(tree, features)
    node = torch.full((len(x),), tree.root, dtype=torch.long)
    for _ in range(len(tree.classes)):  # at most C - 1 decisions on the way down
        inner = node >= len(tree.classes)
        if not inner.any():
            break
        kids = torch.tensor([tree.children.get(int(v), (int(v), int(v))) for v in node])
        scores = torch.einsum("nk,njk->nj", x, tree.node_weights[kids])
        go_right = (scores[:, 1] > scores[:, 0]).long()  # the left child on a tie
        node = torch.where(inner, kids.gather(1, go_right[:, None])[:, 0], node)
    return node


def soft_inference(tree: InducedTree, features: Tensor) -> Tensor:
    """Leaf probabilities ``Tensor[N, C]`` of soft inference: the product, along each leaf's path, of the
    softmax over the two children's inner products. Rows sum to 1; ``argmax(1)`` is the prediction.
    Introduced in lecture 11 (explainable AI)."""
    x = _features(tree, features)
    prob = {tree.root: torch.ones(len(x))}
    for node in sorted(tree.children, reverse=True):  # a parent's id is above its children's
        left, right = tree.children[node]
        split = torch.softmax(x @ tree.node_weights[[left, right]].T, dim=1)
        prob[left], prob[right] = prob[node] * split[:, 0], prob[node] * split[:, 1]
    return torch.stack([prob[c] for c in range(len(tree.classes))], dim=1)


def decision_path(tree: InducedTree, features: Tensor) -> list[tuple[str, float]]:
    """For one feature vector ``Tensor[K]``: the soft-inference path to the most probable leaf, as
    ``(node name, probability of taking that node from its parent)`` pairs, root excluded (the
    "animal 99.5% -> ungulate 98.5% -> horse 99.7%" of the NBDT demo). Introduced in lecture 11."""
    x = _features(tree, torch.as_tensor(features).reshape(1, -1))[0]
    leaf = int(soft_inference(tree, x[None]).argmax())
    parents = {child: node for node, pair in tree.children.items() for child in pair}
    path, node = [], leaf
    while node != tree.root:
        parent = parents[node]
        pair = list(tree.children[parent])
        split = torch.softmax(tree.node_weights[pair] @ x, dim=0)
        path.append((tree.name(node), float(split[pair.index(node)])))
        node = parent
    return path[::-1]


def node_weights_of(fc_weight: Tensor, children: dict[int, tuple[int, int]]) -> Tensor:
    """Every node's vector ``Tensor[2C-1, K]`` from the class rows ``fc_weight: Tensor[C, K]``: each
    inner node the mean of its two children. Differentiable in ``fc_weight`` (for the tree loss).
    Introduced in lecture 11 (explainable AI)."""
    nodes = list(fc_weight)
    for node in sorted(children):
        left, right = children[node]
        nodes.append((nodes[left] + nodes[right]) / 2)
    return torch.stack(nodes)


def _soft_log_probs(node_weights: Tensor, children: dict[int, tuple[int, int]], features: Tensor,
                    n_classes: int) -> Tensor:
    """Log of the soft-inference leaf probabilities ``Tensor[N, C]``, differentiable."""
    root = 2 * n_classes - 2
    logp = {root: features.new_zeros(len(features))}
    for node in sorted(children, reverse=True):
        left, right = children[node]
        split = torch.log_softmax(features @ node_weights[[left, right]].T, dim=1)
        logp[left], logp[right] = logp[node] + split[:, 0], logp[node] + split[:, 1]
    return torch.stack([logp[c] for c in range(n_classes)], dim=1)


def finetune_with_tree_loss(fc: torch.nn.Linear, tree: InducedTree, features: Tensor, labels: Tensor, *,
                            epochs: int = 30, lr: float = 0.01, tree_weight: float = 1.0,
                            batch_size: int = 128, seed: int = 0) -> InducedTree:
    """NBDT's second step: train the final layer ``fc`` (in place) with the network's cross-entropy
    plus ``tree_weight`` times the soft tree loss (the cross-entropy of the soft-inference leaf
    probabilities), on fixed penultimate ``features: Tensor[N, K]`` with ``labels: LongTensor[N]``.

    The hierarchy (which classes are grouped) stays as induced; the node vectors follow the new
    class rows. Returns the tree with the updated vectors. Training only the last layer on stored
    features takes seconds on a CPU; the paper fine-tunes the whole network.
    Introduced in lecture 11 (explainable AI).
    """
    generator = torch.Generator().manual_seed(seed)
    features = features.detach().float().to(fc.weight.device)
    labels = torch.as_tensor(labels).long().to(fc.weight.device)
    optimizer = torch.optim.Adam(fc.parameters(), lr=lr)
    n_classes = len(tree.classes)
    for _ in range(epochs):
        order = torch.randperm(len(features), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            x, y = features[batch], labels[batch]
            nodes = node_weights_of(fc.weight, tree.children)
            loss = torch.nn.functional.cross_entropy(fc(x), y) + tree_weight * torch.nn.functional.nll_loss(
                _soft_log_probs(nodes, tree.children, x, n_classes), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        nodes = node_weights_of(fc.weight.detach(), tree.children)
    return InducedTree(tree.linkage, dict(tree.children), nodes.cpu(), tree.classes)
