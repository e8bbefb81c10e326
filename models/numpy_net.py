"""A trained keras network's forward pass in numpy, for scoring one window at a time.

Why: a live decision scores one new window per bar, and every call into TensorFlow (even a
compiled ``tf.function`` over a fixed batch of ``models.lstm.INFER_BATCH`` windows) costs
tens of milliseconds on a small machine, most of it dispatch and the padded batch. The
networks here are a few matmuls per time step (LSTM and GRU cells, dense layers, layer
normalization) or a few dilated causal convolutions (the TCN member): numpy does one window
in well under a millisecond for the compact sizes.

The batch path (backtests, ``predict_frame``) keeps the compiled TensorFlow function, so
backtest results do not change; this path computes in float64 from the float32 weights and
agrees with it to about 1e-6 (tests hold it to 1e-5 per probability, for every network the
project builds).

``NumpyNetwork.from_keras(model)`` copies the weights once and walks the model's graph
(keras functional models: the layers the project's networks use; anything else is a
ValueError naming the layer, so a caller can keep the TensorFlow path).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "softmax": _softmax,
}


def _activation(fn) -> Callable[[np.ndarray], np.ndarray]:
    name = getattr(fn, "__name__", str(fn))
    if name not in ACTIVATIONS:
        raise ValueError(f"numpy forward pass: activation {name!r} is not implemented")
    return ACTIVATIONS[name]


def _w(variable) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable,
                      dtype=np.float64)


def _recurrent(layer) -> Callable[[np.ndarray], np.ndarray]:
    """An LSTM or GRU layer over (n, T, features): its last output or every step's."""
    cell = getattr(layer, "cell", None)
    kind = type(layer).__name__
    if cell is None or kind not in ("LSTM", "GRU"):
        raise ValueError(f"numpy forward pass: layer {kind} is not implemented")
    kernel, recurrent = _w(cell.kernel), _w(cell.recurrent_kernel)
    units = recurrent.shape[0]
    act, gate = _activation(cell.activation), _activation(cell.recurrent_activation)
    bias = _w(cell.bias) if cell.use_bias else np.zeros((2, 3 * units) if kind == "GRU"
                                                          else 4 * units)
    sequences, backwards = layer.return_sequences, layer.go_backwards
    if kind == "GRU" and not cell.reset_after:
        raise ValueError("numpy forward pass: GRU with reset_after=False is not implemented")

    def lstm_step(z_x: np.ndarray, h: np.ndarray, c: np.ndarray):
        z = z_x + h @ recurrent
        i, f = gate(z[:, :units]), gate(z[:, units:2 * units])
        c = f * c + i * act(z[:, 2 * units:3 * units])
        return gate(z[:, 3 * units:]) * act(c), c

    def gru_step(z_x: np.ndarray, h: np.ndarray, c):
        inner = h @ recurrent + bias[1]
        z = gate(z_x[:, :units] + inner[:, :units])
        r = gate(z_x[:, units:2 * units] + inner[:, units:2 * units])
        candidate = act(z_x[:, 2 * units:] + r * inner[:, 2 * units:])
        return z * h + (1.0 - z) * candidate, c

    step = lstm_step if kind == "LSTM" else gru_step
    input_bias = bias if kind == "LSTM" else bias[0]

    def forward(x: np.ndarray) -> np.ndarray:
        if backwards:
            x = x[:, ::-1]
        projected = x @ kernel + input_bias  # every step's input projection in one matmul
        h = np.zeros((x.shape[0], units))
        c = np.zeros_like(h)
        outputs = []
        for t in range(x.shape[1]):
            h, c = step(projected[:, t], h, c)
            if sequences:
                outputs.append(h)
        return np.stack(outputs, axis=1) if sequences else h

    return forward


def _bidirectional(layer) -> Callable[[np.ndarray], np.ndarray]:
    if layer.merge_mode != "concat":
        raise ValueError(f"numpy forward pass: Bidirectional merge_mode {layer.merge_mode!r} "
                         "is not implemented")
    forward, backward = _recurrent(layer.forward_layer), _recurrent(layer.backward_layer)
    sequences = layer.return_sequences

    def run(x: np.ndarray) -> np.ndarray:
        back = backward(x)
        if sequences:  # keras returns the backward sequence in input time order
            back = back[:, ::-1]
        return np.concatenate([forward(x), back], axis=-1)

    return run


