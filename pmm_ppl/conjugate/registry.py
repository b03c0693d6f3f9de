"""Registry of conjugate pairs by name.

A pair module registers itself with ``@register("name")`` on its class; the list of
modules imported at start-up is ``PAIR_MODULES`` in ``pmm_ppl/conjugate/__init__.py``
(the one "registry line" to add for a new pair).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from pmm_ppl.conjugate.base import ConjugatePair

_REGISTRY: dict[str, type[ConjugatePair]] = {}
T = TypeVar("T", bound=type[ConjugatePair])


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make the pair available as ``get_pair(name)``.

    Registering a *redefinition* of the same class (same module and qualified name: a re-run notebook
    cell, ``importlib.reload``) replaces the old class; a different class under a taken name raises."""

    def deco(cls: T) -> T:
        old = _REGISTRY.get(name)
        redefinition = old is not None and (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__)
        if old is not None and old is not cls and not redefinition:
            raise ValueError(f"pair name {name!r} is already registered by {_REGISTRY[name].__name__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def get_pair(name: str, **hyper: Any) -> ConjugatePair:
    """Instantiate the pair registered as ``name`` with hyperparameters ``hyper`` (defaults otherwise)."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown conjugate pair {name!r}; registered: {', '.join(sorted(_REGISTRY))}") from None
    return cls(**hyper)


def pair_class(name: str) -> type[ConjugatePair]:
    if name not in _REGISTRY:
        raise KeyError(f"unknown conjugate pair {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_pairs() -> list[str]:
    """Names of all registered pairs, sorted."""
    return sorted(_REGISTRY)
