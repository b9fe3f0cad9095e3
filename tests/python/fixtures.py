"""Where the Python tests find their fixtures and the command line.

Fixtures come from LLAMUX_TEST_DATA (default: ../shared beside the checkout), as for the
C++ tests; a missing one skips the test, or fails it when CI=true.
"""

import json
import os
import pathlib
import unittest

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("LLAMUX_TEST_DATA") or REPO.parent / "shared")
LLAMUX_BINARY = os.environ.get("LLAMUX_BINARY", str(REPO / "build" / "bin" / "llamux"))


def fixture(test, relative):
    """The fixture's path; skips `test` (a TestCase) when it is missing, fails in CI."""
    path = DATA / relative
    if not path.exists():
        message = f"fixture missing: {path}"
        if os.environ.get("CI") == "true":
            test.fail(message)
        raise unittest.SkipTest(message)
    return str(path)


def reference(test, name):
    with open(fixture(test, f"testdata/reference/{name}.json")) as f:
        return json.load(f)
