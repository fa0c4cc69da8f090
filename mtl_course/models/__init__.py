"""Models: encoders, a decoder, task heads, and build_model to combine them."""

from mtl_course.models.build import (BRANCHES, ENCODERS, SHARINGS, MultiTaskNet, SeparateNets, build_model,
                                     count_parameters)
from mtl_course.models.decoder import Decoder
from mtl_course.models.encoders import ResNetEncoder, UNetEncoder
from mtl_course.models.heads import DenseHead, ImageHead

__all__ = ["BRANCHES", "Decoder", "DenseHead", "ENCODERS", "ImageHead", "MultiTaskNet", "ResNetEncoder",
           "SHARINGS", "SeparateNets", "UNetEncoder", "build_model", "count_parameters"]
