"""Models: a trunk that every task reads and one head per task, and build_model to put them together.

    trunk.py         Features (what the heads read) and Trunk (encoder, + decoder when shared)
    encoders.py      UNetEncoder, ResNetEncoder: image -> pyramid of feature maps
    decoder.py       Decoder: pyramid -> one full-resolution map
    heads.py         DenseHead, ImageHead, DecoderHead
    multitask.py     MultiTaskNet(trunk, heads): forward = {task: head(trunk(x))}
    cross_stitch.py  CrossStitchUnit, CrossStitchTrunk: one encoder per task, mixed after every stage
    attention.py     TaskAttention: one task's soft masks on the shared encoder's stages (MTAN-style)
    build.py         build_model(tasks, encoder=..., sharing=..., branch=..., pretrained=...), count_parameters,
                     count_macs
    pretrained.py    the course backbone and ImageNet weights: load_backbone, best_pretrained
"""

from mtl_course.models.attention import TaskAttention
from mtl_course.models.build import (BRANCHES, ENCODERS, SHARINGS, attention_sharing, build_model, count_macs,
                                     count_parameters, cross_stitch_sharing, hard_sharing, no_sharing)
from mtl_course.models.cross_stitch import CrossStitchTrunk, CrossStitchUnit, OwnFeatures, TaskFeatures
from mtl_course.models.decoder import Decoder
from mtl_course.models.encoders import ResNetEncoder, UNetEncoder
from mtl_course.models.heads import DecoderHead, DenseHead, ImageHead
from mtl_course.models.multitask import MultiTaskNet, OwnNetwork
from mtl_course.models.pretrained import best_pretrained, describe, load_backbone
from mtl_course.models.trunk import Features, Trunk

__all__ = ["BRANCHES", "CrossStitchTrunk", "CrossStitchUnit", "Decoder", "DecoderHead", "DenseHead", "ENCODERS",
           "Features", "ImageHead", "MultiTaskNet", "OwnFeatures", "OwnNetwork", "ResNetEncoder", "SHARINGS",
           "TaskAttention", "TaskFeatures", "Trunk", "UNetEncoder", "attention_sharing", "best_pretrained",
           "build_model", "count_macs", "count_parameters", "cross_stitch_sharing", "describe", "hard_sharing",
           "load_backbone", "no_sharing"]
