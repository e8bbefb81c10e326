"""The numpy forward pass (the live path of one window per bar) gives what the compiled
TensorFlow batch path gives, within 1e-5 per probability, for every network the project
builds: the strategy LSTM (compact, seed 000's BiLSTM stack, a stacked one) and the LSTM, GRU
and TCN direction members, with weights moved off their initial values so every layer
matters."""

import numpy as np
import pytest

from models.direction_members import GRUMember, LSTMMember, TCNMember
from models.lstm import LSTMConfig, build_network, compile_inference, infer_in_batches
from models.numpy_net import NumpyNetwork

NETWORKS = {
    "strategy compact": lambda: build_network(20, 6, LSTMConfig()),
    "strategy seed000": lambda: build_network(12, 6, LSTMConfig.seed000(
        lstm_units=(8, 6, 4), dense_units=(8, 4))),
    "strategy stacked": lambda: build_network(10, 6, LSTMConfig(lstm_units=(8, 4, 4),
                                                                dense_units=(8, 4))),
    "lstm member": lambda: LSTMMember(units=8)._network(10, 6),
    "gru member": lambda: GRUMember(units=8)._network(10, 6),
    "tcn member": lambda: TCNMember(units=8, dilations=(1, 2, 4))._network(10, 6),
    "tcn member, same width": lambda: TCNMember(units=6, dilations=(1, 2))._network(10, 6),
}


def shaken(network, seed: int):
    """The network with every weight moved by noise (as training moves it)."""
    rng = np.random.default_rng(seed)
    for variable in network.trainable_variables:
        variable.assign(variable.numpy()
                        + rng.normal(0, 0.2, variable.shape).astype(np.float32))
    return network


@pytest.mark.parametrize("name", list(NETWORKS))
def test_numpy_forward_pass_equals_the_compiled_batch_path(name):
    import keras

    keras.utils.set_random_seed(11)  # the initial weights: the same network every run
    network = shaken(NETWORKS[name](), seed=3)
    length, n_features = network.inputs[0].shape[1:]
    X = np.random.default_rng(5).normal(size=(9, length, n_features)).astype(np.float32)
    batch = infer_in_batches(compile_inference(network, length, n_features), X)
    live = NumpyNetwork.from_keras(network)(X)
    assert live.shape == batch.shape == (9, 3)
    np.testing.assert_allclose(live, batch, rtol=0, atol=1e-5)
    # not a trivially saturated output: the windows get different, non-degenerate scores
    assert batch.std(axis=0).max() > 1e-4 and batch.max() < 1 - 1e-6
    # one window alone gives its row of the batch
    np.testing.assert_allclose(NumpyNetwork.from_keras(network)(X[4:5])[0], batch[4],
                               rtol=0, atol=1e-5)


def test_a_layer_it_lacks_is_refused_by_name():
    import keras

    inputs = keras.Input(shape=(5, 3))
    outputs = keras.layers.Dense(3)(keras.layers.SimpleRNN(4, name="plain_rnn")(inputs))
    with pytest.raises(ValueError, match="SimpleRNN"):
        NumpyNetwork.from_keras(keras.Model(inputs, outputs))


def test_batches_on_the_core_threads_give_the_same_bits_as_one_after_another(monkeypatch):
    """``infer_in_batches`` scores its padded batches side by side on the process's core
    threads; the numbers must be those of the same batches run in this thread, in order."""
    import keras

    import models.lstm as lstm

    keras.utils.set_random_seed(11)
    network = shaken(NETWORKS["tcn member"](), seed=4)
    length, n_features = network.inputs[0].shape[1:]
    infer = compile_inference(network, length, n_features)
    X = np.random.default_rng(6).normal(size=(3 * lstm.INFER_BATCH + 5, length, n_features))
    X = X.astype(np.float32)
    threaded = infer_in_batches(infer, X)
    monkeypatch.setattr(lstm, "core_threads", lambda: None)  # one batch after another here
    serial = infer_in_batches(infer, X)
    np.testing.assert_array_equal(threaded, serial)
    assert threaded.std(axis=0).max() > 1e-4
