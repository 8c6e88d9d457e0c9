"""Tests for labkit.train: fit, train_one_epoch, evaluate, predict, eval_mode, accuracy, History, checkpoints."""
import matplotlib

matplotlib.use("Agg")

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from labkit.train import (History, accuracy, eval_mode, evaluate, fit, model_device, predict, to_device,
                          train_one_epoch)

CPU = torch.device("cpu")


def separable(n: int = 256, seed: int = 0, flip: bool = False) -> TensorDataset:
    """Points in the plane labelled by the side of the line x0 + x1 = 0 (a margin of 0.2 kept clear)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4 * n, 2, generator=g)
    x = x[(x.sum(1)).abs() > 0.2][:n]
    y = (x.sum(1) > 0).long()
    return TensorDataset(x, 1 - y if flip else y)


def loader(ds, batch_size=32, shuffle=False):
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle)


def mlp(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 2))


def test_fit_learns_separable_toy_problem():
    model = mlp()
    train, val = separable(seed=0), separable(seed=1)
    h = fit(model, loader(train, shuffle=True), loader(val), epochs=8, device=CPU,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.5), loss_fn=nn.CrossEntropyLoss(),
            metrics={"accuracy": accuracy}, quiet=True)
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.metrics["val_accuracy"][-1] >= 0.98
    assert evaluate(model, loader(val), metrics={"accuracy": accuracy})["accuracy"] >= 0.98


def test_history_has_one_entry_per_epoch():
    model = mlp()
    h = fit(model, loader(separable()), loader(separable(seed=1)), epochs=3, device=CPU,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=nn.CrossEntropyLoss(),
            metrics={"accuracy": accuracy}, quiet=True, name="mlp")
    assert h.epochs == 3 and h.name == "mlp"
    assert len(h.train_loss) == len(h.val_loss) == len(h.seconds) == 3
    assert set(h.metrics) == {"train_accuracy", "val_accuracy"}
    assert all(len(v) == 3 for v in h.metrics.values())
    assert all(isinstance(v, float) for v in h.train_loss + h.val_loss)


def test_history_best_epoch():
    h = History(train_loss=[3.0, 2.0, 1.0], val_loss=[2.0, 1.0, 1.5],
                metrics={"val_accuracy": [0.5, 0.9, 0.8]})
    assert h.best_epoch() == 1
    assert h.best_epoch("train_loss") == 2
    assert h.best_epoch("val_accuracy", mode="max") == 1
    with pytest.raises(KeyError, match="val_accuracy"):
        h.best_epoch("accuracy")
    with pytest.raises(ValueError, match="train_loss"):
        History(train_loss=[1.0]).best_epoch()


def test_evaluate_matches_hand_computation():
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    x, y = torch.randn(10, 2), torch.randint(0, 3, (10,))
    # batch size 3 leaves a last batch of 1: the mean must be weighted by batch size
    result = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=3),
                      loss_fn=nn.CrossEntropyLoss(), metrics={"accuracy": accuracy})
    with torch.no_grad():
        logits = model(x)
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert result["accuracy"] == pytest.approx(accuracy_score(y, logits.argmax(1)))
    assert set(evaluate(model, [(x, y)])) == set()  # no loss_fn, no metrics: nothing to report


@pytest.mark.parametrize("training", [True, False])
def test_predict_shapes_mode_and_no_grad(training):
    model = mlp(dropout=0.5)
    model.train(training)
    model[0].train(not training)  # a mixed state must come back exactly as it was
    modes = [m.training for m in model.modules()]
    outputs, targets = predict(model, loader(separable(n=50), batch_size=16))
    assert outputs.shape == (50, 2) and targets.shape == (50,)
    assert outputs.device.type == "cpu"
    assert not outputs.requires_grad and not torch.is_inference(outputs)
    assert [m.training for m in model.modules()] == modes
    # dropout was off: predicting twice gives the same outputs
    assert torch.equal(outputs, predict(model, loader(separable(n=50), batch_size=16))[0])


def test_eval_mode_restores_each_submodules_mode_even_on_error():
    model = mlp(dropout=0.5).train()
    model[2].eval()  # a half-frozen model: the mix must come back, not just the root's mode
    before = [m.training for m in model.modules()]
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(model):
            assert not any(m.training for m in model.modules())
            raise RuntimeError("boom")
    assert [m.training for m in model.modules()] == before == [True, True, True, False, True]


def test_model_device_is_the_first_parameters_device_or_the_cpu():
    assert model_device(nn.Linear(2, 2, device="meta")) == torch.device("meta")
    assert model_device(nn.ReLU()) == CPU


def test_evaluate_restores_mode():
    model = mlp()
    model.train()
    evaluate(model, loader(separable(n=20)), loss_fn=nn.CrossEntropyLoss())
    assert model.training and all(m.training for m in model.modules())


def _run(epochs, checkpoint=None, resume=False, model_seed=0):
    """Dropout plus a shuffled loader: resuming must restore RNG states to match bit for bit."""
    model = mlp(seed=model_seed, dropout=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    torch.manual_seed(123 if not resume else 999)  # a resumed run starts from a different RNG state
    h = fit(model, DataLoader(separable(n=96), batch_size=16, shuffle=True), loader(separable(seed=1)),
            epochs=epochs, optimizer=opt, loss_fn=nn.CrossEntropyLoss(), scheduler=sched, device=CPU,
            metrics={"accuracy": accuracy}, checkpoint=checkpoint, resume=resume, quiet=True)
    return model, opt, sched, h


def test_resume_matches_uninterrupted_run(tmp_path):
    full_model, full_opt, full_sched, full_h = _run(4)
    _run(2, checkpoint=tmp_path)
    model, opt, sched, h = _run(4, checkpoint=tmp_path, resume=True, model_seed=7)
    for k, v in full_model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    assert h.epochs == 4
    assert h.train_loss == full_h.train_loss and h.val_loss == full_h.val_loss
    assert h.metrics == full_h.metrics
    assert sched.last_epoch == full_sched.last_epoch == 4
    assert opt.param_groups[0]["lr"] == pytest.approx(full_opt.param_groups[0]["lr"])
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 3


def test_resume_without_checkpoint_names_the_path(tmp_path):
    model = mlp()
    with pytest.raises(FileNotFoundError, match="last.pt"):
        fit(model, loader(separable()), epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            loss_fn=nn.CrossEntropyLoss(), device=CPU, checkpoint=tmp_path / "none", resume=True,
            quiet=True)


def test_best_checkpoint_holds_best_epoch(tmp_path):
    # Validation labels are the training labels flipped: the better the fit, the worse the val
    # loss, so the best epoch is the first and last.pt must differ from best.pt.
    def run(epochs, checkpoint=None):
        model = mlp()
        h = fit(model, loader(separable()), loader(separable(flip=True)), epochs=epochs,
                optimizer=torch.optim.SGD(model.parameters(), lr=0.2),
                loss_fn=nn.CrossEntropyLoss(), device=CPU, checkpoint=checkpoint, quiet=True)
        return model, h

    _, h = run(3, tmp_path)
    assert h.val_loss == sorted(h.val_loss)  # guard: val loss did rise each epoch
    after_first, _ = run(1)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert best["epoch"] == h.best_epoch() == 0 and last["epoch"] == 2
    for k, v in after_first.state_dict().items():
        assert torch.equal(best["model"][k], v)
    assert History.from_dict(last["history"]).val_loss == h.val_loss
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no temp files left


def test_best_checkpoint_uses_train_loss_without_val_loader(tmp_path):
    model = mlp()
    h = fit(model, loader(separable()), epochs=3, optimizer=torch.optim.SGD(model.parameters(), lr=0.2),
            loss_fn=nn.CrossEntropyLoss(), device=CPU, checkpoint=tmp_path, quiet=True)
    assert h.val_loss == []
    assert torch.load(tmp_path / "best.pt", weights_only=True)["epoch"] == h.best_epoch("train_loss")


def test_scheduler_steps_once_per_epoch():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    fit(model, loader(separable(), batch_size=16), epochs=3, optimizer=opt, scheduler=sched,
        loss_fn=nn.CrossEntropyLoss(), device=CPU, quiet=True)
    assert sched.last_epoch == 3
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)


def test_plateau_scheduler_gets_the_val_loss():
    # flipped val labels make the val loss rise every epoch: with patience=0 each rise halves the lr
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    h = fit(model, loader(separable()), loader(separable(flip=True)), epochs=3, optimizer=opt,
            scheduler=sched, loss_fn=nn.CrossEntropyLoss(), device=CPU, quiet=True)
    assert h.val_loss == sorted(h.val_loss)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2 * 0.5 ** 2)


def test_quiet_prints_nothing(capsys):
    model = mlp()
    fit(model, loader(separable()), loader(separable(seed=1)), epochs=2, amp=True,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=nn.CrossEntropyLoss(),
        device=CPU, quiet=True)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_progress_bar_shows_epoch_and_loss(capsys):
    model = mlp()
    fit(model, loader(separable()), loader(separable(seed=1)), epochs=2,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=nn.CrossEntropyLoss(),
        device=CPU, name="toy")
    err = capsys.readouterr().err
    assert "toy epoch 1/2" in err and "toy epoch 2/2" in err and "val_loss=" in err


def test_amp_on_cpu_falls_back_to_fp32(capsys):
    def run(amp):
        model = mlp()
        h = fit(model, loader(separable()), epochs=2, amp=amp, device=CPU, quiet=not amp,
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=nn.CrossEntropyLoss())
        return h

    assert run(True).train_loss == run(False).train_loss
    assert "fp32" in capsys.readouterr().out


def test_accuracy_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(100, 5, generator=g), torch.randint(0, 5, (100,), generator=g)
    assert accuracy(logits, y) == pytest.approx(accuracy_score(y.numpy(), logits.argmax(1).numpy()))


def test_accuracy_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        accuracy(torch.randn(4), torch.zeros(4, dtype=torch.long))


class _SelfLossModel(nn.Module):
    """A stand-in for a torchvision detection model: model(images, targets) returns a dict of losses."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, images, targets=None):
        assert isinstance(images, list) and isinstance(targets, list)
        means = torch.stack([t["value"].float().mean() for t in targets])
        return {"loss_a": ((self.w - means) ** 2).mean(), "loss_b": 0.1 * self.w.abs().sum()}


