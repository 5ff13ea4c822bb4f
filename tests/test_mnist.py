"""MNIST and Fashion-MNIST: lookup, formats, checksums, download, the offline error.

The real MNIST files are found next to the repository (../shared/data/mnist)
or through $FASTBP_DATA; tests that need them are skipped where neither has
them. Downloads go to a local HTTP server; no test reaches the internet.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import fastbp
from fastbp import datasets
from fastbp.errors import DataFileError

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _holds_mnist(folder: Path) -> bool:
    return all((folder / name).is_file() or (folder / f"{name}.gz").is_file() for name in NAMES)


def _find_shared_mnist() -> Path | None:
    candidates = []
    if os.environ.get("FASTBP_DATA"):
        candidates += [Path(os.environ["FASTBP_DATA"]) / "mnist", Path(os.environ["FASTBP_DATA"])]
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist")
    return next((c for c in candidates if _holds_mnist(c)), None)


SHARED = _find_shared_mnist()
needs_mnist = pytest.mark.skipif(
    SHARED is None, reason="the MNIST files are not here (../shared/data/mnist next to the repo, or $FASTBP_DATA)"
)


def _unchained(exc: BaseException) -> bool:
    """True when a traceback of ``exc`` shows no other exception."""
    return exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def _closed_port_url() -> str:
    """An http:// URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _with_mirrors(monkeypatch, key: str, *mirrors: str) -> None:
    monkeypatch.setitem(datasets._SOURCES, key, dataclasses.replace(datasets._SOURCES[key], mirrors=mirrors))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No user cache, no $FASTBP_DATA, and mirrors where nothing answers."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTBP_CACHE_DIR", raising=False)
    monkeypatch.delenv("FASTBP_DATA", raising=False)
    for key in datasets._SOURCES:
        _with_mirrors(monkeypatch, key, _closed_port_url())


def _gz_path(name: str) -> Path:
    assert SHARED is not None
    return SHARED / f"{name}.gz" if (SHARED / f"{name}.gz").is_file() else SHARED / name


