import subprocess
import sys


def test_importing_mmserve_builds_no_app_and_loads_no_cli():
    code = (
        "import sys, mmserve\n"
        "heavy = {'flask', 'click', 'mmserve.app', 'mmserve.cli', 'mmserve.api'}\n"
        "sys.exit(sorted(heavy & set(sys.modules)) or 0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
