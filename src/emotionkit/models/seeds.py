"""The six seed architectures: the CNNs and DNNs of the 2017, 2018 and 2019 course reports.

Each is rebuilt layer for layer from the report's Keras model, so its parameter count equals the
report's in Keras counting (BatchNorm = 2 trainable + 2 non-trainable "moving" values per
channel; :func:`emotionkit.models.summary` counts the same way). Keras defaults are kept where
they matter for faithfulness: Glorot-uniform initialisation with zero biases, BatchNorm
``eps=1e-3``, LeakyReLU ``alpha=0.3``, 'same' padding with TensorFlow's bottom/right rule. One
Keras default is deliberately not copied: BatchNorm's moving averages use PyTorch's momentum 0.1
rather than Keras' 0.99 (``momentum=0.01`` here), whose running statistics lag so far behind in
short runs that an eval-mode model predicts a single class. The reports' softmax output layer
is left out: zoo models return logits. Dropout rates not given in a report are options with
usual defaults.

========= ======================================== ===================================
name      source                                    Keras parameters
========= ======================================== ===================================
hw17-cnn  2017 report (000): 7 conv, dense 1024     10,607,815
hw17-dnn  2017 report (000): 7 dense + output       3,386,503
hw18-cnn  2018 report (002): 7 conv-BN-LeakyReLU    6,040,327 (6,036,871 trainable)
hw18-dnn  2018 report (002): 23 dense, LeakyReLU    6,036,839
hw19-cnn  2019 report (003): 5x5/4x4 convs, L1+L2   1,919,975 (1,919,079 trainable)
hw19-dnn  2019 report (003): per-pixel Dense(30)    2,076,697
========= ======================================== ===================================
"""

from __future__ import annotations

from torch import nn

from ._build import FeatureClassifierNet, Stack, check_activation, check_prob, keras_init
from .layers import MaxPool2dSame, conv_same
from .registry import ModelInfo, register_model

_FLAT = 48 * 48  # 2,304 input pixels
_KERAS_BN = {"eps": 1e-3}  # Keras epsilon; PyTorch momentum 0.1 (see module docstring)

_REPORT_2017 = "ML2017 Fall HW3 course report (Keras)"
_REPORT_2018 = "ML2018 HW3 course report (Keras)"
_REPORT_2019 = "ML2019 Spring HW3 course report (Keras)"

_RECIPE_2017 = {"optimizer": "adam", "lr": 0.00027, "weight_decay": 0.0, "batch_size": 512,
                "epochs": 400, "scheduler": "none", "augment": "standard", "label_smoothing": 0.0}
_RECIPE_2018 = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128,
                "epochs": 100, "scheduler": "none", "augment": "standard", "label_smoothing": 0.0}
_RECIPE_2019 = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128,
                "epochs": 50, "scheduler": "none", "augment": "rotation=15,flip",
                "label_smoothing": 0.0}
_REG_2019 = {"l1": 3e-5, "l2": 5e-5}


