"""pyproject.toml declares what the package imports, and the package runs on the Python it claims."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "ultrasound_reader"


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_norm(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in requirements}


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> files, for every import in the package that is not stdlib or our own."""
    found: dict[str, set[str]] = {}
    for f in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("ultrasound_reader", "__future__"):
                    found.setdefault(top, set()).add(str(f.relative_to(REPO)))
    return found


def test_every_imported_package_is_declared():
    """In the dependencies, or in an optional runtime extra (e.g. ``onnx``); the test extra does not count."""
    project = _project()
    declared = _names(project["dependencies"])
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra != "test":
            declared |= _names(requirements)
    dists = md.packages_distributions()
    undeclared = {}
    for module, files in _third_party_imports().items():
        owners = {_norm(d) for d in dists.get(module, [module])}
        if not owners & declared:
            undeclared[module] = sorted(files)[:3]
    assert not undeclared, f"imported but not in [project].dependencies: {undeclared}"


def test_test_only_packages_are_in_the_test_extra():
    """pytest and friends are for the tests: the package never imports them, users never install them."""
    project = _project()
    imports = _third_party_imports()
    deps = _names(project["dependencies"])
    for name in ("pytest", "pytestqt", "jpeg_ls"):
        assert name not in imports, name
    for name in ("pytest", "pytest-qt", "pyjpegls"):
        assert name not in deps and name in _names(project["optional-dependencies"]["test"]), name


def test_tomllib_falls_back_to_tomli_on_python_3_10(tmp_path):
    """requires-python >= 3.10: the config reader must not need 3.11's tomllib there."""
    assert any(r.startswith("tomli") and "python_version<'3.11'" in r.replace(" ", "").replace('"', "'")
               for r in _project()["dependencies"])
    code = (
        "import sys\n"
        "sys.modules['tomllib'] = None  # not in the standard library before 3.11\n"
        "real, sys.version_info = sys.version_info, (3, 10, 14, 'final', 0)\n"
        "from ultrasound_reader.training import config\n"
        "sys.version_info = real\n"
        "assert config.tomllib.__name__ == 'tomli', config.tomllib\n"
        f"print(config.tomllib.loads(open({str(PACKAGE / 'training' / 'configs' / 'tiny-soft-tissue.toml')!r}).read())['name'])\n"
        "open('bad.toml', 'w').write('name = [')\n"
        "try:\n"
        "    config.load_config('bad.toml', ())\n"
        "except config.UserError as exc:\n"
        "    print(exc)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr[-2000:]
    name, error = p.stdout.strip().splitlines()
    assert name == "tiny-soft-tissue" and error.startswith("bad.toml: ")  # tomli's TOMLDecodeError is caught
    # and no other module imports tomllib itself (they use training.config's)
    direct = [str(f.relative_to(REPO)) for f in PACKAGE.rglob("*.py") if f.name != "config.py"
              and any(isinstance(n, ast.Import) and any(a.name == "tomllib" for a in n.names)
                      for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))))]
    assert not direct
