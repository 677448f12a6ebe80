"""What is read beside the load: Triton's statistics and Prometheus metrics per window
(observer.py, metrics.py), the GPU through NVML (nvml.py), and the CPU other processes took
(machine_load.py). A new server or GPU metric is read here and summarised per step."""
