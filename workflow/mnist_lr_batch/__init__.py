"""mnist-lr-batch: the Python code behind the Snakemake workflow.

Modules here import nothing heavy at package import time: the custom network's
environment holds only NumPy, and `grid` (imported by the Snakefile) only the
standard library.
"""
