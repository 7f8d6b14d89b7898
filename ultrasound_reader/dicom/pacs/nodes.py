"""PACS nodes: where a PACS is and how to talk to it (DIMSE or DICOMweb).

Nodes live in ``pacs-nodes.json`` under the user config folder
(:func:`ultrasound_reader.paths.config_dir`; ``ULTRASOUND_READER_PACS_NODES`` names
another file). Secrets (a DICOMweb password or bearer token) are never written there:
they go to the platform keyring when one is usable (``keyring``), otherwise to
``pacs-credentials.json`` beside the nodes file, readable by the user only. Neither
a secret nor an Authorization header is ever logged or printed; ``repr`` hides it.

``--node`` takes a node name or an ad-hoc address:
``dicom://CALLED_AE@host:port`` (DIMSE; ``?calling=AE&move_port=N`` optional) or an
``http(s)://`` DICOMweb base URL.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from ultrasound_reader.errors import UserError

log = logging.getLogger(__name__)

Kind = Literal["dimse", "dicomweb"]
Auth = Literal["none", "basic", "bearer"]
KEYRING_SERVICE = "ultrasound-reader-pacs"
DEFAULT_CALLING_AE = "USREADER"
DEFAULT_TIMEOUT_S = 30.0
_AE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5 AE: 16 chars, no backslash/control
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_ae_title(value: str, what: str) -> str:
    v = str(value).strip()
    if not v or not _AE_RE.match(v):
        raise UserError(f"{what}: {value!r} is not a valid AE title (1-16 printable characters, no backslash)")
    return v


@dataclass
class Node:
    """One PACS. DIMSE nodes use ae_title/host/port; DICOMweb ones url/auth/username."""

    name: str
    kind: Kind
    # DIMSE
    ae_title: str = ""
    host: str = ""
    port: int = 0
    calling_ae: str = DEFAULT_CALLING_AE  # our AE title
    move_port: int = 11112  # where our storage SCP listens during a C-MOVE (the PACS must know it)
    # DICOMweb
    url: str = ""
    auth: Auth = "none"
    username: str = ""
    timeout: float = DEFAULT_TIMEOUT_S
    # Not stored in the nodes file; looked up on demand (keyring or credentials file).
    secret: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name or ""):
            raise UserError(f"PACS node name {self.name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if self.kind == "dimse":
            self.ae_title = check_ae_title(self.ae_title, f"node {self.name}: ae_title")
            self.calling_ae = check_ae_title(self.calling_ae, f"node {self.name}: calling_ae")
            if not self.host:
                raise UserError(f"node {self.name}: a DIMSE node needs a host")
            for attr in ("port", "move_port"):
                v = getattr(self, attr)
                if not isinstance(v, int) or isinstance(v, bool) or not 0 < v < 65536:
                    raise UserError(f"node {self.name}: {attr} {v!r} is not a TCP port (1-65535)")
        elif self.kind == "dicomweb":
            parts = urlsplit(self.url or "")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise UserError(f"node {self.name}: url {self.url!r} is not an http(s) URL")
            if parts.username or parts.password:
                raise UserError(f"node {self.name}: put no credentials in the URL; use --username and the keyring")
            if self.auth not in ("none", "basic", "bearer"):
                raise UserError(f"node {self.name}: auth {self.auth!r} is not none, basic or bearer")
            if self.auth == "basic" and not self.username:
                raise UserError(f"node {self.name}: basic auth needs a username")
            self.url = self.url.rstrip("/")
        else:
            raise UserError(f"node {self.name}: kind {self.kind!r} is not 'dimse' or 'dicomweb'")
        try:
            self.timeout = float(self.timeout)
        except (TypeError, ValueError):
            raise UserError(f"node {self.name}: timeout {self.timeout!r} is not a number") from None
        if not 0 < self.timeout <= 3600:
            raise UserError(f"node {self.name}: timeout {self.timeout} s is outside 0-3600 s")

    @property
    def address(self) -> str:
        """Where the node is, without any secret (safe to print)."""
        if self.kind == "dimse":
            return f"{self.ae_title}@{self.host}:{self.port}"
        return self.url

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("secret")
        keep = ("name", "kind", "timeout") + (
            ("ae_title", "host", "port", "calling_ae", "move_port") if self.kind == "dimse"
            else ("url", "auth", "username"))
        return {k: d[k] for k in keep}

    @classmethod
    def from_dict(cls, d: Any, source: str) -> Node:
        if not isinstance(d, dict):
            raise UserError(f"{source}: a node must be a JSON object")
        known = {f.name for f in fields(cls)} - {"secret"}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"{source}: node {d.get('name')!r}: unknown field(s) {sorted(unknown)}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise UserError(f"{source}: node {d.get('name')!r}: {exc}") from None
        except UserError as exc:  # a field refused: say which file holds it
            raise UserError(f"{source}: {exc}") from None


def parse_address(text: str, timeout: float | None = None, option: str = "--node") -> Node:
    """An ad-hoc node from ``dicom://AE@host:port`` or an ``http(s)://`` URL (``option``
    names the command-line option in messages)."""
    parts = urlsplit(text)
    t = DEFAULT_TIMEOUT_S if timeout is None else timeout
    if parts.scheme in ("http", "https"):
        return Node(name="adhoc", kind="dicomweb", url=text, timeout=t)
    if parts.scheme == "dicom":
        try:
            port = parts.port
        except ValueError:  # urllib: non-numeric or outside 0-65535
            port = -1
        if port is not None and not 0 < port < 65536:
            raise UserError(f"{option} {text!r}: port is not 1-65535")
        if not parts.username or not parts.hostname or not port:
            raise UserError(f"{option} {text!r}: write a DIMSE address as dicom://AE_TITLE@host:port")
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            move_port = int(q.get("move_port", 11112))
        except ValueError:
            raise UserError(f"{option} {text!r}: move_port is not a number") from None
        return Node(name="adhoc", kind="dimse", ae_title=parts.username, host=parts.hostname,
                    port=port, calling_ae=q.get("calling", DEFAULT_CALLING_AE),
                    move_port=move_port, timeout=t)
    raise UserError(f"{option} {text!r}: not a known node name, a dicom://AE@host:port address "
                    "or an http(s):// DICOMweb URL")


# -- storage -------------------------------------------------------------------------
def nodes_path() -> Path:
    env = os.environ.get("ULTRASOUND_READER_PACS_NODES")
    if env:
        return Path(env)
    from ultrasound_reader.paths import config_dir

    return config_dir() / "pacs-nodes.json"


def _credentials_path() -> Path:
    return nodes_path().with_name("pacs-credentials.json")


def load_nodes(path: Path | None = None) -> dict[str, Node]:
    """All configured nodes by name (an absent file means none)."""
    path = path or nodes_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable PACS nodes file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise UserError(f"{path}: expected an object with a 'nodes' list")
    out: dict[str, Node] = {}
    for d in data["nodes"]:
        node = Node.from_dict(d, str(path))
        if node.name in out:
            raise UserError(f"{path}: node {node.name!r} is defined twice")
        out[node.name] = node
    return out


def _write_json_atomic(path: Path, data: Any, private: bool = False) -> None:
    from ultrasound_reader.paths import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create settings folder {path.parent} ({exc.strerror or exc})") from None
    text = json.dumps(data, indent=2) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), private=private)


def save_nodes(nodes: dict[str, Node], path: Path | None = None) -> Path:
    path = path or nodes_path()
    _write_json_atomic(path, {"nodes": [n.to_dict() for n in nodes.values()]})
    return path


def add_node(node: Node, secret: str | None = None, replace: bool = False) -> Path:
    nodes = load_nodes()
    if node.name in nodes and not replace:
        raise UserError(f"PACS node {node.name!r} exists already (remove it first)")
    nodes[node.name] = node
    path = save_nodes(nodes)
    if secret:
        store_secret(node.name, secret)
    return path


def remove_node(name: str) -> None:
    nodes = load_nodes()
    if name not in nodes:
        raise UserError(f"no PACS node named {name!r} in {nodes_path()}")
    del nodes[name]
    save_nodes(nodes)
    delete_secret(name)


def resolve(spec: str, timeout: float | None = None) -> Node:
    """The node a ``--node NAME|URL`` names, with its secret filled in."""
    if "://" in spec:
        return parse_address(spec, timeout)
    nodes = load_nodes()
    if spec not in nodes:
        known = ", ".join(sorted(nodes)) or "none configured"
        raise UserError(f"--node {spec!r}: no such PACS node ({known}; nodes file {nodes_path()})")
    node = nodes[spec]
    if timeout is not None:
        node.timeout = float(timeout)
    if node.kind == "dicomweb" and node.auth != "none":
        node.secret = load_secret(node.name)
        if node.secret is None:
            raise UserError(f"PACS node {node.name!r}: {node.auth} auth is set but no password/token is stored "
                            "(pacs nodes add ... --password-stdin)")
    return node


# -- secrets -------------------------------------------------------------------------
def _keyring() -> Any | None:
    """The keyring module when a real backend is available, else None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration: fall back to the file
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    return keyring


def secret_store() -> str:
    """Where secrets go on this machine: 'keyring' or the private file's path."""
    return "keyring" if _keyring() else str(_credentials_path())


def _read_credentials() -> dict[str, str]:
    path = _credentials_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable credentials file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise UserError(f"{path}: expected an object of node name -> secret")
    return data


def store_secret(name: str, secret: str) -> None:
    kr = _keyring()
    if kr is not None:
        kr.set_password(KEYRING_SERVICE, name, secret)
        return
    creds = _read_credentials()
    creds[name] = secret
    _write_json_atomic(_credentials_path(), creds, private=True)


def load_secret(name: str) -> str | None:
    kr = _keyring()
    if kr is not None:
        value = kr.get_password(KEYRING_SERVICE, name)
        if value is not None:
            return value
    return _read_credentials().get(name)


def delete_secret(name: str) -> None:
    kr = _keyring()
    if kr is not None:
        try:
            kr.delete_password(KEYRING_SERVICE, name)
        except Exception:  # nothing stored
            pass
    creds = _read_credentials()
    if name in creds:
        del creds[name]
        _write_json_atomic(_credentials_path(), creds, private=True)
