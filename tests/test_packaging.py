"""The wheel a user installs: the code, the page's JavaScript and CSS, the LICENSE, and the
metadata (built here without network, from this checkout)."""
import zipfile

import pytest

from .building import build_wheel, clean_copy


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    out = tmp_path_factory.mktemp("wheel")
    return zipfile.ZipFile(build_wheel(clean_copy(out / "source"), out / "w"))


def test_the_wheel_ships_the_code_the_page_and_the_license(wheel):
    names = set(wheel.namelist())
    for needed in ("tinygrad_lstm/bptt.py", "tinygrad_lstm/tensor.py", "tinygrad_lstm/viz/page.js",
                   "tinygrad_lstm/viz/page.css", "tinygrad_lstm/viz/layout.py"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith("viz/")]          # no top-level `viz` package
    [license_file] = [n for n in names if n.endswith("/LICENSE")]
    assert wheel.read(license_file).decode().startswith("MIT License")


def test_the_metadata_says_who_what_and_which_python(wheel):
    [meta] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    text = wheel.read(meta).decode()
    for line in ("License: MIT", "Author: the tinygrad_lstm developers", "Requires-Python: >=3.9",
                 "Classifier: License :: OSI Approved :: MIT License", "License-File: LICENSE"):
        assert line in text, line
    assert "Classifier: Programming Language :: Python :: 3.9" in text     # the versions tested