def _content(name: str) -> bytes:
    data = _gz_path(name).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _copy_gz(dest: Path, replace: dict[str, bytes] | None = None) -> Path:
    """The four files gzipped in ``dest``, with ``replace`` giving other
    content for some of them."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        if replace and name in replace:
            (dest / f"{name}.gz").write_bytes(gzip.compress(replace[name], compresslevel=1))
        elif _gz_path(name).suffix == ".gz":
            shutil.copyfile(_gz_path(name), dest / f"{name}.gz")
        else:
            (dest / f"{name}.gz").write_bytes(gzip.compress(_content(name), compresslevel=1))
    return dest


@pytest.fixture(scope="module")
def full():
    """All of MNIST loaded once from the shared gz files, and the seconds it took."""
    if SHARED is None:
        pytest.skip("the MNIST files are not here")
    t0 = time.perf_counter()
    d = datasets.mnist(SHARED, download=False)
    return d, time.perf_counter() - t0


@needs_mnist
def test_mnist_matches_the_published_facts(full):
    d, seconds = full
    assert repr(d) == "Dataset('mnist': 60000 train, 10000 test, 784 features, 10 outputs)"
    assert d.X_train.dtype == np.float32 and d.X_train.shape == (60000, 784) and d.X_test.shape == (10000, 784)
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    assert (d.layers, d.alpha, d.epochs, d.name) == ([784, 300, 100, 10], 0.5, 20, "mnist")
    np.testing.assert_array_equal(d.classes, np.arange(10))
    train_counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    np.testing.assert_array_equal(d.Y_train.sum(axis=0), train_counts)
    np.testing.assert_array_equal(np.bincount(d.labels_test), test_counts)
    np.testing.assert_array_equal(d.Y_test.argmax(axis=1), d.labels_test)
    assert d.Y_train[0].argmax() == 5 and d.labels_test[0] == 7
    assert abs(float(d.X_train.astype(np.float64).mean()) * 255 - 33.318) < 5e-4
    assert d.meta["verified"] == "SHA-256 of the IDX content"
    assert seconds < 20, f"loading MNIST took {seconds:.1f} s"


@needs_mnist
def test_plain_files_in_a_subfolder_and_limits(tmp_path, full):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in NAMES:
        (folder / name).write_bytes(_content(name))
    d = datasets.mnist(tmp_path / "data", n_train=100, n_test=30, dtype="float64", download=False)
    assert d.meta["source"] == str(folder)
    assert d.X_train.dtype == np.float64 and d.X_train.shape == (100, 784) and d.X_test.shape == (30, 784)
    raw = np.frombuffer(_content(NAMES[0]), dtype=np.uint8, offset=16).reshape(60000, 784)
    np.testing.assert_array_equal(d.X_train, raw[:100] / 255.0)
    np.testing.assert_array_equal(d.labels_test, full[0].labels_test[:30])


@needs_mnist
def test_fit_and_predict_take_the_images_without_copying_them(full):
    from fastbp.network import add_bias

    d = full[0]
    for X in (d.X_train, d.X_test):
        X1 = add_bias(X)
        assert np.shares_memory(X1, X) and X1.flags.c_contiguous
        np.testing.assert_array_equal(X1[:, :-1], X)
        assert np.all(X1[:, -1] == 1)
    net = fastbp.NeuralNetwork([784, 8, 10], 0.5, backend="numpy", seed=0)
    twin = fastbp.NeuralNetwork([784, 8, 10], 0.5, backend="numpy", seed=0)
    net.fit(d.X_train[:200], d.Y_train[:200], epochs=1, verbose=False)
    twin.fit(np.ascontiguousarray(d.X_train[:200]), d.Y_train[:200], epochs=1, verbose=False)
    for a, b in zip(net.W, twin.W):
        np.testing.assert_array_equal(a, b)


@needs_mnist
def test_lookup_order_data_dir_then_env_then_cache(tmp_path, monkeypatch, capsys):
    tampered = bytearray(_content("t10k-labels-idx1-ubyte"))
    tampered[-1] = (tampered[-1] + 1) % 10
    bad = _copy_gz(tmp_path / "bad", {"t10k-labels-idx1-ubyte": bytes(tampered)})
    monkeypatch.setenv("FASTBP_DATA", str(SHARED))
    assert datasets.mnist(n_train=5, n_test=5).meta["source"] == str(SHARED)
    with pytest.raises(DataFileError, match="fails its checksum"):
        datasets.mnist(bad, n_train=5, n_test=5)  # data_dir first: never passed over
    monkeypatch.delenv("FASTBP_DATA")
    cache = _copy_gz(tmp_path / "cache" / "fastbp" / "mnist")
    assert datasets.mnist(n_train=5, n_test=5).meta["source"] == str(cache)
    assert capsys.readouterr().err == ""  # nothing downloaded


def test_data_dir_must_be_a_folder(tmp_path):
    with pytest.raises(DataFileError, match=r"data_dir '.*nowhere' does not exist"):
        datasets.mnist(tmp_path / "nowhere")
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataFileError, match="is not a folder"):
        datasets.mnist(tmp_path / "f")


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="n_train must be None or an integer from 1 to 60,000"):
        datasets.mnist(tmp_path, n_train=60001)
    with pytest.raises(ValueError, match="n_test"):
        datasets.mnist(tmp_path, n_test=0)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        datasets.mnist(tmp_path, dtype="int8")


@needs_mnist
def test_checksum_mismatch_names_the_file_and_both_hashes(tmp_path):
    content = bytearray(_content("train-labels-idx1-ubyte"))
    content[100] = (content[100] + 1) % 10  # one label changed: still a valid IDX file
    folder = _copy_gz(tmp_path, {"train-labels-idx1-ubyte": bytes(content)})
    with pytest.raises(DataFileError) as info:
        datasets.mnist(folder, download=False)
    msg = str(info.value)
    assert str(folder / "train-labels-idx1-ubyte.gz") in msg
    assert "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5" in msg
    assert hashlib.sha256(bytes(content)).hexdigest() in msg
    assert _unchained(info.value)


@needs_mnist
def test_truncated_gz_is_reported(tmp_path):
    folder = _copy_gz(tmp_path)
    gz = folder / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:5000])
    with pytest.raises(DataFileError, match=r"t10k-images-idx3-ubyte.gz' is truncated"):
        datasets.mnist(folder, download=False)


@needs_mnist
def test_keras_npz(tmp_path, full):
    arrays = [np.frombuffer(_content(n), np.uint8, offset=16 if "images" in n else 8) for n in NAMES]
    x, y, xt, yt = arrays[0].reshape(-1, 28, 28), arrays[1], arrays[2].reshape(-1, 28, 28), arrays[3]
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    d = datasets.mnist(tmp_path, n_train=50, n_test=50, download=False)
    assert d.meta["source"] == str(tmp_path / "mnist.npz") and d.meta["verified"] == "SHA-256 of the IDX content"
    np.testing.assert_array_equal(d.X_train, full[0].X_train[:50])
    np.testing.assert_array_equal(d.labels_test, full[0].labels_test[:50])

    x = x.copy()
    x[7, 3, 3] ^= 1
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    with pytest.raises(DataFileError, match=r"mnist.npz\[x_train\]' fails its checksum"):
        datasets.mnist(tmp_path, download=False)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y)
    with pytest.raises(DataFileError, match="has no test split"):
        datasets.mnist(tmp_path, download=False)


def test_offline_error_names_folders_files_and_remedies(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(DataFileError) as info:
        datasets.mnist(empty)
    msg = str(info.value)
    cache = tmp_path / "cache" / "fastbp" / "mnist"
    for text in (*NAMES, "mnist.npz", str(empty / "mnist"), str(empty), str(cache), "--data-dir", "$FASTBP_DATA"):
        assert text in msg
    assert "has train-images-idx3-ubyte.gz but not train-labels-idx1-ubyte" in msg
    assert "Download into" in msg and "Connection refused" in msg
    assert len(msg.splitlines()) <= 6
    assert _unchained(info.value)
    assert not list(cache.glob("*"))  # no half-written file left

    with pytest.raises(DataFileError, match=r"Downloading is off \(download=False\)"):
        datasets.fashion_mnist(download=False)


# ------------------------------------------------------------- download
class _Mirrors(http.server.BaseHTTPRequestHandler):
    """/good/NAME serves the file, /corrupt/NAME a valid gzip of changed
    content, /short/NAME half the bytes it announces; anything else is 404."""

    files: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[str]] = []

    def do_GET(self):
        self.requests.append(self.path)
        kind, _, name = self.path.strip("/").partition("/")
        body = self.files.get(name)
        if body is None or kind not in ("good", "corrupt", "short"):
            self.send_error(404)
            return
        if kind == "corrupt":
            content = bytearray(gzip.decompress(body))
            content[-1] ^= 1
            body = gzip.compress(bytes(content), compresslevel=1)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if kind == "short" else body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if SHARED is None:
        pytest.skip("the MNIST files are not here")
    _Mirrors.files = {f"{n}.gz": _gz_path(n).read_bytes() for n in NAMES if _gz_path(n).suffix == ".gz"}
    if len(_Mirrors.files) < 4:
        _Mirrors.files = {f"{n}.gz": gzip.compress(_content(n), compresslevel=1) for n in NAMES}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirrors)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@needs_mnist
def test_download_falls_back_verifies_and_writes_atomically(server, tmp_path, monkeypatch, capsys):
    _with_mirrors(monkeypatch, "mnist", server + "short/", server + "corrupt/", server + "good/")
    _Mirrors.requests.clear()
    d = datasets.mnist(n_train=10, n_test=10)
    assert _Mirrors.requests[:3] == [f"/{kind}/train-images-idx3-ubyte.gz" for kind in ("short", "corrupt", "good")]
    cache = tmp_path / "cache" / "fastbp" / "mnist"
    assert d.meta["source"] == str(cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in NAMES)  # no .part file left
    for n in NAMES:
        assert (cache / f"{n}.gz").read_bytes() == _Mirrors.files[f"{n}.gz"]
    err = capsys.readouterr().err
    size = len(_Mirrors.files["train-images-idx3-ubyte.gz"])
    assert f"fastbp: downloaded {server}good/train-images-idx3-ubyte.gz: {size:,} bytes (100%), verified" in err
    assert err.count("fastbp: downloaded") == 4 and "short/" not in err and "corrupt/" not in err

    datasets.mnist(n_train=10, n_test=10)  # now from the cache
    assert capsys.readouterr().err == ""


@needs_mnist
def test_download_failing_everywhere_leaves_nothing(server, tmp_path, monkeypatch):
    _with_mirrors(monkeypatch, "mnist", server + "short/", server + "corrupt/", server + "missing/")
    with pytest.raises(DataFileError) as info:
        datasets.mnist()
    msg = str(info.value)
    assert f"{server}short/train-images-idx3-ubyte.gz: ValueError: the download ended after" in msg
    assert f"{server}corrupt/train-images-idx3-ubyte.gz' fails its checksum" in msg
    assert f"{server}missing/train-images-idx3-ubyte.gz: HTTPError: HTTP Error 404" in msg
    assert msg.startswith("MNIST not found")
    cache = tmp_path / "cache" / "fastbp" / "mnist"
    assert list(cache.iterdir()) == []


# --------------------------------------------------------- Fashion-MNIST
@needs_mnist
def test_fashion_mnist_verifies_published_archives(tmp_path, monkeypatch):
    """Fashion-MNIST's known checksums are of its .gz archives: MNIST's gz
    files stand in as the "published" ones to check the logic offline."""
    folder = _copy_gz(tmp_path / "fashion-mnist")
    digests = [hashlib.sha256((folder / f"{n}.gz").read_bytes()).hexdigest() for n in NAMES]
    src = datasets._SOURCES["fashion-mnist"]
    files = tuple(dataclasses.replace(f, gz_sha256=h) for f, h in zip(src.files, digests))
    monkeypatch.setitem(datasets._SOURCES, "fashion-mnist", dataclasses.replace(src, files=files))
    mnist = datasets._SOURCES["mnist"]  # forget MNIST's checksums, which would tell the stand-ins apart
    unknown = tuple(dataclasses.replace(f, sha256=None) for f in mnist.files)
    monkeypatch.setitem(datasets._SOURCES, "mnist", dataclasses.replace(mnist, files=unknown))

    d = datasets.get_dataset("fashion_mnist", data_dir=tmp_path)
    assert d.name == "fashion-mnist" and d.X_train.shape == (60000, 784)
    assert d.meta["verified"] == "SHA-256 of the published .gz archives"
    assert d.meta["class_names"][9] == "Ankle boot"

    plain = tmp_path / "plain"
    plain.mkdir()
    for n in NAMES:
        (plain / n).write_bytes(gzip.decompress((folder / f"{n}.gz").read_bytes()))
    assert datasets.fashion_mnist(plain, n_train=5, n_test=5).meta["verified"].startswith("not fully")

    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_content("train-labels-idx1-ubyte")))
    with pytest.raises(DataFileError, match=r"SHA-256 of the published \.gz archive should be"):
        datasets.fashion_mnist(tmp_path)


@needs_mnist
def test_fashion_mnist_says_when_it_finds_mnist():
    with pytest.raises(DataFileError, match="is MNIST's train-images-idx3-ubyte, not Fashion-MNIST's") as info:
        datasets.fashion_mnist(SHARED, download=False)
    assert "--dataset mnist" in str(info.value) and "delete" not in str(info.value)  # a valid file is kept


@needs_mnist
def test_training_on_a_real_subset_learns(backend_name):
    """784-300-100-10, the data set's defaults (alpha 0.5), 2 epochs on the
    first training images; measured test accuracy on the first 2,000 test
    images: 0.899 (10,000 images, float32) and 0.859 (3,000, numpy backend)."""
    import fastbp

    n, floor = (3000, 0.83) if backend_name == "numpy" else (10000, 0.87)
    ds = fastbp.datasets.mnist(SHARED, n_train=n, n_test=2000)
    r = fastbp.train(ds, backend=backend_name, epochs=2, seed=0, dtype="float32", verbose=False)
    assert r.layers == [784, 300, 100, 10]
    assert r.accuracy >= floor, r.report


@needs_mnist
def test_relu_softmax_training_on_a_real_subset_learns(backend_name):
    """784-300-100-10 with relu hidden units and a softmax output, the data
    set's rate for them (alpha 0.003), 2 epochs on the first training images;
    measured test accuracy on the first 2,000 test images, float32: 0.868,
    0.877, 0.874 (3,000 images, numpy backend, seeds 0-2), 0.919 (10,000
    images, numba, seed 0)."""
    import fastbp

    if fastbp.get_backend(backend_name).unsupported("relu", "softmax") is not None:
        pytest.skip(fastbp.get_backend(backend_name).unsupported("relu", "softmax"))
    n, floor = (3000, 0.85) if backend_name == "numpy" else (10000, 0.9)
    ds = fastbp.datasets.mnist(SHARED, n_train=n, n_test=2000)
    r = fastbp.train(
        ds, backend=backend_name, epochs=2, seed=0, dtype="float32", verbose=False, activation="relu", output="softmax"
    )
    assert r.alpha == 0.003 and r.network.output == "softmax"
    assert r.accuracy >= floor, r.report
