"""Checkpoint files of the online trainer, without pickle: tensors in safetensors, everything else in JSON.

A checkpoint folder (``OUT/checkpoint``) holds::

    model.safetensors, ref.safetensors, history_<h>.safetensors   weights (policy, π_ref, history iterates)
    optimizer.safetensors + optimizer.json                         optimizer state: its tensors, the rest
    rng.json                                                       python, numpy, torch (CPU, CUDA) RNG states
    state.json                                                     format, iteration, metrics so far, config

A checkpoint folder may come from anyone (a shared run, a downloaded artefact), so reading it never runs code: a
file that is not what its name says is refused with a ``ValueError`` naming it, and nothing is unpickled.
Checkpoints of older nashlab versions (``optimizer.pt`` / ``rng.pt``, pickles) are refused for that reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import threading

import numpy as np
import torch

#: ``state.json["format"]``; bumped whenever a file of the folder changes meaning.
FORMAT = 2

OLD_FORMAT_FILES = ("optimizer.pt", "rng.pt")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def refuse_old_format(path: str) -> None:
    """Refuse a checkpoint written before the pickle-free format (its ``.pt`` files are pickles; never opened)."""
    old = [f for f in OLD_FORMAT_FILES if os.path.exists(os.path.join(path, f))]
    if old:
        raise ValueError(f"checkpoint {path} was written by an older nashlab ({old[0]} is a pickle, which nashlab no "
                         "longer reads); start the run again with --overwrite")


def read_json(path: str):
    """A JSON file of a checkpoint or run folder; anything else is a ``ValueError`` naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{path} is missing (an incomplete or foreign folder)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a JSON file written by nashlab ({_one_line(exc)})") from None
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({_one_line(exc)})") from None


def read_tensors(path: str) -> dict[str, torch.Tensor]:
    """A safetensors file (the format holds only a JSON header and raw tensor bytes: nothing in it can run)."""
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise ValueError(f"{path} is missing (an incomplete or foreign folder)")
    try:
        return load_file(path)
    except Exception as exc:  # SafetensorError, OSError: a truncated, foreign or planted file
        raise ValueError(f"{path} is not a safetensors file ({_one_line(exc)})") from None


def check_fits(tensors: dict[str, torch.Tensor], model: torch.nn.Module, path: str) -> None:
    """Refuse weights that do not fit ``model`` with one line (the first differing key), before
    ``load_state_dict`` prints every mismatch."""
    own = model.state_dict()
    missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing:
        raise ValueError(f"{path} does not fit the model: no weight {missing[0]!r} (a different model config?)")
    if extra:
        raise ValueError(f"{path} does not fit the model: unknown weight {extra[0]!r} (a different model config?)")
    for k, v in own.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise ValueError(f"{path} does not fit the model: {k} has shape {tuple(tensors[k].shape)} in the "
                             f"checkpoint, {tuple(v.shape)} in the model (a different model config?)")


# ---------------------------------------------------------------------------------------------------- optimizer


def save_optimizer(state_dict: dict, folder: str) -> None:
    """``optimizer.safetensors`` (every tensor of ``state``, keyed ``state.<param>.<name>``) and ``optimizer.json``
    (the param groups and the non-tensor state entries, with a reference to each tensor key)."""
    from safetensors.torch import save_file

    tensors, state = {}, {}
    for pid, entry in state_dict["state"].items():
        out = {}
        for name, v in entry.items():
            if isinstance(v, torch.Tensor):
                key = f"state.{pid}.{name}"
                tensors[key] = v.detach().to("cpu").contiguous().clone()
                out[name] = {"tensor": key}
            else:
                out[name] = {"value": v}
        state[str(pid)] = out
    save_file(tensors, os.path.join(folder, "optimizer.safetensors"))
    with open(os.path.join(folder, "optimizer.json"), "w", encoding="utf-8") as f:
        json.dump({"state": state, "param_groups": state_dict["param_groups"]}, f)


