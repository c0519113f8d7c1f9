"""Lossless removal of embedded text metadata from JPEG and PNG uploads.

Hospital exports and phone photos of films carry EXIF/XMP/IPTC blocks, JPEG comments and PNG text
chunks that can hold a patient's name or ID. We drop those blocks and copy every other byte as it
is, so the pixels (and what the model reads) are exactly the uploaded ones.
"""
from __future__ import annotations

import struct

# JPEG markers whose segments hold metadata: APP1 (EXIF, XMP), APP12 (Ducky/picture info),
# APP13 (IPTC/Photoshop), COM (free-text comment). APP0 (JFIF), APP2 (ICC colour profile) and
# APP14 (Adobe colour transform) change how pixels decode, so they stay.
_JPEG_DROP = {0xE1, 0xEC, 0xED, 0xFE}
_JPEG_SOS = 0xDA
# Markers without a length field.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
# PNG ancillary chunks with free text, EXIF or a timestamp.
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class MetadataStripError(ValueError):
    """The file's structure is not what its header promised."""


def jpeg_strip_metadata(data: bytes) -> bytes:
    """Drop metadata segments before the first scan; copy everything else byte for byte."""
    if not data.startswith(b"\xff\xd8"):
        raise MetadataStripError("not a JPEG")
    out = bytearray(b"\xff\xd8")
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise MetadataStripError("JPEG marker expected")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            out += data[pos : pos + 2]
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if marker == _JPEG_SOS:
            # Entropy-coded data follows; metadata never lives after the first scan header.
            out += data[pos:]
            return bytes(out)
        if marker not in _JPEG_DROP:
            out += data[pos:end]
        pos = end
    raise MetadataStripError("JPEG has no image data")


def png_strip_metadata(data: bytes) -> bytes:
    """Drop text, EXIF and time chunks; every other chunk is kept with its own CRC."""
    if not data.startswith(_PNG_MAGIC):
        raise MetadataStripError("not a PNG")
    out = bytearray(_PNG_MAGIC)
    pos = len(_PNG_MAGIC)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise MetadataStripError("PNG chunk runs past the end of the file")
        if kind not in _PNG_DROP:
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            return bytes(out)
    raise MetadataStripError("PNG has no end chunk")
