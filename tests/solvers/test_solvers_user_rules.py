"""A user's rule works wherever a built-in name does: from a file (``path/to/rule.py:NAME``) and from an installed
package's entry point (group ``nashlab.rules``); bad files are refused in one line."""

import json

import pytest

from nashlab.experiments.cli import main
from nashlab.solvers import load_rule, make_solver
from nashlab.solvers.registry import ENTRY_POINT_GROUP

RULE_SOURCE = '''from nashlab.solvers import RULES
import dataclasses
MY_RULE = dataclasses.replace(RULES["inpo"], name="my-inpo")
'''


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A package ``nashlab_extra_rules`` with a ``.dist-info`` declaring ``my-inpo`` in the entry-point group."""
    pkg = tmp_path / "nashlab_extra_rules"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(RULE_SOURCE)
    info = tmp_path / "nashlab_extra_rules-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nashlab-extra-rules\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nmy-inpo = nashlab_extra_rules:MY_RULE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my-inpo"


def test_entry_point_rule_everywhere(installed, capsys):
    rule = load_rule(installed)
    assert rule.name == "my-inpo"
    assert make_solver(installed, eta=0.1, beta=0.1).hparams == {"eta": 0.1, "beta": 0.1}
    assert main(["solve", "--game", "cyclic:n=3", "--solver", installed, "--beta", "0.1", "--iters", "50",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["solver"] == installed


def test_rule_file_errors_are_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    for spec, needle in [(f"{broken}:X", "failed to import: RuntimeError: boom"),
                         (f"{tmp_path}/missing.py:X", "does not exist"),
                         (f"{broken}:not an identifier", "after ':' comes the name")]:
        assert main(["solve", "--game", "cyclic:n=3", "--solver", spec, "--iters", "5"]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err


def test_unknown_name_suggests_a_registered_one():
    with pytest.raises(ValueError, match="did you mean 'nash-mp'"):
        load_rule("nash_mp")