def _layer_norm(layer) -> Callable[[np.ndarray], np.ndarray]:
    axes = layer.axis if isinstance(layer.axis, list | tuple) else [layer.axis]
    if list(axes) not in ([-1], [len(layer.input.shape) - 1]):
        raise ValueError("numpy forward pass: LayerNormalization over other axes than the "
                         "last is not implemented")
    gamma = _w(layer.gamma) if layer.scale else 1.0
    beta = _w(layer.beta) if layer.center else 0.0
    eps = float(layer.epsilon)

    def run(x: np.ndarray) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * gamma + beta

    return run


def _dense(layer) -> Callable[[np.ndarray], np.ndarray]:
    kernel = _w(layer.kernel)
    bias = _w(layer.bias) if layer.use_bias else 0.0
    act = _activation(layer.activation)
    return lambda x: act(x @ kernel + bias)


def _conv1d(layer) -> Callable[[np.ndarray], np.ndarray]:
    """Conv1D with stride 1 and ``causal`` or ``valid`` padding (kernel k, dilation d): output
    t reads inputs t - (k - 1 - j) * d for taps j (causal pads the start with zeros)."""
    (dilation,), (stride,) = layer.dilation_rate, layer.strides
    if stride != 1 or layer.padding not in ("causal", "valid") or layer.groups != 1:
        raise ValueError(f"numpy forward pass: Conv1D padding {layer.padding!r}, strides "
                         f"{layer.strides}, groups {layer.groups} is not implemented")
    kernel = _w(layer.kernel)  # (k, in, out)
    bias = _w(layer.bias) if layer.use_bias else 0.0
    act = _activation(layer.activation)
    k, pad = kernel.shape[0], (kernel.shape[0] - 1) * dilation
    causal = layer.padding == "causal"

    def run(x: np.ndarray) -> np.ndarray:
        if causal:
            x = np.concatenate([np.zeros((x.shape[0], pad, x.shape[2])), x], axis=1)
        T = x.shape[1] - pad
        out = sum(x[:, j * dilation: j * dilation + T] @ kernel[j] for j in range(k))
        return act(out + bias)

    return run


def _cropping1d(layer) -> Callable[[np.ndarray], np.ndarray]:
    start, end = layer.cropping
    return lambda x: x[:, start: x.shape[1] - end]


def _operation(layer) -> Callable[..., np.ndarray]:
    """The numpy function of one keras layer (inference: dropout is the identity)."""
    kind = type(layer).__name__
    if kind in ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout"):
        return lambda x: x
    if kind in ("LSTM", "GRU"):
        return _recurrent(layer)
    simple = {"Bidirectional": _bidirectional, "LayerNormalization": _layer_norm,
              "Dense": _dense, "Conv1D": _conv1d, "Cropping1D": _cropping1d}
    if kind in simple:
        return simple[kind](layer)
    if kind == "Activation":
        return _activation(layer.activation)
    if kind == "Flatten":
        return lambda x: x.reshape(x.shape[0], -1)
    if kind == "Add":
        return lambda *xs: sum(xs)
    raise ValueError(f"numpy forward pass: layer {kind} ({layer.name}) is not implemented")


class NumpyNetwork:
    """A keras functional model's inference as numpy: ``net(X)`` with X of shape
    (n, T, features) gives what ``model(X, training=False)`` gives, in float64."""

    def __init__(self, steps: list, input_id: int, output_id: int):
        self.steps, self.input_id, self.output_id = steps, input_id, output_id

    @classmethod
    def from_keras(cls, model) -> NumpyNetwork:
        """Copy ``model``'s weights and the order of its layers; ValueError on a layer (or a
        graph with several inputs or outputs) this module does not implement."""
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError("numpy forward pass: one input and one output only")
        steps = []
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                if node.is_input or node.operation is None:
                    continue
                if len(node.output_tensors) != 1:
                    raise ValueError(f"numpy forward pass: {node.operation.name} has several "
                                     "outputs")
                steps.append((_operation(node.operation),
                              [id(t) for t in node.input_tensors], id(node.output_tensors[0])))
        return cls(steps, id(model.inputs[0]), id(model.outputs[0]))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        values = {self.input_id: np.asarray(X, dtype=np.float64)}
        for fn, inputs, output in self.steps:
            values[output] = fn(*(values[i] for i in inputs))
        return values[self.output_id]
