"""Shared model package of rnn-forecast: data, networks, training, registry.

Shape letters used in every docstring of the package:

- B: batch size (number of windows)
- T: time steps in a window (the lookback)
- F: input features per time step
- H: hidden size of a recurrent layer
- L: number of stacked recurrent layers
- K: forecast horizon (steps predicted at once)
"""

__version__ = "0.1.0"
