"""The wheel and the sdist, installed into fresh virtual envs outside the repository, with a
stranger's top-level `viz` package beside them: the commands work there and import our
pictures as tinygrad_lstm.viz.

Built without network from this checkout (pip wheel --no-build-isolation; the sdist through
setuptools' own backend, then built into a wheel as pip would). The fresh venvs have no pip
of their own: this suite's pip installs into them (pip --python), without dependencies, and
a .pth line lends them this env's site-packages for numpy, graphviz, threadpoolctl and
matplotlib (a .pth line adds a folder without running that folder's .pth files, so this
checkout's editable install is not seen there)."""
import os
import sys
import sysconfig
import tarfile
import venv
from pathlib import Path

import pytest

from .building import build_sdist, build_wheel, clean_copy, run

pytest.importorskip("setuptools")
pytest.importorskip("wheel")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """{"wheel": the wheel built from the checkout, "sdist": a wheel built from the sdist,
    "sdist_file": the sdist}."""
    out = tmp_path_factory.mktemp("dist")
    source = clean_copy(out / "source")
    sdist = build_sdist(source, out / "s")
    return {"wheel": build_wheel(source, out / "w"), "sdist": build_wheel(sdist, out / "sw"),
            "sdist_file": sdist}


def _fresh_env(where, wheel):
    """A new venv at `where` with `wheel` installed and a stranger's top-level `viz`; returns
    the environment to run its commands in."""
    venv.create(where, with_pip=False)
    python = where / "bin" / "python"
    purelib = Path(run(python, "-c",
                       "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (purelib / "lent-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel)
    stranger = purelib / "viz"               # the unrelated PyPI `viz`, or a user's own
    stranger.mkdir()
    (stranger / "__init__.py").write_text("raise ImportError('this is somebody else\\'s viz')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{where / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize("build", ["wheel", "sdist"])
def test_the_commands_work_from_a_fresh_install(builds, build, tmp_path):
    env = _fresh_env(tmp_path / "env", builds[build])
    work = tmp_path / "work"                  # outside the repository: no viz/ folder to find
    work.mkdir()
    where = run("python", "-c", "import tinygrad_lstm, tinygrad_lstm.viz as v; "
                                "print(tinygrad_lstm.__file__); print(v.__file__)",
                cwd=work, env=env).stdout.split()
    assert all(str(tmp_path / "env") in path for path in where), where
    run("tinygrad-lstm", "train", "--task", "recall", "--delay", "2", "--steps", "2", cwd=work, env=env)
    run("tinygrad-lstm", "check", "--steps", "2", cwd=work, env=env)
    for name in ("g.svg", "g.html"):
        run("tinygrad-lstm", "render", "-o", name, cwd=work, env=env)
        assert (work / name).stat().st_size > 5_000
    assert "<script>" in (work / "g.html").read_text()       # page.js was installed with it
    run("tinygrad-lstm", "plot-gradients", "--steps", "3", "-o", "p.png", cwd=work, env=env)
    assert (work / "p.png").read_bytes()[:4] == b"\x89PNG"
    if build == "wheel":                      # the demo once: it trains for a few seconds
        demo = run("tinygrad-lstm", "demo", "--steps", "2", "--out", "out", cwd=work, env=env)
        assert "all three agree" in demo.stdout
        assert {p.name for p in (work / "out").iterdir()} == {"lstm-graph.svg", "lstm-graph.html",
                                                               "gradient-norms.svg"}


def test_the_sdist_holds_what_a_build_needs(builds):
    names = {n.split("/", 1)[1] for n in tarfile.open(builds["sdist_file"]).getnames() if "/" in n}
    for needed in ("LICENSE", "README.md", "setup.cfg", "pyproject.toml", "viz/__init__.py", "viz/page.js",
                   "viz/page.css", "tinygrad_lstm/bptt.py"):
        assert needed in names, needed
