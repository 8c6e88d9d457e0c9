"""Tests of labkit.checks.l03_chest_xray (lecture 3): correct answers pass, typical mistakes fail, stubs wait."""
import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, precision_score, recall_score
from torch import nn

from labkit.checks import l03_chest_xray as checks


def l1_penalty(model, lam):
    return lam * sum(m.weight.abs().sum() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def l1_all_parameters(model, lam):  # the book's loop: biases and batch-norm parameters included
    return lam * sum(p.abs().sum() for p in model.parameters())


def l1_children_only(model, lam):  # misses layers nested in Sequentials
    return lam * sum(m.weight.abs().sum() for m in model.children() if isinstance(m, (nn.Conv2d, nn.Linear)))


def l1_as_float(model, lam):
    return l1_penalty(model, lam).item()


def l1_detached(model, lam):
    return l1_penalty(model, lam).detach()


def recall_precision(cm, positive=1):
    cm = np.asarray(cm)
    tp, actual, predicted = cm[positive, positive], cm[positive].sum(), cm[:, positive].sum()
    return (tp / actual if actual else 0.0, tp / predicted if predicted else 0.0)


def recall_precision_transposed(cm, positive=1):  # reads rows as predictions
    return recall_precision(np.asarray(cm).T, positive)


def stem_output_size(n):
    for kernel in (3, 3, 1):
        n = (n - kernel + 1) // 2  # valid convolution, then a 2x2 max-pool
    return n


def stem_with_padding(n):
    for _ in range(3):
        n //= 2
    return n


def stub(*args, **kwargs):
    raise NotImplementedError


def test_correct_answers_pass(capsys):
    assert checks.check_l1_penalty(l1_penalty)
    assert checks.check_recall_precision(recall_precision)
    assert checks.check_stem_output_size(stem_output_size)
    assert capsys.readouterr().out.count("✅") == 3


@pytest.mark.parametrize("wrong, hint", [
    (l1_all_parameters, "without biases or batch-norm"),
    (l1_children_only, "model.modules()"),
    (l1_as_float, "expected a tensor"),
    (l1_detached, "does not require grad"),
])
def test_l1_mistakes_fail_with_a_reason(wrong, hint, capsys):
    result = checks.check_l1_penalty(wrong)
    assert result.status == "failed" and not result
    assert hint in capsys.readouterr().out


def test_l1_reference_is_a_differentiable_sum_of_absolute_weights():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.fill_(-0.5)
        model[3].weight.fill_(2.0)
    value = checks._l1_reference(model, 0.1)
    assert torch.isclose(value, torch.tensor(0.1 * (18 * 0.5 + 2 * 2.0)))
    value.backward()
    assert torch.equal(model[0].weight.grad, torch.full_like(model[0].weight, -0.1))  # lam * sign(w)
    assert model[1].weight.grad is None and model[0].bias.grad is None


def test_recall_precision_reference_matches_sklearn_on_label_lists():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    cm = confusion_matrix(y_true, y_pred)
    assert checks._recall_precision_reference(cm, 1) == pytest.approx(
        (recall_score(y_true, y_pred), precision_score(y_true, y_pred)))
    assert checks._recall_precision_reference(np.array([[234, 0], [390, 0]]), 1) == (0.0, 0.0)


def test_recall_precision_transposed_matrix_fails(capsys):
    assert checks.check_recall_precision(recall_precision_transposed).status == "failed"
    assert "expected: (0.964" in capsys.readouterr().out


def test_stem_reference_is_the_books_table_and_padding_fails():
    assert checks._stem_size_reference(224) == 27  # 222, 111, 109, 54, 54, 27 in the book's summary
    assert checks.check_stem_output_size(stem_with_padding).status == "failed"


@pytest.mark.parametrize("check", [checks.check_l1_penalty, checks.check_recall_precision,
                                   checks.check_stem_output_size])
def test_stubs_are_not_attempted_and_do_not_raise(check, capsys):
    result = check(stub)
    assert result.status == "not attempted" and not result
    assert "not attempted yet" in capsys.readouterr().out


def test_cases_replace_the_public_cases(capsys):
    cases = [dict(cm=np.array([[3, 1], [2, 4]]), positive=0)]
    assert checks.check_recall_precision(recall_precision, cases=cases, quiet=True).n_cases == 1
    result = checks.check_recall_precision(recall_precision_transposed, cases=cases)
    assert result.case == 1 and "cm=[[3 1] [2 4]]" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# The threshold for a recall target, and the AUC by ranking (issue 12)
# --------------------------------------------------------------------------------------------

def threshold_for_recall(y_true, scores, target=0.95):
    positives = np.sort(np.asarray(scores)[np.asarray(y_true) == 1])[::-1]
    for k, t in enumerate(positives, start=1):  # flagging scores >= t finds at least k positives
        if (np.asarray(scores)[np.asarray(y_true) == 1] >= t).mean() >= target:
            return float(t)
    return float(positives[-1])


def auc_by_ranking(y_true, scores):
    y, s = np.asarray(y_true), np.asarray(scores, dtype=float)
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


def test_threshold_reference_is_the_highest_threshold_that_reaches_the_target():
    for case in checks._THRESHOLD_CASES:
        y, s, target = case["y_true"], case["scores"], case.get("target", 0.95)
        t = checks._threshold_reference(**case)
        assert t in s and recall_score(y, s >= t) >= target
        higher = s[s > t]
        if len(higher):  # the next score up misses the target
            assert recall_score(y, s >= higher.min()) < target


def test_auc_reference_equals_the_pairwise_count():
    for case in checks._AUC_CASES:
        assert np.isclose(checks._auc_reference(**case), auc_by_ranking(**case))


def test_threshold_and_auc_checks_accept_correct_answers(capsys):
    assert checks.check_threshold_for_recall(threshold_for_recall)
    assert checks.check_auc_by_ranking(auc_by_ranking)


def test_threshold_that_reads_recall_off_all_films_fails(capsys):
    def share_of_all_films(y_true, scores, target=0.95):  # the share of all films flagged, not of positives
        s = np.sort(np.asarray(scores))[::-1]
        return float(s[int(np.ceil(target * len(s))) - 1])

    result = checks.check_threshold_for_recall(share_of_all_films)
    assert not result and result.case == 2 and "expected: 0.3, got: 0.1" in result.message


def test_auc_with_ties_counted_as_losses_fails_on_the_tie_case(capsys):
    def strict(y_true, scores):
        y, s = np.asarray(y_true), np.asarray(scores, dtype=float)
        return float((s[y == 1][:, None] > s[y == 0][None, :]).mean())

    result = checks.check_auc_by_ranking(strict)
    assert not result and result.case == 4 and "expected: 0.5, got: 0.0" in result.message


def test_auc_from_accuracy_at_one_half_fails(capsys):
    # Accuracy at 0.5 agrees with the AUC on the first four small cases, by coincidence, not on the fifth.
    result = checks.check_auc_by_ranking(lambda y_true, scores: float(((np.asarray(scores) >= 0.5) == y_true).mean()))
    assert not result and result.case == 5


@pytest.mark.parametrize("check", [checks.check_threshold_for_recall, checks.check_auc_by_ranking])
def test_new_stubs_are_not_attempted(check, capsys):
    assert check(stub).status == "not attempted"
