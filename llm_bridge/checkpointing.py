"""The trainer's side of checkpoints (step 6 of :mod:`nashlab.llm_bridge.trainer`): what state it saves and restores,
and how a run starts in its folder. The file format (safetensors + JSON, no pickle), atomic replacement and
validation are :mod:`nashlab.llm_bridge.checkpoint`'s.

Saved: the policy's and π_ref's weights, the history iterates, the optimizer state, the RNG states, and
``state.json`` (iteration, metrics so far, config, hyper-parameters). Resuming gives the same numbers as an
uninterrupted run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

#: What a run writes in ``out_dir``; a fresh run refuses a folder holding any of them (never mixes two runs' files).
RUN_OUTPUTS = ("checkpoint", "checkpoint.tmp", "checkpoint.old", "metrics.csv", "tb")


class CheckpointMixin:
    """The trainer's checkpoint methods (mixed into :class:`~nashlab.llm_bridge.trainer.OnlineTrainer`)."""

    def _start(self, resume: bool) -> None:
        """Resume from ``out_dir/checkpoint`` (and rewrite ``metrics.csv`` to its iterations), or refuse a fresh run
        in a folder that already holds one."""
        if resume:
            from .checkpoint import recover

            ckpt = os.path.join(self.out_dir, "checkpoint") if self.out_dir else None
            if ckpt and self.accelerator.is_main_process:
                recover(ckpt)
            self.accelerator.wait_for_everyone()
            if not ckpt or not os.path.isdir(ckpt):
                raise FileNotFoundError(f"no checkpoint to resume in {self.out_dir!r}/checkpoint")
            self.load_checkpoint(ckpt)
            self._rewrite_metrics()
        elif self.out_dir:
            if any(os.path.exists(os.path.join(self.out_dir, f)) for f in RUN_OUTPUTS):
                raise ValueError(f"{self.out_dir} already holds a run (checkpoint or metrics); resume it, or clear it "
                                 "first (nashlab llm train --overwrite)")
            self.accelerator.wait_for_everyone()  # every process looked before the main one writes metrics.csv

    def _write_checkpoint_files(self, tmp: str, path: str) -> None:
        """Every file of a checkpoint into the temporary folder ``tmp`` (``path``: the current checkpoint, whose
        π_ref file is linked rather than rewritten)."""
        from safetensors.torch import save_file

        from . import checkpoint as ck

        cpu = lambda sd: {k: v.detach().to("cpu").contiguous().clone() for k, v in sd.items()}  # noqa: E731
        save_file(cpu(self.unwrapped.state_dict()), os.path.join(tmp, "model.safetensors"))
        old_ref = os.path.join(path, "ref.safetensors")
        try:  # π_ref never changes: link the previous checkpoint's file instead of rewriting it
            os.link(old_ref, os.path.join(tmp, "ref.safetensors"))
        except OSError:  # first checkpoint, or a filesystem without hard links
            save_file(cpu(self.ref_model.state_dict()), os.path.join(tmp, "ref.safetensors"))
        for h, st in enumerate(self.history_states):
            save_file(cpu(st), os.path.join(tmp, f"history_{h}.safetensors"))
        ck.save_optimizer(self.optimizer.state_dict(), tmp)
        with open(os.path.join(tmp, "rng.json"), "w", encoding="utf-8") as f:
            json.dump(ck.rng_state(), f)
        state = {"format": ck.FORMAT, "iteration": self.iteration, "history": self.history,
                 "config": _jsonable(asdict(self.config)), "hparams": _jsonable(self.hparams),
                 "num_history_states": len(self.history_states)}
        with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1)

    def save_checkpoint(self, path: str) -> None:
        """Write the checkpoint atomically (a temporary folder renamed over the old one; SIGINT and SIGTERM wait until
        the renames are done, and :func:`~nashlab.llm_bridge.checkpoint.recover` finishes them after a SIGKILL). A
        SIGINT or SIGTERM while the files are written removes the temporary folder: no half-written save is left."""
        from . import checkpoint as ck

        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            self.accelerator.wait_for_everyone()
            return
        import shutil

        tmp = path + ".tmp"
        if os.path.isdir(tmp):  # left by a run killed while saving
            shutil.rmtree(tmp)
        os.makedirs(tmp)
        try:
            self._write_checkpoint_files(tmp, path)
        except BaseException:  # Ctrl-C / SIGTERM while writing: leave no half-written save behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        with ck.signals_deferred():
            if os.path.isdir(path):
                old = path + ".old"
                if os.path.isdir(old):
                    shutil.rmtree(old)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old)
            else:
                os.replace(tmp, path)
        self.accelerator.wait_for_everyone()

    def load_checkpoint(self, path: str) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint`. Nothing in it is unpickled; a file that is not
        what its name says, weights of another model shape, or a different config (but for
        :data:`~nashlab.llm_bridge.run_folder.EXTENDABLE` keys) are refused with one line naming the file or key."""
        from . import checkpoint as ck
        from .run_folder import compare_configs

        ck.refuse_old_format(path)
        spath = os.path.join(path, "state.json")
        state = ck.read_json(spath)
        try:
            if not isinstance(state, dict) or state.get("format") != ck.FORMAT:
                raise ValueError(f"format {state.get('format') if isinstance(state, dict) else None!r}, "
                                 f"expected {ck.FORMAT}")
            iteration, history, stored = int(state["iteration"]), list(state["history"]), dict(state["config"])
            n_hist = int(state["num_history_states"])
            if len(history) != iteration + 1 or not all(isinstance(h, dict) for h in history):
                raise ValueError(f"{len(history)} metric rows for iteration {iteration}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{spath} is not a checkpoint state written by this nashlab ({exc})") from None
        compare_configs({"train": stored}, {"train": _jsonable(asdict(self.config))}, where=spath,
                        done_iterations=iteration)
        if n_hist != self.histories:
            raise ValueError(f"{spath}: {n_hist} history iterates stored, the {self.config.solver} loss keeps "
                             f"{self.histories}")
        dev = self.accelerator.device
        weights = {}
        for name, model in (("model", self.unwrapped), ("ref", self.ref_model)):
            f = os.path.join(path, f"{name}.safetensors")
            weights[name] = ck.read_tensors(f)
            ck.check_fits(weights[name], model, f)
        hist = []
        for h in range(n_hist):
            f = os.path.join(path, f"history_{h}.safetensors")
            hist.append(ck.read_tensors(f))
            ck.check_fits(hist[-1], self.ref_model, f)
        self.unwrapped.load_state_dict({k: v.to(dev) for k, v in weights["model"].items()})
        self.ref_model.load_state_dict({k: v.to(dev) for k, v in weights["ref"].items()})
        self.history_states = hist
        ck.load_optimizer(self.optimizer, path)
        ck.set_rng_state(os.path.join(path, "rng.json"))
        self.iteration = iteration
        self.history = history
        self._ref_pi = None


def _jsonable(x: Any):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return x
