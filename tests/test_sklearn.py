"""fastbp.sklearn: scikit-learn's own estimator checks, the estimators'
behaviour in scikit-learn's tools, and the search that trains every
candidate of a fold at once."""

import io
import re
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs, make_regression
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastbp.sklearn as fsk
from fastbp import NeuralNetwork, TrainingDivergedError
from fastbp.sklearn import FastBPClassifier, FastBPRegressor, FastBPSearchCV

#: The checks' estimators: the default units and layers in float64 on both
#: CPU backends (one compile of the numba kernels serves them all), and
#: numba's other units and float32; 20 epochs keep the checks to seconds.
CHECKED = [
    *(cls(epochs=20, backend=be) for be in ("numpy", "numba") for cls in (FastBPClassifier, FastBPRegressor)),
    FastBPClassifier(epochs=20, backend="numba", activation="relu", output="softmax", learning_rate=0.01),
    FastBPClassifier(epochs=20, backend="numba", dtype="float32"),
    FastBPRegressor(epochs=20, backend="numba", activation="tanh", dtype="float32"),
]


def expected_failures(estimator) -> dict[str, str]:
    """The checks an estimator of ``CHECKED`` fails, and why."""
    if isinstance(estimator, FastBPRegressor) and np.dtype(estimator.dtype) == np.float32:
        return {
            "check_regressor_multioutput": "dtype='float32' predicts in float32, the network's precision; the check "
            "wants float64 predictions (a cast would show digits the network does not have, and the float32 forward "
            "pass rounds differently from one batch size to another, which check_methods_subset_invariance then "
            "measures at float64's tolerance)"
        }
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failures, xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=60, centers=3, n_features=4, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:450] / 16.0, y[:450]


# -------------------------------------------------------------- estimators
@pytest.mark.parametrize("output", ["logistic", "softmax"])
def test_classifier_trains_the_network_fastbp_trains(backend_name, blobs, output):
    X, y = blobs
    clf = FastBPClassifier((5,), learning_rate=0.05, epochs=7, output=output, backend=backend_name, random_state=3)
    clf.fit(X, y)
    net = NeuralNetwork([4, 5, 3], 0.05, backend=backend_name, seed=3, output=output)
    _, losses = net.fit(X, np.eye(3)[y], epochs=7, verbose=False)
    for a, b in zip(clf.network_.W, net.W):
        np.testing.assert_array_equal(a, b)
    assert clf.loss_curve_ == losses.tolist() and clf.n_iter_ == 7 and clf.n_features_in_ == 4
    P = net.predict(X)
    expect = P if output == "softmax" else P / P.sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(clf.predict_proba(X), expect)
    np.testing.assert_array_equal(clf.predict(X), np.argmax(P, axis=1))


def test_binary_logistic_classifier_has_one_output(blobs):
    X, y = blobs
    keep = y < 2
    labels = np.where(y[keep] == 1, "yes", "no")
    clf = FastBPClassifier((4,), epochs=30, backend="numba", random_state=0).fit(X[keep], labels)
    assert clf.network_.layers == [4, 4, 1] and list(clf.classes_) == ["no", "yes"]
    p = clf.network_.predict(X[keep])[:, 0]
    np.testing.assert_array_equal(clf.predict_proba(X[keep]), np.column_stack([1 - p, p]))
    np.testing.assert_array_equal(clf.predict(X[keep]), np.where(p > 0.5, "yes", "no"))
    assert clf.score(X[keep], labels) > 0.9
    soft = FastBPClassifier((4,), epochs=3, output="softmax", backend="numba", random_state=0).fit(X[keep], labels)
    assert soft.network_.layers == [4, 4, 2]


def test_regressor_trains_the_network_fastbp_trains(backend_name):
    X, Y = make_regression(n_samples=40, n_features=3, n_targets=2, random_state=0)
    X, Y = X / 3, Y / 100
    reg = FastBPRegressor((6,), learning_rate=0.02, epochs=5, backend=backend_name, random_state=1).fit(X, Y)
    net = NeuralNetwork([3, 6, 2], 0.02, backend=backend_name, seed=1, output="linear")
    net.fit(X, Y, epochs=5, verbose=False)
    for a, b in zip(reg.network_.W, net.W):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(reg.predict(X), net.predict(X))
    one = FastBPRegressor((6,), epochs=5, backend=backend_name, random_state=1).fit(X, Y[:, 0])
    assert one.predict(X).shape == (40,) and one.network_.layers == [3, 6, 1]


