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
    """Fast mode: less data, smaller images, fewer epochs (about a minute per notebook on a CPU).

    ``LABKIT_FAST=1`` asks for it (CI, ``make book`` on a CPU), ``LABKIT_FAST=0`` for the full lesson
    (``make book FULL=1``; :func:`setup` with ``fast=`` sets the variable). Unset, the mode follows the
    hardware: full lessons where a GPU is found (CUDA or Apple's MPS), fast mode on a plain CPU,
    where a full lesson would take a quarter of an hour or more without a word.
    """
    value = os.environ.get("LABKIT_FAST", "").strip()
    if value:
        return value.lower() in _TRUTHY
    return device().type == "cpu"


def fast_mode_reason() -> str:
    """Why :func:`fast_mode` says what it says, in a few words for the setup line."""
    if os.environ.get("LABKIT_FAST", "").strip():
        return f"LABKIT_FAST={os.environ['LABKIT_FAST'].strip()}"
    return "no GPU found" if device().type == "cpu" else "GPU found"


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

    reason: str = ""

    def line(self) -> str:
        mode = "fast mode" if self.fast else "full mode"
        if self.reason:
            mode += f" ({self.reason})"
        net = "online" if self.online else "offline"
        # Short enough for the book's 80-character output column.
        return f"labkit: {mode}, {self.device}, torch {self.torch_version}, {net}, seed {self.seed}"

    def hint(self) -> str:
        """How to switch mode, printed when the mode was chosen for the user (no LABKIT_FAST)."""
        other = "labkit.setup(fast=False) or LABKIT_FAST=0" if self.fast else \
            "labkit.setup(fast=True) or LABKIT_FAST=1"
        return f"  for the {'full lesson' if self.fast else 'fast version'}: {other}"


def setup(seed: int = 0, fast: bool | None = None) -> SetupInfo:
    """Seed everything and print the mode, device, torch version, online or not.

    ``fast=True``/``False`` chooses the mode for this session (it sets ``LABKIT_FAST``, so the data
    twins and everything else agree); None keeps ``LABKIT_FAST``, or the hardware's default when it
    is unset (:func:`fast_mode`), and then prints how to change it.
    """
    if fast is not None:
        os.environ["LABKIT_FAST"] = "1" if fast else "0"
    chosen_by_user = bool(os.environ.get("LABKIT_FAST", "").strip())
    seed_everything(seed)
    info = SetupInfo(fast=fast_mode(), device=device(), torch_version=torch.__version__,
                     online=is_online(), seed=seed, reason=fast_mode_reason())
    print(info.line())
    if not chosen_by_user:
        print(info.hint())
    return info
