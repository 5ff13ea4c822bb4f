"""A straightforward transcription of the tutorial's NeuralNetwork class,
independent of fastbp's code: the oracle of the seed/weights equality tests
and the "tutorial" peer of the speed benchmarks (its fit prints the loss on
epoch 1 and every displayUpdate-th epoch, as the tutorial's does)."""

import numpy as np


class ReferenceNetwork:
    def __init__(self, layers, alpha=0.1):
        self.W = []
        self.layers = layers
        self.alpha = alpha
        for i in np.arange(0, len(layers) - 2):
            w = np.random.randn(layers[i] + 1, layers[i + 1] + 1)
            self.W.append(w / np.sqrt(layers[i]))
        w = np.random.randn(layers[-2] + 1, layers[-1])
        self.W.append(w / np.sqrt(layers[-2]))

    @staticmethod
    def sigmoid(x):
        return 1.0 / (1 + np.exp(-x))

    @staticmethod
    def sigmoid_deriv(a):
        return a * (1 - a)

    def fit(self, X, y, epochs=1000, displayUpdate=100):
        X = np.c_[X, np.ones(X.shape[0])]
        for epoch in np.arange(0, epochs):
            for x, target in zip(X, y):
                self.fit_partial(x, target)
            if epoch == 0 or (epoch + 1) % displayUpdate == 0:
                loss = self.calculate_loss(X, y)
                print(f"[INFO] epoch={epoch + 1}, loss={loss:.7f}")

    def fit_partial(self, x, y):
        A = [np.atleast_2d(x)]
        for layer in np.arange(0, len(self.W)):
            A.append(self.sigmoid(A[layer].dot(self.W[layer])))
        error = A[-1] - y
        D = [error * self.sigmoid_deriv(A[-1])]
        for layer in np.arange(len(A) - 2, 0, -1):
            delta = D[-1].dot(self.W[layer].T)
            D.append(delta * self.sigmoid_deriv(A[layer]))
        D = D[::-1]
        for layer in np.arange(0, len(self.W)):
            self.W[layer] += -self.alpha * A[layer].T.dot(D[layer])

    def predict(self, X, addBias=True):
        p = np.atleast_2d(X)
        if addBias:
            p = np.c_[p, np.ones(p.shape[0])]
        for layer in np.arange(0, len(self.W)):
            p = self.sigmoid(np.dot(p, self.W[layer]))
        return p

    def calculate_loss(self, X, targets):
        targets = np.atleast_2d(targets)
        predictions = self.predict(X, addBias=False)
        return 0.5 * np.sum((predictions - targets) ** 2)
