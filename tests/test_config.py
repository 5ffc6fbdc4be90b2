"""grokvid.api.config: precedence, every validation rule, the file's layout, mode and secrecy."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from grokvid.api import config, models, paths
from grokvid.api.config import ConfigFile, check_base_url, load_settings, mask_secret
from grokvid.api.errors import AuthError, ConfigError, ValidationError

FAKE_KEY = "xai-FAKE7q2ZsecretNEVERshowMe9k3x"


def write_config(text: str) -> Path:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- resolution and precedence -------------------------------------------------------------


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings()
    assert settings.api_key is None
    assert settings.base_url == "https://api.x.ai"
    assert settings.model == models.DEFAULT_MODEL
    assert settings.duration == models.DEFAULT_DURATION
    assert settings.resolution == models.DEFAULT_RESOLUTION
    assert settings.aspect_ratio == models.DEFAULT_ASPECT_RATIO
    assert settings.output_dir is None
    assert settings.generate_audio is True
    assert set(settings.sources.values()) == {"default"}
    assert set(settings.sources) == set(config.KEYS)


@pytest.mark.parametrize(
    ("key", "file_value", "env_value", "flag_value", "expected"),
    [
        ("model", '"from-file"', "from-env", "from-flag", ("from-file", "from-env", "from-flag")),
        ("duration", "5", "6", 7, (5, 6, 7)),
        ("resolution", '"720p"', "1080p", "480p", ("720p", "1080p", "480p")),
        ("aspect_ratio", '"1:1"', "9:16", "4:3", ("1:1", "9:16", "4:3")),
        ("generate_audio", "false", "yes", False, (False, True, False)),
    ],
)
def test_precedence_flags_env_file_default(
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    file_value: str,
    env_value: str,
    flag_value: object,
    expected: tuple[object, object, object],
) -> None:
    spec = config.KEYS[key]
    assert load_settings().sources[spec.field] == "default"

    write_config(f"{key} = {file_value}\n")
    settings = load_settings()
    assert (settings.value(key), settings.sources[key]) == (expected[0], "config")

    monkeypatch.setenv(spec.env, env_value)
    settings = load_settings()
    assert (settings.value(key), settings.sources[key]) == (expected[1], "env")

    settings = load_settings({key: flag_value})
    assert (settings.value(key), settings.sources[key]) == (expected[2], "flag")


def test_xai_table_keys_come_from_file_env_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(f'[xai]\napi_key = "{FAKE_KEY}"\nbase_url = "http://127.0.0.1:9000/"\n')
    settings = load_settings()
    assert settings.require_api_key() == FAKE_KEY
    assert settings.base_url == "http://127.0.0.1:9000"
    assert settings.sources["xai.api_key"] == settings.sources["xai.base_url"] == "config"
    assert settings.providers["xai"].base_url == "http://127.0.0.1:9000"

    monkeypatch.setenv("XAI_API_KEY", "xai-from-env-0000000000")
    monkeypatch.setenv("GROKVID_BASE_URL", "https://proxy.example.com")
    settings = load_settings()
    assert settings.require_api_key() == "xai-from-env-0000000000"
    assert settings.base_url == "https://proxy.example.com"

    settings = load_settings({"xai.base_url": "http://localhost:1234", "api_key": "xai-flag-k"})
    assert settings.base_url == "http://localhost:1234"
    assert settings.sources == {**settings.sources, "xai.base_url": "flag", "xai.api_key": "flag"}


@pytest.fixture
def second_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """A made-up second provider, registered the way a provider registry would."""
    info = config.ProviderKeys(
        "fal", "fal.ai", "FAL_KEY", "GROKVID_FAL_BASE_URL", "https://queue.fal.run", "fal.ai"
    )
    monkeypatch.setitem(config.PROVIDER_KEYS, "fal", info)
    for spec in config.provider_key_specs(info):
        monkeypatch.setitem(config.KEYS, spec.name, spec)


@pytest.mark.usefixtures("second_provider")
def test_each_provider_keeps_its_own_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(f'[xai]\napi_key = "{FAKE_KEY}"\n\n[fal]\nbase_url = "https://fal.example"\n')
    monkeypatch.setenv("FAL_KEY", "fal-key-0000000000000")
    settings = load_settings()
    assert settings.get_key("xai").get_secret_value() == FAKE_KEY
    assert settings.get_key("fal").get_secret_value() == "fal-key-0000000000000"
    assert settings.providers["fal"].base_url == "https://fal.example"
    assert settings.base_url == "https://api.x.ai"  # xai's slot untouched by fal's table
    assert settings.sources["fal.api_key"] == "env"
    assert settings.sources["xai.api_key"] == "config"
    assert settings.sources["fal.base_url"] == "config"


@pytest.mark.usefixtures("second_provider")
def test_get_key_names_the_providers_own_config_key_and_env_var() -> None:
    settings = load_settings()
    with pytest.raises(AuthError) as info:
        settings.get_key("fal")
    assert str(info.value) == (
        "No API key for fal: run `grokvid config set fal.api_key` or set FAL_KEY."
    )
    with pytest.raises(AuthError, match="xai.api_key` or set XAI_API_KEY"):
        settings.get_key("xai")


def test_get_key_of_an_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="Unknown provider 'nope': use one of xai"):
        load_settings().get_key("nope")


def test_origin_names_flag_env_var_file_or_default(monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config('resolution = "1080p"\n[xai]\nbase_url = "https://a.example"\n')
    monkeypatch.setenv("GROKVID_MODEL", "grok-imagine-video")
    settings = load_settings({"duration": 5})
    assert settings.origin("duration") == "--duration"
    assert settings.origin("model") == "GROKVID_MODEL (environment)"
    assert settings.origin("resolution") == f"resolution in {path}"
    assert settings.origin("xai.base_url") == f"xai.base_url in {path}"
    assert settings.origin("base_url") == f"xai.base_url in {path}"  # the 0.1 field name
    assert settings.origin("aspect_ratio") == "the default aspect_ratio"
    assert settings.origin("prompt") == "prompt"  # not a setting: left as it is


def test_flags_with_none_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROKVID_DURATION", "12")
    settings = load_settings({"duration": None, "model": None})
    assert settings.duration == 12
    assert settings.sources["duration"] == "env"
    assert settings.sources["model"] == "default"


def test_empty_env_var_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROKVID_MODEL", "  ")
    monkeypatch.setenv("XAI_API_KEY", "")
    settings = load_settings()
    assert settings.model == models.DEFAULT_MODEL
    assert settings.api_key is None


def test_unknown_flag_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="prompt"):
        load_settings({"prompt": "a fox"})


def test_bad_flag_raises_validation_error_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        load_settings({"duration": 20})
    assert info.value.field == "duration"
    assert "1 to 15" in str(info.value)


def test_output_dir_is_stored_as_given_and_expanded_at_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    file = ConfigFile.load()
    file.set("output_dir", "~/clips")
    file.save()
    assert 'output_dir = "~/clips"' in file.path.read_text()
    assert load_settings().output_dir == tmp_path / "clips"
    assert load_settings({"output_dir": Path("/srv/v")}).output_dir == Path("/srv/v")


def test_grokvid_home_relocates_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("GROKVID_HOME", str(other))
    file = ConfigFile.load()
    file.set("model", "m")
    file.save()
    assert (other / "config.toml").is_file()
    assert load_settings().model == "m"


def test_require_api_key_names_the_fix() -> None:
    with pytest.raises(AuthError, match="grokvid config set xai.api_key.*XAI_API_KEY"):
        load_settings().require_api_key()


# --- validation rules ------------------------------------------------------------------------

GOOD = [
    ("xai.api_key", FAKE_KEY, FAKE_KEY),
    ("xai.api_key", f"  {FAKE_KEY}\n", FAKE_KEY),
    ("xai.base_url", "https://api.x.ai/", "https://api.x.ai"),
    ("xai.base_url", "http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("xai.base_url", "http://127.9.9.9", "http://127.9.9.9"),
    ("xai.base_url", "http://[::1]:8000/", "http://[::1]:8000"),
    ("xai.base_url", "http://localhost:8000", "http://localhost:8000"),
    ("xai.base_url", "HTTPS://Proxy.Example.com/xai", "HTTPS://Proxy.Example.com/xai"),
    ("model", "some-future-model", "some-future-model"),
    ("duration", "1", 1),
    ("duration", "15", 15),
    ("duration", " 8 ", 8),
    *[("resolution", r, r) for r in models.RESOLUTIONS],
    *[("aspect_ratio", a, a) for a in models.ASPECT_RATIOS],
    ("output_dir", "~/Videos/grok", "~/Videos/grok"),
    *[("generate_audio", word, True) for word in ("true", "YES", "1", "on")],
    *[("generate_audio", word, False) for word in ("false", "No", "0", "OFF")],
]

BAD = [
    ("xai.api_key", "", "empty"),
    ("xai.api_key", "   ", "empty"),
    ("xai.api_key", "xai-abc def", "spaces"),
    ("xai.api_key", "xai-abc\x07def", "control"),
    (
        "xai.base_url",
        "http://example.com",
        "Refusing plain http:// for a remote host (example.com)",
    ),
    ("xai.base_url", "http://10.0.0.1:8000", "Refusing plain http://"),
    ("xai.base_url", "http://localhost.evil.com", "Refusing plain http://"),
    ("xai.base_url", "ftp://api.x.ai", "not an http(s) URL"),
    ("xai.base_url", "api.x.ai", "not an http(s) URL"),
    ("xai.base_url", "https://", "not an http(s) URL"),
    ("xai.base_url", "https://user:pw@api.x.ai", "user name or password"),
    ("xai.base_url", "https://api.x.ai/?a=1", "query"),
    ("xai.base_url", "https://api.x.ai:99999", "not a valid URL"),
    ("model", "", "non-empty"),
    ("duration", "0", "1 to 15"),
    ("duration", "16", "1 to 15"),
    ("duration", "-3", "1 to 15"),
    ("duration", "8.5", "1 to 15"),
    ("duration", "eight", "1 to 15"),
    ("resolution", "4k", "480p, 720p, 1080p"),
    ("resolution", "720", "480p, 720p, 1080p"),
    ("aspect_ratio", "21:9", "1:1, 16:9, 9:16"),
    ("output_dir", "", "path"),
    ("generate_audio", "maybe", "true/false, yes/no, on/off or 1/0"),
]


@pytest.mark.parametrize(("key", "raw", "stored"), GOOD)
def test_set_accepts_valid_values(key: str, raw: str, stored: object) -> None:
    file = ConfigFile.load()
    file.set(key, raw)
    assert file.get(key) == stored
    file.save()
    assert ConfigFile.load().get(key) == stored


@pytest.mark.parametrize(("key", "raw", "reason"), BAD)
def test_set_rejects_bad_values_naming_key_file_and_rule(key: str, raw: str, reason: str) -> None:
    file = ConfigFile.load()
    with pytest.raises(ConfigError) as info:
        file.set(key, raw)
    message = str(info.value)
    assert key in message
    assert str(paths.config_file()) in message
    assert reason in message
    assert not file.path.exists()


@pytest.mark.parametrize(("key", "raw", "reason"), [b for b in BAD if b[1].strip()])
def test_bad_env_var_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, key: str, raw: str, reason: str
) -> None:
    spec = config.KEYS[key]
    monkeypatch.setenv(spec.env, raw)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert spec.env in str(info.value)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("duration = 40", "duration", "1 to 15"),
        ('duration = "x"', "duration", "1 to 15"),
        ("duration = true", "duration", "1 to 15"),
        ("duration = 8.0", "duration", "1 to 15"),
        ('resolution = "4k"', "resolution", "480p"),
        ("generate_audio = 3", "generate_audio", "true/false"),
        ("model = 5", "model", "non-empty"),
        ('[xai]\nbase_url = "http://example.com"', "xai.base_url", "Refusing plain http://"),
    ],
)
def test_bad_value_in_file_names_file_and_key(text: str, key: str, reason: str) -> None:
    path = write_config(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert f"The config file {path} has {key} = " in message
    assert reason in message


def test_values_in_file_accept_strings_for_numbers_and_bools() -> None:
    write_config('duration = "12"\ngenerate_audio = "off"\n')
    settings = load_settings()
    assert (settings.duration, settings.generate_audio) == (12, False)


def test_a_bad_file_value_is_harmless_when_env_overrides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config("duration = 99\n")
    monkeypatch.setenv("GROKVID_DURATION", "3")
    assert load_settings().duration == 3


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.x.ai", "https://api.x.ai"),
        ("https://api.x.ai///", "https://api.x.ai"),
        ("  https://api.x.ai/  ", "https://api.x.ai"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://[::1]", "http://[::1]"),
        ("http://LOCALHOST:1", "http://LOCALHOST:1"),
    ],
)
def test_check_base_url_normalises(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


def test_check_base_url_refuses_remote_http_with_the_documented_message() -> None:
    with pytest.raises(ValidationError) as info:
        check_base_url("http://example.com/")
    assert info.value.field == "base_url"
    assert str(info.value) == (
        "Refusing plain http:// for a remote host (example.com): use https://, "
        "or http only for 127.0.0.1/localhost."
    )


@pytest.mark.parametrize("url", ["ftp://x", "file:///etc/passwd", "", "x", "//api.x.ai"])
def test_check_base_url_refuses_non_http(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_base_url(url)
    assert info.value.field == "base_url"


# --- keys, file handling ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "unset", "set"])
def test_unknown_key_lists_the_known_ones(method: str) -> None:
    file = ConfigFile.load()
    args = ("foo", "1") if method == "set" else ("foo",)
    with pytest.raises(ConfigError) as info:
        getattr(file, method)(*args)
    assert str(info.value).startswith("Unknown config key 'foo': use one of xai.api_key, ")
    assert ", ".join(config.KEYS) in str(info.value)


def test_unknown_key_suggests_a_close_match() -> None:
    with pytest.raises(ConfigError, match="Did you mean xai.api_key"):
        ConfigFile.load().set("api_key", "x")


def test_missing_file_is_empty() -> None:
    file = ConfigFile.load()
    assert file.items() == []
    assert file.get("model") is None
    assert not file.path.exists()


def test_corrupt_file_names_the_file_and_line() -> None:
    path = write_config('model = "ok"\nduration = \n')
    with pytest.raises(ConfigError) as info:
        ConfigFile.load()
    message = str(info.value)
    assert str(path) in message
    assert "line 2" in message
    assert "not valid TOML" in message


def test_corrupt_file_message_does_not_echo_a_key() -> None:
    write_config(f'[xai]\napi_key = "{FAKE_KEY}\n')  # unterminated string
    with pytest.raises(ConfigError) as info:
        ConfigFile.load()
    assert FAKE_KEY not in str(info.value)
    assert FAKE_KEY[4:] not in str(info.value)


def test_xai_that_is_not_a_table_is_reported() -> None:
    path = write_config('xai = "oops"\n')
    with pytest.raises(ConfigError, match=r"\[xai\] table") as info:
        load_settings()
    assert str(path) in str(info.value)


def test_set_preserves_comments_and_layout() -> None:
    original = (
        "# grokvid settings, edited by hand\n"
        'model = "grok-imagine-video-1.5"  # the good one\n'
        "\n"
        "[xai]\n"
        "# from console.x.ai\n"
        'base_url = "https://api.x.ai"\n'
    )
    path = write_config(original)
    file = ConfigFile.load()
    file.set("duration", "10")
    file.set("xai.api_key", FAKE_KEY)
    file.save()
    text = path.read_text()
    assert text.startswith("# grokvid settings, edited by hand\n")
    assert 'model = "grok-imagine-video-1.5"  # the good one\n' in text
    assert "# from console.x.ai\n" in text
    assert "duration = 10\n" in text
    assert text.index("duration = 10") < text.index("[xai]")
    assert text.index("[xai]") < text.index(f'api_key = "{FAKE_KEY}"')

    file = ConfigFile.load()
    file.set("model", "grok-imagine-video")
    file.save()
    assert 'model = "grok-imagine-video"  # the good one\n' in path.read_text()


def test_save_writes_0600_from_creation_and_creates_the_directory() -> None:
    path = paths.config_file()
    assert not path.parent.exists()
    file = ConfigFile.load()
    file.set("xai.api_key", FAKE_KEY)
    file.save()
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left


def test_save_tightens_an_existing_loose_file(monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config('model = "m"\n')
    path.chmod(0o644)
    file = ConfigFile.load()
    file.set("duration", "9")
    file.save()
    assert mode_of(path) == 0o600


def test_save_never_creates_a_readable_temp_file(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []
    real_open = os.open

    def spy(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kw: object) -> int:
        seen.append((flags, mode))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", spy)
    file = ConfigFile.load()
    file.set("xai.api_key", FAKE_KEY)
    file.save()
    assert seen and all(mode == 0o600 and flags & os.O_CREAT for flags, mode in seen)


def test_failed_save_leaves_the_old_file_and_no_temp(monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config('model = "old"\n')
    file = ConfigFile.load()
    file.set("model", "new")

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        file.save()
    assert path.read_text() == 'model = "old"\n'
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


def test_unset_removes_the_key_and_an_empty_xai_table() -> None:
    file = ConfigFile.load()
    file.set("xai.api_key", FAKE_KEY)
    file.set("duration", "4")
    assert file.unset("xai.api_key") is True
    assert file.unset("xai.api_key") is False
    assert file.unset("model") is False
    file.save()
    text = file.path.read_text()
    assert "xai" not in text
    assert "duration = 4" in text


def test_unset_keeps_an_xai_table_that_has_comments() -> None:
    path = write_config(f'[xai]\n# my key\napi_key = "{FAKE_KEY}"\n')
    file = ConfigFile.load()
    assert file.unset("xai.api_key")
    file.save()
    assert path.read_text() == "[xai]\n# my key\n"


def test_items_and_unknown_keys() -> None:
    write_config('model = "m"\ndurration = 3\n[xai]\nbase_url = "https://a.b"\ntoken = 1\n')
    file = ConfigFile.load()
    assert file.items() == [("xai.base_url", "https://a.b"), ("model", "m")]
    assert file.unknown_keys() == ["durration", "xai.token"]
    assert any("durration" in w for w in file.warnings())


def test_warns_about_a_key_file_others_can_read() -> None:
    path = write_config(f'[xai]\napi_key = "{FAKE_KEY}"\n')
    path.chmod(0o644)
    warnings = ConfigFile.load().warnings()
    assert any("chmod 600" in w for w in warnings)
    assert not any(FAKE_KEY in w for w in warnings)


@pytest.mark.parametrize("mode", [0o644, 0o666, 0o640])
def test_key_file_warnings_from_settings_a_file_or_a_path(
    monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    path = write_config(f'[xai]\napi_key = "{FAKE_KEY}"\n')
    path.chmod(mode)
    # The file still exposes its key when an env var overrides it.
    monkeypatch.setenv("XAI_API_KEY", "xai-from-env-0000000000")
    expected = [
        f"{path} holds an API key and is readable by others (mode {mode:o}): "
        f"run `chmod 600 {path}`."
    ]
    assert config.key_file_warnings(load_settings()) == expected
    assert config.key_file_warnings(ConfigFile.load()) == expected
    assert config.key_file_warnings(path) == expected
    assert config.key_file_warnings() == expected


def test_no_key_file_warning_when_private_or_keyless() -> None:
    path = write_config(f'[xai]\napi_key = "{FAKE_KEY}"\n')
    path.chmod(0o600)
    assert config.key_file_warnings(load_settings()) == []
    path.write_text('model = "m"\n', encoding="utf-8")
    path.chmod(0o644)
    assert config.key_file_warnings(path) == []
    path.unlink()
    assert config.key_file_warnings() == []


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("xai-abcdefghijklmnopWXYZ", "xai-****WXYZ"),
        ("123456789012", "1234****9012"),
        ("short-key", "****"),
        ("", "****"),
    ],
)
def test_mask_secret(value: str, masked: str) -> None:
    assert mask_secret(value) == masked


def test_settings_repr_and_dump_hide_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_API_KEY", FAKE_KEY)
    settings = load_settings()
    assert FAKE_KEY not in repr(settings)
    assert FAKE_KEY not in str(settings)
    assert FAKE_KEY not in settings.model_dump_json()
    assert settings.require_api_key() == FAKE_KEY


@pytest.mark.parametrize("bad", [f"{FAKE_KEY} trailing", f"{FAKE_KEY}\x1b[0m"])
def test_a_bad_key_never_appears_in_error_messages(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    messages: list[str] = []
    with pytest.raises(ConfigError) as info:
        ConfigFile.load().set("xai.api_key", bad)
    messages.append(str(info.value))

    monkeypatch.setenv("XAI_API_KEY", bad)
    with pytest.raises(ConfigError) as info:
        load_settings()
    messages.append(str(info.value))
    monkeypatch.delenv("XAI_API_KEY")

    with pytest.raises(ValidationError) as vinfo:
        load_settings({"api_key": bad})
    messages.append(str(vinfo.value))

    write_config(f"[xai]\napi_key = {json.dumps(bad)}\n")  # a TOML basic string
    with pytest.raises(ConfigError) as info:
        load_settings()
    messages.append(str(info.value))

    assert len(messages) == 4
    for message in messages:
        assert "FAKE7q2Z" not in message, message
        assert "xai.api_key" in message or "XAI_API_KEY" in message or "api_key" in message
