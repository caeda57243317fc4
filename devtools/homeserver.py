"""A throwaway local Synapse homeserver for tests and demos.

Usage::

    with Homeserver(tmp_path / "synapse") as hs:
        user_id = hs.register_user("alice", "secret")
        token, device_id = hs.login(user_id, "secret")
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

logger = logging.getLogger(__name__)


# Every rate limiter Synapse 1.163 reads (synapse/config/ratelimiting.py; rc_federation
# has another shape and is left alone). All are raised so tests never hit them.
_FLAT_LIMITS = (
    "rc_message", "rc_registration", "rc_registration_token_validity", "rc_admin_redaction",
    "rc_joins_per_room", "rc_key_requests", "rc_3pid_validation", "rc_third_party_invite",
    "rc_media_create", "rc_delayed_event_mgmt", "rc_room_creation", "rc_reports",
    "rc_user_directory", "rc_profile",
)  # fmt: skip
_NESTED_LIMITS = {
    "rc_login": ("address", "account", "failed_attempts"),
    "rc_joins": ("local", "remote"),
    "rc_invites": ("per_room", "per_user", "per_issuer"),
    "rc_presence": ("per_user",),
}


def default_rate_limits() -> dict[str, Any]:
    """Top-level ``rc_*`` config keys, each set to 1000/s with a burst of 1000."""
    high = {"per_second": 1000, "burst_count": 1000}
    limits: dict[str, Any] = {key: dict(high) for key in _FLAT_LIMITS}
    for key, subkeys in _NESTED_LIMITS.items():
        limits[key] = {sub: dict(high) for sub in subkeys}
    return limits


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never proxy localhost


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


class HomeserverError(RuntimeError):
    """A non-2xx answer from the homeserver."""

    def __init__(self, method: str, path: str, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.errcode: str | None = body.get("errcode")
        self.body = body
        super().__init__(f"{method} {path} -> {status}: {body}")


class Homeserver:
    """Runs Synapse as a subprocess on 127.0.0.1, with all state in ``base_dir``."""

    def __init__(
        self,
        base_dir: Path,
        *,
        server_name: str = "localhost",
        port: int | None = None,
        rate_limits: dict[str, Any] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.server_name = server_name
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # ``rate_limits`` replaces whole top-level keys, e.g. {"rc_message": {...}}.
        self.rate_limits = {**default_rate_limits(), **(rate_limits or {})}
        self.registration_shared_secret = secrets.token_hex(32)
        self.config_path = self.base_dir / "homeserver.yaml"
        self.log_path = self.base_dir / "homeserver.log"  # Synapse's own logging
        self.output_path = self.base_dir / "process.log"  # raw stdout/stderr
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._admin_token: str | None = None

    def start(self, timeout: float = 60.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self._generate_config()
        self._write_config()
        if self._is_up():
            raise RuntimeError(f"something already answers on {self.url}")
        began = time.monotonic()
        self._output = self.output_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.base_dir,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        while not self._is_up():
            if self._process.poll() is not None:
                self._fail(f"Synapse exited with code {self._process.returncode}")
            if time.monotonic() > began + timeout:
                self._fail(f"Synapse did not answer within {timeout:.0f}s")
            time.sleep(0.1)
        logger.info("Synapse up at %s after %.1fs", self.url, time.monotonic() - began)

    def stop(self, timeout: float = 20.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("Synapse ignored SIGTERM; killing it")
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    def __enter__(self) -> Homeserver:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _is_up(self) -> bool:
        try:
            with _OPENER.open(f"{self.url}/_matrix/client/versions", timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, http.client.HTTPException):
            return False

    def _fail(self, reason: str) -> NoReturn:
        self.stop()
        raise RuntimeError(
            f"{reason}\n--- {self.output_path} ---\n{_tail(self.output_path)}"
            f"\n--- {self.log_path} ---\n{_tail(self.log_path)}"
        )

    def _generate_config(self) -> None:
        cmd = [
            sys.executable, "-m", "synapse.app.homeserver",
            "--server-name", self.server_name,
            "--config-path", str(self.config_path),
            "--data-directory", str(self.base_dir),
            "--generate-config", "--report-stats=no",
        ]  # fmt: skip
        result = subprocess.run(cmd, cwd=self.base_dir, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"Synapse config generation failed:\n{result.stderr}")

    def _write_config(self) -> None:
        import yaml

        config: dict[str, Any] = yaml.safe_load(self.config_path.read_text()) or {}
        log_config_path = self.base_dir / "log_config.yaml"
        log_config = {
            "version": 1,
            "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "plain",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                },
            },
            "root": {"level": "WARNING", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        log_config_path.write_text(yaml.safe_dump(log_config))
        config.update(self.rate_limits)
        config.update(
            {
                "server_name": self.server_name,  # Synapse refuses a changed name
                "listeners": [
                    {
                        "port": self.port,
                        "bind_addresses": ["127.0.0.1"],
                        "type": "http",
                        "tls": False,
                        "x_forwarded": False,
                        "resources": [{"names": ["client", "federation"], "compress": False}],
                    }
                ],
                "database": {
                    "name": "sqlite3",
                    "args": {"database": str(self.base_dir / "homeserver.db")},
                },
                "media_store_path": str(self.base_dir / "media_store"),
                "log_config": str(log_config_path),
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                "enable_registration": False,
                "registration_shared_secret": self.registration_shared_secret,
                "report_stats": False,
                "presence": {"enabled": False},
                "bcrypt_rounds": 4,  # fast password hashing; test data only
            }
        )
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with _OPENER.open(req, timeout=30) as resp:
                result: dict[str, Any] = json.loads(resp.read() or b"{}")
                return result
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = {"error": raw.decode(errors="replace")}
            raise HomeserverError(method, path, err.code, payload) from None

    def register_user(self, localpart: str, password: str, *, admin: bool = False) -> str:
        """Register via the shared-secret admin API; an existing user is not an error."""
        localpart = localpart.lower()  # Synapse lower-cases it anyway
        user_id = f"@{localpart}:{self.server_name}"
        path = "/_synapse/admin/v1/register"
        nonce = self._request("GET", path)["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode()]))
        mac.update(b"\x00admin" if admin else b"\x00notadmin")
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin}
        try:
            self._request("POST", path, {**body, "mac": mac.hexdigest()})
        except HomeserverError as err:
            if err.errcode != "M_USER_IN_USE":
                raise
        return user_id

    def login(self, user_id_or_localpart: str, password: str) -> tuple[str, str]:
        """Log in with a password; returns ``(access_token, device_id)``."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id_or_localpart},
            "password": password,
        }
        result = self._request("POST", "/_matrix/client/v3/login", body)
        return result["access_token"], result["device_id"]

    def admin_token(self) -> str:
        """The access token of this server's admin account (registered with the admin flag on
        first use, through the shared secret), for the admin API."""
        if self._admin_token is None:
            password = secrets.token_hex(16)
            user_id = self.register_user(f"admin-{secrets.token_hex(4)}", password, admin=True)
            self._admin_token, _device = self.login(user_id, password)
        return self._admin_token

    def set_external_ids(self, user_id: str, external_ids: list[tuple[str, str]]) -> None:
        """Link ``user_id`` to ``(auth_provider, external_id)`` pairs, as a single sign-on
        login would (``PUT /_synapse/admin/v2/users/<user_id>``; replaces the earlier ones)."""
        path = f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id, safe='')}"
        body = {
            "external_ids": [
                {"auth_provider": provider, "external_id": external_id}
                for provider, external_id in external_ids
            ]
        }
        self._request("PUT", path, body, self.admin_token())

    def override_ratelimit(
        self,
        admin_token: str,
        user_id: str,
        *,
        messages_per_second: float = 0,
        burst_count: int = 0,
    ) -> None:
        """Exempt ``user_id`` from message rate limiting, or (non-zero values) give it a limit
        of its own. Synapse counts the account's joins against this limit too."""
        path = f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id, safe='')}/override_ratelimit"
        body = {"messages_per_second": messages_per_second, "burst_count": burst_count}
        self._request("POST", path, body, admin_token)
