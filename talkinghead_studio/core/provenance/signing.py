"""C2PA content credentials: sign exports offline with a locally generated key, and check
signatures.

Credentials
-----------
On first use we create, under ``config_dir()/c2pa`` and atomically (a temporary folder
renamed into place):

* ``root-ca.pem``: a self-issued root certificate (ES256, P-256). Its private key is used
  once, to issue the signer certificate, and then thrown away, so nothing can issue further
  certificates under it.
* ``signer-chain.pem``: the signer certificate followed by the root (the chain C2PA embeds).
* ``signer-key.pem``: the signer's private key (PKCS#8, file mode 0600).

Nothing is fetched from the network: no timestamp authority, no OCSP, no remote manifests.

What a valid signature means: the file's media bytes and the signed claims (synthetic,
tool, generator, time by the signer's clock) have not changed since someone holding that
signer key signed them. Our certificates are self-issued, so a signature names no verified
person or organisation; C2PA readers elsewhere will report the signer as untrusted. On the
machine that made the key, the local root is added as a trust anchor, and the signature
shows as trusted there.
"""
from __future__ import annotations

import datetime
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ...errors import StudioError
from .metadata import ProvenanceRecord

#: Custom C2PA assertion carrying our flat provenance record.
ASSERTION_LABEL = "org.talkinghead-studio.provenance"
_CERT_YEARS = 10
_NO_NETWORK = {"verify": {"ocsp_fetch": False, "remote_manifest_fetch": False}}


class SigningError(StudioError):
    """Content credentials could not be created or written."""


def config_dir() -> Path:
    """Per-user configuration folder (``$TALKINGHEAD_STUDIO_CONFIG_DIR`` overrides it)."""
    override = os.environ.get("TALKINGHEAD_STUDIO_CONFIG_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "talkinghead-studio"


def credentials_dir() -> Path:
    return config_dir() / "c2pa"


def c2pa_available() -> bool:
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    chain_pem: bytes  # signer certificate, then root
    key_pem: bytes  # signer private key, PKCS#8
    root_pem: bytes  # the local root (a trust anchor on this machine only)


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                           "Talking-Head Studio (self-issued, unverified)"),
    ])


def _issue_chain() -> Credentials:
    """A fresh root CA and an ES256 signer certificate with the C2PA-required extensions."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365 * _CERT_YEARS)
    install_id = uuid.uuid4().hex[:12]
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Talking-Head Studio local root {install_id}"))
        .issuer_name(_name(f"Talking-Head Studio local root {install_id}"))
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Talking-Head Studio local signer {install_id}"))
        .issuer_name(root.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # digitalSignature only, as C2PA's certificate profile requires for claim signers.
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                       critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return Credentials(
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
        root_pem=root.public_bytes(pem),
    )


_FILES = {"chain_pem": "signer-chain.pem", "key_pem": "signer-key.pem", "root_pem": "root-ca.pem"}


def _read_credentials(folder: Path) -> Optional[Credentials]:
    try:
        return Credentials(**{attr: (folder / name).read_bytes() for attr, name in _FILES.items()})
    except OSError:
        return None


def _write_credentials_atomically(folder: Path, creds: Credentials) -> None:
    """Write all three files into a temporary sibling folder, then rename it into place,
    so a crash or a second process never sees half a set."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".c2pa-", dir=folder.parent))
    try:
        for attr, name in _FILES.items():
            target = staging / name
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(getattr(creds, attr))
                handle.flush()
                os.fsync(handle.fileno())
        os.rename(staging, folder)  # fails if another process got there first
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if _read_credentials(folder) is None:
            raise


def load_or_create_credentials(folder: Optional[Path] = None) -> Credentials:
    """The signer credentials, created on first use. Raises SigningError on failure."""
    folder = folder or credentials_dir()
    creds = _read_credentials(folder)
    if creds is not None:
        return creds
    try:
        _write_credentials_atomically(folder, _issue_chain())
    except OSError as exc:
        raise SigningError(
            f"Could not create signing credentials in {folder} ({exc.strerror or exc}). "
            f"Check that the folder is writable, or export without signing."
        ) from None
    creds = _read_credentials(folder)
    if creds is None:
        raise SigningError(f"Signing credentials in {folder} are incomplete; delete the "
                           f"folder to have them created again.")
    return creds


# --------------------------------------------------------------------------- signing


_MIME_BY_KIND = {"png": "image/png", "gif": "image/gif", "jpeg": "image/jpeg", "webp": "image/webp"}


def mime_type(path: Path) -> Optional[str]:
    """MIME type C2PA understands for this file, from its bytes; None if unsupported."""
    from .media import sniff_kind

    kind = sniff_kind(path)
    if kind != "video":
        return _MIME_BY_KIND.get(kind)
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/avi"
    return None


