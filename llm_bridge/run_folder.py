"""The run folder of ``nashlab llm train --out DIR``: one run per folder, never overwritten or altered silently.

``DIR/config.json`` records the run's whole configuration (:func:`~nashlab.llm_bridge.config.resolved_config`) when
it starts. The rules, as for the sweep store:

- a fresh run refuses a folder that already holds a run (config, checkpoint or metrics), unless ``--overwrite``,
  which first deletes that run's files (so TensorBoard events and metrics of two runs never mix);
- ``--resume`` continues only the same configuration, and names the first key that differs. The keys of
  :data:`EXTENDABLE` may change (lengthen a run, change how often it saves or evaluates); ``config.json`` is then updated for
  those keys only, as every other key is equal;
- a resume of a run killed before its first checkpoint starts it again from iteration 0.
"""

from __future__ import annotations

import csv
import json
import os
import shutil

from .checkpoint import read_json, recover
from .trainer import RUN_OUTPUTS

CONFIG_FILE = "config.json"

#: Dotted keys a resume may change. ``train.iterations`` not below the checkpoint's iteration, and not when
#: ``train.lr_final`` is set (the learning-rate schedule is spread over the iterations).
EXTENDABLE = ("train.iterations", "train.checkpoint_every", "train.eval_every")

#: The rule's ``nashlab verify`` report at the run's hyper-parameters (written by ``nashlab llm train``).
VERIFICATION_FILE = "verification.json"
RUN_FILES = RUN_OUTPUTS + (CONFIG_FILE, VERIFICATION_FILE)

_UNSET = object()


def differences(old, new, prefix: str = ""):
    """``(dotted key, old value, new value)`` of every leaf that differs, in the new config's key order."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(new) + [k for k in old if k not in new]:
            key = f"{prefix}.{k}" if prefix else str(k)
            yield from differences(old.get(k, _UNSET), new.get(k, _UNSET), key)
    elif old != new or isinstance(old, bool) != isinstance(new, bool):  # 1 == 1.0, but true is not 1
        yield prefix, old, new


def _show(v) -> str:
    return "(not set)" if v is _UNSET else json.dumps(v)


def compare_configs(old: dict, new: dict, *, where: str, done_iterations: int | None = None) -> None:
    """Refuse a resume whose config differs from the stored one but for :data:`EXTENDABLE` keys.

    Raises:
        ValueError: naming the first differing key, its stored and its new value.
    """
    for key, a, b in differences(old, new):
        if key not in EXTENDABLE:
            raise ValueError(f"{where} holds a run of another config: {key} was {_show(a)}, now {_show(b)}; resume "
                             f"with the same config (only {', '.join(EXTENDABLE)} may change), or start over with "
                             "--overwrite")
        if key == "train.iterations":
            if new.get("train", {}).get("lr_final") is not None:
                raise ValueError(f"{where}: train.iterations cannot change on resume ({_show(a)} → {_show(b)}) while "
                                 "train.lr_final is set: the learning-rate schedule spans the iterations")
            if done_iterations is not None and isinstance(b, int) and b < done_iterations:
                raise ValueError(f"{where}: train.iterations = {b} is below the {done_iterations} iterations already "
                                 "done")


def check_out(out: str) -> None:
    """``--out`` must be a folder nashlab can create and write in."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} is a file, not a folder")
    parent = os.path.dirname(os.path.abspath(out))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise ValueError(f"--out {out}: {parent} is a file, so no folder can be made under it")
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".nashlab-write-probe")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


def _clear(out: str) -> None:
    for name in RUN_FILES:
        p = os.path.join(out, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.remove(p)


def _write_config(out: str, config: dict, source: str) -> None:
    from nashlab import __version__

    tmp = os.path.join(out, CONFIG_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"source": source, "nashlab_version": __version__, "config": config}, f, indent=1)
    os.replace(tmp, os.path.join(out, CONFIG_FILE))


def _check_metrics(path: str) -> None:
    """``metrics.csv`` of a resumed run must be what a run wrote (it is rewritten from the checkpoint, but a foreign
    file there means the folder is not what it claims to be)."""
    if not os.path.exists(path):
        return
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise ValueError(f"{path} is not a metrics file written by nashlab ({' '.join(str(exc).split())})") from None
    if not header or header[0] != "iteration":
        raise ValueError(f"{path} is not a metrics file written by nashlab (its first column is not 'iteration')")


def prepare(out: str, config: dict, *, source: str, resume: bool, overwrite: bool) -> bool:
    """Apply the folder's rules before a run starts.

    Args:
        out: the run folder.
        config: the run's resolved config (JSON values).
        source: the config file's path (recorded).
        resume: ``--resume``; overwrite: ``--overwrite``.

    Returns:
        ``True`` when the trainer should resume from ``out/checkpoint``, ``False`` for a run from iteration 0.

    Raises:
        ValueError: with one line, whenever the folder would be overwritten or a run continued with another config.
    """
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite deletes it: give one of them")
    check_out(out)
    cfg_path = os.path.join(out, CONFIG_FILE)
    present = [f for f in RUN_FILES if os.path.lexists(os.path.join(out, f))]
    if overwrite:
        _clear(out)
    elif not resume:
        if present:
            raise ValueError(f"{out} already holds a run ({present[0]}); add --resume to continue it, --overwrite to "
                             "replace it, or choose another --out")
    else:
        if not os.path.exists(cfg_path):
            if present:
                raise ValueError(f"{out} holds no {CONFIG_FILE} (a run of an older nashlab, or not a run folder); "
                                 "start over with --overwrite")
            raise ValueError(f"--resume: {out} holds no run to resume; leave out --resume to start one")
        stored = read_json(cfg_path)
        if not (isinstance(stored, dict) and isinstance(stored.get("config"), dict)):
            raise ValueError(f"{cfg_path} is not a run config written by nashlab")
        ckpt = os.path.join(out, "checkpoint")
        recover(ckpt)
        done = None
        if os.path.isdir(ckpt):  # read before config.json changes: a shortened run is refused with it untouched
            state = read_json(os.path.join(ckpt, "state.json"))
            done = state.get("iteration") if isinstance(state, dict) else None
        compare_configs(stored["config"], config, where=cfg_path,
                        done_iterations=done if isinstance(done, int) else None)
        if os.path.isdir(ckpt):
            _check_metrics(os.path.join(out, "metrics.csv"))
            _write_config(out, config, source)
            return True
        _clear(out)  # killed before its first checkpoint: nothing to continue, start again
    _write_config(out, config, source)
    return False