def test_partial_fit_epochs_equal_one_fit(blobs):
    X, y = blobs
    kw = dict(hidden_layer_sizes=(5,), learning_rate=0.1, backend="numba", random_state=2)
    full = FastBPClassifier(epochs=4, **kw).fit(X, y)
    part = FastBPClassifier(**kw)
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        part.partial_fit(X, y)
    for _ in range(4):
        part.partial_fit(X, y, classes=[0, 1, 2])
    for a, b in zip(part.network_.W, full.network_.W):
        np.testing.assert_array_equal(a, b)
    assert part.loss_curve_ == full.loss_curve_ and part.n_iter_ == 4
    with pytest.raises(ValueError, match="differs from the classes of the first call"):
        part.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes_"):
        part.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="features"):
        part.partial_fit(X[:, :3], y)
    reg = FastBPRegressor((3,), epochs=2, backend="numba", random_state=0)
    reg.partial_fit(X, X[:, 0]).partial_fit(X, X[:, 0])
    ref = FastBPRegressor((3,), epochs=2, backend="numba", random_state=0).fit(X, X[:, 0])
    np.testing.assert_array_equal(reg.predict(X), ref.predict(X))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_layer_sizes": (5, 0)}, r"hidden_layer_sizes\[1\] must be an integer >= 1"),
        ({"hidden_layer_sizes": "5"}, "hidden_layer_sizes must be an int or a sequence"),
        ({"learning_rate": -0.1}, "learning_rate must be a positive finite number"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"activation": "softplus"}, "unknown activation 'softplus'"),
        ({"output": "identity"}, "output must be one of 'logistic', 'sigmoid', 'softmax' for FastBPClassifier"),
        ({"dtype": "float16"}, "dtype must be 'float32' or 'float64'"),
        ({"random_state": "seven"}, "cannot be used to seed"),
        ({"random_state": -1}, "random_state must be an integer >= 0"),
        ({"verbose": -1}, "verbose must be an integer >= 0"),
        ({"backend": "abacus"}, "unknown backend 'abacus'"),
        ({"threads": 0}, "threads must be an integer >= 1"),
    ],
)
def test_bad_parameters_are_named(blobs, params, message):
    X, y = blobs
    with pytest.raises((ValueError, TypeError), match=message):
        FastBPClassifier(**{"epochs": 1, **params}).fit(X, y)


def test_regressor_outputs_and_bad_targets(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="output must be one of 'identity', 'linear', 'logistic', 'sigmoid'"):
        FastBPRegressor(output="softmax").fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        FastBPClassifier(epochs=1).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="one class"):
        FastBPClassifier(epochs=1).fit(X, np.zeros(len(X)))


def test_divergence_names_the_learning_rate(blobs):
    X, _ = blobs
    with pytest.raises(TrainingDivergedError, match=r"learning_rate=1e\+30 may be too large"):
        FastBPRegressor((3,), learning_rate=1e30, epochs=5, backend="numba", random_state=0).fit(X, X[:, 0] * 100)


def test_verbose_prints_the_tutorials_lines(blobs, capsys):
    X, y = blobs
    FastBPClassifier((3,), epochs=6, verbose=2, backend="numba", random_state=0).fit(X, y)
    lines = re.findall(r"\[INFO\] epoch=(\d+), loss=", capsys.readouterr().out)
    assert lines == ["1", "2", "4", "6"]


def test_in_scikit_learns_tools(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), FastBPClassifier((16,), epochs=15, backend="numba", random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    fitted = clone(pipe).fit(X, y)
    buf = io.BytesIO()
    joblib.dump(fitted, buf)
    buf.seek(0)
    back = joblib.load(buf)
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))
    grid = GridSearchCV(pipe, {"fastbpclassifier__learning_rate": [0.05, 0.2]}, cv=2, n_jobs=2).fit(X, y)
    assert grid.best_score_ > 0.8 and grid.best_estimator_.predict(X[:5]).shape == (5,)
    unfitted = clone(grid.best_estimator_)
    assert not hasattr(unfitted[-1], "network_")
    assert unfitted[-1].get_params() == grid.best_estimator_[-1].get_params()


# ------------------------------------------------------------------ search
def assert_same_results(ours: FastBPSearchCV, theirs: GridSearchCV) -> None:
    keys = [k for k in theirs.cv_results_ if "time" not in k]
    assert sorted(keys) == sorted(k for k in ours.cv_results_ if "time" not in k)
    for k in keys:
        a, b = ours.cv_results_[k], theirs.cv_results_[k]
        if k == "params":
            assert a == b
        elif isinstance(b, np.ma.MaskedArray):  # a parameter's column: compare where a candidate has it
            np.testing.assert_array_equal(a.mask, b.mask, err_msg=k)
            assert a.dtype == b.dtype and a.compressed().tolist() == b.compressed().tolist(), k
        else:
            assert np.asarray(a).dtype == np.asarray(b).dtype, k
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=k)
    assert ours.best_index_ == theirs.best_index_ and ours.best_params_ == theirs.best_params_
    assert ours.best_score_ == theirs.best_score_


def count_calls(monkeypatch) -> list[int]:
    """The K of every call of the training loop the search makes."""
    calls: list[int] = []
    real = fsk.train_block

    def counted(spec, pairs, *args, **kw):
        calls.append(len(pairs))
        return real(spec, pairs, *args, **kw)

    monkeypatch.setattr(fsk, "train_block", counted)
    return calls


