"""Pure NumPy fully connected networks: layers, training and babysitting diagnostics.

Importing this package is cheap: submodules are imported explicitly
(``worker.nn.config`` uses only the standard library; the rest need NumPy).
"""
