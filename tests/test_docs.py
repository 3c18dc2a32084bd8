"""Every Python snippet in the README and in docs/ runs as printed (at reduced sizes).

The blocks of one page run in order in one namespace, as a reader pasting them would,
in a fresh directory. A block that needs what a test cannot have (a running cluster, a
batch system) starts with ``# needs: ...``; it is compiled but not run, and only such
blocks are skipped.
"""
import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
SMALL = [("10**9", "2000"), ("10**8", "2000"), ("10**7", "2000"), ("10**6", "2000"),
         ("100_000", "3000"), ("10_000", "2000"), ("max_workers=8", "max_workers=2"),
         ("n_workers=8", "n_workers=2")]


def blocks(page):
    out = []
    for b in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
        lines = b.splitlines()
        indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
        out.append("\n".join(ln[indent:] for ln in lines) + "\n")
    return out


def test_every_page_with_code_is_run():
    with_code = [p.name for p in PAGES if blocks(p)]
    assert {"README.md", "analysis.md", "run-files.md", "scale-out.md",
            "simulation.md", "smc.md", "exact.md", "entropy-production.md"} <= set(with_code)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_page_snippets_run(page, tmp_path):
    namespace = {"__name__": "__main__"}
    cwd = os.getcwd()
    os.chdir(tmp_path)  # snippets write run files
    try:
        for i, code in enumerate(blocks(page)):
            compiled = compile(code, f"{page.name} block {i}", "exec")
            if code.lstrip().startswith("# needs:"):
                continue
            for big, small in SMALL:
                code = code.replace(big, small)
            exec(compile(code, f"{page.name} block {i}", "exec"), namespace)
            assert compiled is not None
    finally:
        os.chdir(cwd)


def test_command_line_config_example_runs(tmp_path):
    """The configuration printed in docs/command-line.md loads and runs (fewer
    trajectories), writes both directions, and its fields are the loader's."""
    from neqsim.cli import config
    page = (ROOT / "docs" / "command-line.md").read_text()
    (toml,) = re.findall(r"```toml\n(.*?)```", page, re.S)
    path = tmp_path / "breathing.toml"
    path.write_text(toml)
    cfg, _ = config.load(str(path))
    runs = config.execute(str(path), out=str(tmp_path / "b.h5"), n_traj=200, progress=False)
    assert [r.n_traj for r in runs] == [200, 200]
    assert (tmp_path / "b.reverse.h5").exists()
    # every field the loader accepts is documented in the page's tables
    for section, fields in config._SECTIONS.items():
        for field in fields or ():
            assert f"`{field}`" in page, (section, field)
