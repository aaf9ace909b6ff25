"""Pure numba kernels: (params, state arrays, block) -> outputs. numpy, numba and math only."""
