"""Datasets and networks: loaders with the paper's splits, the CW MNIST net,
ResNet v1 for CIFAR-10, distillation, training, and the shipped weights."""
from models.cw_mnist import build_cw_mnist
from models.data import DataError, Dataset, load_dataset
from models.pretrained import PRETRAINED, load_pretrained, pretrained_record
from models.resnet import build_resnet

__all__ = ["DataError", "Dataset", "PRETRAINED", "build_cw_mnist", "build_resnet",
           "load_dataset", "load_pretrained", "pretrained_record"]
