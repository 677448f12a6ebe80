"""What each pytest-xdist worker gets: its server from a list of URLs, its share of the GPUs."""

from __future__ import annotations

import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.plugin.xdist_split import pick_url, split_gpus, worker_gpus


def test_each_worker_takes_its_own_server_from_the_list() -> None:
    urls = "gpu-a:8001, gpu-b:8001"
    assert [pick_url(urls, (i, 4)) for i in range(4)] == [
        "gpu-a:8001", "gpu-b:8001", "gpu-a:8001", "gpu-b:8001"
    ]  # fmt: skip
    assert pick_url(urls, (0, 1)) == "gpu-a:8001"  # outside xdist: the first
    assert pick_url(None, (1, 2)) is None
    with pytest.raises(ConfigError, match="names no server"):
        pick_url(" , ", (0, 1))


def test_gpus_are_split_between_workers_and_shared_only_when_they_must_be() -> None:
    assert [split_gpus(4, (i, 2)) for i in range(2)] == [[0, 1], [2, 3]]
    assert [split_gpus(8, (i, 4)) for i in range(4)] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert [split_gpus(2, (i, 4)) for i in range(4)] == [[0], [1], [0], [1]]
    assert split_gpus(3, (0, 1)) == [0, 1, 2]


def test_per_worker_follows_the_visible_devices_by_their_ids() -> None:
    visible = lambda: ["2", "3", "6", "7"]  # noqa: E731  (CUDA_VISIBLE_DEVICES=2,3,6,7)
    assert worker_gpus("per-worker", (1, 2), visible) == "6,7"
    assert worker_gpus("all", (1, 2), visible) == "all"
    with pytest.raises(ConfigError, match="shows no GPU to split"):
        worker_gpus("per-worker", (0, 2), lambda: [])
