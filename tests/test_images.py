"""The shared image loader: good photos load alike from every source, bad ones fail clearly."""

from __future__ import annotations

import io
import os
import pickle
import random
import resource
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from bad_images import write_1bit_png
from PIL import Image

from support import FASHION
from visearch.vectors.images import (
    DEFAULT_CONFIG,
    ImageError,
    ImageLoaderConfig,
    decode_image,
    load_image,
    load_image_safe,
    read_image_bytes,
)

PHOTO_REF = "images/10000.jpg"  # a 168x224 JPEG, relative to FASHION
PHOTO_SIZE = (168, 224)
FAST_RETRY = ImageLoaderConfig(backoff_s=0.01)


@pytest.fixture
def photo() -> Path:
    return (FASHION / PHOTO_REF).resolve()


def expect_error(match: str, fn, *args, **kwargs) -> ImageError:
    """Call ``fn`` expecting an ImageError whose message contains ``match``; return it."""
    with pytest.raises(ImageError) as info:
        fn(*args, **kwargs)
    assert match in str(info.value), str(info.value)
    return info.value


def rgb_close(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


# --- real photos from every kind of reference -------------------------------------------------


def test_relative_path_with_base_dir(photo: Path) -> None:
    im = load_image(PHOTO_REF, base_dir=FASHION)
    assert (im.mode, im.size) == ("RGB", PHOTO_SIZE)


def test_absolute_path_ignores_base_dir(photo: Path, tmp_path: Path) -> None:
    im = load_image(str(photo), base_dir=tmp_path)
    assert (im.mode, im.size) == ("RGB", PHOTO_SIZE)


def test_file_urls_with_space_and_unicode(photo: Path, tmp_path: Path) -> None:
    path = tmp_path / "dir with space" / "ünïcødé photo.jpg"
    path.parent.mkdir()
    shutil.copy(photo, path)
    expected = load_image(str(photo)).tobytes()
    escaped = path.as_uri()
    assert "%20" in escaped
    for url in (escaped, f"file://{path}", f"file://localhost{path}"):
        im = load_image(url)
        assert (im.mode, im.size) == ("RGB", PHOTO_SIZE)
        assert im.tobytes() == expected


def test_file_url_on_remote_host_is_refused() -> None:
    expect_error("remote host 'server'", read_image_bytes, "file://server/share/a.jpg")


@pytest.mark.parametrize("ref", ["ftp://example.com/a.jpg", "FTP://example.com/a.jpg"])
def test_unsupported_scheme(ref: str) -> None:
    err = expect_error("unsupported URL scheme 'ftp'", load_image, ref)
    assert err.ref == ref


# --- broken files --------------------------------------------------------------------------------


def test_missing_file_names_image_and_resolved_path(tmp_path: Path) -> None:
    err = expect_error("file not found", load_image, "nope/x.jpg", base_dir=tmp_path)
    assert str(err).startswith("image nope/x.jpg: file not found")
    assert str(tmp_path / "nope" / "x.jpg") in err.reason


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    expect_error("empty file (0 bytes)", load_image, "empty.jpg", base_dir=tmp_path)


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    expect_error("is a directory", load_image, str(tmp_path))


def test_corrupt_jpeg(tmp_path: Path) -> None:
    noise = random.Random(0).randbytes(4000)
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + noise)
    err = expect_error("cannot decode: corrupt JPEG data", load_image, str(path))
    assert err.ref == str(path)


def test_truncated_jpeg_is_an_error_not_a_grey_half(photo: Path, tmp_path: Path) -> None:
    data = photo.read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    expect_error("truncated", load_image, str(path))


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (b"product id,name\n1,shirt\n", "looks like text"),
        (b"<!doctype html><html><body>Not Found</body></html>", "looks like HTML"),
    ],
)
def test_text_named_jpg(tmp_path: Path, content: bytes, hint: str) -> None:
    path = tmp_path / "notes.jpg"
    path.write_bytes(content)
    err = expect_error("cannot decode: not an image", load_image, str(path))
    assert hint in err.reason


