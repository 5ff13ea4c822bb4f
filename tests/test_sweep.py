"""train_many: K networks at once, each exactly as if trained alone."""

import os
import threading
import time

import numpy as np
import pytest
from test_training import poison_at

import fastbp
from fastbp.datasets import from_arrays
from fastbp.training import plan


@pytest.fixture(scope="module")
def small():
    rng = np.random.RandomState(0)
    X = rng.rand(40, 6)
    labels = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.5).astype(int)
    return from_arrays(X, labels, X, labels, name="small")


def test_each_network_equals_training_it_alone(backend_name, dtype, small):
    alphas, seeds = [0.1, 0.8], [0, 3, 5]
    res = fastbp.train_many(
        small, [6, 5, 4, 3], alphas=alphas, seeds=seeds, backend=backend_name, epochs=7, dtype=dtype
    )
    assert len(res.results) == 6
    assert [(r.alpha, r.seed) for r in res.results] == [(a, s) for a in alphas for s in seeds]
    tol = 1e-12 if dtype == np.float64 else 1e-4
    for r in res.results:
        alone = fastbp.NeuralNetwork([6, 5, 4, 3], r.alpha, backend=backend_name, dtype=dtype, seed=r.seed)
        epochs, losses = alone.fit(small.X_train, small.Y_train, epochs=7, verbose=False)
        for a, b in zip(r.network.W, alone.W):
            err = np.max(np.abs(a.astype(float) - b)) / np.max(np.abs(b))
            assert err <= tol, f"alpha={r.alpha} seed={r.seed}: {err:.2e}"
        np.testing.assert_array_equal(r.loss_epochs, epochs)
        np.testing.assert_allclose(r.loss_history, losses, rtol=tol)
    assert res.network_samples_per_second > 0


def test_plan_grid_and_zip():
    assert plan([0.1, 0.2], [0, 1]) == [(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]
    assert plan([0.1, 0.2], [4, 5], grid=False) == [(0.1, 4), (0.2, 5)]
    assert plan(0.5, [1, 2], grid=False) == [(0.5, 1), (0.5, 2)]
    with pytest.raises(ValueError, match="alphas must be a positive finite number"):
        plan([0.1, -1], [0])
    with pytest.raises(ValueError, match="seeds must be an integer >= 0"):
        plan([0.1], [-2])
    with pytest.raises(ValueError, match="same length"):
        plan([0.1, 0.2, 0.3], [1, 2], grid=False)
    with pytest.raises(ValueError, match="seeds is empty"):
        plan([0.1], [])


def test_diverged_network_stops_alone(small, backend_name, monkeypatch):
    poison_at(monkeypatch, fastbp.get_backend(backend_name), 3, network=1)
    res = fastbp.train_many(small, [6, 5, 3], alphas=[0.2], seeds=[0, 1, 2], backend=backend_name, epochs=6)
    bad = res.results[1]
    assert bad.diverged_at == 3 and list(bad.loss_epochs) == [1, 2]
    assert all(np.isfinite(w).all() for w in bad.network.W)
    monkeypatch.undo()
    ref = fastbp.NeuralNetwork([6, 5, 3], 0.2, backend=backend_name, seed=1)
    ref.fit(small.X_train, small.Y_train, epochs=2, verbose=False)
    for a, b in zip(bad.network.W, ref.W):
        np.testing.assert_array_equal(a, b)
    for k in (0, 2):
        alone = fastbp.NeuralNetwork([6, 5, 3], 0.2, backend=backend_name, seed=[0, 1, 2][k])
        alone.fit(small.X_train, small.Y_train, epochs=6, verbose=False)
        assert res.results[k].diverged_at is None and list(res.results[k].loss_epochs) == [1, 2, 3, 4, 5, 6]
        for a, b in zip(res.results[k].network.W, alone.W):
            np.testing.assert_array_equal(a, b)
    assert "diverged at epoch 3" in res.table()


def test_sweep_networks_stay_on_the_callers_backend(small, backend_name):
    res = fastbp.train_many(small, [6, 4, 3], alphas=[0.1], seeds=[0, 1], backend=backend_name, epochs=2)
    assert res.backend == backend_name
    assert all(r.network.backend == backend_name for r in res.results)


def test_sweep_cli_prints_table_best_first(capsys):
    from fastbp.cli import main

    assert (
        main(
            [
                "sweep",
                "--dataset",
                "xor",
                "--alphas",
                "0.5,2",
                "--seeds",
                "0-1",
                "--epochs",
                "300",
                "--backend",
                "numpy",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "4 networks 2-2-1" in out and "| rank | alpha | seed |" in out
    ranks = [l for l in out.splitlines() if l.startswith(("| 1 |", "| 4 |"))]
    assert len(ranks) == 2


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_sweep_equals_local(dask_client, small):
    kw = dict(alphas=[0.1, 0.5], seeds=[0, 1, 2], backend="numpy", epochs=5)
    local = fastbp.train_many(small, [6, 4, 3], **kw)
    remote = fastbp.train_many(small, [6, 4, 3], client=dask_client, chunk_size=2, **kw)
    assert [(r.alpha, r.seed) for r in remote.results] == [(r.alpha, r.seed) for r in local.results]
    for a, b in zip(remote.results, local.results):
        for u, v in zip(a.network.W, b.network.W):
            np.testing.assert_array_equal(u, v)
    assert remote.distributed


def test_dask_worker_lost_mid_sweep_is_retried(dask_client, small):
    import os

    kw = dict(alphas=[0.3], seeds=list(range(4)), backend="numpy", epochs=400)
    result = {}

    def run():
        result["res"] = fastbp.train_many(small, [6, 8, 3], client=dask_client, chunk_size=2, **kw)

    t = threading.Thread(target=run)
    t.start()
    victim = None
    deadline = time.time() + 60
    while time.time() < deadline and victim is None:
        busy = {w: tasks for w, tasks in dask_client.processing().items() if tasks}
        if busy:
            victim = sorted(busy)[0]
        else:
            time.sleep(0.05)
    assert victim is not None, "no chunk started within 60 s"
    time.sleep(0.3)  # let it get into the chunk
    import signal

    pid = dask_client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    t.join(timeout=300)
    assert not t.is_alive()
    assert victim not in dask_client.scheduler_info()["workers"]  # it really was lost
    remote = result["res"]
    local = fastbp.train_many(small, [6, 8, 3], **kw)
    assert len(remote.results) == 4
    assert [r.seed for r in remote.results] == [0, 1, 2, 3]
    for a, b in zip(remote.results, local.results):
        for u, v in zip(a.network.W, b.network.W):
            np.testing.assert_array_equal(u, v)


def test_dask_workers_train_with_the_callers_backend_object(dask_client, small, tmp_path):
    from test_careless import Recording, recorded

    log = str(tmp_path / "calls")
    res = fastbp.train_many(small, [6, 4, 3], seeds=[0, 1, 2, 3], backend=Recording(log), epochs=2, client=dask_client)
    calls = recorded(log)
    assert calls and all(pid != os.getpid() for pid, _ in calls)  # trained on the workers, by the object given
    assert sum(k for _, k in calls) >= 4 and res.distributed
