"""Which extra of ``pip install 'nashlab[EXTRA]'`` provides an optional package, and the one line that says so.

The core install (numpy, scipy, torch, matplotlib, tqdm, threadpoolctl) imports ``nashlab.games``, ``nashlab.solvers``,
``nashlab.experiments``, ``nashlab.llm_bridge`` and ``nashlab.paper_figs`` and runs every CLI verb but ``nashlab llm``;
the packages below are imported lazily, by the feature that needs them. When one is missing, the CLI turns the
``ImportError`` into :func:`missing_extra`'s line (exit 2) instead of a traceback. pyproject.toml declares the extras;
tests/test_imports.py checks both against each other with the packages blocked.
"""

from __future__ import annotations

#: Top-level module name → the extra that installs it.
EXTRAS: dict[str, str] = {
    "transformers": "llm",
    "accelerate": "llm",
    "safetensors": "llm",
    "tensorboard": "llm",
    "tokenizers": "llm",
    "huggingface_hub": "llm",
    "pyspiel": "openspiel",
    "open_spiel": "openspiel",
    "ray": "ray",
    "gguf": "smollm2",
    "trl": "bench",
}


def missing_extra(exc: ImportError) -> str | None:
    """``"needs NAME (not installed): pip install 'nashlab[EXTRA]'"`` when ``exc`` is the import of an optional
    package (``exc.name``'s top-level module is in :data:`EXTRAS`), else ``None`` (a missing core module is a
    packaging bug and keeps its traceback).

    >>> missing_extra(ModuleNotFoundError("No module named 'transformers.cache_utils'", name="transformers.cache_utils"))
    "needs transformers (not installed): pip install 'nashlab[llm]'"
    >>> missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None
    True
    """
    root = (getattr(exc, "name", None) or "").split(".")[0]
    extra = EXTRAS.get(root)
    return None if extra is None else f"needs {root} (not installed): pip install 'nashlab[{extra}]'"
