import ast
import subprocess
import sys
from pathlib import Path

import mmserve.fusion

FUSION = Path(mmserve.fusion.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_fusion_imports_neither_flask_nor_the_api():
    for path in FUSION.glob("*.py"):
        for name in imported_modules(path):
            assert not name.startswith(("flask", "werkzeug", "mmserve.api")), (path.name, name)


def test_serving_an_exported_model_needs_no_torch():
    code = (
        "import sys\n"
        "import mmserve.fusion.artifact, mmserve.fusion.runtime, mmserve.fusion.features\n"
        "sys.exit(sorted({'torch', 'matplotlib'} & set(sys.modules)) or 0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
