"""Options of the browser test of the built book (tests/browser/test_book_pages.py)."""


def pytest_addoption(parser):
    parser.addoption("--book", default="_build/check/_build/html", help="the built book's html folder")
    parser.addoption("--shots", default="_build/browser", help="where the page screenshots go")
