"""A secured local node: a CA and certificates made here, TLS on HTTP and transport, users.

Everything lives in the cache's `security/` folder, made once and reused: a CA (its key never
leaves the folder), one node certificate for every local node (loopback: `localhost` and
127.0.0.1), an admin certificate (the security plugin's super user, used only by these
scripts), and `users.json` (mode 0600) with the generated passwords of three users:

* `admin`: `all_access`, for people and test fixtures;
* `visearch_search`: reads the alias and its versioned indices, nothing else;
* `visearch_ingest`: writes its versioned indices, manages its alias, template and lock.

The security index is created from `config/opensearch-security/` on first start (no users in
it); users, roles and mappings are then put through the REST API with the admin certificate on
every `up`, so a rerun applies the roles for the aliases it is given.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from visearch.scripts.opensearch_node import LocalNode

ADMIN_DN = "CN=visearch-admin,O=visearch"
NODE_DN = "CN=visearch-node,O=visearch"
CA_NAME = "visearch local CA"
CERT_FILES = ("root-ca.pem", "node.pem", "node-key.pem")
USERS = ("admin", "visearch_search", "visearch_ingest")
LOCK_INDEX = "visearch-locks"  # ingest/lock.py's index (scripts/ imports nothing else)
DEFAULT_ALIASES = ("products",)


def ca_file(security: Path) -> Path:
    return security / "root-ca.pem"


def credentials_file(security: Path) -> Path:
    return security / "users.json"


def passwords(security: Path) -> dict[str, str]:
    """user -> password, generated once (the file is readable by its owner only)."""
    path = credentials_file(security)
    if path.exists():
        return json.loads(path.read_text())
    security.mkdir(parents=True, exist_ok=True)
    generated = {user: secrets.token_urlsafe(24) for user in USERS}
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        json.dump(generated, out, indent=2)
    return generated


def ensure_certificates(security: Path) -> None:
    """The CA, the node certificate and the admin certificate, made once."""
    if all((security / name).exists() for name in (*CERT_FILES, "admin.pem", "admin-key.pem")):
        return
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    security.mkdir(parents=True, exist_ok=True)
    os.chmod(security, 0o700)
    ca_key = _key()
    ca_subject = _name(f"CN={CA_NAME},O=visearch")
    ca = _certificate(ca_subject, ca_subject, ca_key, ca_key, is_ca=True, days=3650)
    _write(security, "root-ca", ca, ca_key)
    server_and_client = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    node_key = _key()
    names = [x509.DNSName("localhost"), x509.IPAddress(_loopback())]
    node = _certificate(
        _name(NODE_DN), ca_subject, node_key, ca_key, usage=server_and_client, names=names
    )
    _write(security, "node", node, node_key)
    admin_key = _key()
    admin = _certificate(
        _name(ADMIN_DN), ca_subject, admin_key, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    _write(security, "admin", admin, admin_key)


def install_security_config(node: LocalNode) -> None:
    """The node's certificates and the security plugin's config folder (no users in it: they
    come through the REST API)."""
    ensure_certificates(node.security)
    for name in CERT_FILES:
        shutil.copy2(node.security / name, node.config / name)
    target = node.config / "opensearch-security"
    shutil.copytree(node.dist / "config" / "opensearch-security", target, dirs_exist_ok=True)
    (target / "internal_users.yml").write_text(_meta("internalusers"))
    (target / "roles_mapping.yml").write_text(_meta("rolesmapping"))
    # A request over every index (`GET /_alias/products`, as ingest and the health check
    # send) is narrowed to the indices the user may see instead of refused outright.
    config = (target / "config.yml").read_text()
    config = config.replace("  dynamic:\n", "  dynamic:\n    do_not_fail_on_forbidden: true\n", 1)
    (target / "config.yml").write_text(config)


def admin_context(security: Path) -> ssl.SSLContext:
    """TLS checked against the local CA, presenting the admin certificate."""
    context = ssl.create_default_context(cafile=str(ca_file(security)))
    context.load_cert_chain(str(security / "admin.pem"), str(security / "admin-key.pem"))
    return context


def roles(aliases: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The two visearch roles for `aliases` (each alias with its `<alias>-v*` indices, and its
    attribute models and corrections, `<alias>-attribute-*`: search reads the models to read
    a shopper's photo, ingest re-applies corrections; both write nothing else)."""
    attributes = [f"{alias}-attribute-*" for alias in aliases]
    versioned = [pattern for alias in aliases for pattern in (alias, f"{alias}-v*")]
    readable = versioned + attributes
    managed = versioned + [f"{alias}-previous" for alias in aliases] + attributes
    return {
        "visearch_search": {
            "cluster_permissions": ["cluster_composite_ops_ro", "indices:data/read/scroll/clear"],
            "index_permissions": [
                {
                    "index_patterns": readable,
                    "allowed_actions": [
                        "read",
                        "indices:admin/mappings/get",
                        "indices:admin/aliases/get",
                    ],
                }
            ],
        },
        "visearch_ingest": {
            "cluster_permissions": [
                "cluster_composite_ops",
                "cluster_monitor",
                "indices:data/read/scroll/clear",
                "indices:admin/index_template/put",
                "indices:admin/index_template/get",
            ],
            "index_permissions": [
                {
                    "index_patterns": managed,
                    "allowed_actions": [
                        "crud",
                        "create_index",
                        "manage_aliases",
                        "indices:admin/delete",
                        "indices:admin/get",
                        "indices:admin/mappings/get",
                        "indices:admin/refresh*",
                        "indices:admin/settings/update",
                        "indices_monitor",
                    ],
                },
                {
                    "index_patterns": [LOCK_INDEX],
                    "allowed_actions": ["crud", "create_index", "indices:admin/get"],
                },
                # Ingest asks "which indices hold this alias?" of every index (GET
                # /_alias/<alias>): alias names only, no documents, mappings or settings.
                {"index_patterns": ["*"], "allowed_actions": ["indices:admin/aliases/get"]},
            ],
        },
    }


