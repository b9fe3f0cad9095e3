"""The package installed by `cmake --install` into a fresh prefix works on its own: it
finds the plugins installed beside it, whatever the prefix."""

import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

from fixtures import fixture

SCRIPT = """
import os, sys
from llamux import Llama
from llamux._plugin_dirs import PLUGIN_DIRS
assert PLUGIN_DIRS == [os.path.join(sys.argv[2], "lib", "llamux", "plugins")], PLUGIN_DIRS
llm = Llama(sys.argv[1], verbose=False)
print(llm("Once upon a time", max_tokens=4, temperature=0)["choices"][0]["text"])
"""


class InstallTest(unittest.TestCase):
    def test_installed_package_generates(self):
        model = fixture(self, "models/stories260K.gguf")
        build = os.environ.get("LLAMUX_BUILD_DIR")
        cmake = os.environ.get("LLAMUX_CMAKE_COMMAND", "cmake")
        if not build:
            self.skipTest("LLAMUX_BUILD_DIR not set (ctest sets it)")
        with tempfile.TemporaryDirectory() as prefix:
            subprocess.run([cmake, "--install", build, "--prefix", prefix],
                           check=True, capture_output=True)
            packages = list(pathlib.Path(prefix).glob("lib*/python3*/site-packages"))
            self.assertEqual(len(packages), 1, packages)
            env = {**os.environ, "PYTHONPATH": str(packages[0]), "LLAMUX_PLUGIN_PATH": ""}
            out = subprocess.run([sys.executable, "-c", SCRIPT, model, prefix], env=env,
                                 capture_output=True, text=True, cwd=prefix)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout, ", there was a\n")


if __name__ == "__main__":
    unittest.main()
