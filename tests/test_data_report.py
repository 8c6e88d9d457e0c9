"""labkit.data.report: the shared wording of dataset verification reports."""
from labkit.data.report import findings_lines, some_names


def test_some_names_shortens_long_lists():
    assert some_names(["a", "b"]) == "a, b"
    assert some_names([f"f{i}" for i in range(7)], limit=3) == "f0, f1, f2 and 4 more"


def test_findings_lines_end_with_ok_only_without_errors():
    assert findings_lines([], ["odd size"], "OK: fine.") == ["  warning: odd size", "  OK: fine."]
    lines = findings_lines(["missing ALL_IDB2"], [], "OK: fine.")
    assert lines[0] == "  ERROR: missing ALL_IDB2"
    assert lines[-1] == "  1 error(s): fix them and run the check again."
