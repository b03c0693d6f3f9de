"""Finding ready model definitions: files in the ``models/`` folder shipped with the package (or any path).

A model file defines ``def spec(**overrides) -> ModelSpec``.  ``pmm train digits_normal`` loads
``models/digits_normal.py``; ``pmm train path/to/my_model.py`` loads that file.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from pmm_ppl.train.spec import ModelSpec


def models_dir() -> Path:
    """The folder of ready model files: ``$PMM_MODELS_DIR`` if set, else the package ``pmm_ppl.models``.

    The wheel ships the repository's top-level ``models/`` folder as ``pmm_ppl.models`` (see
    ``setup.py``): in an installed wheel that is ``site-packages/pmm_ppl/models``; in an editable
    install the import system maps it to ``<repo>/models``. Without any install (the repository on
    ``sys.path``) it falls back to ``<repo>/models``.
    """
    env = os.environ.get("PMM_MODELS_DIR")
    if env:
        return Path(env)
    try:
        found = importlib.util.find_spec("pmm_ppl.models")
    except ImportError:
        found = None
    if found is not None and found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "models"


def list_models() -> list[str]:
    d = models_dir()
    return sorted(p.stem for p in d.glob("*.py") if not p.stem.startswith("_")) if d.exists() else []


def load_spec(name_or_path: str, **overrides) -> ModelSpec:
    """The :class:`ModelSpec` of a model name in ``models/`` or of a ``.py`` file path."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = models_dir() / f"{name_or_path}.py"
    if not path.exists():
        raise FileNotFoundError(f"unknown model {name_or_path!r}: no file {path}; available: {', '.join(list_models())}")
    module_spec = importlib.util.spec_from_file_location(f"pmm_models_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "spec"):
        raise AttributeError(f"{path} defines no spec(**overrides) function")
    result = module.spec(**overrides)
    if not isinstance(result, ModelSpec):
        raise TypeError(f"{path}: spec() returned {type(result).__name__}, expected ModelSpec")
    return result