def _detection_batches():
    torch.manual_seed(0)
    batches = []
    for _ in range(4):
        images = [torch.rand(3, 8, 8) for _ in range(2)]
        targets = [{"value": torch.full((3,), 2.0), "boxes": torch.zeros(0, 4)} for _ in range(2)]
        batches.append((images, targets))
    return batches


def test_fit_without_loss_fn_sums_the_models_loss_dict():
    model = _SelfLossModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    history = fit(model, _detection_batches(), epochs=5, optimizer=opt, loss_fn=None, device="cpu", quiet=True)
    # loss_a pulls w to 2, loss_b (L1) pulls it a little towards 0: w settles just under 2
    assert 1.8 < model.w.item() < 2.0
    assert history.train_loss[-1] < history.train_loss[0]


def test_fit_without_loss_fn_takes_the_step_by_hand():
    # One batch from w = 0: loss = (0 - 2)^2 + 0.1 * |0| = 4; d/dw = 2 * (0 - 2) + 0 = -4; SGD lr 0.2 -> w = 0.8
    model = _SelfLossModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    history = fit(model, _detection_batches()[:1], epochs=1, optimizer=opt, loss_fn=None, device="cpu", quiet=True)
    assert history.train_loss == [4.0]
    assert model.w.item() == pytest.approx(0.8)


