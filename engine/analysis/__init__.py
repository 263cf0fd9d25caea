"""Analyses of stored runs (METHOD.md §2–6), each a function of stored checkpoints and masks.

- `points`: a run's named points (`imp:3:solution`, `imp:3:projected_prev`, ...) as weights
  and a mask.
- `hvp`, `hessian`, `volume`: the Hessian of the training loss on the unpruned coordinates
  (top-k spectrum, trace, density) and the basin log-volume proxy.
- `geometry`: distances, losses of projected points, linear interpolation and barriers.
- `landscape`: 2-D loss surfaces in filter-normalised directions.
- `registry`: every analysis as one registered object, one file each in `kinds/` (which wires
  the numerics above); `options`: the options requests share; `requests`: a request checked
  and filled; `units`: the cached pieces and their planners; `jobs`: the executor (plan,
  compute what is missing, store); `tables`: the stored results as tidy frames.
"""
