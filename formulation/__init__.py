"""Formulation: tier patterns (the MILP's columns), the blocks of the design
space with their lower bounds, and the MILP itself (milp.py, the only module
here that loads PuLP)."""