def test_file_over_size_cap(photo: Path) -> None:
    config = ImageLoaderConfig(max_bytes=1000)
    expect_error("larger than 1000 bytes", load_image, str(photo), config=config)


# --- colour modes ------------------------------------------------------------------------------


def decode_saved(tmp_path: Path, im: Image.Image, fmt: str, **save: object) -> Image.Image:
    path = tmp_path / f"made.{fmt.lower()}"
    im.save(path, fmt, **save)
    out = load_image(str(path))
    assert out.mode == "RGB"
    assert out.size == im.size
    return out


def test_png_alpha_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("RGBA", (30, 10), (255, 0, 0, 0))  # fully transparent red
    im.paste((0, 0, 255, 255), (10, 0, 20, 10))  # opaque blue
    im.paste((0, 0, 0, 128), (20, 0, 30, 10))  # half-transparent black
    out = decode_saved(tmp_path, im, "PNG")
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert out.getpixel((15, 5)) == (0, 0, 255)
    assert rgb_close(out.getpixel((25, 5)), (127, 127, 127), tol=2)


def test_grey_with_alpha_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("LA", (10, 10), (0, 0))
    im.paste((50, 255), (5, 0, 10, 10))
    out = decode_saved(tmp_path, im, "PNG")
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((9, 9)) == (50, 50, 50)


def test_palette_png_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (10, 10), 0)
    im.putpalette([255, 0, 0, 0, 160, 0] + [0] * (254 * 3))  # 0: red (transparent), 1: green
    im.paste(1, (5, 0, 10, 10))
    out = decode_saved(tmp_path, im, "PNG", transparency=0)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((9, 9)) == (0, 160, 0)


def test_palette_gif_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (10, 10), 0)
    im.putpalette([255, 0, 0, 0, 0, 200] + [0] * (254 * 3))
    im.paste(1, (5, 0, 10, 10))
    out = decode_saved(tmp_path, im, "GIF", transparency=0)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((9, 9)) == (0, 0, 200)


def test_cmyk_jpeg_becomes_plausible_rgb(tmp_path: Path) -> None:
    im = Image.new("RGB", (16, 16), (200, 30, 40)).convert("CMYK")
    im.paste((0, 0, 0, 0), (8, 0, 16, 16))  # no ink: white paper
    out = decode_saved(tmp_path, im, "JPEG", quality=95)
    assert rgb_close(out.getpixel((2, 8)), (200, 30, 40))
    assert rgb_close(out.getpixel((13, 8)), (255, 255, 255))


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    im = Image.new("I;16", (256, 4))
    for x in range(256):
        for y in range(4):
            im.putpixel((x, y), x * 257)  # full 0..65535 ramp
    path = tmp_path / "deep.png"
    im.save(path)
    assert Image.open(path).mode.startswith("I")  # really stored as 16-bit
    out = load_image(str(path))
    assert out.mode == "RGB"
    row = [out.getpixel((x, 1)) for x in range(256)]
    assert all(r == g == b for r, g, b in row)
    assert [r for r, _, _ in row] == list(range(256))  # PIL's plain convert would be all 255


def test_grey_l_becomes_rgb(tmp_path: Path) -> None:
    out = decode_saved(tmp_path, Image.new("L", (8, 8), 77), "PNG")
    assert out.getpixel((3, 3)) == (77, 77, 77)


def test_one_bit_becomes_rgb(tmp_path: Path) -> None:
    im = Image.new("1", (8, 8), 0)
    im.paste(1, (4, 0, 8, 8))
    out = decode_saved(tmp_path, im, "PNG")
    assert (out.getpixel((0, 0)), out.getpixel((7, 7))) == ((0, 0, 0), (255, 255, 255))


