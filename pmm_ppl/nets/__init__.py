"""pmm_ppl.nets (import from the submodules)."""
