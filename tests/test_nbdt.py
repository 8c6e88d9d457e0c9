"""Tests for labkit.nbdt: the induced hierarchy, hard and soft inference, the tree loss."""
from __future__ import annotations

import itertools

import pytest
import torch
from scipy.cluster import hierarchy

from labkit.nbdt import (decision_path, finetune_with_tree_loss, hard_inference, hard_path, induce_hierarchy,
                         node_weights_of, soft_inference)


@pytest.fixture
def weight():
    return torch.randn(6, 5, generator=torch.Generator().manual_seed(0))


def test_hierarchy_is_scipys_linkage_and_inner_nodes_average_their_children(weight):
    tree = induce_hierarchy(weight, list("abcdef"))
    unit = torch.nn.functional.normalize(weight, dim=1).double().numpy()
    assert (tree.linkage == hierarchy.linkage(unit, method="ward")).all()
    assert tree.root == 10 and sorted(tree.leaves(tree.root)) == list(range(6))
    for node, (a, b) in tree.children.items():
        assert torch.allclose(tree.node_weights[node], (tree.node_weights[a] + tree.node_weights[b]) / 2)
    assert torch.equal(tree.node_weights[:6], weight)
    assert torch.allclose(node_weights_of(weight, tree.children), tree.node_weights)


def test_close_classes_are_joined_first():
    base = torch.eye(4) * 5
    weight = torch.cat([base[:2] + 0.01 * torch.randn(2, 4), base[2:]])
    weight[1] = weight[0] + 0.05  # classes 0 and 1 nearly the same direction
    tree = induce_hierarchy(weight, ["cat", "lynx", "car", "bus"])
    assert tree.children[4] == (0, 1) and tree.name(4) == "cat+lynx"


def test_two_classes_soft_inference_is_the_softmax_of_the_logits_without_bias():
    weight = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.4, -1.0]])
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(1))
    tree = induce_hierarchy(weight)
    assert torch.allclose(soft_inference(tree, x), torch.softmax(x @ weight.T, dim=1), atol=1e-6)
    assert torch.equal(hard_inference(tree, x), (x @ weight.T).argmax(1))


def test_soft_inference_is_the_product_of_path_probabilities(weight):
    tree = induce_hierarchy(weight)
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(2))
    probs = soft_inference(tree, x)
    assert torch.allclose(probs.sum(1), torch.ones(8))
    parents = {c: p for p, pair in tree.children.items() for c in pair}
    for leaf, i in itertools.product(range(6), range(8)):
        p, node = 1.0, leaf
        while node != tree.root:  # brute force, bottom up
            pair = list(tree.children[parents[node]])
            scores = torch.stack([x[i] @ tree.node_weights[j] for j in pair])
            p *= torch.softmax(scores, 0)[pair.index(node)].item()
            node = parents[node]
        assert probs[i, leaf].item() == pytest.approx(p, rel=1e-5)


def test_hard_inference_follows_hard_path(weight):
    tree = induce_hierarchy(weight)
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(3))
    paths = [hard_path(tree, row) for row in x]
    assert all(p[0] == tree.root and p[-1] < 6 for p in paths)
    assert hard_inference(tree, x).tolist() == [p[-1] for p in paths]


def test_decision_path_ends_at_the_soft_prediction(weight):
    tree = induce_hierarchy(weight, list("abcdef"))
    x = torch.randn(5, generator=torch.Generator().manual_seed(4))
    path = decision_path(tree, x)
    assert path[-1][0] == "abcdef"[int(soft_inference(tree, x[None]).argmax())]
    assert all(0 <= p <= 1 for _, p in path)


def test_tree_loss_makes_soft_inference_agree_with_the_labels():
    gen = torch.Generator().manual_seed(5)
    centres = torch.randn(5, 8, generator=gen) * 3
    labels = torch.arange(5).repeat(40)
    features = centres[labels] + torch.randn(200, 8, generator=gen)
    fc = torch.nn.Linear(8, 5)
    tree = induce_hierarchy(fc.weight.detach())
    before = (soft_inference(tree, features).argmax(1) == labels).float().mean()
    tuned = finetune_with_tree_loss(fc, tree, features, labels, epochs=60)
    after = (soft_inference(tuned, features).argmax(1) == labels).float().mean()
    assert after > 0.95 and after > before
    assert tuned.children == tree.children
    assert torch.allclose(tuned.node_weights[:5], fc.weight.detach())


def test_bad_shapes_name_the_fix(weight):
    with pytest.raises(ValueError, match="model.fc.weight"):
        induce_hierarchy(torch.randn(1, 4))
    with pytest.raises(ValueError, match="penultimate"):
        soft_inference(induce_hierarchy(weight), torch.randn(3, 7))
    with pytest.raises(ValueError, match="class names"):
        induce_hierarchy(weight, ["a", "b"])
