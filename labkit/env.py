"""Where a notebook runs: fast or full mode, which device, which data folder, online or not.

Introduced in lecture 1 (CNN internals); every lecture calls :func:`setup` in its first code cell.
"""
from __future__ import annotations

import os
import random
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

_TRUTHY = {"1", "true", "yes", "on"}

# Host probed by is_online(): the server torchvision's pretrained weights come from.
ONLINE_PROBE_HOST = ("download.pytorch.org", 443)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUTHY


def fast_mode() -> bool:
    """True when ``LABKIT_FAST`` is set (CI, ``make book`` on CPU): less data, smaller images, fewer epochs."""
    return _env_flag("LABKIT_FAST")


def device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so a notebook gives the same numbers twice."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def data_dir() -> Path:
    """The folder datasets live in: ``$LABKIT_DATA`` if set, else ``~/labkit-data``.

    The folder is not created here; downloaders create it when they write into it.
    """
    configured = os.environ.get("LABKIT_DATA")
    return Path(configured).expanduser() if configured else Path.home() / "labkit-data"


_online_cache: dict[tuple[str, int], bool] = {}


def is_online(timeout: float = 1.5, host: tuple[str, int] = ONLINE_PROBE_HOST) -> bool:
    """True if ``host`` answers a TCP connection within ``timeout`` seconds.

    ``LABKIT_OFFLINE=1`` forces False without touching the network. The probe (name lookup
    included, which sockets cannot time out) runs in a daemon thread, so a machine whose DNS
    hangs still gets an answer after ``timeout`` seconds. The answer is cached per host.
    """
    if _env_flag("LABKIT_OFFLINE"):
        return False
    if host in _online_cache:
        return _online_cache[host]
    result = {"ok": False}

    def probe() -> None:
        try:
            with socket.create_connection(host, timeout=timeout):
                result["ok"] = True
        except OSError:
            pass

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    _online_cache[host] = result["ok"]
    return result["ok"]


@dataclass(frozen=True)
class SetupInfo:
    """What :func:`setup` found; lectures read it to choose their real or offline path."""

    fast: bool
    device: torch.device
    torch_version: str
    online: bool
    seed: int

    def line(self) -> str:
        mode = "fast mode (LABKIT_FAST=1)" if self.fast else "full mode"
        net = "online" if self.online else "offline"
        # Short enough for the book's 80-character output column.
        return f"labkit: {mode}, {self.device}, torch {self.torch_version}, {net}, seed {self.seed}"


def setup(seed: int = 0) -> SetupInfo:
    """Seed everything and print one line: mode, device, torch version, online or not."""
    seed_everything(seed)
    info = SetupInfo(fast=fast_mode(), device=device(), torch_version=torch.__version__,
                     online=is_online(), seed=seed)
    print(info.line())
    return info