def load_optimizer(optimizer, folder: str) -> None:
    """Restore what :func:`save_optimizer` wrote into ``optimizer`` (checked against its parameters' shapes)."""
    jpath, tpath = os.path.join(folder, "optimizer.json"), os.path.join(folder, "optimizer.safetensors")
    meta, tensors = read_json(jpath), read_tensors(tpath)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    try:
        groups = meta["param_groups"]
        ids = [i for g in groups for i in g["params"]]
        if len(groups) != len(optimizer.param_groups) or len(ids) != len(params):
            raise ValueError(f"{len(ids)} parameters in {len(groups)} group(s), the model has {len(params)} in "
                             f"{len(optimizer.param_groups)}")
        shapes = {pid: tuple(p.shape) for pid, p in zip(ids, params)}
        state = {}
        for pid, entry in meta["state"].items():
            pid = int(pid)
            if pid not in shapes:
                raise ValueError(f"state of unknown parameter {pid}")
            st = {}
            for name, ref in entry.items():
                if "tensor" in ref:
                    v = tensors[ref["tensor"]]
                    if v.dim() and tuple(v.shape) != shapes[pid]:
                        raise ValueError(f"{name} of parameter {pid} has shape {tuple(v.shape)}, the parameter "
                                         f"{shapes[pid]}")
                    st[name] = v
                else:
                    st[name] = ref["value"]
            state[pid] = st
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ValueError(f"{jpath} does not fit this optimizer ({_one_line(exc)})") from None


# ---------------------------------------------------------------------------------------------------------- RNG


def rng_state() -> dict:
    """The global RNG states (python ``random``, numpy's legacy generator, torch CPU and CUDA) as JSON values."""
    version, internal, gauss = random.getstate()
    alg, key, pos, has_gauss, cached = np.random.get_state()
    return {"python": {"version": version, "state": list(internal), "gauss_next": gauss},
            "numpy": {"algorithm": alg, "key": key.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
                      "cached_gaussian": float(cached)},
            "torch": torch.random.get_rng_state().tolist(),
            "cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else None}


def set_rng_state(path: str) -> None:
    """Restore the RNG states of ``rng.json`` (written from :func:`rng_state`)."""
    s = read_json(path)
    try:
        py, npy = s["python"], s["numpy"]
        py_state = (int(py["version"]), tuple(int(x) for x in py["state"]),
                    None if py["gauss_next"] is None else float(py["gauss_next"]))
        np_state = (str(npy["algorithm"]), np.asarray(npy["key"], dtype=np.uint32), int(npy["pos"]),
                    int(npy["has_gauss"]), float(npy["cached_gaussian"]))
        torch_state = torch.tensor(s["torch"], dtype=torch.uint8)
        cuda = s.get("cuda")
        # set nothing until everything parsed: a bad file leaves the process's RNGs as they were
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)
        if cuda is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([torch.tensor(c, dtype=torch.uint8) for c in cuda])
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, RuntimeError) as exc:
        raise ValueError(f"{path} is not an RNG state written by nashlab ({_one_line(exc)})") from None


# ------------------------------------------------------------------------------------------ atomic replacement


def recover(path: str) -> None:
    """Finish or undo a checkpoint replacement that a kill interrupted.

    A save writes ``path.tmp`` completely, then renames ``path`` → ``path.old`` and ``path.tmp`` → ``path``. Killed
    between the two renames, only ``.old`` and a complete ``.tmp`` exist: the ``.tmp`` is the newer checkpoint.
    Otherwise a ``.tmp`` is a partial write and an ``.old`` a leftover; both are removed.
    """
    tmp, old = path + ".tmp", path + ".old"
    if not os.path.isdir(path) and os.path.isdir(old) and os.path.isdir(tmp):
        os.replace(tmp, path)
    for leftover in (tmp, old):
        if os.path.isdir(leftover):
            shutil.rmtree(leftover)


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends (a checkpoint is never left half-replaced by Ctrl-C or a
    polite kill); the first one received is then delivered to the handler that was installed before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, lambda n, _frame: got.append(n))
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)
        if got:
            signal.raise_signal(got[0])
