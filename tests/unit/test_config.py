"""Configuration in one place: the settings table, the names of the environment variables,
the public configuration values and the wiring (docs/architecture.md, "Configuration")."""

from __future__ import annotations

import ast
import inspect
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from support.factories import EmulatorFactory

import spectrum_sync
from spectrum_sync import _envnames
from spectrum_sync._config import BY_NAME, CLIENT_ENV, SETTINGS, ClientConfig
from spectrum_sync._framework import client_kwargs, has_credentials, webhook_secret
from spectrum_sync._wiring import ClientParts, wire

PACKAGE = Path(spectrum_sync.__file__).parent
#: The one module that writes the variables' names (the emulator reads them from there too).
NAMES_MODULE = PACKAGE / "_envnames.py"


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value,
                                                                     ast.Constant):
                found.add(id(body[0].value))
    return found


def test_variable_names_are_written_in_one_place() -> None:
    """No string literal starting ``SPECTRUM_`` anywhere in the package but ``_envnames.py``
    (docstrings and prose inside messages are not literals of a name)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == NAMES_MODULE or "_proto" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.startswith("SPECTRUM_") and id(node) not in docs):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert not offenders, "\n".join(offenders)


def test_the_names_module_is_a_leaf() -> None:
    tree = ast.parse(NAMES_MODULE.read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [getattr(n, "module", None) for n in imports] == ["__future__"]


def test_the_table_names_every_variable_once() -> None:
    declared = {value for name, value in vars(_envnames).items()
                if name.isupper() and name != "PREFIX"}
    assert all(value.startswith(_envnames.PREFIX) for value in declared)
    in_table = [s.env for s in SETTINGS if s.env]
    assert len(in_table) == len(set(in_table))
    assert set(in_table) <= declared
    # A setting's variable is its name with the prefix: Flask's config keys are the same.
    for setting in SETTINGS:
        if setting.env:
            assert setting.env == _envnames.PREFIX + setting.name


def test_every_keyword_of_the_table_is_a_client_argument() -> None:
    params = inspect.signature(spectrum_sync.Client).parameters
    keywords = {s.keyword for s in SETTINGS if s.keyword}
    assert keywords <= set(params), keywords - set(params)
    assert set(CLIENT_ENV.values()) <= keywords


def test_the_emulator_sets_the_variables_the_client_reads(
        make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(webhook_url="http://127.0.0.1:9/hook", webhook_secret="s3cret",
                        heartbeat_interval=30.0)
    keys = set(emu.env())
    assert set(CLIENT_ENV) - {_envnames.TLS_CA_FILE} <= keys  # the CA file only with TLS
    assert _envnames.WEBHOOK_SECRET in keys


def test_framework_settings_read_the_table() -> None:
    env = {BY_NAME["STATE"].env or "": "sqlite:///x.db", BY_NAME["TIMEOUT"].env or "": "7.5"}
    assert client_kwargs({"IMESSAGE_TLS": "off"}, env) == {
        "tls": False, "state": "sqlite:///x.db", "timeout": 7.5, "env": env}
    assert has_credentials({}, {_envnames.PROJECT_ID: "p", _envnames.PROJECT_SECRET: "s"})
    assert not has_credentials({}, {_envnames.PROJECT_ID: "p"})
    assert webhook_secret({}, {_envnames.WEBHOOK_SECRET: "w"}) == "w"
    with pytest.raises(spectrum_sync.ConfigurationError, match="TIMEOUT"):
        client_kwargs({"TIMEOUT": "soon"}, {})


@pytest.mark.parametrize("name", ["RetryPolicy", "QuotaLimits", "Line"])
def test_public_values_are_defined_in_the_config_module(name: str) -> None:
    from spectrum_sync import _config

    value = getattr(spectrum_sync, name)
    assert value is getattr(_config, name)
    assert value.__module__ == "spectrum_sync"
    made = value("a", "t", "+15550000001") if name == "Line" else value()
    assert pickle.loads(pickle.dumps(made)) == made


def test_public_values_report_the_package_before_any_lookup() -> None:
    # Imported from the private module first (as the transport does), the class already
    # reports the public home: reprs and pickles do not depend on import order.
    code = ("from spectrum_sync._transport.invoker import RetryPolicy; "
            "from spectrum_sync._backend.quotas import QuotaLimits; "
            "print(RetryPolicy.__module__, QuotaLimits.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["spectrum_sync", "spectrum_sync"]


def test_env_replaces_os_environ_and_empty_values_count_as_unset() -> None:
    config = ClientConfig.read(
        project_id=None, project_secret="", lines=None, cloud_url=None, address=None,
        address_template=None, tls=None, ca_file=None, timeout=5.0, retry=None,
        default_region="US", user_cache_ttl=1.0, user_cache_size=1, quota_limits=None,
        state=None, receive=None, local=False, chat_db=None,
        env={_envnames.PROJECT_ID: "from-env", _envnames.IMESSAGE_TLS: "no",
             _envnames.CLOUD_URL: ""})
    assert config.text("project_id") == "from-env"
    assert config.text("project_secret") is None
    assert config.text("cloud_url") is None
    assert config.flag("tls", default=True) is False
    assert config.label("project_id") == f"project_id= or {_envnames.PROJECT_ID}"


def test_wiring_returns_its_parts_and_sets_nothing_on_a_client() -> None:
    config = ClientConfig.read(
        project_id=None, project_secret=None, cloud_url=None, address=None,
        address_template=None, tls=None, ca_file=None, timeout=5.0, retry=None,
        default_region="US", user_cache_ttl=1.0, user_cache_size=1, quota_limits=None,
        state=None, receive=None, local=False, chat_db=None, env={},
        lines=[spectrum_sync.Line("127.0.0.1:1", "token", "+15550000001", tls=False)])
    assert "client" not in inspect.signature(wire).parameters
    parts = wire(config, lambda: False)
    try:
        assert isinstance(parts, ClientParts)
        assert parts.mode_hint == "explicit" and parts.auth is None
        assert parts.project_id is None and parts.ssl_context is None
        assert parts.backend.phones() == ["+15550000001"]
        assert parts.users is not None and callable(parts.make_receiving)
        assert not hasattr(parts, "space")  # client.space refers to the client: its own
    finally:
        parts.backend.close()
        parts.store.close()


def test_internal_records_never_show_secrets() -> None:
    # The records of the start-up path are named tuples and plain classes (cheaper to create
    # than attrs classes, bench/oneshot.py); their reprs still leave secrets out.
    from spectrum_sync._transport.channels import ChannelFactory
    from spectrum_sync._transport.lines import LineSpec
    from spectrum_sync._transport.token_exchange import Grant

    config = ClientConfig.read(
        project_id="proj", project_secret="s3cret", lines=None, cloud_url=None, address=None,
        address_template=None, tls=None, ca_file=None, timeout=5.0, retry=None,
        default_region="US", user_cache_ttl=1.0, user_cache_size=1, quota_limits=None,
        state=None, receive=None, local=False, chat_db=None, env={"X": "s3cret"})
    grant = Grant("dedicated", {"i1": "s3cret"}, {"i1": "+15550000001"}, 60.0, 1.0)
    spec = LineSpec("i1", "+15550000001", "127.0.0.1:1", False, "s3cret")
    for record in (config, grant, spec, ChannelFactory(b"s3cret")):
        assert "s3cret" not in repr(record)
    assert "project_id='proj'" in repr(config) and "+15550000001" in repr(grant)
    assert grant._replace(clock_skew=1.5).clock_skew == 1.5 and grant == Grant(*grant)
    assert spec == LineSpec("i1", "+15550000001", "127.0.0.1:1", False, "s3cret")
