"""The alert rules polyad ships (`*.yml`), installed as `polyad.alerts.shipped` (pyproject.toml).

No code: this file is here because an editable install (`pip install -e .`) imports a package
mapped from another folder only through its `__init__.py`, never as a namespace package.
"""