# --- EXIF orientation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "transpose"),
    [
        (6, Image.Transpose.ROTATE_270),
        (8, Image.Transpose.ROTATE_90),
        (3, Image.Transpose.ROTATE_180),
    ],
)
def test_exif_orientation_applied(
    photo: Path, tmp_path: Path, orientation: int, transpose: Image.Transpose
) -> None:
    source = Image.open(photo)
    # The same encoder settings give identical pixels, so only the EXIF tag differs.
    plain, tagged = tmp_path / "plain.jpg", tmp_path / "tagged.jpg"
    source.save(plain, "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = orientation
    source.save(tagged, "JPEG", quality=90, exif=exif.tobytes())

    upright = load_image(str(plain))
    rotated = load_image(str(tagged))
    w, h = PHOTO_SIZE
    assert upright.size == PHOTO_SIZE
    assert rotated.size == ((h, w) if orientation in (6, 8) else (w, h))
    assert rotated.tobytes() == upright.transpose(transpose).tobytes()
    assert rotated.tobytes() != upright.tobytes()


# --- decompression bombs -----------------------------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@pytest.mark.parametrize(
    ("width", "height"),
    [(9000, 9000), (20000, 20000)],  # under / over PIL's own hard limit, over ours (40M)
)
def test_decompression_bomb_refused_from_header(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "bomb.png"
    write_1bit_png(path, width, height)
    assert path.stat().st_size < 1_000_000
    pil_limit = Image.MAX_IMAGE_PIXELS
    before = peak_rss_mib()
    err = expect_error("decompression bomb", load_image, str(path))
    assert f"{width}x{height} = {width * height} pixels exceeds limit 40000000" in err.reason
    assert peak_rss_mib() - before < 50  # decoding would need >= 81 MB
    assert pil_limit == Image.MAX_IMAGE_PIXELS  # PIL's global was left alone


def test_pixel_limit_is_per_config(photo: Path) -> None:
    config = ImageLoaderConfig(max_pixels=10_000)
    expect_error(
        "decompression bomb: 168x224 = 37632 pixels exceeds limit 10000",
        load_image,
        str(photo),
        config=config,
    )
    assert load_image(str(photo)).size == PHOTO_SIZE


# --- API contract ------------------------------------------------------------------------------


def test_error_pickles_for_process_pools() -> None:
    err = pickle.loads(pickle.dumps(ImageError("a.jpg", "HTTP 404")))
    assert (err.ref, err.reason, str(err)) == ("a.jpg", "HTTP 404", "image a.jpg: HTTP 404")


def test_load_image_safe_returns_errors(photo: Path, tmp_path: Path) -> None:
    good = load_image_safe(str(photo))
    bad = load_image_safe("missing.jpg", base_dir=tmp_path)
    assert isinstance(good, Image.Image) and good.size == PHOTO_SIZE
    assert isinstance(bad, ImageError) and "file not found" in str(bad)


def test_decode_image_of_empty_bytes() -> None:
    expect_error("cannot decode", decode_image, b"", "x.jpg")


def test_invalid_config_rejected() -> None:
    with pytest.raises(ValueError):
        ImageLoaderConfig(retries=-1)


# --- HTTP --------------------------------------------------------------------------------------


class Site:
    """A local HTTP server with a few misbehaving routes; counts requests per path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits: Counter[str] = Counter()
        self.base = ""


def make_handler(site: Site) -> type[SimpleHTTPRequestHandler]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(site.root), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            site.hits[self.path] += 1
            route, _, arg = self.path.strip("/").partition("/")
            if route == "flaky":  # /flaky/<status>/<failures>/<token>
                status, failures, _ = arg.split("/")
                if site.hits[self.path] <= int(failures):
                    self.send_error(int(status))
                    return
                self.path = "/photo.jpg"
            elif route == "slow":
                time.sleep(1.0)
            elif route == "stream":  # no Content-Length: only the byte cap can stop it
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()
                self.wfile.write(b"\xff\xd8" + b"\x00" * int(arg))
                return
            super().do_GET()

    return Handler


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # clients that time out leave broken pipes behind


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = FASHION / PHOTO_REF
    site = Site(tmp_path_factory.mktemp("site"))
    shutil.copy(path, site.root / "photo.jpg")
    server = QuietServer(("127.0.0.1", 0), make_handler(site))
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


def test_http_good_image_with_shared_session(site: Site) -> None:
    with requests.Session() as session:
        for _ in range(2):  # the caller's session stays open and reusable
            im = load_image(f"{site.base}/photo.jpg", session=session)
            assert (im.mode, im.size) == ("RGB", PHOTO_SIZE)


def test_http_404_is_not_retried(site: Site) -> None:
    url = f"{site.base}/no-such.jpg"
    err = expect_error("HTTP 404", load_image, url, config=FAST_RETRY)
    assert err.ref == url
    assert site.hits["/no-such.jpg"] == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_http_transient_errors_are_retried(site: Site, status: int) -> None:
    path = f"/flaky/{status}/2/ok"
    im = load_image(site.base + path, config=FAST_RETRY)
    assert im.size == PHOTO_SIZE
    assert site.hits[path] == 3


def test_http_gives_up_after_retries(site: Site) -> None:
    path = "/flaky/500/99/give-up"
    config = ImageLoaderConfig(retries=1, backoff_s=0.01)
    expect_error(
        "HTTP 500 Internal Server Error (2 attempts)", load_image, site.base + path, config=config
    )
    assert site.hits[path] == 2


def test_http_timeout(site: Site) -> None:
    config = ImageLoaderConfig(timeout_s=0.3, retries=0)
    start = time.monotonic()
    expect_error("timed out after 0.3s", load_image, f"{site.base}/slow/x.jpg", config=config)
    assert time.monotonic() - start < 0.9


def test_http_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    config = ImageLoaderConfig(retries=1, backoff_s=0.01)
    err = expect_error("unreachable: ", load_image, f"http://127.0.0.1:{port}/x.jpg", config=config)
    assert "connection refused (2 attempts)" in err.reason


def test_http_response_over_declared_cap(site: Site) -> None:
    config = ImageLoaderConfig(max_bytes=1000)
    expect_error("larger than 1000 bytes", load_image, f"{site.base}/photo.jpg", config=config)


def test_http_response_over_cap_while_streaming(site: Site) -> None:
    config = ImageLoaderConfig(max_bytes=1000)
    expect_error(
        "larger than 1000 bytes", read_image_bytes, f"{site.base}/stream/5000", config=config
    )
    assert len(read_image_bytes(f"{site.base}/stream/500", config=config)) == 502


def test_http_html_page_is_not_an_image(site: Site) -> None:
    (site.root / "page.html").write_text("<html><body>Sorry</body></html>")
    expect_error("looks like HTML", load_image, f"{site.base}/page.html")


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    """A FIFO or a device is refused from its type, before any read (a FIFO cannot hang)."""
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    for ref in (str(fifo), "/dev/zero"):
        started = time.monotonic()
        expect_error("not a regular file", read_image_bytes, ref)
        assert time.monotonic() - started < 1


def test_local_roots_confine_what_a_catalog_may_read(tmp_path: Path, photo: Path) -> None:
    inside = tmp_path / "catalog"
    inside.mkdir()
    (inside / "ok.jpg").write_bytes(photo.read_bytes())
    (inside / "escape.jpg").symlink_to(photo)  # a link out of the folder
    confined = ImageLoaderConfig(local_roots=(inside.resolve(),))
    assert read_image_bytes("ok.jpg", inside, confined) == photo.read_bytes()
    for ref in ("escape.jpg", "../catalog/../x.jpg", str(photo), "/etc/passwd", "/etc/nope"):
        error = expect_error("outside the folders", read_image_bytes, ref, inside, confined)
        assert "not found" not in error.reason  # nothing is said about whether it exists


def test_large_photos_are_decoded_small() -> None:
    big = Image.new("RGB", (6000, 4000), (200, 40, 40))
    for fmt in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        big.save(buffer, fmt)
        decoded = decode_image(buffer.getvalue(), f"big.{fmt.lower()}")
        assert min(decoded.size) >= DEFAULT_CONFIG.reduce_to and decoded.size[0] <= 1000
    small = decode_image(Path(FASHION / "images" / "10000.jpg").read_bytes(), "small.jpg")
    assert small.size == (168, 224)  # catalog-sized photos are untouched
