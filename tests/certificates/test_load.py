"""Property: no byte string makes load_pfx raise anything but an InputError with a known code."""

from __future__ import annotations

import functools

import certcorpus as cc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octorunbook.certificates import LoadedCertificate, load_pfx
from octorunbook.findings import InputError
from octorunbook.redaction import Secret

UNREADABLE = {"PFX_UNREADABLE", "PFX_WRONG_PASSWORD"}
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def valid_pfxs() -> tuple[bytes, bytes]:
    """Two small valid PFX files (ECDSA keys keep them short): material to mutate and splice."""
    return cc.good_pfx(cc.ec_key()), cc.case("triple_des_pfx").data


def outcome(data: bytes) -> str:
    """ "loaded" or the InputError code; any other exception fails the test with its traceback."""
    try:
        loaded = load_pfx(data, Secret(cc.PASSWORD))
    except InputError as error:
        return error.code
    assert isinstance(loaded, LoadedCertificate) and loaded.private_key is not None
    return "loaded"


@FAST
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_unreadable_never_a_traceback(data: bytes) -> None:
    assert outcome(data) in UNREADABLE


@FAST
@given(st.data())
def test_bit_flipped_pfx_either_loads_or_is_reported_as_unreadable(data: st.DataObject) -> None:
    pfx = bytearray(data.draw(st.sampled_from(valid_pfxs())))
    for position in data.draw(st.lists(st.integers(0, len(pfx) * 8 - 1), min_size=1, max_size=8)):
        pfx[position // 8] ^= 1 << (position % 8)
    assert outcome(bytes(pfx)) in UNREADABLE | {"loaded"}


@FAST
@given(st.data())
def test_truncated_or_spliced_pfx_either_loads_or_is_reported_as_unreadable(data: st.DataObject) -> None:
    first, second = valid_pfxs()
    cut = data.draw(st.integers(0, len(first)))
    mutation = data.draw(st.sampled_from(["truncate", "splice", "insert"]))
    if mutation == "truncate":
        mutated = first[:cut]
    elif mutation == "splice":
        mutated = first[:cut] + second[data.draw(st.integers(0, len(second))) :]
    else:
        mutated = first[:cut] + data.draw(st.binary(min_size=1, max_size=64)) + first[cut:]
    assert outcome(mutated) in UNREADABLE | {"loaded"}


def test_the_unmutated_material_loads() -> None:
    assert [outcome(pfx) for pfx in valid_pfxs()] == ["loaded", "loaded"]
