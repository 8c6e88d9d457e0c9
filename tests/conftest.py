"""Shared test set-up: a non-interactive plotting backend and no network probing."""
import os

import matplotlib

matplotlib.use("Agg")
# Tests never depend on the network; labkit.is_online() answers False at once.
os.environ.setdefault("LABKIT_OFFLINE", "1")
