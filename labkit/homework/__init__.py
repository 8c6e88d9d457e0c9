"""Homework tools (book/homework.md): generate the student and instructor notebooks from one source
(:mod:`labkit.homework.assign`) and grade submissions with hidden cases in a sandbox
(:mod:`labkit.homework.grade`, :mod:`labkit.homework.sandbox`); ``python -m labkit.homework`` runs them.
"""
