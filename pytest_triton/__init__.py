"""pytest-triton: make Triton Inference Server performance a pytest CI gate."""

__version__ = "0.1.0"
