"""pmm_ppl.train (import from the submodules)."""
