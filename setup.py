"""Build hook for the one thing ``pyproject.toml`` cannot say: ship the top-level ``models/``
folder inside the package, as ``pmm_ppl.models``, next to the packages that setuptools finds.

Everything else (metadata, dependencies, the ``pmm`` script) is in ``pyproject.toml``.
``pmm_ppl.train.models.models_dir`` finds the folder through the import system, so it is
``<repo>/models`` in a source checkout or an editable install and ``site-packages/pmm_ppl/models``
in an installed wheel.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["pmm_ppl", "pmm_ppl.*"]) + ["pmm_ppl.models"],
    package_dir={"pmm_ppl.models": "models"},
)
