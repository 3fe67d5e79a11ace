"""What the code base does not do, checked on its syntax tree (SECURITY-CASES #2, #4, #5, #8, #10, #14, #15, #17).

Runtime tests prove a guard works; these prove nothing goes around it. Each rule names the only
places allowed to do the thing, so a new outbound call, unpickling load, template built from a
string, ``mark_safe`` or literal secret fails here until it is routed through the guard or argued
for in review (and added below with the reason).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT

PACKAGES = ("config", "core", "annotation", "curation", "training", "models_registry", "ml")

# Modules that open network connections. Only the SSRF guard may import them (#4, #5, #8, #14).
NETWORK_MODULES = {
    "requests", "httpx", "urllib.request", "urllib3", "http.client", "aiohttp", "smtplib", "ftplib",
    "telnetlib", "boto3", "botocore", "pycurl", "websocket", "websockets", "xmlrpc.client",
}  # fmt: skip
SOCKET_CONNECTS = {"socket", "create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "socketpair"}
OUTBOUND_GUARD = "core/security/outbound.py"
# Calls that unpickle (#10).
UNPICKLING = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("cPickle", "load"), ("dill", "load"),
    ("dill", "loads"), ("joblib", "load"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("shelve", "open"),
    ("pd", "read_pickle"), ("pandas", "read_pickle"), ("marshal", "loads"), ("jsonpickle", "decode"),
}  # fmt: skip
SANITISING_FILTERS = "core/templatetags/safe_markdown.py"


def sources() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=relative)


SOURCES = list(sources())


def calls(tree: ast.Module) -> Iterator[tuple[str, str, ast.Call]]:
    """(receiver, name, node) for ``receiver.name(...)`` and ("", name, node) for ``name(...)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                receiver = func.value.id if isinstance(func.value, ast.Name) else ""
                yield receiver, func.attr, node
            elif isinstance(func, ast.Name):
                yield "", func.id, node


