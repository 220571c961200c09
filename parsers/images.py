"""Photos: when they were taken, whether one was sent before, and a thumbnail for the digest.

Units send phone photos (JPEG, HEIC from iPhones, PNG screenshots) of their activities every
week. The bureau wants to know when a photo was shot (the EXIF DateTimeOriginal: a photo from
outside the reporting week is flagged) and whether it was already sent, in an earlier week or by
another unit (a perceptual hash survives resizing and re-compression by WeChat or the mail
client). Reading is pure and bounded: the pixel count is checked from the header before anything
is decoded, and JPEGs are decoded at a reduced scale.
"""

from __future__ import annotations

import functools
import io
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from parsers.concerns import Concern
from store.model import ProblemKind

BEIJING = ZoneInfo("Asia/Shanghai")
THUMBNAIL_PX = 240
# Pillow refuses to open larger images (a "decompression bomb"). 100 megapixels is above any
# phone camera's default mode (a 200 MP sensor saves 12.5 MP unless told otherwise) and below
# what would need gigabytes to decode. Pillow's own default, 89 MP, is a little tight for that.
MAX_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass(frozen=True)
class ImageFacts:
    """What could be read from one image; fields are None when they could not be."""

    format: str | None  # Pillow's name for it: JPEG, PNG, HEIF, GIF...
    width: int | None
    height: int | None
    taken: datetime | None  # EXIF DateTimeOriginal, aware
    phash: str | None  # 64-bit perceptual hash as 16 hex digits
    thumbnail: bytes | None  # JPEG, longest side at most THUMBNAIL_PX, upright
    warnings: tuple[Concern, ...] = ()


def read_image(data: bytes, *, zone: tzinfo = BEIJING) -> ImageFacts:
    """Read an image's size, date, hash and thumbnail; never raises for bad bytes.

    `zone` is where a camera's clock is taken to be when the EXIF records no offset.
    """
    _open_heif()
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_PIXELS and twice that; both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return ImageFacts(None, None, None, None, None, None, (_TOO_LARGE,))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return ImageFacts(None, None, None, None, None, None, (_UNREADABLE,))
    with image:
        width, height = image.size
        taken = _taken(image, zone)
        try:
            phash, thumbnail = _picture(image)
        except (OSError, ValueError, SyntaxError):
            # Truncated files decode up to the missing part and then fail here.
            return ImageFacts(image.format, width, height, taken, None, None, (_DAMAGED,))
        return ImageFacts(image.format, width, height, taken, phash, thumbnail)


# A photo is archived as sent whatever is wrong with it: the advice for a document that will
# not open (save it again from Word) does not fit.
_TOO_LARGE = Concern(
    ProblemKind.OTHER, f"图片超过 {MAX_PIXELS // 1_000_000} 百万像素，疑似“图片炸弹”，未读取，按原样归档"
)
_UNREADABLE = Concern(ProblemKind.OTHER, "图片无法识别（可能已损坏或不是图片），按原样归档")
_DAMAGED = Concern(ProblemKind.OTHER, "图片已损坏（可能没有传完整），未生成缩略图，按原样归档")


@functools.cache
def _open_heif() -> None:
    """Teach Pillow iPhone photos (HEIC), the first time an image is read: importing
    pillow-heif is not worth it for a poll that meets no image."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _picture(image: Image.Image) -> tuple[str, bytes]:
    """The perceptual hash and the thumbnail, both of the photo as it is meant to be seen."""
    # JPEG decodes at 1/2, 1/4 or 1/8 scale here: far less memory and time for a large photo.
    image.draft("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))
    upright = ImageOps.exif_transpose(image)
    picture = _rgb(upright)
    picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    # The hash looks at 32×32 pixels: the thumbnail holds all it needs, and resizes faster.
    phash = perceptual_hash(picture)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=75, optimize=True)
    return phash, out.getvalue()


_HASH_SIDE = 32
_k = np.arange(_HASH_SIDE)
# DCT-II as a matrix: a 32×32 transform is two small products, no FFT library needed.
_DCT = np.cos(np.pi * np.outer(_k, 2 * _k + 1) / (2 * _HASH_SIDE))


def perceptual_hash(picture: Image.Image) -> str:
    """The 64-bit perceptual hash of `picture` as 16 hex digits: the signs, against their
    median, of the 8×8 lowest frequencies of its 32×32 greyscale DCT.

    The same bits as imagehash.phash (a test holds them equal), without the 0.2 s that its
    import of scipy adds to every poll that meets a photo."""
    side = (_HASH_SIDE, _HASH_SIDE)
    pixels = np.asarray(picture.convert("L").resize(side, Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT @ pixels @ _DCT.T)[:8, :8]
    bits = "".join("1" if bit else "0" for bit in (low > np.median(low)).flatten())
    return f"{int(bits, 2):016x}"


def _rgb(image: Image.Image) -> Image.Image:
    """RGB on white: a transparent PNG would otherwise show its hidden colours."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I;16"):
        # 16-bit greyscale (some scanners): scale to 8 bits before colour conversion.
        return image.point(lambda value: value / 256).convert("RGB")
    return image.convert("RGB")


_EXIF_TIME = re.compile(r"(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def _taken(image: Image.Image, zone: tzinfo) -> datetime | None:
    try:
        exif = image.getexif().get_ifd(ExifTags.IFD.Exif)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError):
        return None  # a broken EXIF block costs the date, not the photo
    for stamp, offset in (
        (ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal),
        (ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTimeDigitized),
    ):
        taken = _parse_exif_time(exif.get(stamp), exif.get(offset), zone)
        if taken is not None:
            return taken
    return None


def _parse_exif_time(stamp: object, offset: object, zone: tzinfo) -> datetime | None:
    """An EXIF "YYYY:MM:DD HH:MM:SS" as an aware datetime; None for blanks and nonsense."""
    text = _text(stamp)
    match = _EXIF_TIME.search(text) if text else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None  # "0000:00:00 00:00:00" and other cameras' placeholders
    found = _EXIF_OFFSET.fullmatch(_text(offset).strip())
    if found is None:
        return naive.replace(tzinfo=zone)
    sign = -1 if found.group(1) == "-" else 1
    delta = timedelta(hours=int(found.group(2)), minutes=int(found.group(3)))
    return naive.replace(tzinfo=timezone(sign * delta))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip("\x00 ")
    return value.strip("\x00 ") if isinstance(value, str) else ""
