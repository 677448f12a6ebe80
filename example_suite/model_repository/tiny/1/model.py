"""tiny: OUTPUT0 = INPUT0 + 1. Almost no compute, so latency is Triton's own overhead."""

import os
import time

import triton_python_backend_utils as pb_utils

# Benchmarks of pytest-triton's regression gate add latency on purpose (see benchmarks/).
# EXAMPLE_EXTRA_MS_TINY overrides EXAMPLE_EXTRA_MS for this model alone: the baseline
# benchmark slows each model by a share of its own latency.
_EXTRA_MS = os.environ.get("EXAMPLE_EXTRA_MS_TINY", os.environ.get("EXAMPLE_EXTRA_MS", "0"))
EXTRA_S = float(_EXTRA_MS) / 1000.0


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            if EXTRA_S:
                time.sleep(EXTRA_S)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", x + 1.0)]))
        return responses
