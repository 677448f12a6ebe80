import pytest

from pytest_triton.errors import ConfigError
from pytest_triton.server.args import extra_flags_argv, parse_flag_pairs, server_argv


def test_argv_is_a_list_with_explicit_model_control_on_loopback():
    argv = server_argv(
        "/bin/tritonserver", "/repo", 1001, 1002, 1003, {"log_verbose": 1}, server_id="ours"
    )
    assert argv[0] == "/bin/tritonserver"
    assert "--model-control-mode=explicit" in argv
    assert "--http-address=127.0.0.1" in argv and "--grpc-address=127.0.0.1" in argv
    assert "--http-port=1001" in argv and "--grpc-port=1002" in argv
    assert "--metrics-port=1003" in argv
    assert argv[-1] == "--log-verbose=1" and "--id=ours" in argv


def test_model_analyzer_spelling_and_booleans_are_accepted():
    assert extra_flags_argv({"exit_timeout_secs": 120, "strict-readiness": True}) == [
        "--exit-timeout-secs=120",
        "--strict-readiness=true",
    ]


def test_values_are_never_shell_interpreted():
    assert extra_flags_argv({"log-file": "a b; rm -rf /"}) == ["--log-file=a b; rm -rf /"]


@pytest.mark.parametrize(
    "flag", ["model-control-mode", "model_repository", "http-port", "id", "allow_grpc"]
)
def test_flags_the_launcher_owns_are_refused_with_the_reason(flag):
    with pytest.raises(ConfigError, match="set by pytest-triton itself"):
        extra_flags_argv({flag: "x"})
    # also where the option is read, before anything starts: `id=foo` once made our own
    # server look stale ("another Triton server is answering")
    with pytest.raises(ConfigError, match="cannot be given in --triton-server-flags: .+"):
        parse_flag_pairs(f"{flag}=x")


def test_bad_flag_names_are_refused():
    with pytest.raises(ConfigError, match="invalid tritonserver flag name"):
        extra_flags_argv({"log verbose": 1})


def test_flag_pairs_from_option_text():
    assert parse_flag_pairs("log-verbose=1, exit_timeout_secs=30") == {
        "log-verbose": "1",
        "exit-timeout-secs": "30",
    }
    with pytest.raises(ConfigError, match="name=value"):
        parse_flag_pairs("log-verbose")
