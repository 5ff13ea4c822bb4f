"""The release a user installs.

``python -m build`` makes an sdist and a wheel built from that sdist; both
carry the CUDA sources and ``py.typed``. The wheel, installed into a fresh
virtual environment, runs ``fastbp info`` and the tutorial's XOR from outside
the source tree, on numba and on numpy, with the same weights.

The fresh environment reuses this environment's dependencies (a ``.pth`` line
naming its site-packages; ``.pth`` files in that folder, such as the editable
install's, are not processed), so installing the wheel downloads nothing while
pip still checks that they satisfy the wheel's requirements. Skipped, with the
reason, where ``build`` is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastbp

ROOT = Path(__file__).resolve().parents[1]

XOR = """
import json, sys
import numpy as np
import fastbp

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
y = np.array([[0], [1], [1], [0]])
runs = {}
for backend in ("numba", "numpy"):
    nn = fastbp.NeuralNetwork([2, 2, 1], alpha=0.5, seed=0, backend=backend)
    epochs, losses = nn.fit(X, y, epochs=300, displayUpdate=100)
    runs[backend] = {"losses": losses.tolist(), "W": [w.tolist() for w in nn.W]}
print(json.dumps({"file": fastbp.__file__, "version": fastbp.__version__, "runs": runs}))
"""


def _run(cmd, cwd, env=None, timeout=600):
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    pytest.importorskip("build", reason='the packaging check needs build: pip install build (in "fastbp[test]")')
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=ROOT)
    (wheel,) = out.glob("fastbp-*.whl")
    (sdist,) = out.glob("fastbp-*.tar.gz")
    return wheel, sdist


def test_wheel_and_sdist_carry_the_cuda_sources_and_py_typed(dist):
    wheel, sdist = dist
    want = {"fastbp/py.typed"} | {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "fastbp" / "backends" / "cuda").glob("*.cu*")
    }
    assert any(w.endswith(".cu") for w in want) and any(w.endswith(".cuh") for w in want)
    assert wheel.name.startswith(f"fastbp-{fastbp.__version__}-")
    assert want <= set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as tar:
        top = f"fastbp-{fastbp.__version__}/"
        assert want <= {n.removeprefix(top) for n in tar.getnames()}


def test_wheel_installs_into_a_fresh_venv_and_trains_xor(dist, tmp_path):
    wheel, _ = dist
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path)
    Path(site.strip(), "fastbp-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)], cwd=tmp_path)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(FASTBP_CACHE_DIR=str(tmp_path / "cache"), NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    _run([str(bin_dir / "fastbp"), "info"], cwd=tmp_path, env=env)  # the console script
    out = _run([str(python), "-c", XOR], cwd=tmp_path, env=env).splitlines()
    assert out[0].startswith("[INFO] epoch=1, loss=")
    got = json.loads(out[-1])
    assert Path(got["file"]).is_relative_to(venv)
    assert got["version"] == fastbp.__version__
    numba, numpy = got["runs"]["numba"], got["runs"]["numpy"]
    assert numba["losses"][-1] < numba["losses"][0]
    assert numba["losses"] == pytest.approx(numpy["losses"], rel=1e-10)
    for a, b in zip(numba["W"], numpy["W"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
