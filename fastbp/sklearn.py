"""scikit-learn estimators over fastbp's kernels and training loop, and a
search that trains every candidate of a fold at once.

``FastBPClassifier`` and ``FastBPRegressor`` are scikit-learn estimators
(they pass ``sklearn.utils.estimator_checks``): ``fit``, ``partial_fit``,
``predict``, ``predict_proba`` (classifier), ``score``; they work in a
``Pipeline``, ``cross_val_score``, ``GridSearchCV``, ``clone`` and joblib.
Each trains one ``fastbp.NeuralNetwork`` by the tutorial's exact per-sample
SGD: every training sample in order, one step each, ``epochs`` times.

``FastBPSearchCV`` searches a grid as ``GridSearchCV`` does and gives the
same cross-validation scores, bit for bit on the numba backend: the
candidates of a fold that differ only in ``learning_rate`` and
``random_state`` train as K networks in ONE call of the training loop
(``fastbp.training.train_block``; locally, on a GPU with the cuda backend,
or in chunks on Dask with ``client=``), since each of them ends with the
weights it would have if trained alone.

The arguments are checked here, at the boundary, with scikit-learn's own
validation (``validate_data``) and fastbp's (``network_spec``); nothing
below checks them again.
"""

from __future__ import annotations

import copy
import numbers
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import sklearn
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, clone, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d
from threadpoolctl import threadpool_limits

from .errors import TrainingDivergedError
from .network import NeuralNetwork
from .spec import NetworkSpec, network_spec
from .training import train_block
from .validation import check_alpha, check_dtype, check_epochs, check_int, check_memory, check_seed

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6
    raise ImportError(
        f"fastbp.sklearn needs scikit-learn >= 1.6 (validate_data, estimator tags); this is {sklearn.__version__}: "
        'pip install -U "scikit-learn>=1.6"'
    ) from None

__all__ = ["FastBPClassifier", "FastBPRegressor", "FastBPSearchCV"]

#: The parameters the search trains together: candidates that differ only in
#: these are K networks of one shape on one data set.
BATCHED_PARAMS = ("learning_rate", "random_state")

_E = TypeVar("_E", bound="_FastBPEstimator")


