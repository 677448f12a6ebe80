"""dynamic_batch: one batched matrix product per execute() call over all requests together.

Each call pays a fixed setup cost (a 128x128 weight refresh), so batching requests amortises it.
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


class TritonPythonModel:
    def initialize(self, args):
        self.rng = np.random.default_rng(0)

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy() for r in requests]
        sizes = [x.shape[0] for x in inputs]
        batch = np.concatenate(inputs, axis=0).astype(np.float32)
        # The fixed per-call cost: a fresh orthogonal-ish weight matrix every execution.
        w = np.linalg.qr(self.rng.standard_normal((128, 128)))[0].astype(np.float32)
        out = np.tanh(batch @ w)
        if EXTRA_S:
            time.sleep(EXTRA_S)
        responses = []
        start = 0
        for n in sizes:
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", out[start : start + n])]))
            start += n
        return responses