def imported_modules(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def keyword(node: ast.Call, name: str) -> object:
    for kw in node.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


def test_the_scan_sees_the_code_base():
    names = {name for name, _ in SOURCES}
    assert {OUTBOUND_GUARD, SANITISING_FILTERS, "config/settings/production.py"} <= names
    assert len(SOURCES) > 80


def test_only_the_outbound_guard_opens_network_connections():
    """URL import (annotation/imports/fetch.py) and any future model endpoint, storage or webhook must
    all connect through core.security.outbound."""
    found = []
    for name, tree in SOURCES:
        if name == OUTBOUND_GUARD:
            continue
        found += [f"{name}: imports {m}" for m in imported_modules(tree) if m in NETWORK_MODULES]
        found += [
            f"{name}:{node.lineno}: socket.{attr}()"
            for receiver, attr, node in calls(tree)
            if receiver == "socket" and attr in SOCKET_CONNECTS
        ]
    assert found == []


def test_the_guard_is_the_module_that_does_connect():
    tree = dict(SOURCES)[OUTBOUND_GUARD]
    assert "http.client" in set(imported_modules(tree))


def test_nothing_unpickles():
    found = []
    for name, tree in SOURCES:
        for receiver, attr, node in calls(tree):
            if (receiver, attr) in UNPICKLING:
                found.append(f"{name}:{node.lineno}: {receiver}.{attr}()")
            if receiver == "torch" and attr == "load" and keyword(node, "weights_only") is not True:
                found.append(f"{name}:{node.lineno}: torch.load() without weights_only=True")
            if attr == "load" and receiver in ("np", "numpy") and keyword(node, "allow_pickle") is True:
                found.append(f"{name}:{node.lineno}: numpy load with allow_pickle=True")
            if receiver == "yaml" and attr in ("load", "unsafe_load", "full_load"):
                found.append(f"{name}:{node.lineno}: yaml.{attr}() (use safe_load)")
    assert found == []


def test_no_template_is_built_from_a_string():
    """#15: user text is only ever a value in a template, never a template (no SSTI)."""
    found = []
    for name, tree in SOURCES:
        found += [f"{name}: imports {m}" for m in imported_modules(tree) if m in ("jinja2", "mako", "string.Template")]
        for receiver, attr, node in calls(tree):
            if attr == "from_string" or (attr == "Template" and receiver in ("", "template")):
                found.append(f"{name}:{node.lineno}: {receiver + '.' if receiver else ''}{attr}()")
            if attr in ("eval", "exec", "compile") and receiver in ("", "builtins"):
                found.append(f"{name}:{node.lineno}: {attr}()")
    assert found == []


def test_mark_safe_only_in_the_sanitising_filters():
    """#17: the only way markup reaches a page unescaped is through the sanitiser's output."""
    found = []
    for name, tree in SOURCES:
        if name == SANITISING_FILTERS:
            continue
        found += [f"{name}:{node.lineno}" for _, attr, node in calls(tree) if attr in ("mark_safe", "SafeString")]
        found += [f"{name}: imports {m}" for m in imported_modules(tree) if m.endswith(".mark_safe")]
    assert found == []


@pytest.mark.parametrize("template_dir", ["templates", "core/templates"])
def test_templates_never_mark_text_safe(template_dir):
    """No ``|safe`` and no ``{% autoescape off %}``: escaping is on for every variable in every template."""
    found = []
    for path in sorted((ROOT / template_dir).rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for marker in ("|safe", "| safe", "autoescape off", "|safeseq"):
            if marker in text:
                found.append(f"{path.relative_to(ROOT)}: {marker}")
    assert found == []


def test_no_settings_module_holds_a_literal_secret_key():
    """#2: the key comes from the environment (production), a per-checkout file (local) or is generated."""
    found = []
    for path in sorted((ROOT / "config" / "settings").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "SECRET_KEY" for t in node.targets)
                and isinstance(node.value, ast.Constant | ast.JoinedStr | ast.BinOp)
            ):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


# Model fields that hold a URL the app fetches: each was reviewed, and names the only module that may
# read it (which must fetch through the guard) and the tests of its create-time and fetch-time checks.
STORED_URLS = {
    "annotation.ImportJob.source_url": (
        "annotation/imports/fetch.py",
        "tests/annotation/imports/test_fetch.py",
    ),
}


def test_every_model_field_holding_a_url_is_reviewed():
    """#5, #14: a URLField, or a field named like one (webhook, endpoint, host, ...), fails here until it
    is validated with ``core.security.outbound.precheck_url``/``check_url`` when saved, fetched only
    through the guard, tested both ways, and listed in STORED_URLS with its one reader.
    """
    from django.apps import apps
    from django.db import models

    words = ("url", "uri", "hook", "endpoint", "callback", "host")
    found = sorted(
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.URLField) or any(w in field.name.lower() for w in words)
    )
    assert found == sorted(STORED_URLS)
    for reader, tests in STORED_URLS.values():
        assert (ROOT / tests).is_file()
        assert reader in dict(SOURCES)


@pytest.mark.parametrize("label", sorted(STORED_URLS))
def test_a_stored_url_is_read_only_by_its_reader_and_the_reader_fetches_through_the_guard(label):
    """Nothing but the reviewed module reads the field (a second reader could hand it to anything),
    and that module takes its network access from ``core.security.outbound`` and nowhere else.
    """
    field = label.rsplit(".", 1)[1]
    reader, _ = STORED_URLS[label]
    readers = sorted(
        f"{name}:{node.lineno}"
        for name, tree in SOURCES
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == field
    )
    assert readers, f"nobody reads {label}: remove the field or this entry"
    assert all(r.startswith(f"{reader}:") for r in readers), readers
    imported = set(imported_modules(dict(SOURCES)[reader]))
    assert "core.security.outbound" in imported
    assert not imported & NETWORK_MODULES


def test_no_model_stores_an_uploaded_image():
    """#7: no avatar or image upload exists, so no image metadata is ever stored or shown.

    Markdown images render as their escaped alt text (tests/core/test_markdown.py), and imports take
    only JSONL, CSV and Parquet (tests/security/test_uploaded_content.py). An ImageField or FileField
    added later fails here until it re-encodes images, strips metadata and is served as an attachment.
    """
    from django.apps import apps
    from django.db import models

    found = [
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.FileField) or "avatar" in field.name.lower()
    ]
    assert found == []