def apply_users_and_roles(node: LocalNode, aliases: Sequence[str] = DEFAULT_ALIASES) -> None:
    """Put the users (with their generated passwords), the visearch roles for `aliases` and
    the role mappings, as the super user (the admin certificate)."""
    api = "/_plugins/_security/api"
    for name, body in roles(aliases).items():
        _put(node, f"{api}/roles/{name}", body)
    for user, password in passwords(node.security).items():
        _put(node, f"{api}/internalusers/{user}", {"password": password})
    mappings = {"all_access": "admin", "visearch_search": "visearch_search"}
    mappings["visearch_ingest"] = "visearch_ingest"
    for role, user in mappings.items():
        _put(node, f"{api}/rolesmapping/{role}", {"users": [user]})


def _put(node: LocalNode, path: str, body: dict[str, Any], timeout_s: float = 180) -> None:
    """PUT to the security REST API, waiting while the plugin is still loading its index
    (a node that answers health may not have read its security configuration yet)."""
    import time
    import urllib.error

    from visearch.scripts.opensearch_node import NodeError, call

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            call(node, "PUT", path, body, timeout=30)
            return
        except (urllib.error.HTTPError, TimeoutError) as error:
            code = getattr(error, "code", 503)
            if code not in (500, 503) or time.monotonic() > deadline:
                detail = error.read().decode(errors="replace") if code != 503 else ""
                raise NodeError(f"PUT {path} failed: {error} {detail[:500]}") from error
        time.sleep(2)


def _meta(kind: str) -> str:
    return f'_meta:\n  type: "{kind}"\n  config_version: 2\n'


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(dn: str) -> Any:
    from cryptography import x509

    return x509.Name.from_rfc4514_string(dn)


def _loopback() -> Any:
    import ipaddress

    return ipaddress.ip_address("127.0.0.1")


def _certificate(
    subject: Any,
    issuer: Any,
    key: Any,
    issuer_key: Any,
    *,
    is_ca: bool = False,
    usage: list[Any] | None = None,
    names: list[Any] | None = None,
    days: int = 825,
) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, stem: str, certificate: Any, key: Any) -> None:
    """`<stem>.pem` and `<stem>-key.pem` (PKCS#8, which the security plugin requires)."""
    from cryptography.hazmat.primitives import serialization

    (folder / f"{stem}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path = folder / f"{stem}-key.pem"
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with os.fdopen(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(key_bytes)
