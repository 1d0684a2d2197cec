"""Every ```python block in the README runs, in order, in one namespace: the page stays true."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README should show Python examples"
    monkeypatch.chdir(tmp_path)           # examples that write files write them here
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
