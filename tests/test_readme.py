"""The README's self-contained code blocks run as printed (at reduced sizes)."""
import os
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
          if b.lstrip().startswith("import")]


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_block_runs(i, tmp_path):
    code = BLOCKS[i].replace("100_000", "3000").replace("10_000", "2000")
    cwd = os.getcwd()
    os.chdir(tmp_path)  # blocks may write run files
    try:
        exec(compile(code, f"README block {i}", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)


def test_there_are_blocks_to_run():
    assert len(BLOCKS) >= 3
