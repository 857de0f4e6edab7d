"""xumx-sliCQ v1 transform: block table, slice count, fast path == nsgt 0.19, round trip, goldens."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from xumx_slicq import params, transform

RATE = 44100


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = np.asarray(ref, np.float64), np.asarray(est, np.float64)
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((ref - est) ** 2)))


def max_err(a: list, b: list) -> float:
    """Largest |a - b| over all blocks, relative to the largest |b| over all blocks (the global peak)."""
    peak = max(np.abs(y).max() for y in b)
    return max(float(np.abs(x.astype(np.complex128) - y).max()) for x, y in zip(a, b)) / peak


@pytest.fixture(scope="module")
def st() -> transform.SliCQT:
    return transform.get_slicqt()


@pytest.fixture(scope="module")
def noise() -> dict[int, np.ndarray]:
    rng = np.random.default_rng(0)
    return {n: rng.standard_normal((2, n)) for n in (44100, 30001)}


# --- frame and shapes (self-made) -----------------------------------------------------------------

def test_block_table_matches_params_and_nsgt(st):
    nsgt = transform.make_nsgt()
    m_rows = np.asarray(nsgt.M[: len(nsgt.g) // 2 + 1])
    assert len(m_rows) == params.N_ROWS == 263
    assert transform.blocks_of(m_rows) == st.blocks == params.BLOCKS
    assert len(st.blocks) == params.N_BLOCKS == 70
    assert [b[0] for b in st.blocks] == list(np.cumsum([0] + [b[1] for b in st.blocks[:-1]]))
    assert sum(nf for _, nf, _ in st.blocks) == 263
    assert sum(nf * m for _, nf, m in st.blocks) == params.COEFS_PER_SLICE == 18640
    assert max(m for _, _, m in st.blocks) == params.MAX_M == nsgt.ncoefs == 292
    assert st.blocks[0] == (0, 1, 28) and st.blocks[1] == (1, 86, 16) and st.blocks[-1] == (262, 1, 292)
    assert all(m % 4 == 0 for _, _, m in st.blocks)
    # row centres: DC, 32.9 Hz ... 21694.33 Hz (the Bark bin at 22050 Hz is dropped), Nyquist
    f = st.row_freqs_hz
    assert f[0] == 0 and f[1] == pytest.approx(32.9) and f[2] == pytest.approx(42.6727, abs=1e-4)
    assert f[261] == pytest.approx(21694.33, abs=1e-2) and f[262] == RATE / 2
    assert (st.sllen, st.trlen, st.nn) == (params.SLLEN, params.TRLEN, params.SLLEN)


@pytest.mark.parametrize("length", [1, 4515, 4516, 9030, 9031, 13545, 13546, 44100, 88200, 100001,
                                    132300, 2_621_440])
def test_slice_count_matches_nsgt(st, length):
    from nsgt.slicing import slicing

    n_nsgt = sum(1 for _ in slicing([np.zeros((1, length))], params.SLLEN, params.TRLEN))
    assert st.n_slices(length) == params.n_slices(length) == n_nsgt
    if length <= 9031:
        assert st.forward(np.zeros(length, np.float32))[0].shape == (1, n_nsgt, 28)


def test_slice_count_table():
    assert [params.n_slices(n) for n in (1, 9030, 44100, 88200, 132300, 2_621_440)] == [2, 2, 6, 11, 16, 292]


# --- fast path == nsgt 0.19 (self-made noise) -----------------------------------------------------

@pytest.mark.parametrize("length", [44100, 30001])
def test_forward_equals_nsgt(st, noise, length):
    x = noise[length]
    ref = transform.reference_forward(x)
    s = params.n_slices(length)
    assert [r.shape for r in ref] == [(2, nf, s, m) for _, nf, m in params.BLOCKS]
    f64 = st.forward(x)
    f32 = st.forward(x.astype(np.float32))
    assert all(b.dtype == np.complex128 for b in f64) and all(b.dtype == np.complex64 for b in f32)
    assert [b.shape for b in f32] == [r.shape for r in ref]
    assert max_err(f64, ref) <= 1e-12
    assert max_err(f32, ref) <= 1e-6


def test_backward_equals_nsgt_and_round_trip(st, noise):
    x = noise[30001]
    ref_c = transform.reference_forward(x)
    ref_y = transform.reference_backward(ref_c, x.shape[-1])
    assert ref_y.shape == x.shape
    y64 = st.backward(st.forward(x), x.shape[-1])
    y32 = st.backward(st.forward(x.astype(np.float32)), x.shape[-1])
    assert y64.dtype == np.float64 and y32.dtype == np.float32 and y32.shape == x.shape
    assert np.abs(st.backward(ref_c, x.shape[-1]) - ref_y).max() <= 1e-12 * np.abs(x).max()
    assert snr_db(x, ref_y) >= 290 and snr_db(x, y64) >= 290
    assert snr_db(x, y32) >= 120


def test_backward_of_arbitrary_coefficients_equals_nsgt(st):
    """Coefficients outside the transform's range exercise the whole synthesis operator (DC/Nyquist too)."""
    rng = np.random.default_rng(3)
    length, s = 20000, params.n_slices(20000)
    blocks = [rng.standard_normal((2, nf, s, m)) + 1j * rng.standard_normal((2, nf, s, m))
              for _, nf, m in params.BLOCKS]
    ref = transform.reference_backward(blocks, length)
    ours = st.backward(blocks, length)
    assert np.abs(ours - ref).max() <= 1e-12 * np.abs(ref).max()
    ours32 = st.backward([b.astype(np.complex64) for b in blocks], length)
    assert np.abs(ours32 - ref).max() <= 1e-6 * np.abs(ref).max()


