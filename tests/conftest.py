"""Test-wide settings.

One intra-op thread per process: the suite starts worker subprocesses beside itself on a
2-core machine, and oversubscribed BLAS threads slow small models down tenfold.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)
