"""Real data when it is there, else the synthetic twin: the one rule every lecture's data chooser follows.

Used by ``chest_xray_data`` (lecture 3), ``shapes_data`` (lecture 4), ``oxford_pets_data`` and
``pennfudan_data`` (lecture 5).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def twin_folder(name: str, version: int, seed: int) -> Path:
    """``labkit.data_dir() / "twins" / "<name>-v<version>-<fast|full>-seed<seed>"``: where a twin is cached."""
    from labkit.env import data_dir, fast_mode

    return data_dir() / "twins" / f"{name}-v{version}-{'fast' if fast_mode() else 'full'}-seed{seed}"


def real_or_twin(title: str, root: Path, twin_root: Path, *, is_complete: Callable[[Path], bool],
                 write_twin: Callable[[Path], object], quiet: bool = False) -> tuple[Path, bool]:
    """``(root, True)`` when ``is_complete(root)``; otherwise ``(twin_root, False)``, writing the twin first
    with ``write_twin(twin_root)`` unless a complete one is already cached there. One line says which path
    was taken, in the words "REAL" or "SYNTHETIC", so a notebook never hides its fallback."""
    if is_complete(root):
        if not quiet:
            print(f"{title}: REAL data in {root}")
        return root, True
    twin_root = Path(twin_root).expanduser()
    if not is_complete(twin_root):
        try:
            write_twin(twin_root)
        except (FileExistsError, OSError):
            # Another process (a second notebook run in parallel) may have written it first.
            if not is_complete(twin_root):
                raise
        made = "written to"
    else:
        made = "reused from"
    if not quiet:
        print(f"{title}: no real data in {root}; SYNTHETIC twin {made} {twin_root}")
    return twin_root, False