def test_batched_equals_per_item(st):
    x = np.random.default_rng(1).standard_normal((3, 2, 50000)).astype(np.float32)
    batched = st.forward(x)
    assert batched[1].shape == (3, 2, 86, params.n_slices(50000), 16)
    for i in range(3):
        single = st.forward(x[i])
        assert max_err(single, [b[i] for b in batched]) <= 1e-6
    mono = st.forward(x[0, 0])
    assert mono[0].shape == (1, params.n_slices(50000), 28)
    assert max_err(mono, [b[0, 0] for b in batched]) <= 1e-6
    y = st.backward(batched, 50000)
    assert y.shape == x.shape
    # identical channels stay bit-identical (a mono input duplicated to stereo)
    dup = st.forward(np.broadcast_to(x[0, :1], (2, 50000)))
    assert all(np.array_equal(b[0], b[1]) for b in dup)
    y_dup = st.backward(dup, 50000)
    assert np.array_equal(y_dup[0], y_dup[1])
    assert np.abs(y[2] - st.backward([b[2] for b in batched], 50000)).max() <= 1e-6 * np.abs(x).max()


def test_errors():
    with pytest.raises(transform.SliCQTError, match="44100 Hz"):
        transform.SliCQT(48000)
    st = transform.get_slicqt()
    with pytest.raises(transform.SliCQTError, match="real"):
        st.forward(np.zeros(100, np.complex64))
    c = st.forward(np.zeros((2, 9031), np.float32))
    with pytest.raises(transform.SliCQTError, match="length"):
        st.backward(c, 2 * st.n_slices(9031) * 4515 + 1)
    with pytest.raises(transform.SliCQTError, match="block 1"):
        st.backward([c[0], c[1][..., :8]] + c[2:], 9031)
    with pytest.raises(transform.SliCQTError, match="70 blocks"):
        st.backward(c[:69], 9031)


# --- goldens of the original code ------------------------------------------------------------------

def _mixture(ref_dir):
    audio, rate = sf.read(ref_dir / "mixture.wav", dtype="float32", always_2d=True)
    assert rate == RATE
    return audio.T  # (2, 88200)


def test_blocks_json(st, xumx_reference_dir):
    info = json.loads((xumx_reference_dir / "blocks.json").read_text())
    assert [(b["first_row"], b["nf"], b["M"]) for b in info["blocks"]] == list(st.blocks)
    assert info["slices"] == st.n_slices(info["length"]) == 11
    assert np.abs(np.asarray(info["row_freqs_hz"]) - st.row_freqs_hz).max() < 1e-9


def test_forward_and_round_trip_equal_original(st, xumx_reference_dir):
    mix = _mixture(xumx_reference_dir)
    assert mix.shape == (2, 88200)
    gold = np.load(xumx_reference_dir / "slicqt_mixture.npz")
    ours = st.forward(mix[None])
    gold_blocks = [gold[f"b{b:02d}"] for b in range(70)]
    assert [g.shape for g in gold_blocks] == [o.shape for o in ours]
    assert all(o.dtype == np.complex64 for o in ours)
    err = max_err(ours, gold_blocks)
    assert err <= 1e-6, f"forward differs from the original by {err:.2e} of the peak"
    rt_gold = np.load(xumx_reference_dir / "separator.npz")["roundtrip_mixture"]
    rt = st.backward(ours, mix.shape[-1])[0]
    assert rt.shape == rt_gold.shape == (2, 88200) and rt.dtype == np.float32
    snr = snr_db(rt_gold, rt)
    print(f"round trip vs the original's: {snr:.1f} dB; ours vs the input: {snr_db(mix, rt):.1f} dB")
    assert snr > 100 and snr_db(mix, rt) > 120
