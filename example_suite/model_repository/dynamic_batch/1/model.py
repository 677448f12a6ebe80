"""dynamic_batch: one execution serves all batched requests together.

Each execution pays a fixed cost (elementwise work on a 256x256 scratch array) whatever its
batch size, so the dynamic batcher raises throughput under load. Only elementwise numpy is
used: BLAS routines start worker threads whose spinning on a busy 2-core box made latency
erratic (seconds-long stalls), which is not what this example is about.
"""

import os
import time

import numpy as np
import triton_python_backend_utils as pb_utils

# EXAMPLE_EXTRA_MS_DYNAMIC_BATCH overrides EXAMPLE_EXTRA_MS for this model alone: the baseline
# benchmark slows each model by a share of its own latency.
_EXTRA_MS = os.environ.get(
    "EXAMPLE_EXTRA_MS_DYNAMIC_BATCH", os.environ.get("EXAMPLE_EXTRA_MS", "0")
)
EXTRA_S = float(_EXTRA_MS) / 1000.0
FIXED_ROUNDS = 8


class TritonPythonModel:
    def initialize(self, args):
        self.scratch = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy() for r in requests]
        sizes = [x.shape[0] for x in inputs]
        batch = np.concatenate(inputs, axis=0).astype(np.float32)
        # The fixed per-execution cost, independent of the batch size.
        scratch = self.scratch
        for _ in range(FIXED_ROUNDS):
            scratch = np.tanh(scratch * 0.5 + 0.1)
        out = np.tanh(batch * 0.9 + float(scratch[0, 0]))
        if EXTRA_S:
            time.sleep(EXTRA_S)
        responses = []
        start = 0
        for n in sizes:
            tensor = pb_utils.Tensor("OUTPUT0", out[start : start + n])
            responses.append(pb_utils.InferenceResponse([tensor]))
            start += n
        return responses
