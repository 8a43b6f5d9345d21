#!/usr/bin/python3
"""Writes DICOM files of the shapes the pydicom corpus lacks, with pydicom itself (an independent
writer), for tests/io_dicom_corpus_test.cpp: PALETTE COLOR, YBR_FULL, RGB with planar
configuration 1, multi-frame gray (explicit little endian, big endian, deflated), 12 bits stored
signed, RLE multi-frame RGB of 16 bits, and rescale in the enhanced multi-frame shared
functional groups. Usage: make_dicom_variants.py OUT
"""
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian,
                         RLELossless, generate_uid)

rng = np.random.default_rng(7)


def base(rows, cols, ts=ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian = ts != ExplicitVRBigEndian
    ds.is_implicit_VR = False
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.PatientID = "VARIANT"
    ds.Rows, ds.Columns = rows, cols
    return ds


def gray(ds, arr, bits_stored, signed):
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    dtype = (">" if not ds.is_little_endian else "<") + ("i2" if signed else "u2")
    ds.PixelData = arr.astype(dtype).tobytes()


def colour(ds, arr, pi, planar=0, bits=8):
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = pi
    ds.PlanarConfiguration = planar
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if arr.ndim == 4:
        ds.NumberOfFrames = arr.shape[0]
    a = np.moveaxis(arr, -1, -3) if planar else arr
    ds.PixelData = np.ascontiguousarray(a).astype("<u1" if bits == 8 else "<u2").tobytes()


def save(ds, out, name):
    ds.save_as(os.path.join(out, name), write_like_original=False)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    # PALETTE COLOR: 8-bit indices, three 256-entry tables of 16-bit values.
    ds = base(30, 40)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = rng.integers(0, 256, (30, 40), dtype=np.uint8).tobytes()
    ramp = np.arange(256)
    for c, table in zip(("Red", "Green", "Blue"), (ramp * 257, (255 - ramp) * 257, (ramp * 7 % 256) * 257)):
        setattr(ds, f"{c}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{c}PaletteColorLookupTableData", table.astype("<u2").tobytes())
    ds[0x00281101].VR = ds[0x00281102].VR = ds[0x00281103].VR = "US"
    save(ds, out, "palette_color.dcm")

    # YBR_FULL, and RGB with planar configuration 1.
    img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    ds = base(24, 32)
    colour(ds, img, "YBR_FULL")
    save(ds, out, "ybr_full.dcm")
    ds = base(24, 32)
    colour(ds, img, "RGB", planar=1)
    save(ds, out, "rgb_planar.dcm")

    # Multi-frame gray: little endian, big endian, deflated; 12 bits stored, signed.
    frames = rng.integers(-2048, 2048, (4, 20, 18)).astype(np.int16)
    for name, ts in (("multiframe_le.dcm", ExplicitVRLittleEndian), ("multiframe_be.dcm", ExplicitVRBigEndian),
                     ("multiframe_deflated.dcm", DeflatedExplicitVRLittleEndian)):
        ds = base(20, 18, ts)
        ds.RescaleSlope, ds.RescaleIntercept = 1, -24
        gray(ds, frames, 12, True)
        save(ds, out, name)

    # RLE Lossless, two frames of 16-bit RGB.
    rgb16 = rng.integers(0, 65536, (2, 16, 12, 3), dtype=np.uint16)
    ds = base(16, 12)
    colour(ds, rgb16, "RGB", bits=16)
    ds.compress(RLELossless, rgb16)
    save(ds, out, "rle_rgb16_2frames.dcm")

    # Rescale only in the shared functional groups (enhanced multi-frame style).
    ds = base(10, 10)
    gray(ds, rng.integers(0, 4096, (3, 10, 10)), 12, False)
    item = Dataset()
    pvt = Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = 2, -2048, "HU"
    item.PixelValueTransformationSequence = Sequence([pvt])
    ds.SharedFunctionalGroupsSequence = Sequence([item])
    save(ds, out, "shared_group_rescale.dcm")


if __name__ == "__main__":
    main()
