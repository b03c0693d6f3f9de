"""pmm_ppl.verify (import from the submodules)."""
