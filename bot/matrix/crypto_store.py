"""matrix-nio's encryption store, with the device keys loaded in time that grows with the
devices, not with their square.

nio keeps every device it knows of (each member of every encrypted room the bot is in) in a
``DeviceStore``, loaded from its database at each start. ``DeviceStore`` has no
``__contains__``: ``device in store`` walks every device, comparing each, and ``add`` asks it
before each device it adds. Loading n devices costs n²/2 comparisons, and each device's keys
are one more query: measured at start with about 2,700 known devices (a bot in 7,750 rooms,
30 % of them encrypted), 4.0 s of the 5.4 s to the first sync was this (matrix-nio 0.26).

Here the store answers ``in`` from its index (the device of that user with that id, equal in
every field: the same answer as the walk) and the keys are read in one query. Everything else
is nio's ``DefaultStore`` unchanged. A new nio needs :meth:`load_device_keys` checked against
its own.
"""

from __future__ import annotations

from collections import defaultdict

from nio.crypto import DeviceStore, OlmDevice, TrustState
from nio.store import DefaultStore
from nio.store.database import use_database
from nio.store.file_trustdb import Key
from nio.store.models import DeviceKeys, Keys


class IndexedDeviceStore(DeviceStore):  # type: ignore[misc]  # nio has no type hints
    """nio's device store, with ``device in store`` looked up instead of walked."""

    def __contains__(self, device: object) -> bool:
        if not isinstance(device, OlmDevice):
            return False
        known = self._entries.get(device.user_id)
        return known is not None and known.get(device.id) == device


class CryptoStore(DefaultStore):  # type: ignore[misc]
    """nio's default store (SQLite, and files for the devices' trust), loading the device keys
    as :class:`IndexedDeviceStore`, and not writing an empty set of encrypted rooms."""

    def save_encrypted_rooms(self, rooms: set[str]) -> None:
        """nio calls this after every sync, with the rooms found encrypted in it: nearly always
        none, and an empty write still costs a transaction and a query for the account (about
        3 ms a sync, on the way of every reply)."""
        if rooms:
            super().save_encrypted_rooms(rooms)

    @use_database  # type: ignore[untyped-decorator]
    def load_device_keys(self) -> DeviceStore:
        store = IndexedDeviceStore()
        account = self._get_account()
        if not account:
            return store
        keys: defaultdict[int, dict[str, str]] = defaultdict(dict)
        query = (
            Keys.select(Keys.device, Keys.key_type, Keys.key)
            .join(DeviceKeys)
            .where(DeviceKeys.account == account)
            .tuples()
        )
        for device_row, key_type, key in query:
            keys[device_row][key_type] = key
        for row in DeviceKeys.select().where(DeviceKeys.account == account):
            device = OlmDevice(
                row.user_id,
                row.device_id,
                keys.get(row.id, {}),
                display_name=row.display_name,
                deleted=row.deleted,
            )
            trust = Key.from_olmdevice(device)
            if trust in self.trust_db:
                device.trust_state = TrustState.verified
            elif trust in self.blacklist_db:
                device.trust_state = TrustState.blacklisted
            elif trust in self.ignore_db:
                device.trust_state = TrustState.ignored
            else:
                device.trust_state = TrustState.unset
            store.add(device)
        return store