def test_fit_without_loss_fn_rejects_metrics_and_val_loader():
    model = _SelfLossModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="loss_fn=None"):
        fit(model, _detection_batches(), _detection_batches(), epochs=1, optimizer=opt, loss_fn=None, quiet=True)


def test_fit_without_loss_fn_needs_a_loss_dict():
    class Plain(nn.Linear):
        def forward(self, x, targets=None):
            return super().forward(x)

    model = Plain(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="Pass a loss_fn"):
        fit(model, [(torch.rand(2, 4), torch.zeros(2))], epochs=1, optimizer=opt, loss_fn=None,
            device="cpu", quiet=True)


def test_to_device_moves_nested_tensors_and_keeps_the_rest():
    batch = ([torch.zeros(2)], {"boxes": torch.ones(1, 4), "name": "x", "ids": (torch.tensor([1]), 3)})
    moved = to_device(batch, torch.device("meta"))
    assert moved[0][0].device.type == "meta" and isinstance(moved[0], list)
    assert moved[1]["boxes"].device.type == "meta" and moved[1]["name"] == "x"
    assert isinstance(moved[1]["ids"], tuple) and moved[1]["ids"][0].device.type == "meta" and moved[1]["ids"][1] == 3


def test_predict_moves_nested_inputs_and_gives_one_dict_per_image():
    class Detector(nn.Module):
        """Stands in for a torchvision detection model in eval mode: a list of images in, a dict per image out."""

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))
            self.seen: list[set[str]] = []

        def forward(self, images):
            self.seen.append({im.device.type for im in images})
            return [{"scores": torch.tensor([float(im.shape[-1])])} for im in images]

    batches = [([torch.zeros(3, 4, 4), torch.zeros(3, 4, 5)], ({"id": torch.tensor(0)}, {"id": torch.tensor(1)})),
               ([torch.zeros(3, 4, 6)], ({"id": torch.tensor(2)},))]
    model = Detector()
    # The meta device holds no data: only to_device can have put the images of the lists there.
    outputs, targets = predict(model, batches, device="meta")
    assert model.seen == [{"meta"}, {"meta"}]
    assert [o["scores"].item() for o in outputs] == [4.0, 5.0, 6.0]
    assert [t["id"].item() for t in targets] == [0, 1, 2] and targets[0]["id"].device == CPU
    # postprocess sees each batch's outputs before they are moved and joined
    halved, _ = predict(model, batches, postprocess=lambda out: [{"scores": o["scores"] / 2} for o in out])
    assert [o["scores"].item() for o in halved] == [2.0, 2.5, 3.0]


