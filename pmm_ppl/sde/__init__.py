"""pmm_ppl.sde (import from the submodules)."""
