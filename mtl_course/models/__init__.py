"""Models: a trunk that every task reads and one head per task, and build_model to put them together.

    trunk.py      Features (what the heads read) and Trunk (encoder, + decoder when shared)
    encoders.py   UNetEncoder, ResNetEncoder: image -> pyramid of feature maps
    decoder.py    Decoder: pyramid -> one full-resolution map
    heads.py      DenseHead, ImageHead, DecoderHead
    multitask.py  MultiTaskNet(trunk, heads): forward = {task: head(trunk(x))}
    build.py      build_model(tasks, encoder=..., sharing=..., branch=..., pretrained=...)
    pretrained.py the course backbone and ImageNet weights: load_backbone, best_pretrained
"""

from mtl_course.models.build import (BRANCHES, ENCODERS, SHARINGS, build_model, count_parameters, hard_sharing,
                                     no_sharing)
from mtl_course.models.decoder import Decoder
from mtl_course.models.encoders import ResNetEncoder, UNetEncoder
from mtl_course.models.heads import DecoderHead, DenseHead, ImageHead
from mtl_course.models.multitask import MultiTaskNet, OwnNetwork
from mtl_course.models.pretrained import best_pretrained, describe, load_backbone
from mtl_course.models.trunk import Features, Trunk

__all__ = ["BRANCHES", "Decoder", "DecoderHead", "DenseHead", "ENCODERS", "Features", "ImageHead", "MultiTaskNet",
           "OwnNetwork", "ResNetEncoder", "SHARINGS", "Trunk", "UNetEncoder", "best_pretrained", "build_model",
           "count_parameters", "describe", "hard_sharing", "load_backbone", "no_sharing"]
