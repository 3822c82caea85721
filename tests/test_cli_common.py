"""The shared CLI helpers (``company.cli_common``) and the shape of the CLI's imports: no circle,
nothing under the sub-commands imports the CLI back, and ``--help`` stays light."""

from __future__ import annotations

import argparse
import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from company.cli_common import (
    CommonOptions,
    add_common,
    fail,
    load_settings,
    ollama_note,
    positive_usd,
    preflight,
)
from company.llm.base import LLMUnavailable
from company.llm.select import ProviderChoice

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "company"
CLI_MODULES = ("company.cli", "company.commands", "company.api.serve", "company.research.cli")


def module_name(path: Path) -> str:
    """``company/llm/spec.py`` -> ``company.llm.spec``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def import_nodes(tree: ast.Module, *, top_level: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements run when the module loads (``top_level``; ``if TYPE_CHECKING:``
    bodies excluded), or every import statement anywhere in it."""
    if not top_level:
        return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody,
                             *(handler.body for handler in node.handlers)):
                    walk(part)

    walk(tree.body)
    return found


def project_imports(name: str, *, top_level: bool) -> set[str]:
    """The ``company.*`` modules that module ``name`` imports."""
    path = MODULES[name]
    targets: set[str] = set()
    for node in import_nodes(ast.parse(path.read_text()), top_level=top_level):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name in MODULES)
            continue
        base = node.module or ""
        if node.level:  # relative: from the module's package upwards
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        for alias in node.names:
            if f"{base}.{alias.name}" in MODULES:  # a submodule
                targets.add(f"{base}.{alias.name}")
            elif base in MODULES:  # a name of the module
                targets.add(base)
    targets.discard(name)
    return targets


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_module_level_imports_of_the_project_have_no_circle() -> None:
    graph = {name: project_imports(name, top_level=True) for name in MODULES}
    assert all(name in MODULES for name in CLI_MODULES)
    assert "company.cli_common" in graph["company.cli"]
    assert "company.cli_common" in graph["company.api.serve"]
    assert find_cycle(graph) is None


def test_only_the_entry_point_imports_the_cli_even_lazily() -> None:
    """The old circle went through an import inside a function: look at every import."""
    importers: dict[str, set[str]] = {"company.cli": set(), "company.commands": set()}
    for name in MODULES:
        for target in project_imports(name, top_level=False) & importers.keys():
            importers[target].add(name)
    assert importers == {"company.cli": set(), "company.commands": {"company.cli"}}
    assert project_imports("company.cli_common", top_level=True) == set()


