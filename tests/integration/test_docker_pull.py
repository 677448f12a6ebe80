"""A missing image is pulled, with progress visible through pytest's output capture.

No registry can be reached from CI, so the test serves an image itself: a minimal Docker
registry (the read-only part of the distribution API) on 127.0.0.1, which the engine trusts
over plain HTTP as it does every loopback registry. The image's only layer is served slowly so
that the pull lasts long enough to report progress on the way.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytestmark = pytest.mark.docker

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
LAYER_BYTES = 3_000_000
SERVE_SECONDS = 4.5  # the layer trickles out over this long: two or more progress lines


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _image() -> tuple[bytes, dict[str, bytes]]:
    """(manifest, blobs by digest) of an image with one incompressible file and no server."""
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w") as tar:
        payload = os.urandom(LAYER_BYTES)
        info = tarfile.TarInfo("payload.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer_tar = tar_buf.getvalue()
    layer = gzip.compress(layer_tar, compresslevel=1)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": _digest(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": _digest(layer),
                }
            ],
        }
    ).encode()
    return manifest, {_digest(config): config, _digest(layer): layer}


@pytest.fixture
def registry(docker_client: Any) -> Iterator[str]:
    """A loopback registry serving `<host:port>/pytest-triton/pulled:1`; yields that reference."""
    manifest, blobs = _image()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            if self.path == "/v2/":
                self._reply(200, b"{}", "application/json", body)
            elif m := re.fullmatch(r"/v2/pytest-triton/pulled/manifests/(1|sha256:\w+)", self.path):
                if m.group(1) not in ("1", _digest(manifest)):
                    self._reply(404, b"{}", "application/json", body)
                    return
                self._reply(200, manifest, MANIFEST_TYPE, body, digest=_digest(manifest))
            elif (
                m := re.fullmatch(r"/v2/pytest-triton/pulled/blobs/(sha256:\w+)", self.path)
            ) and (m.group(1) in blobs):
                data = blobs[m.group(1)]
                self._reply(200, data, "application/octet-stream", body, slow=len(data) > 10_000)
            else:
                self._reply(404, b"{}", "application/json", body)

        def _reply(
            self,
            code: int,
            data: bytes,
            ctype: str,
            body: bool,
            digest: str = "",
            slow: bool = False,
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            if not body:
                return
            if not slow:
                self.wfile.write(data)
                return
            chunks = 30
            step = -(-len(data) // chunks)
            for i in range(0, len(data), step):
                self.wfile.write(data[i : i + step])
                self.wfile.flush()
                time.sleep(SERVE_SECONDS / chunks)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    image = f"127.0.0.1:{server.server_address[1]}/pytest-triton/pulled:1"
    try:
        yield image
    finally:
        server.shutdown()
        server.server_close()
        import docker

        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(image, force=True)


def test_missing_image_is_pulled_with_live_progress(
    pytester: pytest.Pytester, registry: str, docker_client: Any, example_repository: Any
) -> None:
    import docker

    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(registry)
    pytester.makepyfile("def test_uses_server(triton_server):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--triton-image={registry}",
        f"--triton-model-repository={example_repository}",
    )
    out = result.stdout.str()
    # Progress is written while pytest captures the fixture's output: it must still show.
    lines = [line for line in result.outlines if line.startswith("pytest-triton: ")]
    assert lines[0] == f"pytest-triton: image {registry} not found locally; pulling it"
    progress = [line for line in lines if "layer(s) done" in line]
    assert progress, out
    assert re.search(r"MB downloading$", progress[0])
    assert f"pytest-triton: pulled {registry}" in lines
    # The pulled image is really there, and it is not a Triton image: a clear error follows.
    docker_client.images.get(registry)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*ServerNotFoundError: image {registry} has no /opt/tritonserver*"]
    )
