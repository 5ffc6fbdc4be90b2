"""`grokvid config ...` through the real entry point: exit codes, stdout and stderr apart."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from grokvid.api import config, paths
from grokvid.cli.commands import config as config_cmd

FAKE_KEY = "xai-FAKE7q2ZsecretNEVERshowMe9k3x"
SECRET_PART = "FAKE7q2ZsecretNEVERshowMe"  # the part a mask must never show


def _app() -> typer.Typer:
    """grokvid's real app; while sibling command modules are still being written, a stand-in
    that mounts the same `config` sub-app the same way."""
    try:
        from grokvid.cli.main import app
    except ImportError:
        app = typer.Typer(name="grokvid", rich_markup_mode=None)

        @app.callback()
        def _root() -> None:
            pass

        app.add_typer(config_cmd.app, name="config")
    return app


APP = _app()


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(APP, ["config", *args], input=input, env=env)


def no_secret(result: Result) -> None:
    assert SECRET_PART not in result.stdout
    assert SECRET_PART not in result.stderr


def write_config(text: str) -> Path:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- set -------------------------------------------------------------------------------------


def test_set_then_get_round_trip() -> None:
    result = run("set", "duration", "10")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"Saved duration = 10 to {paths.config_file()}\n"

    result = run("get", "duration")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "10\n", "")


def test_set_api_key_from_piped_stdin() -> None:
    result = run("set", "xai.api_key", input=FAKE_KEY + "\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    path = paths.config_file()
    assert result.stderr == f"Saved xai.api_key to {path} (xai-****9k3x)\n"
    no_secret(result)
    assert f'api_key = "{FAKE_KEY}"' in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_set_api_key_on_a_tty_uses_a_hidden_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, dict[str, object]]] = []

    def fake_prompt(text: str, **kw: object) -> str:
        asked.append((text, kw))
        return FAKE_KEY

    monkeypatch.setattr(config_cmd, "_stdin_is_tty", lambda: True)
    monkeypatch.setattr(typer, "prompt", fake_prompt)
    result = run("set", "xai.api_key")
    assert result.exit_code == 0
    assert asked == [("xai.api_key", {"hide_input": True, "err": True})]
    assert result.stdout == ""
    no_secret(result)
    assert config.load_settings().require_api_key() == FAKE_KEY


def test_set_api_key_on_argv_warns_about_history() -> None:
    result = run("set", "xai.api_key", FAKE_KEY)
    assert result.exit_code == 0
    assert "visible in shell history and `ps`" in result.stderr
    assert "Saved xai.api_key" in result.stderr
    no_secret(result)
    assert config.load_settings().require_api_key() == FAKE_KEY


@pytest.mark.parametrize("piped", ["", "\n", "   \n"])
def test_set_api_key_empty_is_a_usage_error(piped: str) -> None:
    result = run("set", "xai.api_key", input=piped)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("grokvid: error: ")
    assert result.stderr.count("\n") == 1
    assert not paths.config_file().exists()


def test_set_api_key_empty_on_argv_is_a_usage_error() -> None:
    result = run("set", "xai.api_key", "")
    assert result.exit_code == 2
    assert "xai.api_key" in result.stderr
    assert "empty" in result.stderr


def test_set_non_secret_from_stdin() -> None:
    result = run("set", "model", input="grok-imagine-video-1.5\n")
    assert result.exit_code == 0
    assert run("get", "model").stdout == "grok-imagine-video-1.5\n"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("duration", "99", "use a whole number of seconds from 1 to 15"),
        ("resolution", "4k", "use one of 480p, 720p, 1080p"),
        ("aspect_ratio", "5:4", "use one of 1:1, 16:9"),
        ("generate_audio", "perhaps", "true/false"),
        ("xai.base_url", "http://example.com", "Refusing plain http:// for a remote host"),
    ],
)
def test_set_bad_value_exits_2_with_one_line(key: str, value: str, reason: str) -> None:
    result = run("set", key, value)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"grokvid: error: Cannot set {key} to {value!r} in ")
    assert str(paths.config_file()) in lines[0]
    assert reason in lines[0]


@pytest.mark.parametrize("command", [["set", "foo", "1"], ["get", "foo"], ["unset", "foo"]])
def test_unknown_key_exits_2(command: list[str]) -> None:
    result = run(*command)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("grokvid: error: Unknown config key 'foo': use one of ")
    assert "xai.api_key" in result.stderr


def test_set_keeps_comments() -> None:
    path = write_config('# mine\nmodel = "x"  # keep me\n\n[xai]\n# key below\n')
    assert run("set", "xai.api_key", input=FAKE_KEY).exit_code == 0
    assert run("set", "model", "y").exit_code == 0
    text = path.read_text()
    assert text.startswith("# mine\n")
    assert 'model = "y"  # keep me' in text
    assert "# key below\n" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_set_notes_an_env_var_that_overrides() -> None:
    result = run("set", "model", "a", env={"GROKVID_MODEL": "b"})
    assert result.exit_code == 0
    assert "GROKVID_MODEL is set" in result.stderr


# --- get -------------------------------------------------------------------------------------


def test_get_masks_the_key_unless_asked() -> None:
    run("set", "xai.api_key", input=FAKE_KEY)
    result = run("get", "xai.api_key")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "xai-****9k3x\n", "")

    result = run("get", "xai.api_key", "--show-secrets")
    assert (result.exit_code, result.stdout) == (0, FAKE_KEY + "\n")


def test_get_unset_value_exits_1_silently() -> None:
    for key in ("xai.api_key", "output_dir"):
        result = run("get", key)
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", "")


def test_get_resolves_env_and_defaults_and_shows_source() -> None:
    result = run("get", "model", "--show-source", env={"GROKVID_MODEL": "from-env"})
    assert (result.exit_code, result.stdout) == (0, "from-env\n")
    assert result.stderr == "model: env GROKVID_MODEL\n"

    result = run("get", "generate_audio", "--show-source")
    assert (result.stdout, result.stderr) == ("true\n", "generate_audio: default\n")

    run("set", "aspect_ratio", "9:16")
    result = run("get", "aspect_ratio", "--show-source")
    assert result.stdout == "9:16\n"
    assert result.stderr == f"aspect_ratio: config {paths.config_file()}\n"


def test_get_env_key_is_masked() -> None:
    result = run("get", "xai.api_key", env={"XAI_API_KEY": FAKE_KEY})
    assert result.stdout == "xai-****9k3x\n"
    no_secret(result)


def test_bad_env_var_is_named() -> None:
    result = run("get", "model", env={"GROKVID_DURATION": "forever"})
    assert result.exit_code == 2
    assert "GROKVID_DURATION" in result.stderr
    assert result.stderr.startswith("grokvid: error: ")


# --- unset -----------------------------------------------------------------------------------


def test_unset() -> None:
    run("set", "duration", "3")
    result = run("unset", "duration")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == f"Removed duration from {paths.config_file()}\n"
    assert run("get", "duration").stdout == "8\n"

    result = run("unset", "duration")
    assert result.exit_code == 0
    assert "duration was not set" in result.stderr


def test_unset_api_key_removes_it_from_the_file() -> None:
    run("set", "xai.api_key", input=FAKE_KEY)
    assert run("unset", "xai.api_key").exit_code == 0
    assert SECRET_PART not in paths.config_file().read_text()
    assert run("get", "xai.api_key").exit_code == 1


# --- list ------------------------------------------------------------------------------------


def test_list_plain_when_piped() -> None:
    run("set", "xai.api_key", input=FAKE_KEY)
    run("set", "duration", "12")
    result = run("list", env={"GROKVID_MODEL": "env-model"})
    assert result.exit_code == 0
    assert result.stderr == ""
    no_secret(result)
    lines = result.stdout.splitlines()
    assert len(lines) == len(config.KEYS)
    path = paths.config_file()
    assert f"xai.api_key = xai-****9k3x  (config {path})" in lines
    assert "xai.base_url = https://api.x.ai  (default)" in lines
    assert "model = env-model  (env GROKVID_MODEL)" in lines
    assert f"duration = 12  (config {path})" in lines
    assert "output_dir = (not set)  (default)" in lines
    assert "generate_audio = true  (default)" in lines


def test_list_table_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_cmd, "_stdout_is_tty", lambda: True)
    run("set", "xai.api_key", input=FAKE_KEY)
    result = run("list")
    assert result.exit_code == 0
    no_secret(result)
    header, *rows, caption = result.stdout.splitlines()
    assert header.split() == ["key", "value", "source"]
    assert len(rows) == len(config.KEYS)
    assert rows[0].split() == ["xai.api_key", "xai-****9k3x", "config"]
    assert "config file:" in caption


def test_list_json() -> None:
    run("set", "xai.api_key", input=FAKE_KEY)
    run("set", "generate_audio", "off")
    result = run("list", "--json", env={"GROKVID_DURATION": "5"})
    assert result.exit_code == 0
    no_secret(result)
    data = json.loads(result.stdout)
    assert list(data) == list(config.KEYS)
    assert data["xai.api_key"] == {"value": "xai-****9k3x", "source": "config"}
    assert data["duration"] == {"value": 5, "source": "env"}
    assert data["generate_audio"] == {"value": False, "source": "config"}
    assert data["output_dir"] == {"value": None, "source": "default"}
    assert data["resolution"] == {"value": "480p", "source": "default"}


def test_list_json_show_secrets() -> None:
    result = run("list", "--json", "--show-secrets", env={"XAI_API_KEY": FAKE_KEY})
    assert json.loads(result.stdout)["xai.api_key"] == {"value": FAKE_KEY, "source": "env"}


def test_list_warns_about_unknown_keys_on_stderr() -> None:
    write_config("durration = 3\n")
    result = run("list", "--json")
    assert result.exit_code == 0
    assert "unknown key 'durration'" in result.stderr
    json.loads(result.stdout)


def test_corrupt_file_names_the_file() -> None:
    path = write_config("model = \n")
    result = run("list")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert str(path) in result.stderr
    assert "line 1" in result.stderr


# --- path, help, secrecy ---------------------------------------------------------------------


def test_path() -> None:
    result = run("path")
    assert (result.exit_code, result.stdout) == (0, f"{paths.config_file()}\n")
    result = run("path", "--data")
    assert result.stdout == f"{paths.data_dir()}\n"


@pytest.mark.parametrize("command", [[], ["set"], ["get"], ["unset"], ["list"], ["path"]])
def test_help_has_an_example(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    if command:
        assert "Example: grokvid config" in result.stdout


def test_key_never_leaks_without_show_secrets() -> None:
    results = [
        run("set", "xai.api_key", input=FAKE_KEY),
        run("set", "xai.api_key", FAKE_KEY + " x"),  # rejected: must not be echoed
        run("get", "xai.api_key", "--show-source"),
        run("list"),
        run("list", "--json"),
        run("set", "model", "m"),
        run("unset", "model"),
        run("get", "model", env={"XAI_API_KEY": FAKE_KEY + "\x07"}),
    ]
    for result in results:
        no_secret(result)


# --- warnings about the values and the file ---------------------------------------------------


def test_set_resolution_the_model_in_effect_lacks_warns_but_saves() -> None:
    result = run("set", "resolution", "1080p")
    assert result.exit_code == 0
    warning = result.stderr.splitlines()[-1]
    assert warning.startswith("grokvid: warning: resolution 1080p is saved")
    assert "grok-imagine-video, from the default model" in warning
    assert "`grokvid config set model grok-imagine-video-1.5`" in warning
    assert config.ConfigFile.load().get("resolution") == "1080p"


def test_set_model_that_offers_the_resolution_does_not_warn() -> None:
    run("set", "resolution", "1080p")
    result = run("set", "model", "grok-imagine-video-1.5")
    assert (result.exit_code, result.stderr.count("warning")) == (0, 0)
    # ...and going back to a model without 1080p warns, naming where that model came from.
    result = run("set", "model", "grok-imagine-video")
    assert f"grok-imagine-video, from model in {paths.config_file()}" in result.stderr


def test_reading_the_key_from_a_file_others_can_read_warns() -> None:
    path = write_config(f'[xai]\napi_key = "{FAKE_KEY}"\n')
    path.chmod(0o644)
    for args in (["get", "xai.api_key"], ["list"]):
        result = run(*args)
        assert result.exit_code == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if "chmod" in line]
        assert lines == [
            f"grokvid: warning: {path} holds an API key and is readable by others (mode 644): "
            f"run `chmod 600 {path}`."
        ], args
    assert "chmod" not in run("get", "model").stderr  # the key was not read
