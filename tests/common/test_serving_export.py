"""The serving signatures' image decoding (common/serving_export.py) against the kit's own file
reader: a client's file must reach the model as the training files did."""

import io

import numpy as np
import pytest

from solutions.common.image_io import read_image
from solutions.common.serving_export import decode_images, tf

RNG = np.random.default_rng(0)


def encoded(image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def files():
    from PIL import Image

    rgb = RNG.integers(0, 256, (12, 10, 3)).astype(np.uint8)
    alpha = RNG.integers(0, 256, (12, 10, 1)).astype(np.uint8)
    gray = RNG.integers(0, 256, (12, 10)).astype(np.uint8)
    yield "png rgb", encoded(Image.fromarray(rgb), "PNG"), 0
    yield "png rgba", encoded(Image.fromarray(np.concatenate([rgb, alpha], -1)), "PNG"), 0
    yield "png gray", encoded(Image.fromarray(gray), "PNG"), 0
    yield "png gray+alpha", encoded(Image.fromarray(np.stack([gray, alpha[..., 0]], -1), "LA"), "PNG"), 0
    yield "png palette", encoded(Image.fromarray(rgb).convert("P"), "PNG"), 0
    yield "gif", encoded(Image.fromarray(rgb).convert("P"), "GIF"), 0
    yield "bmp rgb", encoded(Image.fromarray(rgb), "BMP"), 0
    yield "bmp gray", encoded(Image.fromarray(gray), "BMP"), 0
    yield "jpeg rgb", encoded(Image.fromarray(rgb), "JPEG"), 5  # decoders upsample chroma differently
    yield "jpeg gray", encoded(Image.fromarray(gray), "JPEG"), 3


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(12, 10), (16, 16), (6, 6)])
def test_every_format_decodes_as_the_training_reader_reads_it(channels, size, tmp_path):
    for what, data, tolerance in files():
        path = tmp_path / "file"
        path.write_bytes(data)
        if size[0] != size[1]:  # the kit's reader makes square images; compare at the file's own size
            from PIL import Image

            with Image.open(path) as img:
                expected = np.asarray(img.convert("L" if channels == 1 else "RGB"), np.float32)
            expected = expected[..., None] if channels == 1 else expected
        else:
            expected = read_image(path, size[0], channels).astype(np.float32)
        got = decode_images(tf.constant([data]), *expected.shape[:2], channels).numpy()[0]
        resized = size[0] == size[1]
        allowed = max(tolerance, 1.0 if resized else 0.0)  # Pillow rounds the resized pixels to integers
        assert np.abs(got - expected).max() <= allowed, (what, size, channels, np.abs(got - expected).max())


@pytest.mark.parametrize("fmt, tolerance", [("PNG", 1.0), ("JPEG", 5.0)])
def test_the_signature_turns_photos_upright_as_the_training_reader_does(fmt, tolerance, tmp_path):
    """TF's decoders ignore EXIF orientation (so would TF Serving): the signature reads the tag in
    its graph, in either byte order and as SHORT or LONG, and a phone's portrait photo reaches the
    model as the training files did."""
    from PIL import Image

    from solutions.common.serving_export import exif_orientations
    from tests.conftest import with_exif_orientation

    stored = RNG.integers(0, 256, (12, 12, 3)).astype(np.uint8)
    cases = [(endian, kind, o) for endian in ("II", "MM") for kind in (3, 4) for o in range(1, 9)]
    files = [with_exif_orientation(stored, fmt, o, endian, kind) for endian, kind, o in cases]
    assert exif_orientations(tf.constant(files)).numpy().tolist() == [o for _, _, o in cases]
    for channels in (1, 3):
        got = decode_images(tf.constant(files), 12, 12, channels).numpy()
        for case, data, image in zip(cases, files, got):
            path = tmp_path / "photo"
            path.write_bytes(data)
            expected = read_image(path, 12, channels).astype(np.float32)
            assert np.abs(image - expected).max() <= tolerance, (case, channels)
    turned = decode_images(tf.constant([with_exif_orientation(stored, "PNG", 6)]), 12, 12, 3).numpy()[0]
    np.testing.assert_array_equal(turned, np.rot90(stored, -1))  # a quarter turn clockwise
    # one request mixing orientations, byte orders and a file without EXIF: each read on its own
    batch = [with_exif_orientation(stored, fmt, o, "II" if o % 2 else "MM") for o in range(1, 9)]
    batch.insert(3, encoded(Image.fromarray(stored), "GIF"))
    assert exif_orientations(tf.constant(batch)).numpy().tolist() == [1, 2, 3, 1, 4, 5, 6, 7, 8]


