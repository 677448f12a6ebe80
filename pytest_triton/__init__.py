"""pytest-triton: make Triton Inference Server performance a pytest CI gate.

`Triton` is the type of the `triton` fixture, for annotating tests:

    from pytest_triton import Triton

    def test_tiny(triton: Triton) -> None:
        triton.measure(concurrency=[1, 4])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_triton.plugin.handle import Triton as Triton

__version__ = "0.1.0"
__all__ = ["Triton", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the plugin's modules import pytest, the core's do not.
    if name == "Triton":
        from pytest_triton.plugin.handle import Triton

        return Triton
    raise AttributeError(f"module 'pytest_triton' has no attribute {name!r}")
