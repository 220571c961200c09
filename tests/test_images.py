"""parsers/images.py on photos made here: JPEG with EXIF dates (with and without an offset),
HEIC as an iPhone writes it, PNG, rotated, re-encoded and resized copies, broken files and a
decompression bomb."""

from __future__ import annotations

import io
import random
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import imagehash
import pytest
from PIL import ExifTags, Image, ImageDraw

from parsers.images import MAX_PIXELS, THUMBNAIL_PX, perceptual_hash, read_image
from parsers.photochecks import near_duplicate, outside_period

BEIJING = ZoneInfo("Asia/Shanghai")


def scene(seed: int, size: tuple[int, int] = (1600, 1200)) -> Image.Image:
    """A photo-like picture: a background and overlapping coloured discs, fixed by `seed`."""
    rng = random.Random(seed)

    def colour() -> tuple[int, int, int]:
        return (rng.randrange(256), rng.randrange(256), rng.randrange(256))

    image = Image.new("RGB", size, colour())
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, r = rng.randrange(size[0]), rng.randrange(size[1]), rng.randrange(50, 400)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour())
    return image


def exif(taken: str | None = None, offset: str | None = None, orientation: int = 1) -> Image.Exif:
    data = Image.Exif()
    data[ExifTags.Base.Make] = "Xiaomi"
    data[ExifTags.Base.Orientation] = orientation
    ifd = data.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        ifd[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        ifd[ExifTags.Base.OffsetTimeOriginal] = offset
    return data


def encode(image: Image.Image, kind: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=kind, **options)
    return out.getvalue()


def test_a_jpeg_with_its_exif_date() -> None:
    facts = read_image(encode(scene(1), exif=exif("2023:06:05 10:11:12"), quality=90))
    assert facts.format == "JPEG"
    assert (facts.width, facts.height) == (1600, 1200)
    assert facts.taken == datetime(2023, 6, 5, 10, 11, 12, tzinfo=BEIJING)
    assert facts.phash is not None
    assert len(facts.phash) == 16
    assert facts.warnings == ()


def test_a_recorded_offset_wins_over_the_zone() -> None:
    facts = read_image(encode(scene(1), exif=exif("2023:06:05 10:11:12", "+09:00")))
    assert facts.taken == datetime(2023, 6, 5, 10, 11, 12, tzinfo=timezone(timedelta(hours=9)))
    assert facts.taken is not None
    assert facts.taken.astimezone(BEIJING).hour == 9


def test_the_zone_is_a_parameter() -> None:
    facts = read_image(encode(scene(1), exif=exif("2023:06:05 10:11:12")), zone=UTC)
    assert facts.taken == datetime(2023, 6, 5, 10, 11, 12, tzinfo=UTC)


@pytest.mark.parametrize("stamp", ["0000:00:00 00:00:00", "    :  :     :  :  ", "yesterday"])
def test_a_placeholder_date_is_no_date(stamp: str) -> None:
    assert read_image(encode(scene(1), exif=exif(stamp))).taken is None


def test_a_heic_from_a_phone() -> None:
    data = encode(scene(1), "HEIF", exif=exif("2023:06:14 08:30:00", "+08:00").tobytes())
    assert data[4:12] == b"ftypheic"
    facts = read_image(data)
    assert facts.format == "HEIF"
    assert facts.taken == datetime(2023, 6, 14, 8, 30, tzinfo=BEIJING)
    assert facts.thumbnail is not None


def test_a_png_has_no_date_but_a_hash_and_thumbnail() -> None:
    facts = read_image(encode(scene(3), "PNG"))
    assert facts.format == "PNG"
    assert facts.taken is None
    assert facts.phash is not None
    assert facts.thumbnail is not None


def test_the_thumbnail_is_a_small_upright_jpeg() -> None:
    # Orientation 6: the camera was turned; the stored pixels are landscape, the photo portrait.
    facts = read_image(encode(scene(1), exif=exif(orientation=6)))
    assert facts.thumbnail is not None
    with Image.open(io.BytesIO(facts.thumbnail)) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert max(thumbnail.size) == THUMBNAIL_PX
        assert thumbnail.size[0] < thumbnail.size[1]


def test_a_transparent_png_gets_a_white_background() -> None:
    image = Image.new("RGBA", (100, 100), (255, 0, 0, 0))
    facts = read_image(encode(image, "PNG"))
    assert facts.thumbnail is not None
    with Image.open(io.BytesIO(facts.thumbnail)) as thumbnail:
        red, green, blue = thumbnail.convert("RGB").getpixel((50, 50))  # type: ignore[misc]
        assert min(red, green, blue) > 240


def test_a_resized_reencoded_copy_is_a_near_duplicate() -> None:
    original = read_image(encode(scene(1), quality=92))
    copy = read_image(encode(scene(1).resize((800, 600)), quality=45))  # as WeChat sends it
    other = read_image(encode(scene(2), quality=92))
    assert original.phash and copy.phash and other.phash
    earlier = {original.phash: "盐湖区工科局 第1周", other.phash: "永济市工科局 第1周"}
    assert near_duplicate(copy.phash, earlier, 8) == (
        "这张照片与已报送的照片（盐湖区工科局 第1周）相同或几乎相同，请核实是否重复报送"
    )
    assert near_duplicate(other.phash, {original.phash: "盐湖区工科局 第1周"}, 8) is None


def test_a_heic_and_its_jpeg_export_are_one_photo() -> None:
    heic = read_image(encode(scene(5), "HEIF"))
    jpeg = read_image(encode(scene(5).resize((1200, 900)), quality=70))
    assert heic.phash and jpeg.phash
    assert near_duplicate(jpeg.phash, {heic.phash: "河津市工科局 第2周"}, 8) is not None


def test_near_duplicate_names_the_closest_and_ignores_foreign_hashes() -> None:
    earlier = {"ffffffffffffffff": "远的", "0000000000000003": "近的", "zz": "坏的", "00": "短的"}
    assert near_duplicate("0000000000000001", earlier, 8) == (
        "这张照片与已报送的照片（近的）相同或几乎相同，请核实是否重复报送"
    )
    assert near_duplicate("not hex", earlier, 8) is None
    assert near_duplicate("0000000000000001", {}, 8) is None


def test_outside_period() -> None:
    start = datetime(2023, 6, 1, tzinfo=BEIJING)
    end = datetime(2023, 6, 7, 12, tzinfo=BEIJING)
    assert outside_period(datetime(2023, 6, 5, 9, tzinfo=BEIJING), start, end) is None
    assert outside_period(start, start, end) is None
    assert outside_period(datetime(2023, 5, 2, 10, 11, tzinfo=BEIJING), start, end) == (
        "照片拍摄于 2023年5月2日 10:11，不在本期（2023年6月1日 0:00 至 2023年6月7日 12:00）之内，"
        "请核实是否为本期活动照片"
    )
    # Shown in Beijing time however the camera recorded it.
    late = datetime(2023, 6, 7, 5, 30, tzinfo=UTC)
    assert "2023年6月7日 13:30" in (outside_period(late, start, end) or "")


def test_a_truncated_jpeg_keeps_its_size_and_date() -> None:
    data = encode(scene(1), exif=exif("2023:06:05 10:11:12"))
    facts = read_image(data[: len(data) // 2])
    assert (facts.width, facts.height) == (1600, 1200)
    assert facts.taken == datetime(2023, 6, 5, 10, 11, 12, tzinfo=BEIJING)
    assert facts.thumbnail is None
    assert facts.phash is None
    assert facts.warnings == ("图片已损坏（可能没有传完整），未生成缩略图，按原样归档",)


def test_not_an_image() -> None:
    facts = read_image(b"%PDF-1.4 this is a scan, not a photo")
    assert facts.format is None
    assert facts.warnings == ("图片无法识别（可能已损坏或不是图片），按原样归档",)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    # 11000 x 10000 one-bit pixels: 110 MP, a few kilobytes as a PNG.
    bomb = encode(Image.new("1", (11_000, 10_000)), "PNG")
    assert len(bomb) < 100_000
    assert MAX_PIXELS < 11_000 * 10_000
    tracemalloc.start()
    try:
        facts = read_image(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert facts.warnings == ("图片超过 100 百万像素，疑似“图片炸弹”，未读取，按原样归档",)
    assert facts.thumbnail is None
    assert peak < 1_000_000


@pytest.mark.parametrize("seed", range(12))
def test_the_perceptual_hash_has_the_bits_of_imagehash(seed: int) -> None:
    picture = scene(seed, (800, 600))
    picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    assert perceptual_hash(picture) == str(imagehash.phash(picture))
