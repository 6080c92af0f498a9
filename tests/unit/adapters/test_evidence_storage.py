"""Evidence files on the sandbox storage: one content-addressed space per country and
dispute, whose directory is never a path the caller chose (D84)."""

from __future__ import annotations

from pathlib import Path

from adapters.providers.evidence_storage import SandboxEvidenceStorage
from application.disputes.evidence_storage import sniff_media_type
from application.ports.storage import content_key


async def test_each_dispute_has_its_own_content_addressed_space(tmp_path: Path) -> None:
    storage = SandboxEvidenceStorage(root=tmp_path)
    one, two = storage.for_dispute("MX", "dsp_1"), storage.for_dispute("MX", "dsp_2")
    content = b"%PDF-1.7 evidence"

    first = (await one.put(idempotency_key="k1", content=content, content_type="application/pdf")).unwrap()
    again = (await one.put(idempotency_key="k1", content=content, content_type="application/pdf")).unwrap()

    assert first.created and not again.created and first.key == content_key(content)
    assert (await one.get(key=first.key)).unwrap() == content
    assert (await two.get(key=first.key)).unwrap() is None
    assert (tmp_path / "MX" / "dsp_1" / first.key[:2] / first.key).read_bytes() == content


def test_an_id_that_is_not_a_plain_name_becomes_a_hash(tmp_path: Path) -> None:
    storage = SandboxEvidenceStorage(root=tmp_path)
    for hostile in ("../../etc", "a/b", "..", "x" * 300, "é"):
        root = storage.for_dispute("MX", hostile).root
        assert root.parent == tmp_path / "MX" and root.name.startswith("h-") and len(root.name) == 66


def test_the_type_is_read_from_the_bytes() -> None:
    assert sniff_media_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_media_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert sniff_media_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_media_type(b"\x00\x00\x00\x18ftypheic\x00\x00") == "image/heic"
    assert sniff_media_type(b"%PDF-1.4\n") == "application/pdf"
    for other in (b"", b"<html>", b"PK\x03\x04zip", b"GIF89a", b"\x00\x00\x00\x18ftypmp42"):
        assert sniff_media_type(other) is None