def _check_reg(l1: float, l2: float) -> dict[str, float]:
    for key, value in (("l1", l1), ("l2", l2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            from ..errors import ConfigError

            raise ConfigError(f"option {key!r} must be a number >= 0, got {value!r}")
    return {"l1": float(l1), "l2": float(l2)}


@register_model(ModelInfo(
    description="2017 report CNN: 7 ReLU convs (32-256), 3 max-pools, dense 1024, dropout",
    origin=_REPORT_2017, family="seed", tags=("cnn",), recipe=_RECIPE_2017,
    reported_params={"total": 10_607_815, "trainable": 10_607_815, "non_trainable": 0},
))
def hw17_cnn(
    conv_dropout: float = 0.25, fc_dropout: float = 0.5, activation: str = "relu"
) -> nn.Module:
    """The 2017 report's CNN (10,607,815 parameters).

    conv 1->32, dropout, conv 32->64, pool, dropout, conv 64->64, dropout, conv 64->128, pool,
    dropout, conv 128->128, dropout, conv 128->256, pool, conv 256->256, dropout, flatten (9,216),
    dropout, dense 1024, dropout, dense 7. All convs 3x3 'same' with ReLU.

    Args:
        conv_dropout: Dropout rate after the convolutions (the report does not give it).
        fc_dropout: Dropout rate around the dense layer.
        activation: ``"relu"`` (report), ``"leaky_relu"`` or ``"prelu"``.

    Returns:
        The model.
    """
    check_prob("conv_dropout", conv_dropout)
    check_prob("fc_dropout", fc_dropout)
    f = Stack(check_activation(activation))
    # (in, out, pool after, dropout after), in the report's order
    plan = [(1, 32, False, True), (32, 64, True, True), (64, 64, False, True),
            (64, 128, True, True), (128, 128, False, True), (128, 256, True, False),
            (256, 256, False, True)]
    for cin, cout, pool, drop in plan:
        f.add("conv", nn.Conv2d(cin, cout, 3, padding=1)).act(cout)
        if pool:
            f.add("pool", nn.MaxPool2d(2))
        if drop:
            f.dropout(conv_dropout)
    c = Stack(activation)
    c.add("flatten", nn.Flatten(), numbered=False).dropout(fc_dropout)
    c.add("fc", nn.Linear(256 * 6 * 6, 1024)).act(1024).dropout(fc_dropout)
    c.add("fc", nn.Linear(1024, 7))
    return keras_init(FeatureClassifierNet(f.build(), c.build()))


@register_model(ModelInfo(
    description="2017 report DNN: dense 1024-512-512-256-256-128-64, dropout, 7 (ReLU)",
    origin=_REPORT_2017, family="seed", tags=("dnn",), recipe=_RECIPE_2017,
    reported_params={"total": 3_386_503, "trainable": 3_386_503, "non_trainable": 0},
))
def hw17_dnn(dropout: float = 0.5, activation: str = "relu") -> nn.Module:
    """The 2017 report's DNN (3,386,503 parameters).

    2304 -> 1024 -> 512 -> 512 -> 256 -> 256 -> 128 -> 64, dropout, -> 7.

    Args:
        dropout: Dropout rate before the output layer.
        activation: ``"relu"`` (report), ``"leaky_relu"`` or ``"prelu"``.

    Returns:
        The model.
    """
    check_prob("dropout", dropout)
    f = Stack(check_activation(activation)).add("flatten", nn.Flatten(), numbered=False)
    widths = [_FLAT, 1024, 512, 512, 256, 256, 128, 64]
    for cin, cout in zip(widths[:-1], widths[1:], strict=True):
        f.add("fc", nn.Linear(cin, cout)).act(cout)
    c = Stack(activation).dropout(dropout).add("fc", nn.Linear(64, 7))
    return keras_init(FeatureClassifierNet(f.build(), c.build()))


@register_model(ModelInfo(
    description="2018 report CNN: 7 conv-BN-LeakyReLU (64-256), dense 512-256 with BN, dropout",
    origin=_REPORT_2018, family="seed", tags=("cnn", "batchnorm"), recipe=_RECIPE_2018,
    reported_params={"total": 6_040_327, "trainable": 6_036_871, "non_trainable": 3_456},
))
def hw18_cnn(
    conv_dropout: float = 0.25,
    fc_dropout: float = 0.5,
    activation: str = "leaky_relu",
    negative_slope: float = 0.3,
) -> nn.Module:
    """The 2018 report's BatchNorm + LeakyReLU CNN (6,040,327 parameters, 6,036,871 trainable).

    [conv 1->64, 64->64, 64->64] pool dropout, [conv 64->128, 128->128] pool dropout,
    [conv 128->256, 256->256] pool dropout, flatten (9,216), dense 512 BN act dropout,
    dense 256 BN act dropout, dense 7; every conv is 3x3 'same' followed by BN and the activation.
    The 3,456 non-trainable values are the BatchNorm moving means and variances.

    Args:
        conv_dropout: Dropout rate after each pooling (not given in the report).
        fc_dropout: Dropout rate after the dense layers.
        activation: ``"leaky_relu"`` (report), ``"relu"`` or ``"prelu"``.
        negative_slope: LeakyReLU slope (Keras' default ``alpha=0.3``).

    Returns:
        The model.
    """
    check_prob("conv_dropout", conv_dropout)
    check_prob("fc_dropout", fc_dropout)
    f = Stack(check_activation(activation), negative_slope)
    stages = [[(1, 64), (64, 64), (64, 64)], [(64, 128), (128, 128)], [(128, 256), (256, 256)]]
    for stage in stages:
        for cin, cout in stage:
            f.add("conv", nn.Conv2d(cin, cout, 3, padding=1))
            f.add("bn", nn.BatchNorm2d(cout, **_KERAS_BN)).act(cout)
        f.add("pool", nn.MaxPool2d(2)).dropout(conv_dropout)
    c = Stack(activation, negative_slope).add("flatten", nn.Flatten(), numbered=False)
    for cin, cout in ((256 * 6 * 6, 512), (512, 256)):
        c.add("fc", nn.Linear(cin, cout)).add("bn", nn.BatchNorm1d(cout, **_KERAS_BN))
        c.act(cout).dropout(fc_dropout)
    c.add("fc", nn.Linear(256, 7))
    return keras_init(FeatureClassifierNet(f.build(), c.build()))


_HW18_DNN_WIDTHS = [_FLAT, 1024, 1024, 1024, 512, 512, 512, 512, 256, 256, 128, 128, 64, 64,
                    32, 32, 32, 16, 16, 16, 8, 8, 8]


@register_model(ModelInfo(
    description="2018 report DNN: 23 dense layers 1024 ... 8 -> 7 with LeakyReLU",
    origin=_REPORT_2018, family="seed", tags=("dnn",), recipe=_RECIPE_2018,
    reported_params={"total": 6_036_839, "trainable": 6_036_839, "non_trainable": 0},
))
def hw18_dnn(
    activation: str = "leaky_relu", negative_slope: float = 0.3, dropout: float = 0.0
) -> nn.Module:
    """The 2018 report's 23-layer DNN (6,036,839 parameters).

    2304 -> 1024 -> 1024 -> 1024 -> 512 x4 -> 256 x2 -> 128 x2 -> 64 x2 -> 32 x3 -> 16 x3
    -> 8 x3 -> 7: 22 hidden dense layers, each followed by the activation, plus the output layer.

    Args:
        activation: ``"leaky_relu"`` (report), ``"relu"`` or ``"prelu"``.
        negative_slope: LeakyReLU slope (Keras' default ``alpha=0.3``).
        dropout: Optional dropout after every hidden layer (the report used none).

    Returns:
        The model.
    """
    check_prob("dropout", dropout)
    f = Stack(check_activation(activation), negative_slope)
    f.add("flatten", nn.Flatten(), numbered=False)
    for cin, cout in zip(_HW18_DNN_WIDTHS[:-1], _HW18_DNN_WIDTHS[1:], strict=True):
        f.add("fc", nn.Linear(cin, cout)).act(cout).dropout(dropout)
    c = Stack(activation).add("fc", nn.Linear(8, 7))
    return keras_init(FeatureClassifierNet(f.build(), c.build()))


@register_model(ModelInfo(
    description="2019 report CNN: 5x5/4x4 conv-ReLU-BN pairs (32-128), 4x4 'same' pools, "
    "dense 2048-512, L1+L2",
    origin=_REPORT_2019, family="seed", tags=("cnn", "batchnorm", "regularized"),
    recipe=_RECIPE_2019, regularization=_REG_2019,
    reported_params={"total": 1_919_975, "trainable": 1_919_079, "non_trainable": 896},
))
def hw19_cnn(
    dropout: float = 0.5, activation: str = "relu", l1: float = 3e-5, l2: float = 5e-5
) -> nn.Module:
    """The 2019 report's CNN (1,919,079 trainable parameters; 1,919,975 in Keras' total).

    conv 5x5 1->32, conv 4x4 32->32, maxpool 4, conv 5x5 32->64, conv 4x4 64->64, maxpool 4,
    conv 5x5 64->128, conv 4x4 128->128, maxpool 4, flatten (128), dense 2048, dropout,
    dense 512, dense 7. As in the report's code, each conv applies ReLU and is then followed by
    BatchNorm; convs and pools use Keras 'same' padding, so the 4x4 pools map 48 -> 12 -> 3 -> 1
    (the last pads the 3x3 map at the bottom/right:
    :class:`~emotionkit.models.layers.MaxPool2dSame`).

    The report puts ``l1_l2(3e-5, 5e-5)`` kernel regularisers on every conv and dense layer; the
    model exposes them as ``model.regularization = {"l1": ..., "l2": ...}`` for the trainer
    (Keras penalises only the kernels: weights of conv/linear layers, not biases or BatchNorm).

    Args:
        dropout: Dropout rate after dense 2048 (0.5 in the report).
        activation: ``"relu"`` (report), ``"leaky_relu"`` or ``"prelu"``.
        l1: L1 penalty coefficient.
        l2: L2 penalty coefficient.

    Returns:
        The model.
    """
    check_prob("dropout", dropout)
    reg = _check_reg(l1, l2)
    f = Stack(check_activation(activation))
    for cin, cout in ((1, 32), (32, 64), (64, 128)):
        for k, c_in in ((5, cin), (4, cout)):
            f.add("conv", conv_same(c_in, cout, k)).act(cout)
            f.add("bn", nn.BatchNorm2d(cout, **_KERAS_BN))
        f.add("pool", MaxPool2dSame(4))
    c = Stack(activation).add("flatten", nn.Flatten(), numbered=False)
    c.add("fc", nn.Linear(128, 2048)).act(2048).dropout(dropout)
    c.add("fc", nn.Linear(2048, 512)).act(512)
    c.add("fc", nn.Linear(512, 7))
    model = keras_init(FeatureClassifierNet(f.build(), c.build()))
    model.regularization = reg
    return model


@register_model(ModelInfo(
    description="2019 report DNN: Dense(30) on every pixel, flatten, dense 30 x4, 7 (L1+L2)",
    origin=_REPORT_2019, family="seed", tags=("dnn", "regularized"),
    recipe=_RECIPE_2019, regularization=_REG_2019,
    reported_params={"total": 2_076_697, "trainable": 2_076_697, "non_trainable": 0},
))
def hw19_dnn(activation: str = "relu", l1: float = 3e-5, l2: float = 5e-5) -> nn.Module:
    """The 2019 report's DNN (2,076,697 parameters).

    Keras' ``Dense(30)`` on a (48, 48, 1) input acts on the last axis, i.e. on every pixel
    separately (1 -> 30, 60 parameters): here a 1x1 convolution ``features.pixel_fc``, which is
    the same map. Then flatten (69,120), dense 30, 30, 30, 30 and dense 7. (Keras flattens
    channels-last, PyTorch channels-first: a fixed permutation of the next layer's inputs.)

    Args:
        activation: ``"relu"`` (report), ``"leaky_relu"`` or ``"prelu"``.
        l1: L1 penalty coefficient, exposed as ``model.regularization``.
        l2: L2 penalty coefficient.

    Returns:
        The model.
    """
    reg = _check_reg(l1, l2)
    f = Stack(check_activation(activation))
    f.add("pixel_fc", nn.Conv2d(1, 30, kernel_size=1), numbered=False).act(30)
    f.add("flatten", nn.Flatten(), numbered=False)
    for cin in (30 * _FLAT, 30, 30, 30):
        f.add("fc", nn.Linear(cin, 30)).act(30)
    c = Stack(activation).add("fc", nn.Linear(30, 7))
    model = keras_init(FeatureClassifierNet(f.build(), c.build()))
    model.regularization = reg
    return model
