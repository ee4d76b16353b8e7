"""The registry client under ship/oci.py: oras's `Registry` with our auth and errors.

Imported only when a command talks to a registry, so commands that do not (`proxywasm
validate`, `inspect`, ...) never import oras and requests.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import oras.auth
import oras.auth.utils
import oras.provider
import oras.utils
import requests

from proxywasm_build.errors import UserError
from proxywasm_build.ship import oci

#: oras's do_request without its retry decorator, which retries for about two minutes.
_UNDECORATED_DO_REQUEST = oras.provider.Registry.do_request.__wrapped__


class ChallengeAuth(oras.auth.TokenAuth):
    """oras's bearer-token flow, plus plain `Basic` challenges (distribution's htpasswd)."""

    def authenticate_request(self, original: Any, headers: dict | None, refresh: bool = False) -> tuple[dict, bool]:
        challenge = original.headers.get("Www-Authenticate", "")
        if challenge.lower().startswith("basic"):
            basic = getattr(self, "_basic_auth", None)
            if not basic:
                return dict(headers or {}), False
            result = dict(headers or {})
            result["Authorization"] = f"Basic {basic}"
            self.basic_seen = True
            return result, True
        return super().authenticate_request(original, headers, refresh)


class RegistryClient(oras.provider.Registry):
    """oras's `Registry` for one registry: stored credentials, one-sentence errors, no retries."""

    def __init__(self, registry: str, plain_http: bool) -> None:
        super().__init__(hostname=registry, insecure=plain_http)
        self.registry = registry
        self.plain_http = plain_http
        self.auth = ChallengeAuth()
        self.auth.session = self.session
        self.auth.prefix = self.prefix
        self.auth._tls_verify = True
        basic = oci._stored_basic_auth(registry)
        if basic:
            self.auth._basic_auth = basic
        elif oci.credentials_file().is_file():
            # credHelpers / credsStore entries (docker-credential-*): oras's config machinery.
            self.auth._auth_config = oras.auth.utils.load_configs([str(oci.credentials_file())])
            for host in oras.utils.iter_localhosts(registry):
                if self.auth._load_auth(host):
                    break

    def do_request(self, url: str, method: str = "GET", data: Any = None, headers: dict | None = None,
                   json: Any = None, stream: bool = False) -> Any:
        headers = dict(headers or {})
        if getattr(self.auth, "basic_seen", False) and getattr(self.auth, "_basic_auth", None):
            headers.setdefault("Authorization", f"Basic {self.auth._basic_auth}")
        try:
            response = _UNDECORATED_DO_REQUEST(self, url, method, data, headers, json, stream)
        except ValueError as err:
            if "authentication" in str(err):
                raise UserError(f"registry {self.registry} requires a login; run "
                                f"`proxywasm login {self.registry}` first.") from None
            raise
        except requests.exceptions.SSLError:
            raise UserError(f"could not talk HTTPS to registry {self.registry}; for a local registry "
                            "without TLS add --plain-http.") from None
        except requests.exceptions.ConnectionError as err:
            reason = "connection refused" if "refused" in str(err).lower() else "connection failed"
            raise UserError(f"cannot reach the registry at {self.registry} ({reason}).") from None
        except requests.exceptions.RequestException as err:
            raise UserError(f"the request to registry {self.registry} failed ({type(err).__name__}).") from None
        if response.status_code in (401, 403):
            if not getattr(self.auth, "_basic_auth", None):
                raise UserError(f"registry {self.registry} requires a login; run "
                                f"`proxywasm login {self.registry}` first.")
            raise UserError(f"registry {self.registry} rejected the stored credentials "
                            f"(wrong username or password, or no access); run `proxywasm login {self.registry}`.")
        return response

    # oras's put_upload takes a path; we keep blobs in memory and skip blobs already there.
    def put_bytes(self, ref: oci.Reference, data: bytes, digest: str) -> None:
        head = self.do_request(f"{self.prefix}://{self.registry}/v2/{ref.repository}/blobs/{digest}", "HEAD")
        if head.status_code == 200:
            return
        with tempfile.TemporaryDirectory(prefix="proxywasm-push-") as tmp:
            path = Path(tmp) / "blob"
            path.write_bytes(data)
            container = self.get_container(ref.oras_name)
            response = self.put_upload(str(path), container, {"digest": digest, "size": len(data)})
        if response.status_code not in (200, 201, 202):
            raise UserError(f"registry {self.registry} refused blob {digest[:19]}…: {oci._registry_reason(response)}.")
