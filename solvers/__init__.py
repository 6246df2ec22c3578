"""Solvers: CBC via PuLP (default), exhaustive enumeration for small spaces,
the checks that explain infeasibility (diagnose.py), and the factory.

Nothing is imported here, so that ``specpim.solvers.diagnose`` (used by
``specpim validate``) does not load PuLP; import the submodules.
"""
