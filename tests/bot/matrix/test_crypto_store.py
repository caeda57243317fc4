"""The bot's encryption store loads what nio's own loads, and answers ``in`` alike."""

from __future__ import annotations

from pathlib import Path

from nio.crypto import OlmAccount, OlmDevice, TrustState
from nio.store import DefaultStore

from bot.matrix.crypto_store import CryptoStore, IndexedDeviceStore

USER = "@bot:example.org"
DEVICE = "BOTDEVICE"


def _device(user: int, device: int, *, deleted: bool = False) -> OlmDevice:
    return OlmDevice(
        f"@person-{user}:example.org",
        f"DEV{device}",
        {"ed25519": f"ed-{user}-{device}", "curve25519": f"cu-{user}-{device}"},
        display_name=f"phone {device}",
        deleted=deleted,
    )


def _fill(path: Path) -> list[OlmDevice]:
    store = DefaultStore(USER, DEVICE, str(path), "", "store.db")
    store.save_account(OlmAccount())
    devices = [_device(u, d, deleted=(u == 3)) for u in range(40) for d in range(2)]
    store.save_device_keys({})
    by_user: dict[str, dict[str, OlmDevice]] = {}
    for device in devices:
        by_user.setdefault(device.user_id, {})[device.id] = device
    store.save_device_keys(by_user)
    store.verify_device(devices[0])
    store.blacklist_device(devices[2])
    store.ignore_device(devices[4])
    return devices


def _as_set(store: object) -> set[tuple[object, ...]]:
    return {
        (d.user_id, d.id, tuple(sorted(d.keys.items())), d.display_name, d.deleted, d.trust_state)
        for d in store  # type: ignore[attr-defined]
    }


def test_the_device_keys_load_as_nio_loads_them_trust_included(tmp_path: Path) -> None:
    devices = _fill(tmp_path)
    ours = CryptoStore(USER, DEVICE, str(tmp_path), "", "store.db").load_device_keys()
    nios = DefaultStore(USER, DEVICE, str(tmp_path), "", "store.db").load_device_keys()
    assert isinstance(ours, IndexedDeviceStore)
    assert _as_set(ours) == _as_set(nios)
    assert len(_as_set(ours)) == len(devices)
    states = {(d.user_id, d.id): d.trust_state for d in ours}
    assert states[(devices[0].user_id, devices[0].id)] == TrustState.verified
    assert states[(devices[2].user_id, devices[2].id)] == TrustState.blacklisted
    assert states[(devices[4].user_id, devices[4].id)] == TrustState.ignored
    assert states[(devices[6].user_id, devices[6].id)] == TrustState.unset


def test_in_answers_as_walking_every_device_would() -> None:
    store = IndexedDeviceStore()
    known = _device(1, 1)
    assert store.add(known)
    assert known in store
    assert _device(1, 1) in store  # equal in every field
    assert not store.add(_device(1, 1))
    renamed = _device(1, 1)
    renamed.display_name = "other"
    assert renamed not in store  # same user and id, not the same device
    assert _device(1, 2) not in store
    assert _device(2, 1) not in store
    assert "@person-1:example.org" not in store  # not a device
    assert "@person-9:example.org" not in store.users  # a lookup adds no user


def test_an_empty_set_of_encrypted_rooms_writes_nothing(tmp_path: Path) -> None:
    _fill(tmp_path)
    store = CryptoStore(USER, DEVICE, str(tmp_path), "", "store.db")
    written: list[set[str]] = []
    original = DefaultStore.save_encrypted_rooms

    def spy(self: DefaultStore, rooms: set[str]) -> None:
        written.append(set(rooms))
        original(self, rooms)

    DefaultStore.save_encrypted_rooms = spy  # type: ignore[method-assign]
    try:
        store.save_encrypted_rooms(set())
        store.save_encrypted_rooms({"!a:example.org"})
    finally:
        DefaultStore.save_encrypted_rooms = original  # type: ignore[method-assign]
    assert written == [{"!a:example.org"}]
    assert store.load_encrypted_rooms() == {"!a:example.org"}
