"""Exercise checks: compare a student's function with a reference and print one clear verdict.

``core`` holds the machinery (:class:`CheckResult`, :func:`run_check`, the record of attempts); each
lecture has a module of ready checks, used in notebooks as::

    from labkit.checks import l01_cnn_internals as checks
    checks.check_output_size(conv_output_size)

and a notebook ends with ``summary()`` (what passes) and ``export()`` (the file to hand in), from
:mod:`labkit.checks.submission`.

Lecture modules, named by lecture: ``l01_cnn_internals`` (lecture 1), ``l02_gap_cam`` (lecture 2),
``l03_chest_xray`` (lecture 3), ``l04_detection`` (lecture 4), ``l05_segmentation`` (lecture 5),
``l06_image_search`` (lecture 6),
``l07_pose`` (lecture 7),
``l08_anomaly`` (lecture 8),
``l09_superres`` (lecture 9),
``l10_video`` (lecture 10),
``l11_xai`` (lecture 11),
``l12_attention`` (lecture 12).
Each check takes ``cases=`` (other cases, as grading uses) and ``quiet=``. Reference solutions are
private to the check modules; worked solutions live in the solution notebooks.
"""
from labkit.checks.core import CheckResult, run_check
from labkit.checks.submission import export, summary

__all__ = ["CheckResult", "run_check", "summary", "export"]
