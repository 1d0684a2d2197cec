"""Building the wheel and the sdist for the packaging tests, from a clean copy of the
checkout: an in-tree build leaves build/ and *.egg-info behind, and a stale build/ from an
older layout would slip its files into the wheel."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = shutil.ignore_patterns(".git", ".venv", "build", "dist", "out", "*.egg-info", "__pycache__",
                                  ".hypothesis", ".pytest_cache")


def run(*args, cwd=None, env=None, timeout=180):
    """Run a command; its CompletedProcess, or an AssertionError with its output."""
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def clean_copy(where):
    """The checkout's files (no git, venv, builds or caches) copied to `where`."""
    shutil.copytree(ROOT, where, ignore=LEFT_OUT)
    return where


def build_wheel(source, out):
    """The wheel pip builds from `source` (a folder or an sdist), without network."""
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, source)
    [wheel] = Path(out).glob("tinygrad_lstm-*.whl")
    return wheel


def build_sdist(source, out):
    """The sdist setuptools' own build backend makes of `source`."""
    run(sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})",
        cwd=source)
    [sdist] = Path(out).glob("tinygrad_lstm-*.tar.gz")
    return sdist
