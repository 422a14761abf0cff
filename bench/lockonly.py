"""Run a Python process as if only requirements.lock were installed (the Docker image).

The development venv also holds the test tools' dependencies (selenium, schemathesis:
requests, urllib3, charset_normalizer, pygments, rich, trio, wsproto, ...), and libraries
import optional packages when they find them: rest_framework.compat imports requests and
pygments, uvicorn's "auto" WebSocket choice wsproto, httpx (ollama) rich and trio. So RSS
measured in the venv is higher than in production. `lock_only_env()` returns the
environment variables that make a child process refuse (ModuleNotFoundError, as if absent)
every top-level module whose distributions are all missing from requirements.lock; the
gateway then imports what it would import in the image.
"""

from __future__ import annotations

import os
import re
import tempfile
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SITECUSTOMIZE = '''\
"""bench/lockonly.py: packages outside requirements.lock are treated as not installed."""
import os
import sys

_ABSENT = frozenset(filter(None, os.environ.get("BENCH_ABSENT_MODULES", "").split(",")))


class _NotInLock:
    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in _ABSENT:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not in requirements.lock)", name=fullname)
        return None


sys.meta_path.insert(0, _NotInLock())
'''


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_distributions(lock: Path = REPO / "requirements.lock") -> set[str]:
    names = set()
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)(\[[^\]]*\])?==", line)
        if match:
            names.add(_normalize(match.group(1)))
    return names


def absent_modules(lock: Path = REPO / "requirements.lock") -> set[str]:
    """Top-level modules of the venv that no distribution in the lock provides."""
    allowed = lock_distributions(lock)
    return {
        top
        for top, dists in packages_distributions().items()
        if not top.startswith("_") and not any(_normalize(d) in allowed for d in dists)
    }


def lock_only_env() -> dict[str, str]:
    """PYTHONPATH (a sitecustomize that blocks the modules) and the list of modules."""
    site_dir = Path(tempfile.mkdtemp(prefix="bench-lockonly-"))
    (site_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(filter(None, [str(site_dir), os.environ.get("PYTHONPATH", "")]))
    return {"PYTHONPATH": path, "BENCH_ABSENT_MODULES": ",".join(sorted(absent_modules()))}


if __name__ == "__main__":
    print(" ".join(sorted(absent_modules())))
