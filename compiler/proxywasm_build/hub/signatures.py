"""Whether an image is signed, and by which of the keys the hub was given."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from proxywasm_build.ship import oci


@dataclass(frozen=True)
class SignatureStatus:
    """`signers` are the names of the hub's keys whose signature over the digest verifies;
    `signatures` counts the signatures the registry holds for it (verified or not)."""

    signers: list[str] = field(default_factory=list)
    signatures: int = 0
    reason: str = ""

    @property
    def signed(self) -> bool:
        return bool(self.signers)

    @property
    def badge(self) -> str:
        if self.signed:
            return "signed by " + ", ".join(self.signers)
        if self.signatures:
            return "signed, by none of the hub's keys"
        return "unsigned"


def load_keys(paths: Sequence[Path | str]) -> list[Any]:
    """The public key files `--key` names (read once, at start)."""
    if not paths:
        return []
    from proxywasm_build.ship import signing

    return signing.load_public_keys(paths)


def signature_status(client: Any, reference: oci.Reference, digest: str, keys: Sequence[Any]) -> SignatureStatus:
    """Ask the registry for the signatures of manifest `digest` and check each key against them.

    Never cached: a signature can be added to an image at any time.
    """
    from proxywasm_build.ship import signing

    if not keys:
        # Without keys nothing can be verified; still say whether signatures exist.
        count = signing.verify_digest(client, reference, digest, []).signatures
        return SignatureStatus([], count, "the hub was given no --key to verify signatures with.")
    verdicts = [signing.verify_digest(client, reference, digest, [key]) for key in keys]
    signers = [v.key_name for v in verdicts if v.signed and v.key_name]
    reason = next((v.reason for v in verdicts if v.signed), verdicts[0].reason)
    return SignatureStatus(signers, max(v.signatures for v in verdicts), reason)
