"""The layers contract (pyproject.toml, `lint-imports`, run by `make test`) holds on the tree and
breaks on an import that points up or closes a cycle: each planted in a copy of the tree, so
the checkout itself is never touched."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gridwatch", "dashboard", "layers", "casework", "alerts", "telemetry", "geodata")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(where: Path) -> subprocess.CompletedProcess:
    # cwd is put first on sys.path by lint-imports, so a copy is analysed, not the installed tree
    return subprocess.run([str(LINT), "--no-cache", "--no-logo", str(where / "pyproject.toml")], cwd=where,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path) -> Path:
    """The packages' Python files and pyproject.toml, copied."""
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg,
                        ignore=lambda d, names: [n for n in names if n == "__pycache__"
                                                 or not (n.endswith(".py") or (Path(d) / n).is_dir())])
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract():
    out = lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_the_copy_is_what_gets_analysed(tree):
    out = lint(tree)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("module, body, importer, imported", [
    ("geodata/planted.py", "import dashboard.server\n", "geodata.planted", "dashboard.server"),
    ("telemetry/planted.py", "from alerts import states\n", "telemetry.planted", "alerts.states"),
    ("alerts/planted.py", "from casework import planted_low\n", "alerts.planted", "casework.planted_low"),
    ("gridwatch/redisconn.py", "import geodata.uscc\n", "gridwatch.redisconn", "geodata.uscc"),
])
def test_an_import_pointing_up_breaks_the_layers(tree, module, body, importer, imported):
    target = tree / module
    (tree / "casework" / "planted_low.py").write_text('"""low"""\n')
    target.write_text((target.read_text() if target.exists() else '"""planted"""\n') + body)
    out = lint(tree)
    assert out.returncode != 0, out.stdout
    assert "layers: shell -> dashboard" in out.stdout and "BROKEN" in out.stdout
    assert f"{importer} -> {imported}" in out.stdout


def test_the_base_and_the_launcher_stay_below_everything(tree):
    (tree / "gridwatch" / "services.py").write_text(
        (tree / "gridwatch" / "services.py").read_text() + "\nimport telemetry.mqtt\n")
    out = lint(tree)
    assert out.returncode != 0
    assert "gridwatch.services -> telemetry.mqtt" in out.stdout


def test_a_cycle_inside_a_package_breaks_the_contract(tree):
    # the shape issue 12 found: ingest and worker importing each other
    ingest = tree / "telemetry" / "ingest.py"
    ingest.write_text(ingest.read_text() + "\nfrom telemetry.worker import IngestWorker  # noqa: E402\n")
    out = lint(tree)
    assert out.returncode != 0
    assert "No cycles are allowed in telemetry" in out.stdout
