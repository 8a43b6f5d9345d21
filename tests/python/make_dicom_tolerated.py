#!/usr/bin/python3
"""Writes DICOM files of shapes that real archives hold and that pydicom and GDCM read, for
tests/io_dicom_tolerated_test.cpp. Every image file holds the same 48 x 64 CT picture (stored
value (97 r + 13 c) % 4096, RescaleIntercept -1024), so each must decode to the same HU:

  plain.dcm, plain_j2k.dcm    the picture, native and JPEG 2000 lossless (a bare codestream)
  un_vr.dcm, un_vr_j2k.dcm    image attributes (CS, DS, IS, US, UI) written with VR UN
  un_shared_groups.dcm        the rescale only in a Shared Functional Groups Sequence written as UN
  icon.dcm, icon_j2k.dcm      an Icon Image Sequence holding an 8 x 8 PALETTE COLOR image
  jp2.dcm, jp2_xl.dcm, jp2_to_end.dcm
                              the JPEG 2000 frame wrapped in a JP2 file; its 'jp2c' box with a
                              4-byte length, an extended (8-byte) length, and length 0 (to the end)
  rescale_spaces.dcm, rescale_nul.dcm, rescale_multi.dcm, rescale_multi_j2k.dcm
                              RescaleIntercept / RescaleSlope padded, NUL-padded, multi-valued
  rescale_disagree.dcm        RescaleIntercept "-1024\\0": to be refused
  acr_nema_chest              ACR-NEMA 2.0: implicit VR little endian, no preamble, no file meta,
                              starting with (0008,0000); no file extension
  no_preamble_0018            explicit VR little endian, no preamble or meta, starting at group 0018
  float_pixels.dcm, double_pixels.dcm
                              parametric maps: Float / Double Float Pixel Data, to be refused

Usage: make_dicom_tolerated.py OUT
"""
import io
import os
import struct
import sys

import numpy as np
from PIL import Image
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

ROWS, COLS = 48, 64
STORED = ((97 * np.arange(ROWS)[:, None] + 13 * np.arange(COLS)[None, :]) % 4096).astype(np.uint16)


def base(ts=ExplicitVRLittleEndian, uid="1.2.826.0.1.3680043.8.498.1"):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid + ".1", uid + ".2"
    ds.Modality = "CT"
    ds.PatientID = "TOLERATED"
    ds.BodyPartExamined = "CHEST"
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLS
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    return ds


def codestream():
    out = io.BytesIO()
    Image.fromarray(STORED, mode="I;16").save(out, format="JPEG2000", no_jp2=True, irreversible=False)
    return out.getvalue()


def jp2_file():
    """The picture as a JP2 file (signature, ftyp, jp2h, jp2c boxes), as Pillow writes it."""
    out = io.BytesIO()
    Image.fromarray(STORED, mode="I;16").save(out, format="JPEG2000", irreversible=False)
    data = out.getvalue()
    assert data[:12] == bytes.fromhex("0000000c6a5020200d0a870a"), "not a JP2 file"
    return data


def boxes(data):
    """(type, payload) of the top-level boxes of a JP2 file with 4-byte lengths."""
    at, out = 0, []
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        out.append((kind, data[at + 8:at + length]))
        at += length
    return out


def jp2_with_jp2c(form):
    """The JP2 file with its 'jp2c' box rewritten: "xl" an extended length, "to_end" length 0."""
    out = b""
    for kind, payload in boxes(jp2_file()):
        if kind == b"jp2c" and form == "xl":
            out += struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
        elif kind == b"jp2c" and form == "to_end":
            out += struct.pack(">I4s", 0, kind) + payload
        else:
            out += struct.pack(">I4s", 8 + len(payload), kind) + payload
    return out


def with_frame(ds, frame):
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def native(ds):
    ds.PixelData = STORED.astype("<u2").tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def un_vr(ds):
    """The image attributes with VR UN, their values as stored bytes (as anonymizers write them)."""
    for keyword in ("Modality", "PhotometricInterpretation", "Rows", "Columns", "SamplesPerPixel", "BitsAllocated",
                    "BitsStored", "HighBit", "PixelRepresentation", "RescaleIntercept", "RescaleSlope",
                    "InstanceNumber", "SOPInstanceUID"):
        elem = ds[keyword]
        if elem.VR == "US":
            raw = struct.pack("<H", elem.value)
        else:
            raw = str(elem.value).encode()
            raw += (b"\0" if elem.VR == "UI" else b" ") * (len(raw) % 2)
        un = DataElement(elem.tag, "OB", raw)
        un.VR = "UN"  # set afterwards: pydicom's constructor would put the dictionary's VR back
        ds[elem.tag] = un
    return ds


def un_shared_groups(ds):
    """The rescale only in the Shared Functional Groups Sequence, written as UN of defined length:
    its item in implicit VR little endian, as PS3.5 6.2.2 has it."""
    pvt = Dataset()
    pvt.RescaleIntercept, pvt.RescaleSlope, pvt.RescaleType = ds.RescaleIntercept, ds.RescaleSlope, "HU"
    del ds.RescaleIntercept, ds.RescaleSlope
    item = Dataset()
    item.PixelValueTransformationSequence = Sequence([pvt])
    body = implicit_bytes(item)
    un = DataElement(0x52009229, "OB", struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body)
    un.VR = "UN"
    ds[0x52009229] = un
    return ds


