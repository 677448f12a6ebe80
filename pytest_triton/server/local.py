"""Launch a tritonserver binary: by default the one shipped in the nvidia-pytriton wheel
(set up as bundled.py says). The child is bound to our lifetime with PR_SET_PDEATHSIG, and its
python stubs and shared-memory regions by a watchdog (local_watchdog.py), so a SIGKILLed pytest
leaves nothing of it behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from pytest_triton.errors import ConfigError, ServerDiedError, ServerNotFoundError
from pytest_triton.filehash import sha256_file
from pytest_triton.process import die_with_parent
from pytest_triton.server import watchdog
from pytest_triton.server.args import normalize_flag, server_argv
from pytest_triton.server.base import (
    Endpoints,
    LogFollower,
    ServerContext,
    ServerIdentity,
    read_log_tail,
)
from pytest_triton.server.bundled import backend_flags, bundled_env, bundled_server_root
from pytest_triton.server.local_watchdog import end_server, spawn_watchdog
from pytest_triton.server.owner import Owner
from pytest_triton.server.ports import ensure_free, free_ports
from pytest_triton.server.readiness import wait_until_ready
from pytest_triton.server.shm_regions import (
    PREFIX_OPTION,
    reap_dead_owners_regions,
    region_prefix,
)
from pytest_triton.spec import ServerSpec

STOP_TIMEOUT_S = 30.0


# Starts on freshly picked ports when another process took one before Triton bound it.
PORT_ATTEMPTS = 3

NOT_FOUND_HELP = (
    "no tritonserver found: install the bundled CPU/GPU server with "
    "`pip install 'pytest-triton[server]'` (the nvidia-pytriton wheel), point "
    "--triton-server-path at a tritonserver binary, run in a container with --triton-image, "
    "or use a running server with --triton-url"
)


class LocalServer(ServerContext):
    """A tritonserver child process on free 127.0.0.1 ports, explicit model control."""

    def __init__(
        self,
        spec: ServerSpec,
        workdir: Path,
        fixed_ports: tuple[int, int, int] | None = None,
    ) -> None:
        if spec.model_repository is None:
            raise ConfigError("local mode needs a model repository: set --triton-model-repository")
        if not spec.model_repository.is_dir():
            raise ConfigError(
                f"model repository {spec.model_repository} does not exist or is not a directory; "
                "fix --triton-model-repository (or the triton_model_repository ini value)"
            )
        self._spec = spec
        self._workdir = workdir
        self._fixed_ports = fixed_ports
        self._binary, self._bundled_root = self._find_binary(spec.server_path)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_path = (spec.log_dir or workdir) / "tritonserver.log"
        tag = uuid.uuid4().hex[:12]
        self._server_id = f"pytest-triton-{tag}"
        self._owner = Owner.current()
        self._shm_prefix = region_prefix(self._owner, tag)
        self._watchdog: subprocess.Popen[bytes] | None = None
        _refuse_own_region_prefix(spec.flags)
        self._endpoints: Endpoints | None = None
        self._version = ""
        self._exit_code: int | None = None

    # -- Server protocol -------------------------------------------------------------------
    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            raise RuntimeError("server not started")
        return self._endpoints

    @property
    def managed(self) -> bool:
        return True

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_reason(self) -> str:
        code = self._proc.poll() if self._proc is not None else self._exit_code
        return describe_exit(code)

    def log_tail(self, lines: int = 40) -> str:
        return read_log_tail(self._log_path, lines)

    def identity(self) -> ServerIdentity:
        return ServerIdentity(
            kind="local",
            version=self._version,
            source=str(self._binary),
            digest=sha256_file(self._binary),
        )

    def start(self) -> None:
        reap_dead_owners_regions()
        if self._fixed_ports:
            for port in self._fixed_ports:
                ensure_free(port)
            self._start(*self._fixed_ports)
            return
        # Ports are picked free, then bound by Triton a moment later: another process can take
        # one in between (seen with other Triton sessions starting on the same machine). Triton
        # then exits saying so, and new ports are picked.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            log = LogFollower(self._log_path)
            try:
                self._start(*free_ports(3))
                return
            except ServerDiedError:
                taken = any("already in use" in line for line in log.new_lines())
                if attempt == PORT_ATTEMPTS or not taken:
                    raise

    def _start(self, http: int, grpc: int, metrics: int) -> None:
        argv = server_argv(
            str(self._binary),
            self._spec.model_repository or "",
            http,
            grpc,
            metrics,
            {**self._backend_flags(), **dict(self._spec.flags)},
            server_id=self._server_id,
        )
        # A flag of its own, beside any backend-config of the user's: tritonserver takes many.
        argv.append(f"--backend-config=python,{PREFIX_OPTION}={self._shm_prefix}")
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self._log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                argv,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._child_env(),
                # Own process group: a Ctrl-C in the terminal reaches pytest, which then stops
                # the server in order, instead of both dying at once mid-measurement.
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except OSError as exc:  # e.g. ENOEXEC: executable bit, but not a program
            self.stop()
            raise ServerNotFoundError(
                f"{self._binary} cannot be run: {exc.strerror or exc}; " + NOT_FOUND_HELP
            ) from None
        # Before any model loads, so no stub exists that the watchdog would not cover.
        self._watchdog = spawn_watchdog(
            self._owner,
            self._proc.pid,
            self._shm_prefix,
            self._log_path.with_name("local-watchdog.log"),
        )
        self._endpoints = Endpoints(
            grpc=f"127.0.0.1:{grpc}", http=f"127.0.0.1:{http}", metrics=f"127.0.0.1:{metrics}"
        )
        try:
            probe = wait_until_ready(
                self._endpoints.http,
                timeout_s=self._spec.startup_timeout_s,
                is_alive=self.is_alive,
                log_tail=self.log_tail,
                expected_id=self._server_id,
            )
        except BaseException:
            self.stop()
            raise
        self._version = probe.version or ""

    def stop(self) -> None:
        """SIGINT (Triton drains and exits), then SIGKILL after a deadline. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None:
            self._exit_code = proc.returncode
            end_server(proc.pid, self._shm_prefix)
        guard, self._watchdog = self._watchdog, None
        if guard is not None:
            watchdog.stop(guard)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- setup of the wheel's server ---------------------------------------------------------
    @staticmethod
    def _find_binary(server_path: Path | None) -> tuple[Path, Path | None]:
        if server_path is not None:
            path = Path(server_path)
            if path.is_dir():
                path = path / "bin" / "tritonserver"
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise ServerNotFoundError(
                    f"--triton-server-path {server_path} is not an executable tritonserver; "
                    + NOT_FOUND_HELP
                )
            return path, None
        root = bundled_server_root()
        if root is None:
            raise ServerNotFoundError(NOT_FOUND_HELP)
        return root / "bin" / "tritonserver", root

    def _backend_flags(self) -> dict[str, str]:
        if self._bundled_root is None:
            return {}
        return backend_flags(self._bundled_root, self._workdir)

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self._bundled_root is not None:
            env = bundled_env(self._bundled_root, env)
        env.update(_as_str_mapping(self._spec.env))
        return env


def _refuse_own_region_prefix(flags: Mapping[str, object]) -> None:
    for name, value in flags.items():
        if normalize_flag(name) == "backend-config" and PREFIX_OPTION in str(value):
            raise ConfigError(
                f"--backend-config {value}: pytest-triton names the python backend's "
                f"shared-memory regions itself ({PREFIX_OPTION}), so that it can remove them "
                "after a killed server; drop that setting"
            )


def _as_str_mapping(values: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items()}


def describe_exit(code: int | None) -> str:
    """A process's exit status as a phrase (a negative status is the signal that killed it)."""
    if code is None:
        return "was stopped"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"
