"""The registered presets: the ecgformer hybrids, one small model per mixer, SMT, ViT and the PTB-XL CNN baselines.

Stated sizes are for 12 leads and 5 classes; tests hold every preset to within 20% of its stated size.
"""

from __future__ import annotations

from ..mixers.registry import MIXERS, MixerInfo
from .inception1d import Inception1d
from .metaformer import MetaFormer1d
from .registry import register_model
from .xresnet1d import XResNet1d

__all__ = ["ECGFORMER_S"]

# Shared by every ecgformer preset: a stride-4 conv stem (25 tokens/s at 100 Hz, 125 at 500 Hz) and strides 2, 4, 2
# into stages 2-4, so the two convolutional stages see tokens of 4 and 8 samples and the attention stages beat-scale
# tokens of 32 and 64 samples (320 and 640 ms at 100 Hz); one conditional positional encoding per stage (CPVT);
# concat (avg + max) pooling head.
_COMMON = dict(stem="conv", stem_stride=4, downsample_stride=(2, 4, 2), cpe="stage", head="avgmax")
# The default hybrid: depthwise-conv mixers on the long early sequences (ConvFormer stages), HiLo attention (LITv2) in
# stage 3 -- half the heads inside windows of 4 tokens (about one beat), half over 4x-pooled keys (the rhythm) --
# and global attention on the short last stage.
_HYBRID = ("conv", "conv", "hilo", "attention")

ECGFORMER_T = dict(_COMMON, dims=(32, 64, 112, 160), depths=(2, 2, 3, 1), num_heads=(2, 2, 4, 5), mixers=_HYBRID,
                   drop_path_rate=0.05)
ECGFORMER_S = dict(_COMMON, dims=(48, 96, 192, 288), depths=(2, 2, 6, 2), num_heads=(3, 3, 6, 9), mixers=_HYBRID,
                   drop_path_rate=0.1)
ECGFORMER_B = dict(_COMMON, dims=(64, 128, 320, 512), depths=(2, 2, 10, 2), num_heads=(2, 4, 10, 16),
                   mixers=_HYBRID, drop_path_rate=0.2, layer_scale=1e-5)

register_model("ecgformer_t", MetaFormer1d, ECGFORMER_T, 1_000_000,
               "hybrid: conv, conv, HiLo, attention; dims 32-160")
register_model("ecgformer_s", MetaFormer1d, ECGFORMER_S, 5_000_000,
               "hybrid: conv, conv, HiLo, attention; dims 48-320")
register_model("ecgformer_b", MetaFormer1d, ECGFORMER_B, 20_000_000,
               "hybrid: conv, conv, HiLo, attention; dims 64-512, LayerScale")

# ecgformer_s for 100 Hz input (PTB-XL's configs): the strides above leave a 2.5 s crop at 100 Hz 63 / 32 / 8 / 4
# tokens per stage, too few for HiLo's windows and global attention; a stride-2 stem and strides 2, 2, 2 give
# 125 / 63 / 32 / 16, close to the 313 / 157 / 40 / 20 of the same crop at 500 Hz under the default strides.
# Chosen on PTB-XL's validation fold (benchmarks/results/ptbxl_superdiag_100hz/NOTES.md).
ECGFORMER_S_100HZ = dict(ECGFORMER_S, stem_stride=2, downsample_stride=(2, 2, 2))
register_model("ecgformer_s_100hz", MetaFormer1d, ECGFORMER_S_100HZ, 5_000_000,
               "ecgformer_s for 100 Hz input: stem stride 2, strides 2, 2, 2")

# One preset per mixer on the ecgformer_s backbone, the mixer in every stage (the MetaFormer ablation: all else
# equal), with the layout and stated size its registration declares; mixers registered later get theirs too.
def _register_family_preset(name: str, info: MixerInfo) -> None:
    register_model(f"ecgformer_s_{name}", MetaFormer1d, dict(ECGFORMER_S, mixers=info.preset_layout),
                   info.preset_params, f"ecgformer_s backbone with the {name} mixer in every stage")


MIXERS.watch(_register_family_preset)

# SMT's evolutionary hybrid (Lin et al., ICCV 2023): scale-aware modulation in stages 1-2, SAM and attention
# alternating in stage 3, attention in stage 4; SAM with 4 conv heads (kernels 3, 5, 7, 9), conv FFN (SMT's
# detail-specific FFN).
_SAM = {"name": "smt", "num_heads": 4}
register_model("smt1d_s", MetaFormer1d,
               dict(_COMMON, dims=(48, 96, 192, 288), depths=(2, 2, 6, 2), num_heads=(3, 3, 6, 9),
                    mixers=(_SAM, _SAM, [_SAM, "attention"], "attention"), ffn="conv", drop_path_rate=0.1),
               5_400_000, "SMT evolutionary hybrid: SAM, SAM, SAM/attention alternating, attention")

# Plain patch ViT for reference (DeiT-Ti shape): 8-sample patches, 12 global-attention blocks of width 192,
# a PEG after the first block (CPVT: length-free positions), average pooling.
register_model("vit1d_s", MetaFormer1d,
               dict(stem="patch", stem_stride=8, dims=(192,), depths=(12,), num_heads=(3,), mixers="attention",
                    cpe="stage", head="avg", drop_path_rate=0.1),
               5_400_000, "plain ViT: patch 8, 12 x 192 global attention, CPE")

register_model("xresnet1d50", XResNet1d, dict(layers=(3, 4, 6, 3)), 950_000,
               "PTB-XL benchmark xresnet1d50 (ResNet-D bottlenecks, kernel 5)")
register_model("xresnet1d101", XResNet1d, dict(layers=(3, 4, 23, 3)), 1_900_000,
               "PTB-XL benchmark xresnet1d101 (ResNet-D bottlenecks, kernel 5)")
register_model("inception1d", Inception1d, {}, 510_000,
               "PTB-XL benchmark inception1d (InceptionTime: kernels 39, 19, 9; depth 6)")