def manifest_for(record: ProvenanceRecord, title: str) -> dict:
    """The C2PA manifest definition: a 'created' action with IPTC's digital source type
    (the standard way to say 'made by AI'), and our record as a custom assertion."""
    return {
        "claim_generator_info": [{"name": record.tool, "version": record.version}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": record.digital_source_type,
                "softwareAgent": {"name": record.tool, "version": record.version},
                "description": f"{record.statement} (generator: {record.generator})",
            }]}},
            {"label": ASSERTION_LABEL, "data": record.to_metadata()},
        ],
    }


def sign_file(path: "str | os.PathLike[str]", record: ProvenanceRecord,
              credentials: Optional[Credentials] = None) -> None:
    """Embed signed C2PA content credentials into an MP4 / PNG / GIF, in place and
    atomically (signed copy beside the file, then renamed over it).

    Raises SigningError when c2pa-python is missing, the format is unsupported, or
    signing fails; the original file is then left untouched.
    """
    path = Path(path)
    try:
        import c2pa
    except ImportError:
        raise SigningError("Signing needs the c2pa-python package; install it or export "
                           "without signing.") from None
    mime = mime_type(path)
    if mime is None:
        raise SigningError(f"{path.name}: C2PA signing supports MP4, PNG, GIF, JPEG and WebP.")
    creds = credentials or load_or_create_credentials()
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                         suffix=f".signing{path.suffix}")
    os.close(handle)
    temp = Path(temp_name)
    try:
        # No thumbnail: the file is its own preview, and a second copy of a frame in the
        # manifest would only grow the file.
        settings = c2pa.Settings.from_dict(
            {**_NO_NETWORK, "builder": {"thumbnail": {"enabled": False}}})
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, creds.chain_pem, creds.key_pem, None))
        builder = c2pa.Builder(manifest_for(record, path.name),
                               context=c2pa.Context(settings=settings))
        with path.open("rb") as source, temp.open("wb") as dest:
            builder.sign(signer, mime, source, dest)
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except (c2pa.C2paError, OSError) as exc:
        raise SigningError(
            f"Could not sign {path.name} ({exc}). The file was left unsigned.") from None
    finally:
        temp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class SignatureStatus:
    """state: 'valid' (intact, signature checks), 'invalid' (present but broken or
    altered), 'absent' (no credentials) or 'unchecked' (could not be checked here).

    trusted_here: the signer chains to this machine's own local root.
    signer:       the signing certificate's common name, when known.
    claims:       our provenance assertion from the manifest, when present.
    problems:     C2PA failure codes and explanations (empty when valid).
    """

    state: str
    trusted_here: bool = False
    signer: Optional[str] = None
    claims: Optional[dict[str, str]] = None
    problems: list[str] = field(default_factory=list)


def check_signature(path: "str | os.PathLike[str]") -> SignatureStatus:
    """Validate C2PA credentials embedded in a file, offline."""
    path = Path(path)
    try:
        import c2pa
    except ImportError:
        return SignatureStatus("unchecked", problems=["c2pa-python is not installed"])
    mime = mime_type(path)
    if mime is None:
        return SignatureStatus("absent")
    settings = dict(_NO_NETWORK)
    local = _read_credentials(credentials_dir())
    if local is not None:
        settings["trust"] = {"user_anchors": local.root_pem.decode("ascii")}
    try:
        with path.open("rb") as stream:
            context = c2pa.Context(settings=c2pa.Settings.from_dict(settings))
            reader = c2pa.Reader.try_create(mime, stream, context=context)
            if reader is None:
                return SignatureStatus("absent")
            with reader:
                state = reader.get_validation_state() or "Invalid"
                results = reader.get_validation_results() or {}
                manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as exc:
        return SignatureStatus("invalid", problems=[f"credentials could not be read: {exc}"])
    return _status_from(state, results, manifest)


def _status_from(state: str, results: dict, manifest: dict) -> SignatureStatus:
    failures = (results.get("activeManifest") or {}).get("failure") or []
    problems = [f"{f.get('code')}: {f.get('explanation', '')}" for f in failures
                if f.get("code") != "signingCredential.untrusted"]
    claims = None
    for assertion in manifest.get("assertions") or []:
        if assertion.get("label") == ASSERTION_LABEL:
            claims = {str(k): str(v) for k, v in (assertion.get("data") or {}).items()}
    signer = (manifest.get("signature_info") or {}).get("common_name")
    if state not in ("Valid", "Trusted") or problems:
        return SignatureStatus("invalid", signer=signer, claims=claims,
                               problems=problems or [f"validation state {state}"])
    return SignatureStatus("valid", trusted_here=state == "Trusted", signer=signer, claims=claims)
