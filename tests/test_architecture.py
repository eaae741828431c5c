"""The layout the README promises: one import package, imports that only go down, library code
that never reads the environment, field names in one place, and small modules."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support import REPO

# Each folder of the package, and the folders it must never import from.
LAYERS = {
    "vectors": {"mappings", "engine", "ingest", "plugin", "web", "quality", "commands", "cli"},
    "mappings": {"vectors", "engine", "ingest", "plugin", "web", "quality", "commands", "cli"},
    "engine": {"vectors", "mappings", "ingest", "plugin", "web", "quality", "commands", "cli"},
    "attributes": {"ingest", "plugin", "web", "quality", "commands", "cli", "scripts"},
    "ingest": {"plugin", "web", "quality", "commands", "cli", "scripts"},
    "plugin": {"ingest", "web", "quality", "commands", "cli", "scripts"},
    "quality": {"ingest", "web", "commands", "cli", "scripts"},
    "web": {"ingest", "quality", "commands", "cli", "scripts"},
    "scripts": {"vectors", "mappings", "engine", "ingest", "plugin", "web", "quality", "commands"}
    | {"cli"},
    "commands": set(),
    "cli": set(),
}
ENTRY_POINTS = {"commands", "cli"}  # the only code that may read the environment
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def package_files() -> list[Path]:
    files = [REPO / "__init__.py", REPO / "cli.py"]
    for folder in LAYERS:
        if (REPO / folder).is_dir():
            files += sorted((REPO / folder).rglob("*.py"))
    return files


def layer_of(path: Path) -> str:
    relative = path.relative_to(REPO)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def visearch_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level folder) of every import of the project, wherever it sits."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"line {node.lineno}: relative import"
            names = [node.module or ""]
            if node.module == "visearch":
                names = [f"visearch.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "visearch" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
            elif parts[0] in LAYERS:
                found.append((node.lineno, f"bare {parts[0]} (import visearch.{parts[0]})"))
    return found


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_only_go_down(path: Path) -> None:
    layer = layer_of(path)
    tree = ast.parse(path.read_text(), str(path))
    wrong = [
        f"line {line}: {layer} imports {target}"
        for line, target in visearch_imports(tree)
        if target in LAYERS[layer] or target.startswith("bare ")
    ]
    assert wrong == []


@pytest.mark.parametrize(
    "path",
    [p for p in package_files() if layer_of(p) not in ENTRY_POINTS],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_library_code_never_reads_the_environment(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    reads = [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"))
        or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and {alias.name for alias in node.names} & {"environ", "getenv"}
        )
    ]
    assert reads == [], f"{path.name} reads the environment on lines {reads}"


def test_the_architecture_check_finds_a_forbidden_edge() -> None:
    """The checks above would fail on a bad module (a test that cannot fail is a defect)."""
    bad = ast.parse("from visearch.ingest.catalog import read_catalog\nimport plugin.search\n")
    targets = [target for _, target in visearch_imports(bad)]
    assert "ingest" in targets and "ingest" in LAYERS["plugin"]
    assert any(target.startswith("bare plugin") for target in targets)


def test_field_names_match_the_template() -> None:
    from visearch.mappings import fields

    template = json.loads((REPO / "mappings" / "products.json").read_text())
    properties = template["template"]["mappings"]["properties"]
    for name in (*fields.INTERNAL_FIELDS, fields.SKU, *fields.STANDARD_ATTRIBUTES):
        assert name in properties, name
    photo = properties[fields.PHOTOS_FIELD]["properties"]
    assert photo[fields.PHOTO_VECTOR]["type"] == "knn_vector"
    assert fields.PHOTO_IMAGE in photo


HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime", "openvino", "onnx")


@pytest.mark.parametrize(
    "module", ["visearch.plugin.search", "visearch.vectors", "visearch.web.app", "visearch.cli"]
)
def test_heavy_libraries_load_only_with_a_model(module: str) -> None:
    """The query side, the vectors layer and `visearch --help` never import torch (nor the
    ONNX runtimes): only loading an encoder does."""
    code = f"import sys, {module}; print(sorted(set({HEAVY!r}) & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    return [node for node in ast.walk(tree) if isinstance(node, kinds)]


@pytest.mark.parametrize(
    "path",
    [*package_files(), *sorted((REPO / "bench").glob("*.py"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_files_and_functions_stay_small(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_FILE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"  # decorators not counted
        for node in _functions(ast.parse(text))
        if node.end_lineno is not None and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


WHEEL_MUST_HOLD = (
    "cli.py",
    "plugin/search.py",
    "ingest/pipeline.py",
    "ingest/catalog/source.py",
    "vectors/load.py",
    "mappings/products.json",
    "web/static/index.html",
    "scripts/opensearch-node.pom.xml",
)


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_package(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    leftover = not (REPO / "build").exists()
    try:
        subprocess.run([*build, "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    finally:
        if leftover:  # setuptools builds in the source tree; leave it as it was
            shutil.rmtree(REPO / "build", ignore_errors=True)
    [wheel] = tmp_path.glob("visearch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"visearch", next(t for t in tops if t.endswith(".dist-info"))}
    for module in WHEEL_MUST_HOLD:
        assert f"visearch/{module}" in names
    assert not [name for name in names if name.startswith(("visearch/tests/", "visearch/bench/"))]
    entry = archive_text(wheel, "entry_points.txt")
    assert "visearch = visearch.cli:main" in entry


def archive_text(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(suffix))
        return archive.read(name).decode()