def test_train_one_epoch_returns_batch_weighted_means_like_evaluate():
    # lr=0 leaves the model as it is, and without dropout train and eval mode compute the same:
    # batches of 3 leave a last batch of 1, so an unweighted mean of batch means would differ.
    model = mlp()
    data = DataLoader(separable(n=10), batch_size=3)
    trained = train_one_epoch(model, data, torch.optim.SGD(model.parameters(), lr=0.0),
                              loss_fn=nn.CrossEntropyLoss(), metrics={"accuracy": accuracy})
    evaluated = evaluate(model, data, loss_fn=nn.CrossEntropyLoss(), metrics={"accuracy": accuracy})
    assert trained.keys() == evaluated.keys() == {"loss", "accuracy"}
    assert trained["loss"] == pytest.approx(evaluated["loss"], rel=1e-6)
    assert trained["accuracy"] == pytest.approx(evaluated["accuracy"])
    assert model.training


def test_fit_equals_a_hand_written_loop_for_a_fixed_seed():
    # Dropout, a shuffled loader, Adam and a per-epoch scheduler: every random draw and every step
    # must happen in the same order as in the plain loop a student would write.
    def setup():
        model = mlp(seed=3, dropout=0.3)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        train = DataLoader(separable(n=100), batch_size=16, shuffle=True)
        torch.manual_seed(42)
        return model, opt, sched, train

    loss_fn, val = nn.CrossEntropyLoss(), loader(separable(n=50, seed=1), batch_size=16)
    model, opt, sched, train = setup()
    history = fit(model, train, val, epochs=3, optimizer=opt, scheduler=sched, loss_fn=loss_fn,
                  metrics={"accuracy": accuracy}, device=CPU, quiet=True)

    by_hand, opt, sched, train = setup()
    train_loss, val_loss, train_acc, val_acc = [], [], [], []
    for _ in range(3):
        by_hand.train()
        total = correct = 0.0
        for x, y in train:
            opt.zero_grad()
            out = by_hand(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
            correct += (out.argmax(1) == y).sum().item()
        train_loss.append(total / 100)
        train_acc.append(correct / 100)
        by_hand.eval()
        total = correct = 0.0
        with torch.no_grad():
            for x, y in val:  # iterating a DataLoader draws its base seed from the global RNG
                out = by_hand(x)
                total += loss_fn(out, y).item() * len(x)
                correct += (out.argmax(1) == y).sum().item()
        val_loss.append(total / 50)
        val_acc.append(correct / 50)
        sched.step()

    for k, v in by_hand.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert history.train_loss == pytest.approx(train_loss, rel=1e-6)
    assert history.val_loss == pytest.approx(val_loss, rel=1e-6)
    assert history.metrics["train_accuracy"] == pytest.approx(train_acc)
    assert history.metrics["val_accuracy"] == pytest.approx(val_acc)


def test_a_scheduler_hooked_to_the_optimizer_steps_every_batch():
    # Lecture 4's one-cycle schedule: fit steps its scheduler per epoch, a step hook per batch.
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = loader(separable(n=96), batch_size=16)  # 6 batches per epoch
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2 * 6)
    opt.register_step_post_hook(lambda *_: one_cycle.step())
    fit(model, data, epochs=2, optimizer=opt, loss_fn=nn.CrossEntropyLoss(), device=CPU, quiet=True)
    assert one_cycle.last_epoch == 12


def test_save_atomic_creates_the_folder_and_leaves_no_partial_file(tmp_path, monkeypatch):
    from labkit.train import save_atomic

    target = tmp_path / "new" / "weights.pt"
    save_atomic({"w": torch.ones(2)}, target)
    assert torch.equal(torch.load(target)["w"], torch.ones(2))
    assert [p.name for p in target.parent.iterdir()] == ["weights.pt"]

    def crash(obj, path):  # a write that dies half-way
        Path(path).write_bytes(b"trunc")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_atomic({"w": torch.zeros(2)}, target)
    monkeypatch.undo()
    assert torch.equal(torch.load(target)["w"], torch.ones(2))  # the old file is intact
