"""Finding ready model definitions: files in the ``models/`` folder shipped with the package (or any path).

A model file defines ``def spec(**overrides) -> ModelSpec``.  ``pmm train digits_normal`` loads
``models/digits_normal.py``; ``pmm train path/to/my_model.py`` loads that file.

Everything that can go wrong with a model file or its overrides is a :class:`ModelFileError`
(a :class:`~pmm_ppl.conjugate.validation.PMMInputError`) whose message names the file and the
problem: no such model, a syntax error, no ``spec()``, an unknown override key (with the list of
valid keys), overrides that are not a JSON object.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import os
import re
from pathlib import Path

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.train.spec import ModelSpec, TrainConfig


class ModelFileError(PMMInputError):
    """A model name or file cannot be loaded, or its overrides are wrong; the message says why."""


class UnknownModelError(ModelFileError, FileNotFoundError):
    """No model of that name in ``models/`` and no such ``.py`` file (also a ``FileNotFoundError``)."""


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


def model_path(name_or_path: str) -> Path:
    """The file of a model name in ``models/`` or of a ``.py`` path (which must exist)."""
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = models_dir() / f"{name_or_path}.py"
    if not path.is_file():
        raise UnknownModelError(f"unknown model {name_or_path!r}: no file {path}; available: {', '.join(list_models())}")
    return path


def parse_overrides(text: str | None, name: str = "--set") -> dict:
    """The JSON object of ``--set`` as a dict (``{}`` for ``None``)."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{name}: not valid JSON ({err.msg} at character {err.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise ModelFileError(f'{name}: must be a JSON object such as \'{{"batch_size": 64}}\', got {type(value).__name__} {text!r}')
    return value


def model_keys(path: Path, _seen: frozenset = frozenset()) -> list[str]:
    """The override keys a model file reads itself (``overrides.pop("key", ...)``, also through
    ``load_spec("other_model", ...)``), then every :class:`TrainConfig` field: the valid ``--set`` keys."""
    keys: list[str] = []
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError):
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("pop", "get") and isinstance(func.value, ast.Name) \
                and func.value.id == "overrides":
            keys.append(node.args[0].value)
        elif isinstance(func, ast.Name) and func.id == "load_spec" and path not in _seen:
            try:
                keys += model_keys(model_path(node.args[0].value), _seen | {path})
            except ModelFileError:
                pass
    keys += [f.name for f in dataclasses.fields(TrainConfig)]
    return list(dict.fromkeys(keys))


def load_spec(name_or_path: str, **overrides) -> ModelSpec:
    """The :class:`ModelSpec` of a model name in ``models/`` or of a ``.py`` file path.

    Raises :class:`ModelFileError` for an unknown model, a file that does not import (syntax
    error, failing import), no ``spec()``, an unknown override key, or a ``spec()`` that fails;
    a bad *value* for a training setting is the :class:`PMMInputError` of :class:`TrainConfig`."""
    path = model_path(name_or_path)
    module_spec = importlib.util.spec_from_file_location(f"pmm_models_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ModelFileError(f"{path}: syntax error in the model file, line {err.lineno}: {err.msg}") from err
    except Exception as err:
        raise ModelFileError(f"{path}: the model file failed to import ({type(err).__name__}: {err})") from err
    if not callable(getattr(module, "spec", None)):
        raise ModelFileError(f"{path} defines no spec(**overrides) function")
    try:
        result = module.spec(**overrides)
    except PMMInputError:
        raise
    except TypeError as err:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        if unknown:
            raise ModelFileError(f"--set: unknown key {unknown.group(1)!r} for model {path.stem}; valid keys: "
                                 f"{', '.join(model_keys(path))}") from None
        raise ModelFileError(f"{path}: spec(**{overrides!r}) failed ({type(err).__name__}: {err})") from err
    except Exception as err:
        raise ModelFileError(f"{path}: spec(**{overrides!r}) failed ({type(err).__name__}: {err})") from err
    if not isinstance(result, ModelSpec):
        raise ModelFileError(f"{path}: spec() returned {type(result).__name__}, expected ModelSpec")
    return result
