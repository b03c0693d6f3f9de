"""Flax NNX denoisers ``net(mu, t) -> xhat``: MLP, U-Net, Transformer, dilated convolutions, output heads,
preconditioning, and the token input/output maps of the Dirichlet pair."""

from pmm_ppl.nets.carry_revealed import CarryRevealed
from pmm_ppl.nets.concentration_input import LogConcentrationInput
from pmm_ppl.nets.dilated_conv import DilatedConvNet
from pmm_ppl.nets.embedding import ConditioningEmbedding, conditioning_value, fourier_features
from pmm_ppl.nets.factory import ARCHITECTURES, make_denoiser
from pmm_ppl.nets.heads import HEADS, apply_head, head_for_pair
from pmm_ppl.nets.info import count_params, forward_flops
from pmm_ppl.nets.mlp import MLP
from pmm_ppl.nets.precondition import NormalPreconditioned, normal_preconditioning
from pmm_ppl.nets.transformer import Transformer
from pmm_ppl.nets.unet import UNet

__all__ = [
    "ARCHITECTURES", "CarryRevealed", "ConditioningEmbedding", "DilatedConvNet", "HEADS", "LogConcentrationInput", "MLP", "NormalPreconditioned", "Transformer", "UNet",
    "apply_head", "conditioning_value", "count_params", "forward_flops", "fourier_features", "head_for_pair",
    "make_denoiser", "normal_preconditioning",
]
