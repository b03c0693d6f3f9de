"""Ready-to-train model definitions, one file each (``pmm train NAME`` loads ``NAME.py``).

The wheel ships this folder as the package ``pmm_ppl.models`` (see ``setup.py``), so the models
are found after a plain ``pip install``, not only in a source checkout.
"""
