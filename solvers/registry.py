"""The registry: every built-in rule's declaration (:class:`~.rule.Rule`), and the loader of a user's rule.

Adding a built-in rule: its module under ``solvers/`` (docstring with the formula, paper and symbol map, and one
``RULE = Rule(...)``), one line in :data:`RULES`, one README row. Every suite (conformance, faithful, loss ≡ step,
claims, trainer) is parametrised over :data:`RULES`.

A rule of the user's own is named, wherever a built-in name is accepted, as

* ``path/to/rule.py:NAME`` — the module-level :class:`~.rule.Rule` called ``NAME`` in that file (imported: it is the
  user's own Python code, so a *config file* may name one only when the user passes ``--trust-rule-files``);
* an entry point ``name = "package.module:NAME"`` in the group ``nashlab.rules`` of an installed package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from typing import Callable

from . import egpo, inpo, mmd, mnpo, mwu, nash_md, nash_mp, omwu, sppo, td_mnpo
from .core import Solver
from .rule import Rule

RULES: dict[str, Rule] = {
    "mwu": mwu.RULE,
    "sppo": sppo.RULE,
    "inpo": inpo.RULE,
    "nash-md": nash_md.RULE,
    "egpo": egpo.RULE,
    "nash-mp": nash_mp.RULE,
    "omwu": omwu.RULE,
    "mmd": mmd.RULE,
    "mnpo": mnpo.RULE,
    "td-mnpo": td_mnpo.RULE,
}
#: The same mapping under its older name (``SOLVERS[name].multiplayer``, ``.summary``).
SOLVERS = RULES
#: The entry-point group an installed package declares its rules in.
ENTRY_POINT_GROUP = "nashlab.rules"


def is_rule_file(spec: str) -> bool:
    """Whether ``spec`` names a rule in a Python file (``path/to/rule.py:NAME``)."""
    return isinstance(spec, str) and ":" in spec and spec.rsplit(":", 1)[0].endswith(".py")


def _from_file(spec: str) -> Rule:
    path, _, attr = spec.rpartition(":")
    if not attr.isidentifier():
        raise ValueError(f"rule {spec!r}: after ':' comes the name of a Rule in the file; got {attr!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"rule file {path} does not exist (from --solver {spec})")
    real = os.path.realpath(path)
    mod_name = "nashlab_user_rule_" + hashlib.sha256(real.encode()).hexdigest()[:16]
    module = sys.modules.get(mod_name)
    if module is None:
        loader_spec = importlib.util.spec_from_file_location(mod_name, real)
        if loader_spec is None or loader_spec.loader is None:
            raise ValueError(f"rule file {path} cannot be imported as a Python module")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as e:  # the user's file: report it in one line, whatever it raised
            del sys.modules[mod_name]
            raise ValueError(f"rule file {path} failed to import: {type(e).__name__}: {e}") from None
    rule = getattr(module, attr, None)
    if not isinstance(rule, Rule):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Rule))
        raise ValueError(f"rule file {path} has no Rule named {attr}" + (f"; it has {', '.join(found)}" if found else
                                                                           "; declare one with nashlab.solvers.Rule"))
    return rule


def _from_entry_point(name: str) -> Rule | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                rule = ep.load()
            except Exception as e:
                raise ValueError(f"rule {name!r} (entry point {ep.value}) failed to import: {type(e).__name__}: {e}"
                                 ) from None
            if not isinstance(rule, Rule):
                raise ValueError(f"entry point {name!r} ({ep.value}) is not a nashlab Rule")
            return rule
    return None


def load_rule(spec: str, *, trusted: bool = True) -> Rule:
    """The :class:`Rule` named by ``spec``: a built-in name, ``path/to/rule.py:NAME``, or an installed entry point.

    Args:
        spec: as above.
        trusted: whether ``spec`` comes from the user directly (command line, Python). A rule *file* named in a config
            file is Python code someone else may have sent: it is imported only when ``trusted``.

    Raises:
        ValueError: unknown name, untrusted rule file, or a file that does not declare the rule.
    """
    if isinstance(spec, Rule):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"solver must be a rule name or path/to/rule.py:NAME; got {spec!r}")
    if spec in RULES:
        return RULES[spec]
    if is_rule_file(spec):
        if not trusted:
            raise ValueError(f"the config names the rule file {spec.rsplit(':', 1)[0]}, which is Python code; "
                             "pass --trust-rule-files to import it")
        return _from_file(spec)
    rule = _from_entry_point(spec)
    if rule is not None:
        return rule
    import difflib

    close = difflib.get_close_matches(spec, list(RULES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown solver {spec!r}{hint}; choose from {', '.join(RULES)}, an installed "
                     f"'{ENTRY_POINT_GROUP}' entry point, or path/to/rule.py:NAME")


def rule_name(spec) -> str:
    """The name a rule is recorded under (its ``Rule.name``; a built-in's registry key)."""
    return load_rule(spec).name


def make_solver(name, eta: float | None = None, beta: float | None = None, **kwargs) -> Solver:
    """Build a rule's batched tabular solver with validated hyper-parameters (``None`` → the rule's default).

    Args:
        name: a key of :data:`RULES`, ``path/to/rule.py:NAME``, an entry point, or a :class:`Rule`.
        eta: η (step on the win rate).
        beta: β (KL weight to π_ref).
        **kwargs: rule-specific options (``num_players`` for mnpo/td-mnpo, ``lam``/``rho`` for td-mnpo); unknown
            options raise.

    Raises:
        ValueError: unknown name or option, or a hyper-parameter that violates its condition.

    >>> make_solver("egpo", eta=0.8, beta=0.01).hparams
    {'eta': 0.8, 'beta': 0.01}
    """
    return load_rule(name).make(eta=eta, beta=beta, **kwargs)


def get_loss(name, phase: int = 0, **hparams) -> Callable:
    """The loss on log-probabilities of a rule's ``phase`` at ``hparams`` (:class:`~.rule.RuleLoss`)."""
    rule = load_rule(name)
    return rule.loss(rule.hparams(**hparams), phase)