def test_an_image_without_a_readable_orientation_is_taken_as_stored():
    from PIL import Image

    from solutions.common.serving_export import exif_orientations

    pixels = RNG.integers(0, 256, (6, 6, 3)).astype(np.uint8)
    blocks = [None, b"Exif\0\0not a tiff header", b"Exif\0\0MM\0*\xff\xff\xff\xf0",
              b"Exif\0\0II*\0\x08\0\0\0\x05\0\x12\x01"]
    for fmt in ("PNG", "JPEG", "BMP", "GIF"):
        for block in blocks if fmt in ("PNG", "JPEG") else [None]:
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format=fmt, **({"exif": block} if block else {}))
            assert int(exif_orientations(tf.constant([buffer.getvalue()]))[0]) == 1, (fmt, block)
    # an orientation value outside 1-8, and a file that only mentions "eXIf" in its pixels
    from tests.conftest import with_exif_orientation

    assert int(exif_orientations(tf.constant([with_exif_orientation(pixels, "PNG", 9)]))[0]) == 1
    bmp = io.BytesIO()
    Image.fromarray(np.frombuffer(b"eXIfMM\0*\0\0\0\x08" * 9, np.uint8).reshape(6, 6, 3)).save(bmp, format="BMP")
    assert int(exif_orientations(tf.constant([bmp.getvalue()]))[0]) == 1


@pytest.mark.parametrize("kind", ["webp", "animated webp", "jpeg xl", "jpeg xl container", "riff", "empty"])
def test_only_the_promised_formats_reach_a_decoder(kind):
    """TensorFlow's WebP decoder corrupts the heap on a valid animated WebP (the process dies at
    the first decode), and `decode_image` would also hand JPEG XL to libjxl: the signature lets
    only PNG, JPEG, GIF and BMP reach a decoder, refuses the rest with an error a TF Serving client
    can read, and still answers the next request."""
    from PIL import Image

    frames = [Image.fromarray(RNG.integers(0, 256, (12, 10, 3)).astype(np.uint8)) for _ in range(3)]
    buffer = io.BytesIO()
    if kind.endswith("webp"):
        frames[0].save(buffer, format="WEBP", lossless=True,
                       **({"save_all": True, "append_images": frames[1:]} if kind == "animated webp" else {}))
    data = {"jpeg xl": b"\xff\x0a" + b"\0" * 40, "jpeg xl container": b"\0\0\0\x0cJXL \r\n\x87\n" + b"\0" * 40,
            "riff": b"RIFF\0\0\0\0AVI " + b"\0" * 40, "empty": b""}.get(kind, buffer.getvalue())
    decode = tf.function(lambda data: decode_images(data, 12, 10, 3))
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a PNG, JPEG, GIF or BMP image"):
        decode(tf.constant([encoded(frames[0], "PNG"), data]))
    good = decode(tf.constant([encoded(frames[1], "PNG")])).numpy()[0]
    np.testing.assert_array_equal(good, np.asarray(frames[1], np.float32))