def test_search_scores_equal_grid_search_bit_for_bit(digits, monkeypatch):
    X, y = digits
    est = FastBPClassifier((12,), epochs=8, backend="numba")
    grid = {"learning_rate": [0.05, 0.1, 0.5], "random_state": [0, 7, np.random.RandomState(5)]}
    calls = count_calls(monkeypatch)
    ours = FastBPSearchCV(est, grid, cv=3, return_train_score=True).fit(X, y)
    assert calls == [9, 9, 9]  # each fold's 9 candidates in one call of the training loop
    theirs = GridSearchCV(est, grid, cv=3, return_train_score=True).fit(X, y)
    assert_same_results(ours, theirs)
    np.testing.assert_array_equal(ours.predict_proba(X), theirs.predict_proba(X))
    assert ours.score(X, y) == theirs.score(X, y) and list(ours.classes_) == list(range(10))
    assert ours.refit_time_ > 0 and ours.n_splits_ == 3 and ours.cv_results_["mean_fit_time"].shape == (9,)


def test_search_groups_what_changes_the_network_and_searches_pipelines(digits, monkeypatch):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), FastBPClassifier((10,), backend="numba"))
    grid = [
        {
            "fastbpclassifier__learning_rate": [0.05, 0.2],
            "fastbpclassifier__random_state": [0, 1],
            "fastbpclassifier__epochs": [3, 6],
        },
        {"fastbpclassifier__hidden_layer_sizes": [(4, 4)], "fastbpclassifier__random_state": [0, 3]},
    ]
    calls = count_calls(monkeypatch)
    ours = FastBPSearchCV(pipe, grid, cv=KFold(2), scoring="neg_log_loss").fit(X, y)
    assert calls == [4, 4, 2] * 2  # per fold: one call per epochs value, one for the other layers
    theirs = GridSearchCV(pipe, grid, cv=KFold(2), scoring="neg_log_loss").fit(X, y)
    assert_same_results(ours, theirs)


def test_search_of_a_regressor_with_a_diverging_candidate():
    X, y = make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)
    est = FastBPRegressor((5,), epochs=10, backend="numba", random_state=0)
    grid = {"learning_rate": [0.001, 0.01, 1e30], "random_state": [0, 1]}
    with pytest.warns(FitFailedWarning, match="6 fits failed out of a total of 18"):
        ours = FastBPSearchCV(est, grid, cv=3, return_train_score=True).fit(X, y / 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = GridSearchCV(est, grid, cv=3, return_train_score=True).fit(X, y / 100)
    assert np.isnan(ours.cv_results_["mean_test_score"][4:]).all()
    assert_same_results(ours, theirs)
    with pytest.raises(TrainingDivergedError, match="learning_rate=1e\\+30"):
        FastBPSearchCV(est, grid, cv=3, error_score="raise").fit(X, y / 100)


def test_search_refit_options_and_errors(blobs):
    X, y = blobs
    est = FastBPClassifier((3,), epochs=3, backend="numba")
    grid = {"learning_rate": [0.1, 0.3]}
    no = FastBPSearchCV(est, grid, cv=2, refit=False).fit(X, y)
    assert not hasattr(no, "best_estimator_") and no.best_params_ in ({"learning_rate": 0.1}, {"learning_rate": 0.3})
    picked = FastBPSearchCV(est, grid, cv=2, refit=lambda results: 1).fit(X, y)
    assert picked.best_index_ == 1 and picked.best_estimator_.learning_rate == 0.3
    with pytest.raises(TypeError, match="estimator must be a FastBPClassifier or a FastBPRegressor"):
        FastBPSearchCV(StandardScaler(), grid).fit(X, y)
    with pytest.raises(ValueError, match="scoring must be one metric"):
        FastBPSearchCV(est, grid, scoring=["accuracy", "f1_macro"]).fit(X, y)
    with pytest.raises(ValueError, match="Invalid parameter 'rate'"):
        FastBPSearchCV(est, {"rate": [1]}, cv=2).fit(X, y)
    with pytest.raises(ValueError, match="error_score must be 'raise' or a number"):
        FastBPSearchCV(est, grid, error_score="zero").fit(X, y)


def test_search_on_dask_equals_local(digits):
    distributed = pytest.importorskip("dask.distributed")
    X, y = digits
    est = FastBPClassifier((6,), epochs=4, backend="numpy")
    grid = {"learning_rate": [0.1, 0.3], "random_state": [0, 1]}
    local = FastBPSearchCV(est, grid, cv=2).fit(X[:120], y[:120])
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=40) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = FastBPSearchCV(est, grid, cv=2, client=client).fit(X[:120], y[:120])
    for s in range(2):
        np.testing.assert_array_equal(
            remote.cv_results_[f"split{s}_test_score"], local.cv_results_[f"split{s}_test_score"]
        )
