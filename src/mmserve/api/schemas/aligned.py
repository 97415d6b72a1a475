"""Aligned model registry bodies: the same shapes as the fusion registry's (one registry
code, store/fusion_models.py, with kind "aligned"), named for their resource."""

from mmserve.api.schemas.fusion import FusionActivate as AlignedActivate
from mmserve.api.schemas.fusion import FusionModelList as AlignedModelList
from mmserve.api.schemas.fusion import FusionModelOut as AlignedModelOut
from mmserve.api.schemas.fusion import FusionRegister as AlignedRegister

__all__ = ["AlignedActivate", "AlignedModelList", "AlignedModelOut", "AlignedRegister"]