def seed_of(random_state: Any) -> int:
    """The seed of a network's initial weights for ``random_state``, as
    scikit-learn reads it: an int is the seed itself (``RandomState(seed)``,
    fastbp's ``seed=``: the tutorial's weights after ``np.random.seed``), a
    ``RandomState`` gives one draw, None one draw from NumPy's global state."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seed = check_seed(random_state, "random_state")
        assert seed is not None
        return seed
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class _FastBPEstimator(BaseEstimator):
    """What the classifier and the regressor share: the checked settings,
    the network's spec, fitting and predicting through ``NeuralNetwork``."""

    hidden_layer_sizes: int | Sequence[int]
    learning_rate: float
    epochs: int
    activation: str
    output: str
    backend: Any
    dtype: Any
    threads: int | None
    random_state: Any
    verbose: int | bool

    #: the output units this estimator offers: its names -> fastbp's
    _OUTPUTS: ClassVar[dict[str, str]] = {}

    network_: NeuralNetwork
    loss_curve_: list[float]
    n_iter_: int
    n_features_in_: int

    # ------------------------------------------------------------ settings
    def _hidden(self) -> list[int]:
        h = self.hidden_layer_sizes
        sizes = [h] if isinstance(h, numbers.Integral) else h
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
            raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints such as (100,), got {h!r}")
        return [check_int(n, f"hidden_layer_sizes[{i}]", 1) for i, n in enumerate(sizes)]

    def _output(self) -> str:
        key = self.output.strip().lower() if isinstance(self.output, str) else self.output
        if key not in self._OUTPUTS:
            raise ValueError(
                f"output must be one of {', '.join(map(repr, self._OUTPUTS))} for {type(self).__name__}, got {self.output!r}"
            )
        return self._OUTPUTS[key]

    def _verbose(self) -> int:
        v = self.verbose
        return int(v) if isinstance(v, bool) else check_int(v, "verbose", 0)

    def _spec(self, n_features: int, n_outputs: int, n_networks: int = 1) -> NetworkSpec:
        """The checked spec of this estimator's network(s) for the data's widths."""
        return network_spec(
            [n_features, *self._hidden(), n_outputs],
            activation=self.activation,
            output=self._output(),
            dtype=self.dtype,
            backend=self.backend,
            threads=self.threads,
            n_networks=n_networks,
        )

    def _check_settings(self) -> tuple[float, int]:
        """(learning_rate, epochs), checked with the other settings that do
        not depend on the data; errors name the parameter."""
        self._hidden(), self._output(), self._verbose(), check_dtype(self.dtype)
        return check_alpha(self.learning_rate, "learning_rate"), check_epochs(self.epochs)

    # ---------------------------------------------------------------- data
    def _targets(self, y: np.ndarray, first: bool, classes: ArrayLike | None = None) -> np.ndarray:
        """The 2-D float targets of validated ``y`` (setting what ``first``
        fits of them: ``classes_``)."""
        raise NotImplementedError

    def _data(
        self, X: ArrayLike, y: ArrayLike, first: bool, classes: ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(X, Y) validated, as float arrays of the estimator's dtype; ``first``
        (a fit) sets ``n_features_in_`` and the targets' attributes, later
        calls check against them."""
        dt = check_dtype(self.dtype)
        Xv, yv = validate_data(self, X, y, reset=first, dtype=dt, **self._y_options())
        return np.asarray(Xv), self._targets(np.asarray(yv), first, classes)

    def _y_options(self) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------- training
    def _train(self, net: NeuralNetwork, X: np.ndarray, Y: np.ndarray, epochs: int) -> tuple[np.ndarray, int]:
        """``epochs`` epochs of ``net`` on (X, Y): the losses of every epoch
        and the epochs done. Divergence raises TrainingDivergedError in the
        estimator's words."""
        verbose = self._verbose()
        check_memory(net.spec.backend, net.layers, net.dtype, 1, X.shape[0])
        X1, Yd = net.device_data(X, Y)
        try:
            r = net.fit_arrays(X1, Yd, epochs, display_update=verbose, out=sys.stdout)
        except TrainingDivergedError as exc:
            raise TrainingDivergedError(
                diverged_message(exc.epoch, net.alpha), exc.epoch, exc.last_finite_epoch, exc.run
            ) from None
        return r.history(0)[1], r.epochs_done

    def fit(self: _E, X: ArrayLike, y: ArrayLike) -> _E:
        """Train a new network for ``epochs`` epochs of per-sample SGD, the samples in order.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
            Their class labels (classifier) or targets (regressor).

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        TrainingDivergedError
            The loss or the weights became NaN or infinite (a smaller
            ``learning_rate``, or scaled features, help).
        """
        lr, epochs = self._check_settings()
        X, Y = self._data(X, y, first=True)
        net = NeuralNetwork.from_spec(self._spec(X.shape[1], Y.shape[1]), lr, seed=seed_of(self.random_state))
        losses, done = self._train(net, X, Y, epochs)
        self.network_, self.loss_curve_, self.n_iter_ = net, losses.tolist(), done
        return self

    def _partial_fit(self: _E, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> _E:
        lr, _ = self._check_settings()
        first = not hasattr(self, "network_")
        X, Y = self._data(X, y, first=first, classes=classes)
        if first:
            net = NeuralNetwork.from_spec(self._spec(X.shape[1], Y.shape[1]), lr, seed=seed_of(self.random_state))
            self.network_, self.loss_curve_, self.n_iter_ = net, [], 0
        else:
            self.network_.alpha = lr
        losses, done = self._train(self.network_, X, Y, 1)
        self.loss_curve_ += losses.tolist()
        self.n_iter_ += done
        return self

    def _fitted_from(self, template: _FastBPEstimator, net: NeuralNetwork, losses: np.ndarray, epochs: int) -> None:
        """Makes this estimator fitted with ``net`` (trained on data that
        ``template`` validated: its data attributes are copied)."""
        params = template.get_params(deep=False)
        for k, v in vars(template).items():
            if k not in params:
                setattr(self, k, v)
        self.network_, self.loss_curve_, self.n_iter_ = net, losses.tolist(), epochs

    def _outputs(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=self.network_.dtype)
        return self.network_.predict(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def diverged_message(epoch: int, learning_rate: float) -> str:
    """What a fit whose network diverged says."""
    return (
        f"training diverged at epoch {epoch}: the loss or the weights became NaN or infinite "
        f"(learning_rate={learning_rate} may be too large for these data: lower it, or scale the features, "
        "e.g. with sklearn.preprocessing.StandardScaler)"
    )


_DOC_COMMON = """
    hidden_layer_sizes : int or tuple of int, default=(100,)
        The widths of the hidden layers (scikit-learn's MLP default); ``()``
        for none. Each hidden layer also has the tutorial's extra, learned
        bias unit.
    learning_rate : float, default={lr}
        The step size of every per-sample SGD step, constant: the tutorial's
        ``alpha`` (``NeuralNetwork(layers, alpha)``). In scikit-learn's MLP
        terms: ``solver="sgd"``, ``batch_size=1``, ``learning_rate_init``
        with ``learning_rate="constant"``, no momentum, no shuffling; there
        is no L2 penalty (MLP's ``alpha``).
    epochs : int, default=200
        Passes over the training data, each one step per sample in order
        (MLP's ``max_iter``; training always runs them all, there is no
        early stopping).
    activation : {{"logistic", "tanh", "relu"}}, default="logistic"
        The hidden units; "logistic" is the tutorial's sigmoid ("sigmoid"
        is accepted too).
    output : {outputs}, default={output!r}
{output_doc}
    backend : str or backend object, default="auto"
        "auto", "numpy", "numba", "cuda", or a backend object (its options
        kept), as for ``fastbp.NeuralNetwork``.
    dtype : {{"float64", "float32"}}, default="float64"
        The network's dtype; the data are converted to it.
    threads : int or None, default=None
        CPU threads a training call may use (numba; None: the backend
        decides).
    random_state : int, RandomState instance or None, default=None
        The initial weights: an int is their seed, as fastbp's ``seed=``
        (the tutorial's weights after ``np.random.seed(random_state)``); a
        RandomState or None (NumPy's global state) gives one draw, the seed
        (``network_.seed``).
    verbose : int or bool, default=0
        0: silent; n >= 1: the tutorial's ``[INFO] epoch=N, loss=...`` line
        on epoch 1 and every n-th epoch (True: every epoch).

    Attributes
    ----------
    network_ : fastbp.NeuralNetwork
        The trained network.
    loss_curve_ : list of float
        The training loss after each epoch: the loss of the output units
        summed over the samples (not averaged, as the tutorial prints it).
    n_iter_ : int
        The epochs trained (``partial_fit`` adds one a call).
    n_features_in_ : int
        The number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        The feature names seen in ``fit``, where X had string column names.
"""


class FastBPClassifier(ClassifierMixin, _FastBPEstimator):
    _OUTPUTS: ClassVar[dict[str, str]] = {"logistic": "sigmoid", "sigmoid": "sigmoid", "softmax": "softmax"}

    classes_: np.ndarray

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = (100,),
        learning_rate: float = 0.1,
        epochs: int = 200,
        activation: str = "logistic",
        output: str = "logistic",
        backend: Any = "auto",
        dtype: Any = "float64",
        threads: int | None = None,
        random_state: Any = None,
        verbose: int | bool = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.activation = activation
        self.output = output
        self.backend = backend
        self.dtype = dtype
        self.threads = threads
        self.random_state = random_state
        self.verbose = verbose

    def _targets(self, y: np.ndarray, first: bool, classes: ArrayLike | None = None) -> np.ndarray:
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"y must hold one class label per sample (binary or multiclass), got {kind!r} targets")
        if first:
            labels = np.unique(y if classes is None else column_or_1d(classes))
            if len(labels) < 2:
                raise ValueError(
                    f"y has one class ({labels[0]!r}): a classifier needs samples of at least 2 classes to train"
                )
            self.classes_ = labels
        elif classes is not None and not np.array_equal(np.unique(column_or_1d(classes)), self.classes_):
            raise ValueError(f"classes={classes!r} differs from the classes of the first call, {self.classes_!r}")
        index = np.searchsorted(self.classes_, y)
        unknown = (index >= len(self.classes_)) | (self.classes_[np.minimum(index, len(self.classes_) - 1)] != y)
        if unknown.any():
            raise ValueError(f"y has labels that are not in classes_ {self.classes_!r}: {np.unique(y[unknown])!r}")
        if len(self.classes_) == 2 and self._output() == "sigmoid":
            return index.astype(np.float64).reshape(-1, 1)  # one logistic output: P(classes_[1])
        return np.eye(len(self.classes_))[index]

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None) -> FastBPClassifier:
        """One epoch of per-sample SGD, from the current weights.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.
        y : array_like of shape (n_samples,)
            Their class labels.
        classes : array_like or None
            Every class label ``y`` can hold: needed on the first call, which
            makes a new network (as scikit-learn's ``partial_fit``).

        Returns
        -------
        self : object
            The estimator, trained one more epoch.

        Raises
        ------
        ValueError
            ``classes`` missing on the first call, or a label not in it.
        TrainingDivergedError
            The loss or the weights became NaN or infinite.
        """
        if not hasattr(self, "network_") and classes is None:
            raise ValueError("classes must be given on the first call to partial_fit: every class label y can hold")
        return self._partial_fit(X, y, classes)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        The softmax outputs; for logistic outputs the per-class sigmoids
        normalized to sum 1 (one-vs-rest, as scikit-learn's
        OneVsRestClassifier), or ``[1 - p, p]`` with one output for two
        classes.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            The probabilities, rows summing to 1.
        """
        P = self._outputs(X)
        if P.shape[1] == 1:
            return np.hstack([1 - P, P])
        if self.network_.output == "softmax":
            return P
        total = P.sum(axis=1, keepdims=True)
        return np.divide(P, total, out=np.full_like(P, 1.0 / P.shape[1]), where=total > 0)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each sample (``predict_proba``'s argmax).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            Their class labels.
        """
        P = self.predict_proba(X)
        return self.classes_[np.argmax(P, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class FastBPRegressor(RegressorMixin, _FastBPEstimator):
    _OUTPUTS: ClassVar[dict[str, str]] = {
        "identity": "linear",
        "linear": "linear",
        "logistic": "sigmoid",
        "sigmoid": "sigmoid",
    }

    _y_1d: bool

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = (100,),
        learning_rate: float = 0.01,
        epochs: int = 200,
        activation: str = "logistic",
        output: str = "identity",
        backend: Any = "auto",
        dtype: Any = "float64",
        threads: int | None = None,
        random_state: Any = None,
        verbose: int | bool = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.activation = activation
        self.output = output
        self.backend = backend
        self.dtype = dtype
        self.threads = threads
        self.random_state = random_state
        self.verbose = verbose

    def _y_options(self) -> dict[str, Any]:
        return {"y_numeric": True, "multi_output": True}

    def _targets(self, y: np.ndarray, first: bool, classes: ArrayLike | None = None) -> np.ndarray:
        if first:
            self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if not first and Y.shape[1] != self.network_.layers[-1]:
            raise ValueError(f"y has {Y.shape[1]} targets per sample but the network has {self.network_.layers[-1]}")
        return Y

    def partial_fit(self, X: ArrayLike, y: ArrayLike) -> FastBPRegressor:
        """One epoch of per-sample SGD, from the current weights (a new network on the first call).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
            Their targets.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.

        Raises
        ------
        TrainingDivergedError
            The loss or the weights became NaN or infinite.
        """
        return self._partial_fit(X, y)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The network's outputs.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        numpy.ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One output per sample where the targets in ``fit`` were 1-D.
        """
        P = self._outputs(X)
        return P[:, 0] if self._y_1d else P

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


FastBPClassifier.__doc__ = (
    """A classifier trained by exact per-sample SGD (the tutorial's algorithm) on fastbp's kernels.

    Parameters
    ----------"""
    + _DOC_COMMON.format(
        lr="0.1",
        outputs='{"logistic", "softmax"}',
        output="logistic",
        output_doc="""        "logistic": one sigmoid per class with the tutorial's squared error
        on one-hot targets (one output for two classes, as MLP); "softmax"
        with the cross-entropy.""",
    )
    + """    classes_ : ndarray
        The class labels.
    """
)
FastBPRegressor.__doc__ = """A regressor trained by exact per-sample SGD (the tutorial's algorithm) on fastbp's kernels.

    Parameters
    ----------""" + _DOC_COMMON.format(
    lr="0.01",
    outputs='{"identity", "logistic"}',
    output="identity",
    output_doc="""        "identity": linear outputs; "logistic": sigmoid outputs, for targets
        in [0, 1]. The loss is the tutorial's squared error, summed.""",
)


# ------------------------------------------------------------------ search
def _fastbp_step(est: BaseEstimator) -> tuple[_FastBPEstimator, str]:
    """The fastbp estimator of ``est`` (itself, or a Pipeline's last step)
    and the prefix of its parameters in ``est``'s."""
    if isinstance(est, _FastBPEstimator):
        return est, ""
    if isinstance(est, Pipeline) and isinstance(est.steps[-1][1], _FastBPEstimator):
        return est.steps[-1][1], est.steps[-1][0] + "__"
    raise TypeError(
        "estimator must be a FastBPClassifier or a FastBPRegressor, or a Pipeline whose last step is one, "
        f"got {type(est).__name__}"
    )


class FastBPSearchCV(MetaEstimatorMixin, BaseEstimator):
    """An exhaustive search over a parameter grid, as ``GridSearchCV``, that
    trains the candidates of each fold together.

    Candidates that differ only in ``learning_rate`` and ``random_state``
    (``BATCHED_PARAMS``, of the fastbp estimator or of a Pipeline's last
    step) train as K networks in one call of the training loop per fold:
    one fit of the Pipeline's earlier steps, one validation of the fold's
    data, the networks spread over the CPU cores (numba), over a GPU
    (cuda), or in chunks over a Dask cluster (``client``). Each network ends
    with the weights it would have if fitted alone, so each candidate's
    scores equal ``GridSearchCV``'s (bit for bit on the numba backend).
    Candidates that differ in other parameters (the layers, the units, the
    dtype, the epochs, a Pipeline step's settings) train in separate calls,
    one per distinct setting. The networks record their loss after the
    first and the last epoch only (the scores need none; recording every
    epoch's made the training calls 1.46x longer: 24 digits networks, 100
    epochs, numba, the shared 2-core VM, 2026-12-06, median of 5
    interleaved rounds), so a network that diverges is seen at the end and
    scores ``error_score``, as its fit alone, which raises, does.

    Parameters
    ----------
    estimator : FastBPClassifier, FastBPRegressor, or a Pipeline ending with one
        The estimator whose parameters are searched.
    param_grid : dict or list of dicts
        Parameter names (as ``estimator.get_params()`` names them) to lists
        of values, as for ``GridSearchCV``.
    scoring : str, callable or None, default=None
        One metric: a scorer name, a callable ``scorer(estimator, X, y)``, or
        None for the estimator's ``score``.
    cv : int, cross-validation generator or iterable, default=None
        As for ``GridSearchCV`` (None: 5-fold; stratified for a classifier).
    refit : bool or callable, default=True
        Fit the best candidate on the whole data (``best_estimator_``); a
        callable picks ``best_index_`` from ``cv_results_``.
    error_score : "raise" or float, default=np.nan
        The score of a candidate whose fit failed (its network diverged) or
        whose scoring raised; "raise" raises instead.
    return_train_score : bool, default=False
        Also score each candidate on its training folds.
    client : dask.distributed.Client or None, default=None
        Train each fold's networks in chunks on this Dask cluster (one chunk
        per worker), as ``fastbp.train_many(client=...)``.
    verbose : int, default=0
        n >= 1: a line per fold and group of candidates trained together.

    Attributes
    ----------
    cv_results_ : dict of numpy (masked) ndarrays
        As ``GridSearchCV``'s, keys "params", "param_<name>",
        "split<k>_test_score", "mean_test_score", "std_test_score",
        "rank_test_score" (and the train scores), "mean_fit_time" and
        "std_fit_time" (each candidate's share of its fold's training
        call), "mean_score_time", "std_score_time".
    best_index_, best_params_, best_score_ : the best candidate's.
    best_estimator_ : the best candidate fitted on the whole data (refit).
    refit_time_ : float
        Seconds of that fit.
    scorer_ : the scorer used.
    n_splits_ : int
        The number of folds.
    """

    def __init__(
        self,
        estimator: BaseEstimator,
        param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
        *,
        scoring: str | Callable[..., float] | None = None,
        cv: Any = None,
        refit: bool | Callable[[dict[str, Any]], int] = True,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        client: Any = None,
        verbose: int = 0,
    ) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
        self.scoring = scoring
        self.cv = cv
        self.refit = refit
        self.error_score = error_score
        self.return_train_score = return_train_score
        self.client = client
        self.verbose = verbose

    cv_results_: dict[str, Any]
    best_index_: int
    best_params_: dict[str, Any]
    best_score_: float
    best_estimator_: BaseEstimator
    refit_time_: float
    scorer_: Callable[..., float]
    n_splits_: int

    # --------------------------------------------------------------- fit
    def fit(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None) -> FastBPSearchCV:
        """Score every candidate of ``param_grid`` on every fold of ``cv``, then refit the best.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.
        y : array_like
            Their class labels or targets.
        groups : array_like or None
            Group labels for group-wise splitters.

        Returns
        -------
        self : object
            The fitted search.

        Raises
        ------
        TypeError
            ``estimator`` is not a fastbp estimator or a Pipeline ending with one.
        ValueError
            A setting out of range (the message names it).
        """
        _fastbp_step(self.estimator)  # a TypeError for any other estimator
        if not (self.error_score == "raise" or isinstance(self.error_score, numbers.Number)):
            raise ValueError(f"error_score must be 'raise' or a number, got {self.error_score!r}")
        if self.scoring is not None and not isinstance(self.scoring, str) and not callable(self.scoring):
            raise ValueError(f"scoring must be one metric here (a scorer name or a callable), got {self.scoring!r}")
        verbose = check_int(self.verbose, "verbose", 0)
        scorer = check_scoring(self.estimator, scoring=self.scoring)
        candidates = list(ParameterGrid(self.param_grid))
        if not candidates:
            raise ValueError("param_grid has no candidates")
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(cv.split(X, y, groups))
        # On one BLAS thread: a score is a forward pass over a few hundred rows, too small to gain from BLAS
        # threads, which lose much when another process holds a core (this fit on digits, 24 candidates, 5
        # folds, 2 epochs, on the shared 2-core VM under load, 2026-12-06, 6 interleaved rounds: 3.3 s with
        # OpenBLAS's 2 threads, 1.8 s with one). GridSearchCV's worker processes run with one BLAS thread each.
        with threadpool_limits(limits=1, user_api="blas"):
            scores, times, failures = self._folds(X, y, splits, candidates, scorer, verbose)
        if failures:
            warnings.warn(
                f"{len(failures)} fits failed out of a total of {scores['test'].size}; their score is error_score="
                f"{self.error_score!r}. The first: {failures[0]}",
                FitFailedWarning,
                stacklevel=2,
            )
        train = scores["train"] if self.return_train_score else None
        self.cv_results_ = _cv_results(candidates, scores["test"], train, times["fit"], times["score"])
        self.scorer_, self.n_splits_, self.multimetric_ = scorer, len(splits), False
        if callable(self.refit):
            self.best_index_ = int(self.refit(self.cv_results_))
        else:
            self.best_index_ = int(self.cv_results_["rank_test_score"].argmin())
        self.best_params_ = candidates[self.best_index_]
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        if self.refit:
            t0 = time.perf_counter()
            self.best_estimator_ = clone(self.estimator).set_params(**clone(self.best_params_, safe=False)).fit(X, y)
            self.refit_time_ = time.perf_counter() - t0
            if hasattr(self.best_estimator_, "n_features_in_"):
                self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    def _folds(
        self,
        X: ArrayLike,
        y: ArrayLike,
        splits: list[tuple[np.ndarray, np.ndarray]],
        candidates: list[dict[str, Any]],
        scorer: Callable[..., float],
        verbose: int,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
        """Every group of candidates trained and scored on every fold: the
        "test" and "train" scores and the "fit" and "score" seconds
        (candidates x folds), and the messages of the fits that failed."""
        _, prefix = _fastbp_step(self.estimator)
        shape = (len(candidates), len(splits))
        scores = {"test": np.full(shape, np.nan), "train": np.full(shape, np.nan)}
        times = {"fit": np.zeros(shape), "score": np.zeros(shape)}
        failures: list[str] = []
        for s, (tr, te) in enumerate(splits):
            X_tr, y_tr = _safe_indexing(X, tr), _safe_indexing(y, tr)
            X_te, y_te = _safe_indexing(X, te), _safe_indexing(y, te)
            for members in _groups(candidates, {prefix + p for p in BATCHED_PARAMS}):
                t0 = time.perf_counter()
                fitted = self._fit_group([candidates[c] for c in members], X_tr, y_tr)
                times["fit"][members, s] = (time.perf_counter() - t0) / len(members)
                if verbose:
                    print(
                        f"[FastBPSearchCV] fold {s + 1}/{len(splits)}: {len(members)} candidates trained together, "
                        f"{time.perf_counter() - t0:.2f} s"
                    )
                for c, est in zip(members, fitted):
                    if isinstance(est, TrainingDivergedError):
                        failures.append(str(est))
                        scores["test"][c, s] = scores["train"][c, s] = self.error_score
                        continue
                    t1 = time.perf_counter()
                    scores["test"][c, s] = self._score(scorer, est, X_te, y_te)
                    times["score"][c, s] = time.perf_counter() - t1
                    if self.return_train_score:
                        scores["train"][c, s] = self._score(scorer, est, X_tr, y_tr)
        return scores, times, failures

    def _fit_group(self, params: list[dict[str, Any]], X: ArrayLike, y: ArrayLike) -> list[Any]:
        """The candidates ``params`` (equal but for BATCHED_PARAMS) fitted on
        (X, y) with their networks trained in one call: per candidate a
        fitted estimator, or the TrainingDivergedError of its network (the
        error raised at once where error_score is "raise")."""
        ests = [clone(self.estimator).set_params(**clone(p, safe=False)) for p in params]
        first, _ = _fastbp_step(ests[0])
        head = ests[0][:-1] if isinstance(ests[0], Pipeline) else None
        Xf = X if head is None else head.fit_transform(X, y)
        _, epochs = first._check_settings()
        template = clone(first)
        Xv, Y = template._data(Xf, y, first=True)
        steps = [_fastbp_step(e)[0] for e in ests]
        pairs = [(check_alpha(f.learning_rate, "learning_rate"), seed_of(f.random_state)) for f in steps]
        spec = template._spec(Xv.shape[1], Y.shape[1], n_networks=len(pairs))
        if self.client is None:
            blocks = [train_block(spec, pairs, Xv, Y, epochs, loss_every=epochs)]
        else:
            from .distributed import run_chunks

            blocks = run_chunks(self.client, train_block, spec, pairs, Xv, Y, epochs, epochs)
        nets = [n for b in blocks for n in b["networks"]]
        out: list[Any] = []
        for est, step, r in zip(ests, steps, nets):
            if r["diverged_at"] is not None:
                err = TrainingDivergedError(diverged_message(r["diverged_at"], r["alpha"]), r["diverged_at"], 0)
                if self.error_score == "raise":
                    raise err
                out.append(err)
                continue
            net = NeuralNetwork.from_spec(spec, r["alpha"], seed=r["seed"], weights=r["weights"])
            step._fitted_from(template, net, r["loss_history"], blocks[0]["epochs"])
            if head is not None:
                est.steps[:-1] = head.steps  # the earlier steps, fitted once for the group
            out.append(est)
        return out

    def _score(self, scorer: Callable[..., float], est: BaseEstimator, X: ArrayLike, y: ArrayLike) -> float:
        """``scorer(est, X, y)``, or ``error_score`` (with a warning) where it raises."""
        try:
            return float(scorer(est, X, y))
        except Exception as exc:
            if self.error_score == "raise":
                raise
            warnings.warn(
                f"scoring failed, the score is error_score={self.error_score!r}: {exc!r}", UserWarning, stacklevel=3
            )
            return float(self.error_score)

    # ------------------------------------------------------ the best's API
    def _best(self) -> BaseEstimator:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def predict(self, X: ArrayLike) -> np.ndarray:
        """``best_estimator_.predict``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        numpy.ndarray
            The best estimator's predictions.
        """
        return self._best().predict(X)

    @available_if(lambda self: hasattr(self.estimator, "predict_proba"))
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """``best_estimator_.predict_proba``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            The best estimator's class probabilities.
        """
        return self._best().predict_proba(X)

    def score(self, X: ArrayLike, y: ArrayLike) -> float:
        """``scorer_`` of ``best_estimator_`` on the samples.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            The samples.
        y : array_like
            Their class labels or targets.

        Returns
        -------
        float
            The score.
        """
        return float(self.scorer_(self._best(), X, y))

    @property
    def classes_(self) -> np.ndarray:
        """The best estimator's class labels."""
        return self._best().classes_

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        sub = clone(self.estimator).__sklearn_tags__()
        tags.estimator_type = sub.estimator_type
        tags.classifier_tags = copy.deepcopy(sub.classifier_tags)
        tags.regressor_tags = copy.deepcopy(sub.regressor_tags)
        return tags


def _groups(candidates: list[dict[str, Any]], batched: set[str]) -> list[list[int]]:
    """The candidates (indices) that train together: equal in every
    parameter but ``batched``. Values compare by identity (a grid's values
    are the same objects from candidate to candidate), which never joins
    two different settings."""
    out: dict[tuple, list[int]] = {}
    for i, params in enumerate(candidates):
        key = tuple(sorted((k, id(v)) for k, v in params.items() if k not in batched))
        out.setdefault(key, []).append(i)
    return list(out.values())


def _cv_results(
    candidates: list[dict[str, Any]],
    test: np.ndarray,
    train: np.ndarray | None,
    fit_time: np.ndarray,
    score_time: np.ndarray,
) -> dict[str, Any]:
    """``cv_results_`` as ``GridSearchCV`` lays it out (one metric)."""
    res: dict[str, Any] = {}

    def store(key: str, a: np.ndarray, splits: bool = False, rank: bool = False) -> None:
        if splits:
            for s in range(a.shape[1]):
                res[f"split{s}_{key}"] = a[:, s]
        means = np.average(a, axis=1)
        res[f"mean_{key}"] = means
        res[f"std_{key}"] = np.sqrt(np.average((a - means[:, np.newaxis]) ** 2, axis=1))
        if rank:
            if np.isnan(means).all():
                res[f"rank_{key}"] = np.ones_like(means, dtype=np.int32)
            else:
                filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
                res[f"rank_{key}"] = rankdata(-filled, method="min").astype(np.int32)

    store("fit_time", fit_time)
    store("score_time", score_time)
    names = sorted({k for p in candidates for k in p})
    for name in names:
        values = [p[name] for p in candidates if name in p]
        try:
            arr = np.array(values)
            kind = arr.dtype if arr.dtype.kind != "U" and arr.ndim == 1 else np.dtype(object)
        except ValueError:
            kind = np.dtype(object)
        col = np.ma.MaskedArray(np.empty(len(candidates), dtype=kind), mask=True)
        for i, p in enumerate(candidates):
            if name in p:
                col[i] = p[name]
        res[f"param_{name}"] = col
    res["params"] = candidates
    store("test_score", test, splits=True, rank=True)
    if train is not None:
        store("train_score", train, splits=True)
    return res
