"""Talking-Head Studio: animate a still portrait from the motion of another face."""
import os

# numpy's OpenBLAS keeps a worker thread per extra core that spins after each call it
# spreads out; ours are 3x3 and 478x2 products between our own frame threads, which
# already fill the cores. Left on, that one spinning thread took ~1.9 CPU-s of a
# 4.8 s render (512 px, --camera steady: per-frame 3x3 inverses). Set before numpy
# loads; a value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
TOOL_NAME = "Talking-Head Studio"
