"""The pair registry: names, redefinition (a re-run notebook cell) and name clashes."""

import dataclasses

import pytest

from pmm_ppl import get_pair, list_pairs
from pmm_ppl.conjugate.normal_normal import NormalNormal
from pmm_ppl.conjugate.registry import _REGISTRY, register


def _define(tag):
    @register("test_registry_pair")
    @dataclasses.dataclass(frozen=True)
    class RegistryPair(NormalNormal):
        """A Normal-Normal under another name."""

    RegistryPair.tag = tag
    return RegistryPair


def test_redefinition_replaces_and_clash_raises():
    try:
        first = _define(1)
        second = _define(2)  # same module and qualified name: a redefinition, as when a cell is re-run
        assert first is not second and "test_registry_pair" in list_pairs()
        assert type(get_pair("test_registry_pair")).tag == 2
        with pytest.raises(ValueError, match="already registered by RegistryPair"):
            register("test_registry_pair")(type("OtherPair", (NormalNormal,), {}))
        with pytest.raises(KeyError, match="unknown conjugate pair 'no_such_pair'; registered: .*normal_normal"):
            get_pair("no_such_pair")
    finally:
        _REGISTRY.pop("test_registry_pair", None)
