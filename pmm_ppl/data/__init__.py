"""pmm_ppl.data (import from the submodules)."""
