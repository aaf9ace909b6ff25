"""Streaming signal processing: numba kernels (``kernels/``) and their stages."""