@pytest.mark.parametrize("module", CLI_MODULES)
def test_each_cli_module_imports_alone_in_a_fresh_process(module: str) -> None:
    code = (f"import json, sys, {module}; "
            "print(json.dumps(sorted(m for m in ('company.cli', 'company.commands', "
            "'company.company') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    assert "company.company" not in loaded  # the runtime loads when a command runs, not on import
    if module not in ("company.cli", "company.commands"):
        assert loaded == []


def test_cli_common_loads_nothing_else_of_the_project() -> None:
    code = ("import sys, company.cli_common; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'company'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "['company', 'company.cli_common']"


def test_help_loads_no_heavy_runtime() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "startup.py", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert "usage: startup.py" in out.stdout
    loaded = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    heavy = {m for m in loaded if m.split(".")[0] in ("torch", "whisper", "fastapi", "xllamacpp")}
    assert heavy == set()


def common_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t")
    add_common(parser)
    parser.add_argument("--other")
    return parser


def test_common_options_from_parsed_flags() -> None:
    args = common_parser().parse_args(["--config", "c.yaml", "--llm", "ollama:qwen2.5",
                                       "--cache", "replay", "--whisper-model", "tiny",
                                       "--other", "x"])
    options = CommonOptions.from_args(args)
    assert options == CommonOptions(config="c.yaml", llm="ollama:qwen2.5", cache="replay",
                                    whisper_model="tiny")
    # a command without some common flags (research has no --sop of this kind): not given
    assert CommonOptions.from_args(argparse.Namespace(config="c.yaml")) == CommonOptions(
        config="c.yaml")


def test_common_options_refuse_what_no_flag_allows() -> None:
    with pytest.raises(ValueError, match="cache must be one of off, record, replay, auto"):
        CommonOptions(cache="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="workspaces"):
        CommonOptions(workspaces="w")  # type: ignore[call-arg]


def test_load_settings_applies_the_flags_over_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPANY_LLM", raising=False)
    monkeypatch.delenv("WHISPER_MODEL", raising=False)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({"sop": "plan-only", "llm": {"model": "m-file"},
                                           "speech": {"model": "base"}}))
    plain = load_settings(CommonOptions(config=str(config_file)))
    assert (plain.sop, plain.llm.model, plain.llm.cache, plain.speech["model"]) == (
        "plan-only", "m-file", "off", "base")
    assert not plain.llm.force_model

    flagged = load_settings(CommonOptions(
        config=str(config_file), workspace=str(tmp_path / "ws"), llm="openai:gpt-x@http://h/v1",
        sop="default", whisper_model="tiny", cache="record"))
    assert flagged.workspace == tmp_path / "ws"
    assert (flagged.llm.provider, flagged.llm.model, flagged.llm.host) == (
        "openai", "gpt-x", "http://h/v1")
    assert flagged.llm.force_model and flagged.llm.cache == "record"
    assert (flagged.sop, flagged.speech["model"]) == ("default", "tiny")


def test_load_settings_takes_whisper_model_from_the_environment_last(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("{}")
    monkeypatch.setenv("WHISPER_MODEL", "small")
    assert load_settings(CommonOptions(config=str(config_file))).speech["model"] == "small"
    config_file.write_text(yaml.safe_dump({"speech": {"model": "base"}}))
    assert load_settings(CommonOptions(config=str(config_file))).speech["model"] == "base"
    assert load_settings(CommonOptions(config=str(config_file),
                                       whisper_model="tiny")).speech["model"] == "tiny"


def test_load_settings_refuses_an_unknown_provider(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({"llm": {"provider": "olama"}}))
    with pytest.raises(ValueError, match="unknown LLM provider 'olama'; known providers: auto"):
        load_settings(CommonOptions(config=str(config_file)))


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "-inf", "ten", ""])
def test_positive_usd_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="must be a positive number of USD"):
        positive_usd(text)


@pytest.mark.parametrize(("text", "value"), [("0.5", 0.5), ("10", 10.0), ("1e-3", 0.001)])
def test_positive_usd_accepts(text: str, value: float) -> None:
    assert positive_usd(text) == value


def test_fail_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert fail("no such task") == 2
    assert fail("server down", 3) == 3
    assert capsys.readouterr().err == "error: no such task\nerror: server down\n"


def test_ollama_note_says_what_auto_tried() -> None:
    tried = ProviderChoice(provider="embedded", model="m", reason="r",
                           ollama_tried="http://127.0.0.1:11434")
    assert "Ollama server at http://127.0.0.1:11434 (no answer" in ollama_note(tried)
    assert ollama_note(ProviderChoice(provider="ollama", model="m", reason="r")) == ""


class FakeProvider:
    """A provider that records what preflight asks of it."""

    def __init__(self, name: str, answers: bool) -> None:
        self.name = name
        self.host = f"http://{name}.test"
        self.answers = answers
        self.ensured: list[str] = []

    async def reachable(self) -> bool:
        return self.answers

    async def ensure_model(self, model: str, progress: object = None) -> None:
        self.ensured.append(model)


async def test_preflight_takes_the_provider_itself() -> None:
    from rich.console import Console

    console = Console(file=io.StringIO())
    down = FakeProvider("ollama", answers=False)
    with pytest.raises(LLMUnavailable, match="cannot reach the model server at http://ollama.test"):
        await preflight(down, "qwen2.5", console, pull=False)
    up = FakeProvider("ollama", answers=True)
    await preflight(up, "qwen2.5", console, pull=False)
    assert up.ensured == []  # no pull: only reachability
    await preflight(up, "qwen2.5", console, pull=True)
    assert up.ensured == ["qwen2.5"]
    # an in-process provider (one model per process) has no server to reach: it loads its model
    embedded = FakeProvider("embedded", answers=False)
    await preflight(embedded, "m", console, pull=False)
    assert embedded.ensured == ["m"]
