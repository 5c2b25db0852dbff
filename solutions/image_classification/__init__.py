"""`image-classification`: label an image. Assembled from options.py (weights, default sizes),
source.py (named datasets, data.py) and builder.py (models, model.py, and their phases); folders,
pipeline, training, export, report and predict are `solutions.common.image_classifier`.
"""

from __future__ import annotations

from solutions.common.image_classifier import ImageClassifierSolution
from solutions.common.solution import DatasetInfo, register
from solutions.image_classification.builder import ImageModelBuilder
from solutions.image_classification.options import ImageOptions
from solutions.image_classification.source import NamedImageSource


@register
class ImageClassification(ImageOptions, NamedImageSource, ImageModelBuilder, ImageClassifierSolution):
    name = "image-classification"
    summary = "label an image (residual CNN from scratch, or a keras.applications backbone)"
    default_dataset = "digits"
    datasets = (
        DatasetInfo("digits", "1797 real 8x8 handwritten digits (scikit-learn, offline)"),
        DatasetInfo("mnist", "70k 28x28 handwritten digits (mnist/mnist.npz)"),
        DatasetInfo("fashion_mnist", "70k 28x28 clothing images (fashion-mnist/*.gz)"),
        DatasetInfo("cifar10", "60k 32x32 colour images, 10 classes (cifar-10-python.tar.gz)"),
        DatasetInfo("cifar100", "60k 32x32 colour images, 100 classes (cifar-100-python.tar.gz)"),
    )
    models = ("resnet", "mobilenet_v3_small", "efficientnet_b0")
    default_model = "resnet"
    flip_safe = frozenset({"fashion_mnist", "cifar10", "cifar100"})
