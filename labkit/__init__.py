"""labkit: the support package of the open computer-vision course.

Each lecture notebook starts with ``labkit.setup()``; the rest of the package holds what
lectures reuse (training loops, plots, datasets, homework checks) so that notebooks show
only the idea they teach.
"""
from labkit.env import data_dir, device, fast_mode, is_online, seed_everything, setup

__version__ = "0.1.0"

__all__ = ["setup", "fast_mode", "device", "seed_everything", "data_dir", "is_online", "__version__"]
