"""The wheel a user installs: the code, the page's JavaScript and CSS, the LICENSE, and the
metadata (built here without network, from this checkout)."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=120)
    [path] = out.glob("tinygrad_lstm-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_ships_the_code_the_page_and_the_license(wheel):
    names = set(wheel.namelist())
    for needed in ("tinygrad_lstm/bptt.py", "tinygrad_lstm/tensor.py", "viz/page.js", "viz/page.css",
                   "viz/layout.py"):
        assert needed in names, needed
    [license_file] = [n for n in names if n.endswith("/LICENSE")]
    assert wheel.read(license_file).decode().startswith("MIT License")


def test_the_metadata_says_who_what_and_which_python(wheel):
    [meta] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    text = wheel.read(meta).decode()
    for line in ("License: MIT", "Author: the tinygrad_lstm developers", "Requires-Python: >=3.9",
                 "Classifier: License :: OSI Approved :: MIT License", "License-File: LICENSE"):
        assert line in text, line
    assert "Classifier: Programming Language :: Python :: 3.9" in text     # the versions tested
