"""pmm_ppl.process (import from the submodules)."""
