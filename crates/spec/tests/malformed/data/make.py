"""Writes the broken data files of the malformed corpus (run from this folder)."""
import gzip
import struct


def images(n, r, c, body):
    return struct.pack(">IIII", 0x803, n, r, c) + body


def labels(ls):
    return struct.pack(">II", 0x801, len(ls)) + bytes(ls)


open("three-images-idx3-ubyte", "wb").write(images(3, 2, 2, bytes(range(12))))
open("two-labels-idx1-ubyte", "wb").write(labels([1, 2]))
open("three-labels-idx1-ubyte", "wb").write(labels([1, 2, 3]))
# Declares 3 images of 2x2 (16 + 12 = 28 bytes) but holds 10 of the 12 pixel bytes.
open("truncated-idx3-ubyte.gz", "wb").write(
    gzip.compress(images(3, 2, 2, bytes(range(10))), mtime=0)
)
open("not-idx.gz", "w").write("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
open("short_batch.bin", "wb").write(bytes(3073 + 100))
open("empty-folder/README.txt", "w").write(
    "A folder with no images, for data_empty_folder.ron.\n"
)
open("broken-folder/digits/broken.png", "w").write("not a PNG: a text file with a .png name\n")
