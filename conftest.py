# Every test run, notebooks included, uses fast mode unless told otherwise: nbval's kernels
# inherit this environment, so each notebook trains 1 epoch on 512 images instead of 15 on 60,000.
import os

os.environ.setdefault("MNISTLIB_FAST", "1")
