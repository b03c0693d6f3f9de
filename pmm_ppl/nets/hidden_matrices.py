"""The hidden weight matrices of a network: what a matrix optimiser (Muon) orthogonalises.

A block class names its hidden layers in the class attribute ``HIDDEN_MATRICES``: the attributes holding a
``nnx.Linear`` or ``nnx.Conv`` inside the block, between hidden features (input axes first, the output axis
last, flax's layout: ``(in, out)`` or ``(k, in, out)``).  The layers that read the data or the
time, and the head that writes the output, are left out: an optimiser that treats a weight as an operator
between hidden spaces has no reason to do so for an embedding or a read-out (the Muon recipe, Jordan et al.
2024).  Each block declares its own layers, so a new net opts in where it defines its blocks.
"""

from __future__ import annotations

from flax import nnx


def path_strings(path: tuple) -> tuple[str, ...]:
    """A pytree key path (``jax.tree_util`` keys, or the plain keys of ``nnx.iter_graph``) as a tuple of strings:
    the one spelling under which a parameter of ``split_net``'s dict and a layer of the module graph compare."""
    return tuple(str(getattr(p, "key", getattr(p, "idx", p))) for p in path)


def hidden_matrix_paths(net: nnx.Module) -> frozenset[tuple[str, ...]]:
    """The paths (as tuples of strings, e.g. ``("inner", "blocks", "3", "conv", "kernel")``) of the ``kernel``
    of every layer that a submodule of ``net`` names in its class's ``HIDDEN_MATRICES`` (a name absent on the
    instance, e.g. an optional MLP, is skipped).  Empty when no submodule declares any."""
    out = set()
    for path, node in nnx.iter_graph(net):
        for name in getattr(type(node), "HIDDEN_MATRICES", ()):
            layer = getattr(node, name, None)
            if isinstance(layer, nnx.Module) and isinstance(getattr(layer, "kernel", None), nnx.Param):
                out.add(path_strings(path) + (name, "kernel"))
    return frozenset(out)


__all__ = ["hidden_matrix_paths", "path_strings"]
