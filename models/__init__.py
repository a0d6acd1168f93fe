"""Shared model package of rnn-forecast: data, networks, training, registry.

Shape letters shared by the docstrings of the package. Other letters, such
as W for the forecast origins of ``models.evaluation`` and N for the values
of a series, are local to the docstrings that use them.

- B: batch size (number of windows)
- T: time steps of a sequence (the lookback of a window, or the
  ``seq_len`` of a gradient diagnostic)
- F: input features per time step
- H: hidden size of a recurrent layer
- L: number of stacked recurrent layers
- K: forecast horizon (steps predicted at once)
"""

__version__ = "0.1.0"
