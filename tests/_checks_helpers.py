"""Shared assertion for the tests of labkit.checks modules: a typical wrong answer fails on a named case."""


def assert_each_fails_on_its_case(mistakes) -> None:
    """``mistakes``: (check, wrong function, number of the first case it must fail on)."""
    for check, wrong, case in mistakes:
        result = check(wrong, quiet=True)
        assert result.status == "failed", (wrong.__name__, result.message)
        assert result.case == case, (wrong.__name__, result.message)
        assert f"case {case} of" in result.message
