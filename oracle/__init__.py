"""Oracle ideal ratio mask: the upper bound every system is compared with.

It needs the true sources, so it "separates" dataset tracks, not arbitrary songs.
"""
from oracle.irm import ideal_ratio_masks, irm_separate

__all__ = ["ideal_ratio_masks", "irm_separate"]
