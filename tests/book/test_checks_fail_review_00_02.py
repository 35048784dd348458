"""Chapters 00 and 02: more deliberate breaks, found by reading the chapters as a student.

Chapter 00's check cell used bare ``assert``/``assert_close`` (a break printed only "Tensor-likes
are not close!"); chapter 02 had a bare ``assert`` in the cell that prints its reading of the
table, so a break of the ordering stopped there, with no message, before the check cell. Each
test makes one slip, runs the chapter in fast mode up to its check cell, and asserts that the
check cell raises a ``CheckError`` naming the failed check and carrying its hint.
"""
import pytest

from _broken_copy import assert_check_fails

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_chapter00_check_catches_a_module_without_the_hamming_window():
    assert_check_fails(
        "00_index.ipynb",
        break_cell="ff = ffe.FreqFusion(hr_channels=3",
        old="compressed_channels=8)", new="compressed_channels=8, hamming_window=False)",
        check_cell="expect(tuple(mask_lr.shape) == (1, 25, 256, 256)",
        expect=("check failed: at initialization every kernel is the normalized Hamming window",
                "hamming_window=True",
                "1/25 = 0.04"))


def test_chapter02_check_catches_a_fusion_replaced_by_a_wider_blur():
    assert_check_fails(
        "02_feature_similarity.ipynb",
        break_cell='variants = {"sharp": S',
        old="bilinear_fusion(S, 4, 0.5)", new="blur_features(S, 3.0)",
        check_cell="# 1. Noise-free features equal to orthonormal class embeddings",
        skip=("similarity_explorer(label", "plot_similarity_small_multiples("),
        expect=("check failed: boundary-band margin: sharp",
                "the fused map must be bilinear_fusion(S, 4, 0.5)"))
