"""numpy_compute: tanh(W @ x) repeated `layers` times; a few ms of CPU per request.

EXAMPLE_WORK_SCALE multiplies the layer count and EXAMPLE_EXTRA_MS adds a sleep, so the
regression-gate benchmark can make the model measurably slower without touching its config.
"""

import json
import os
import time

import numpy as np
import triton_python_backend_utils as pb_utils

# EXAMPLE_EXTRA_MS_NUMPY_COMPUTE overrides EXAMPLE_EXTRA_MS for this model alone: the baseline
# benchmark slows each model by a share of its own latency.
_EXTRA_MS = os.environ.get(
    "EXAMPLE_EXTRA_MS_NUMPY_COMPUTE", os.environ.get("EXAMPLE_EXTRA_MS", "0")
)
EXTRA_S = float(_EXTRA_MS) / 1000.0
SCALE = float(os.environ.get("EXAMPLE_WORK_SCALE", "1"))


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        layers = int(config["parameters"]["layers"]["string_value"])
        self.layers = max(1, round(layers * SCALE))
        rng = np.random.default_rng(0)
        # Scaled so activations neither vanish nor saturate: the work stays the same per call.
        self.weights = (rng.standard_normal((256, 256)) / 16.0).astype(np.float32)

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            h = x.astype(np.float32)
            for _ in range(self.layers):
                h = np.tanh(h @ self.weights)
            if EXTRA_S:
                time.sleep(EXTRA_S)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", h)]))
        return responses
