"""Secrets at rest: AES-GCM under the master key, bound to their place; rotation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from z0.secrets import (
    KEY_FILE,
    NEXT_KEY_FILE,
    SecretBox,
    SecretsError,
    load_master_key,
    new_master_key,
    rotate_master_key,
    write_key_file,
)

PLACE = ("ns-id", "tenant_abc", "API_KEY")


def test_seal_and_open() -> None:
    box = SecretBox(new_master_key())
    nonce, ciphertext, key_id = box.seal("s3cret-välue", PLACE)
    assert b"s3cret" not in ciphertext and len(nonce) == 12
    assert box.open(nonce, ciphertext, key_id, PLACE) == "s3cret-välue"
    again = box.seal("s3cret-välue", PLACE)
    assert again[1] != ciphertext  # a fresh nonce each time


def test_a_ciphertext_opens_only_in_its_place_and_only_untampered() -> None:
    box = SecretBox(new_master_key())
    nonce, ciphertext, key_id = box.seal("value", PLACE)
    with pytest.raises(SecretsError, match="tampered"):
        box.open(nonce, ciphertext, key_id, ("ns-id", "tenant_xyz", "API_KEY"))  # moved to another script
    with pytest.raises(SecretsError, match="tampered"):
        box.open(nonce, bytes([ciphertext[0] ^ 1]) + ciphertext[1:], key_id, PLACE)
    with pytest.raises(SecretsError, match="which z0 does not have"):
        SecretBox(new_master_key()).open(nonce, ciphertext, key_id, PLACE)


def test_key_file_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    key = load_master_key(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_master_key(tmp_path).key_id == key.key_id
    from_env = new_master_key()
    assert load_master_key(tmp_path, from_env.encoded()).key_id == from_env.key_id
    with pytest.raises(SecretsError, match="base64"):
        load_master_key(tmp_path, "not base64!")
    with pytest.raises(SecretsError, match="32 bytes"):
        load_master_key(tmp_path, "c2hvcnQ=")
    assert "key=" not in repr(key) and key.key_id in repr(key)


def test_rotation_reseals_and_running_boxes_follow(tmp_path: Path) -> None:
    running = SecretBox.for_data_dir(tmp_path)
    sealed = [(PLACE, *running.seal("one", PLACE))]

    def reseal(old: SecretBox, new: SecretBox) -> int:
        assert (tmp_path / NEXT_KEY_FILE).exists()  # the new key is on disk before anything moves
        for index, (place, nonce, ciphertext, key_id) in enumerate(sealed):
            sealed[index] = (place, *new.seal(old.open(nonce, ciphertext, key_id, place), place))
        return len(sealed)

    key, count = rotate_master_key(tmp_path, None, reseal)
    assert count == 1 and not (tmp_path / NEXT_KEY_FILE).exists()
    assert load_master_key(tmp_path).key_id == key.key_id
    place, nonce, ciphertext, key_id = sealed[0]
    assert key_id == key.key_id
    assert running.open(nonce, ciphertext, key_id, place) == "one"  # reloads the key files once


def test_an_interrupted_rotation_leaves_both_keys_usable(tmp_path: Path) -> None:
    old = SecretBox.for_data_dir(tmp_path)
    nonce, ciphertext, key_id = old.seal("value", PLACE)
    upcoming = new_master_key()
    write_key_file(tmp_path / NEXT_KEY_FILE, upcoming)  # a crash right after this step
    box = SecretBox.for_data_dir(tmp_path)
    assert box.open(nonce, ciphertext, key_id, PLACE) == "value"
    resealed = SecretBox(upcoming).seal("value", PLACE)
    assert box.open(*resealed, PLACE) == "value"


def test_a_running_box_seals_with_the_new_key_after_a_rotation(tmp_path: Path) -> None:
    running = SecretBox.for_data_dir(tmp_path)
    old_id = running.key.key_id

    def reseal(old: SecretBox, new: SecretBox) -> int:
        return 0

    key, _ = rotate_master_key(tmp_path, None, reseal)
    os.utime(tmp_path / KEY_FILE, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    _, _, key_id = running.seal("fresh", PLACE)
    assert key_id == key.key_id != old_id
