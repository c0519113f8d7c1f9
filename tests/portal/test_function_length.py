"""House style: no function over 60 lines outside migrations and tests (scripts/check_function_length.py)."""
from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _checker():
    spec = importlib.util.spec_from_file_location("check_function_length", ROOT / "scripts" / "check_function_length.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checker_finds_a_long_method_and_ignores_a_short_one(tmp_path):
    checker = _checker()
    body = "\n".join(f"        x{i} = {i}" for i in range(60))
    source = tmp_path / "module.py"
    source.write_text(textwrap.dedent("""\
        class Thing:
            @property
            def long(self):
        """) + body + "\n\n    def short(self):\n        return 1\n")

    assert list(checker.long_functions(source)) == [("Thing.long", 2, 62)]


def test_no_function_in_the_project_is_over_60_lines(capsys):
    assert _checker().main(ROOT) == 0, capsys.readouterr().out
