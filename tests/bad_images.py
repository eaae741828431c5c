"""Bad and awkward image files, made on the fly: nothing binary is committed."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_1bit_png(path: Path, width: int, height: int) -> None:
    """A valid black PNG of any size, streamed so neither this test nor the file is big."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    pack = zlib.compressobj(9)
    block = 1000
    idat = bytearray()
    for start in range(0, height, block):
        idat += pack.compress(row * min(block, height - start))
    idat += pack.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def write_corrupt_jpeg(path: Path) -> None:
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)


def write_png_with_alpha(source: Path, path: Path) -> None:
    im = Image.open(source).convert("RGBA")
    alpha = np.array(im)
    alpha[:40, :, 3] = 0  # a transparent band at the top
    Image.fromarray(alpha, "RGBA").save(path, "PNG")


def write_cmyk_jpeg(source: Path, path: Path) -> None:
    Image.open(source).convert("CMYK").save(path, "JPEG", quality=90)


def write_16bit_png(source: Path, path: Path) -> None:
    grey = np.asarray(Image.open(source).convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey.astype(np.uint16)).save(path, "PNG")


def write_exif_rotated(source: Path, path: Path, orientation: int = 6) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.open(source).save(path, "JPEG", quality=90, exif=exif.tobytes())
