"""Shared wording of the dataset verifiers' reports (``verify_all_idb``, ``verify_chest_xray``, ...).

Introduced in lecture 2 (ALL-IDB); every ``data_scripts/`` checker prints its report this way, so a
student meets the same ERROR / warning / OK lines whatever the dataset.
"""
from __future__ import annotations


def some_names(names: list[str], limit: int = 5) -> str:
    """The first ``limit`` names, comma-separated, then "and N more" if there are others."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def findings_lines(errors: list[str], warnings: list[str], ok_message: str) -> list[str]:
    """The report's closing lines: each error, each warning, then the verdict."""
    lines = [f"  ERROR: {message}" for message in errors]
    lines += [f"  warning: {message}" for message in warnings]
    lines.append(f"  {ok_message}" if not errors else
                 f"  {len(errors)} error(s): fix them and run the check again.")
    return lines