def icon(ds):
    """An Icon Image Sequence item: its own 8 x 8 PALETTE COLOR image, attributes and pixel data."""
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "PALETTE COLOR"
    item.Rows, item.Columns = 8, 8
    item.BitsAllocated, item.BitsStored, item.HighBit, item.PixelRepresentation = 8, 8, 7, 0
    for c in ("Red", "Green", "Blue"):
        setattr(item, f"{c}PaletteColorLookupTableDescriptor", [256, 0, 8])
        setattr(item, f"{c}PaletteColorLookupTableData", bytes(range(256)))
    item[0x00281101].VR = item[0x00281102].VR = item[0x00281103].VR = "US"
    item.PixelData = bytes(range(64))
    item["PixelData"].VR = "OB"
    ds.IconImageSequence = Sequence([item])
    return ds


def save(ds, out, name):
    ds.save_as(os.path.join(out, name), write_like_original=False)


def patch(path, old, new):
    """Replaces the one occurrence of `old` in the file by `new` (of the same length)."""
    assert len(old) == len(new), (old, new)
    with open(path, "rb") as fh:
        data = fh.read()
    assert data.count(old) == 1, (path, old)
    with open(path, "wb") as fh:
        fh.write(data.replace(old, new))


def rescale_file(out, name, intercept, slope, ts_frame=None):
    """A file whose RescaleIntercept / RescaleSlope hold exactly these bytes (even lengths)."""
    ds = base()
    ds.RescaleIntercept, ds.RescaleSlope = "9" * len(intercept), "8" * len(slope)
    save(with_frame(ds, ts_frame) if ts_frame else native(ds), out, name)
    path = os.path.join(out, name)
    patch(path, b"9" * len(intercept), intercept)
    patch(path, b"8" * len(slope), slope)


def implicit_bytes(ds):
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_dataset(fp, ds)
    return fp.getvalue()


def acr_nema(out):
    """An ACR-NEMA 2.0 file as old CR archives hold them (fo-dicom's CR-MONO1-10-chest): implicit VR
    little endian from its first byte, group 0008 first with its group length (which pydicom does
    not write, so it is put in front here)."""
    ds = native(base())
    del ds.file_meta
    ds.RecognitionCode = "ACR-NEMA 2.0"
    group8 = implicit_bytes(Dataset({e.tag: e for e in ds if e.tag.group == 0x0008}))
    rest = implicit_bytes(Dataset({e.tag: e for e in ds if e.tag.group != 0x0008}))
    with open(os.path.join(out, "acr_nema_chest"), "wb") as fh:
        fh.write(struct.pack("<HHII", 0x0008, 0x0000, 4, len(group8)) + group8 + rest)


def no_preamble_0018(out):
    ds = native(base())
    kept = Dataset({e.tag: e for e in ds if e.tag.group >= 0x0018})
    kept.is_little_endian, kept.is_implicit_VR = True, False
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, kept)
    with open(os.path.join(out, "no_preamble_0018"), "wb") as fh:
        fh.write(fp.getvalue())


def parametric_map(out, name, keyword, dtype):
    ds = base()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map
    del ds.PixelRepresentation, ds.BitsStored, ds.HighBit, ds.RescaleIntercept, ds.RescaleSlope
    ds.BitsAllocated = 32 if dtype == "<f4" else 64
    setattr(ds, keyword, STORED.astype(dtype).tobytes())
    save(ds, out, name)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    j2k = codestream()
    save(native(base()), out, "plain.dcm")
    save(with_frame(base(), j2k), out, "plain_j2k.dcm")
    save(un_vr(native(base())), out, "un_vr.dcm")
    save(un_vr(with_frame(base(), j2k)), out, "un_vr_j2k.dcm")
    save(un_shared_groups(native(base())), out, "un_shared_groups.dcm")
    save(icon(native(base())), out, "icon.dcm")
    save(icon(with_frame(base(), j2k)), out, "icon_j2k.dcm")
    save(with_frame(base(), jp2_file()), out, "jp2.dcm")
    save(with_frame(base(), jp2_with_jp2c("xl")), out, "jp2_xl.dcm")
    save(with_frame(base(), jp2_with_jp2c("to_end")), out, "jp2_to_end.dcm")
    rescale_file(out, "rescale_spaces.dcm", b"  -1024 ", b" 1  ")
    rescale_file(out, "rescale_nul.dcm", b"-1024\0", b"1\0")
    rescale_file(out, "rescale_multi.dcm", b"-1024\\-1024 ", b"1\\1.0 ")
    rescale_file(out, "rescale_multi_j2k.dcm", b"-1024\\-1024 ", b"1\\1.0 ", j2k)
    rescale_file(out, "rescale_disagree.dcm", b"-1024\\0 ", b"1 ")
    acr_nema(out)
    no_preamble_0018(out)
    parametric_map(out, "float_pixels.dcm", "FloatPixelData", "<f4")
    parametric_map(out, "double_pixels.dcm", "DoubleFloatPixelData", "<f8")


if __name__ == "__main__":
    main()
