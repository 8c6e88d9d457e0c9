"""labkit.train.fit under torchrun (labkit/distributed.py): 2 CPU processes with gloo.

The job-level tests start real ``torchrun`` jobs of ``tests/ddp_worker.py`` (a small model on fixed
data) and compare them with one process on the same global batch; every subprocess has a time limit,
so a hang fails the test instead of stalling CI.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from labkit import distributed
from labkit.train import fit

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "ddp_worker.py"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
LIMIT = 240  # seconds for one job, far above its normal run time on 2 busy cores


def run(cmd: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "LABKIT_FAST": "1", "LABKIT_DDP_TIMEOUT": "60",
                "LABKIT_DATA": str(tmp / "data"), **env}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        full_env.pop(key, None)
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=LIMIT)


def job(tmp: Path, name: str, *args: str, ranks: int = 2) -> dict:
    out = tmp / name
    cmd = (TORCHRUN if ranks == 2 else [sys.executable]) + [str(WORKER), "--out", str(out), *args]
    proc = run(cmd, tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {**torch.load(out / "result.pt", weights_only=True), "out": out}


def max_difference(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("ddp")
    ck = tmp / "ck-two"
    return {
        "tmp": tmp,
        # two ranks of 8 images each = one process with batches of 16, same order (no shuffle)
        "two": job(tmp, "two", "--batch", "8", "--epochs", "2", "--checkpoint", str(ck)),
        "one": job(tmp, "one", "--batch", "16", "--epochs", "2", ranks=1),
        "ck_two": ck,
    }


def test_two_ranks_reach_the_weights_of_one_process_on_the_global_batch(runs):
    assert runs["two"]["world"] == 2 and runs["one"]["world"] == 1
    assert max_difference(runs["two"]["model"], runs["one"]["model"]) < 1e-5


def test_metrics_are_the_job_means(runs):
    two, one = runs["two"]["history"], runs["one"]["history"]
    for key in ("train_loss", "val_loss"):
        assert two[key] == pytest.approx(one[key], abs=1e-5)
    for key in ("train_acc", "val_acc"):  # 32 validation items over 2 ranks, each counted once
        assert two["metrics"][key] == pytest.approx(one["metrics"][key], abs=1e-6)


def test_only_rank_zero_writes_checkpoints(runs):
    out = runs["two"]["out"]
    assert (out / "saves-rank0.txt").read_text().split().count("last.pt") == 2
    assert not (out / "saves-rank1.txt").exists()
    state = torch.load(runs["ck_two"] / "last.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in state["model"])  # the plain model's keys


def test_resume_with_two_ranks_continues_exactly(runs):
    tmp = runs["tmp"]
    ck = tmp / "ck-resume"
    job(tmp, "first", "--batch", "8", "--epochs", "1", "--checkpoint", str(ck))
    resumed = job(tmp, "resumed", "--batch", "8", "--epochs", "2", "--checkpoint", str(ck), "--resume")
    assert max_difference(resumed["model"], runs["two"]["model"]) < 1e-6
    assert resumed["history"]["train_loss"] == pytest.approx(runs["two"]["history"]["train_loss"])


def test_a_two_rank_checkpoint_resumes_in_one_process(runs):
    tmp = runs["tmp"]
    one = job(tmp, "solo", "--batch", "16", "--epochs", "3", "--checkpoint", str(runs["ck_two"]),
              "--resume", ranks=1)
    history = one["history"]
    assert len(history["train_loss"]) == 3
    assert history["train_loss"][:2] == pytest.approx(runs["two"]["history"]["train_loss"])


def test_a_failing_rank_ends_the_job_with_its_error(tmp_path):
    start = time.monotonic()
    proc = run(TORCHRUN + [str(WORKER), "--out", str(tmp_path / "fail"), "--fail-rank", "1"], tmp_path)
    assert proc.returncode != 0
    assert "planted failure on rank 1" in proc.stdout + proc.stderr
    assert time.monotonic() - start < LIMIT / 2
    assert not (tmp_path / "fail" / "result.pt").exists()


def test_the_example_script_trains_under_torchrun(tmp_path):
    ck = tmp_path / "ck"
    proc = run(TORCHRUN + ["scripts/train_ddp.py", "--size", "32", "--limit", "48", "--epochs", "1",
                           "--batch", "8", "--workers", "0", "--checkpoint", str(ck)], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 process(es), 8 films each per step: effective batch 16" in proc.stdout
    assert proc.stdout.count("best test accuracy") == 1  # rank 0 alone reports
    assert (ck / "last.pt").is_file()


# ---------------------------------------------------------------------------------------------
# Pieces, in one process
# ---------------------------------------------------------------------------------------------

def indices(loader) -> list[int]:
    return [int(i) for batch, in loader for i in batch]


@pytest.mark.parametrize("shuffle", [False, True])
def test_training_shards_are_disjoint_and_cover_the_data(shuffle):
    data = TensorDataset(torch.arange(20))
    loader = DataLoader(data, batch_size=3, shuffle=shuffle, generator=torch.Generator().manual_seed(4))
    shards = [distributed.shard_loader(loader, train=True, rank=r, world_size=2) for r in (0, 1)]
    assert all(isinstance(s.sampler, DistributedSampler) and s.batch_size == 3 for s in shards)
    assert all(s.sampler.shuffle == shuffle for s in shards)
    seen = [indices(s) for s in shards]
    assert not set(seen[0]) & set(seen[1]) and sorted(seen[0] + seen[1]) == list(range(20))
    distributed.set_epoch(shards[0], 1)
    if shuffle:
        assert indices(shards[0]) != seen[0]  # a new permutation each epoch
    else:
        assert seen[0] == list(range(0, 20, 2))


def test_evaluation_shards_count_every_item_once():
    loader = DataLoader(TensorDataset(torch.arange(7)), batch_size=2)
    seen = [indices(distributed.shard_loader(loader, train=False, rank=r, world_size=3)) for r in range(3)]
    assert sorted(sum(seen, [])) == list(range(7))  # DistributedSampler would pad to 9


def test_sharding_names_what_it_cannot_shard():
    with pytest.raises(TypeError, match="DataLoader"):
        distributed.shard_loader([(torch.zeros(1), torch.zeros(1))], train=True, rank=0, world_size=2)
    sampler = torch.utils.data.BatchSampler(range(4), 2, False)
    custom = DataLoader(TensorDataset(torch.arange(4)), batch_sampler=sampler)
    with pytest.raises(ValueError, match="batch_sampler"):
        distributed.shard_loader(custom, train=True, rank=0, world_size=2)


def test_outside_torchrun_nothing_changes(monkeypatch):
    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    assert distributed.launched() is None and distributed.init() is None
    assert distributed.is_main() and not distributed.active()
    loader = DataLoader(TensorDataset(torch.arange(4)), batch_size=2)
    assert distributed.shard_loader(loader, train=True) is loader
    ran = []
    with distributed.rank0_first():
        ran.append(True)
    assert ran == [True]
    assert torch.equal(distributed.reduce_sums(torch.tensor([1.0, 2.0])), torch.tensor([1.0, 2.0]))


def test_launch_is_read_from_torchruns_variables(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed.launched() == distributed.Launch(rank=3, local_rank=1, world_size=4)
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(RuntimeError, match="integers"):
        distributed.launched()


def test_amp_on_a_cpu_trains_in_fp32_and_says_so(capsys):
    model = torch.nn.Linear(3, 2)
    data = DataLoader(TensorDataset(torch.randn(8, 3), torch.randint(0, 2, (8,))), batch_size=4)
    fit(model, data, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn=torch.nn.CrossEntropyLoss(), device="cpu", amp=True)
    assert "amp=True needs CUDA; training in fp32 on cpu" in capsys.readouterr().out
    assert model.weight.dtype == torch.float32


@pytest.mark.filterwarnings("ignore:CUDA is not available")
def test_autocast_precision_follows_the_choice():
    from labkit.train import _autocast
    off = torch.amp.GradScaler("cuda", enabled=False)
    assert _autocast(torch.bfloat16, off).fast_dtype == torch.bfloat16
    assert not isinstance(_autocast(None, off), torch.autocast)