def test_camera_quirks_are_read_alike_by_the_signature_and_the_training_reader(tmp_path):
    """Files whose orientation a reader could get wrong: each is turned (or not) the same way by
    the serving graph and by the kit's Pillow reader, the one that made the training pixels."""
    import struct
    import warnings
    import zlib

    from PIL import Image

    from solutions.common.serving_export import exif_orientations
    from tests.conftest import with_exif_orientation

    stored = RNG.integers(0, 256, (12, 12, 3)).astype(np.uint8)
    jpeg6 = with_exif_orientation(stored, "JPEG", 6)
    app1 = jpeg6.index(b"\xff\xe1")
    png6 = with_exif_orientation(stored, "PNG", 6)
    exif_chunk = png6.index(b"eXIf") - 4
    text = (struct.pack(">I", 4) + b"tEXta\0bc" + struct.pack(">I", zlib.crc32(b"tEXta\0bc"))) * 20
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    only_xmp = io.BytesIO()
    Image.fromarray(stored).save(only_xmp, format="JPEG", xmp=xmp)
    tiff = jpeg6.index(b"MM\0*")
    chunk = png6[exif_chunk:exif_chunk + 12 + struct.unpack(">I", png6[exif_chunk:exif_chunk + 4])[0]]
    without = png6.replace(chunk, b"")
    after_pixels = without[:without.index(b"IEND") - 4] + chunk + without[without.index(b"IEND") - 4:]
    cases = {
        "fill bytes before the APP1 marker": (jpeg6[:app1] + b"\xff\xff" + jpeg6[app1:], 6),
        "20 text chunks before eXIf": (png6[:exif_chunk] + text + png6[exif_chunk:], 6),
        "an XMP orientation only (viewers ignore it)": (only_xmp.getvalue(), 1),
        "a TIFF header that is not 42": (jpeg6[:tiff + 3] + b"," + jpeg6[tiff + 4:], 1),
        "an orientation entry of count 0": (jpeg6.replace(b"\x01\x12\x00\x03\x00\x00\x00\x01",
                                                          b"\x01\x12\x00\x03\x00\x00\x00\x00"), 1),
        "a signed SHORT": (jpeg6.replace(b"\x01\x12\x00\x03", b"\x01\x12\x00\x08"), 6),
        "a SHORT of count 2 (the first value counts)": (jpeg6.replace(b"\x01\x12\x00\x03\x00\x00\x00\x01",
                                                                       b"\x01\x12\x00\x03\x00\x00\x00\x02"), 6),
        "a first orientation entry that is not a number": (jpeg6.replace(b"\x01\x0f\x00\x02", b"\x01\x12\x00\x05"), 1),
        "a stray byte before the APP1 marker": (jpeg6[:app1] + b"\x00" + jpeg6[app1:], 6),
        "a JPEG APP1 with its prefix twice": (with_exif_orientation(stored, "JPEG", 6, prefix=b"Exif\0\0" * 2), 6),
        "a PNG eXIf with JPEG's prefix": (with_exif_orientation(stored, "PNG", 6, prefix=b"Exif\0\0" * 2), 6),
        "an eXIf chunk after the pixels (the standard puts it before)": (after_pixels, 1),
    }
    for what, (data, orientation) in cases.items():
        assert int(exif_orientations(tf.constant([data]))[0]) == orientation, what
        path = tmp_path / "photo"
        path.write_bytes(data)
        got = decode_images(tf.constant([data]), 12, 12, 3).numpy()[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow's "Metadata Warning" on the crafted blocks
            expected = read_image(path, 12, 3)
        assert np.abs(got - expected).max() <= 5, what


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_a_portrait_photo_is_resized_then_turned_as_the_training_reader_reads_it(orientation, tmp_path):
    """The signature resizes a sideways photo as stored and turns the small result (a fraction of
    the work of turning its megapixels); the training reader turns after its resize too: both give
    the upright photo at the model's size."""
    from tests.conftest import with_exif_orientation

    stored = RNG.integers(0, 256, (30, 20, 3)).astype(np.uint8)
    data = with_exif_orientation(stored, "PNG", orientation)
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    for size in (12, 7):
        got = decode_images(tf.constant([data]), size, size, 3).numpy()[0]
        assert np.abs(got - read_image(path, size, 3)).max() <= 1, size  # Pillow rounds to integers
    quarter = decode_images(tf.constant([data]), 20, 30, 3).numpy()[0]  # a model of the stored shape, turned
    if orientation == 3:
        quarter = decode_images(tf.constant([data]), 30, 20, 3).numpy()[0]
        np.testing.assert_array_equal(quarter, stored[::-1, ::-1])
    else:
        np.testing.assert_array_equal(quarter, np.rot90(stored, -1 if orientation == 6 else 1))


def test_a_saved_signature_loaded_without_the_kit_turns_photos_and_refuses_webp(tmp_path):
    """What TF Serving (or a notebook) runs: the SavedModel loaded with plain `tf.saved_model.load`,
    no kit code on the way. A sideways phone photo comes out upright; an animated WebP is refused
    before any decoder runs (the process would die otherwise), and the next call is answered."""
    from PIL import Image

    from solutions.common.serving_export import Endpoint, ServingModel, write_serving
    from tests.conftest import with_exif_orientation

    spec = (tf.TensorSpec([None], tf.string, name="image_bytes"),)
    path = write_serving(ServingModel((Endpoint("serving_default", lambda image_bytes: {
        "pixels": decode_images(image_bytes, 10, 12, 3)}, spec),)), tmp_path / "decoder" / "1")
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    stored = RNG.integers(0, 256, (12, 10, 3)).astype(np.uint8)  # stored sideways: 12 high, 10 wide
    photo = with_exif_orientation(stored, "PNG", 6, "II")
    np.testing.assert_array_equal(signature(image_bytes=tf.constant([photo]))["pixels"].numpy()[0],
                                  np.rot90(stored, -1))  # upright: 10 high, 12 wide
    frames = [Image.fromarray(RNG.integers(0, 256, (10, 12, 3)).astype(np.uint8)) for _ in range(3)]
    animated = io.BytesIO()
    frames[0].save(animated, format="WEBP", lossless=True, save_all=True, append_images=frames[1:])
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a PNG, JPEG, GIF or BMP image"):
        signature(image_bytes=tf.constant([animated.getvalue()]))
    again = signature(image_bytes=tf.constant([encoded(frames[0], "PNG")]))["pixels"].numpy()[0]
    np.testing.assert_array_equal(again, np.asarray(frames[0], np.float32))
