#!/usr/bin/python3
"""Writes the DICOM studies that tests/pacs_*_test.cpp upload to a real PACS (Orthanc), with pydicom
(an independent writer). Usage: make_pacs_studies.py DATASETS REPO OUT [--slices N]

  ct-covid/   N consecutive slices from the middle of COVID-CT-MD `COVID-19 subjects/P001` (COVID-19)
  ct-normal/  N consecutive slices from the middle of COVID-CT-MD `Normal subjects/normal001` (normal)
              Both keep the original real CT pixels (JPEG Lossless, bytes untouched) and every attribute,
              with fresh valid UIDs (study, series, instances, frame of reference; derived from the original
              ones, so every run writes the same UIDs).
  ct-broken/  N slices with the headers of P001 (fresh UIDs, explicit VR little endian) whose Pixel Data is
              cut short: an archive stores them, covscreen cannot decode them (a corrupt study).
  cxr/        one X-ray study (DX), two series: a frontal view (ViewPosition PA) from examples/cxr/cxr-covid-1.jpg
              and a lateral view (ViewPosition LL) from the first lateral ("L") image of covid-chestxray-dataset
              (examples/cxr has no lateral view), both 8-bit MONOCHROME2.
  studies.json  what was written: per study the study UID, series UIDs, SOP Instance UIDs and files.
"""
import argparse
import csv
import glob
import hashlib
import json
import os

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

TAG = "covscreen-pacs-test"


def uid(*parts):
    """A UUID-derived UID (PS3.5 B.2): "2.25." + 128 bits of SHA-256 of the parts (same parts, same UID)."""
    digest = hashlib.sha256("\0".join([TAG] + [str(p) for p in parts]).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def middle_slices(folder, n):
    files = sorted(glob.glob(os.path.join(folder, "*.dcm")))
    if len(files) < n:
        raise SystemExit(f"{folder}: {len(files)} slices, need {n}")
    heads = [(float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]), f) for f in files]
    heads.sort()
    start = (len(heads) - n) // 2
    return [f for _, f in heads[start:start + n]]


def renew_uids(ds, key):
    study, series = ds.StudyInstanceUID, ds.SeriesInstanceUID
    ds.StudyInstanceUID = uid(key, "study", study)
    ds.SeriesInstanceUID = uid(key, "series", series)
    ds.SOPInstanceUID = uid(key, "sop", ds.SOPInstanceUID)
    if "FrameOfReferenceUID" in ds:
        ds.FrameOfReferenceUID = uid(key, "for", ds.FrameOfReferenceUID)
    # References to instances that are not in the archive (localizer, source images).
    for kw in ("ReferencedImageSequence", "SourceImageSequence"):
        if kw in ds:
            delattr(ds, kw)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def ct_study(src, out, key, n, broken=False):
    os.makedirs(out, exist_ok=True)
    written = []
    for k, f in enumerate(middle_slices(src, n)):
        ds = pydicom.dcmread(f)
        renew_uids(ds, key)
        if broken:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.is_little_endian, ds.is_implicit_VR = True, False
            ds.PixelData = b"\x00\x01" * 50  # 100 bytes for 512 x 512 x 16 bits
            ds["PixelData"].VR = "OW"
            ds["PixelData"].is_undefined_length = False
            ds.PatientID = "BROKEN-" + str(ds.PatientID)
        path = os.path.join(out, f"{k + 1:03d}.dcm")
        ds.save_as(path, write_like_original=False)
        written.append((path, ds))
    return written


def xray(path_png, study, series, number, view, out_name, patient):
    img = np.asarray(Image.open(path_png).convert("L"), dtype=np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta.MediaStorageSOPInstanceUID = uid("cxr", "sop", series)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate, ds.StudyTime = "20200401", "101500"
    ds.SeriesDate, ds.ContentDate, ds.ContentTime = "20200401", "20200401", "101500"
    ds.AccessionNumber = "CXR0001"
    ds.Modality = "DX"
    ds.Manufacturer = "covscreen test data"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Chest X-ray 2 views"
    ds.SeriesDescription = f"Chest {view}"
    ds.PatientName = "CXR^Test"
    ds.PatientID = patient
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.StudyID = "1"
    ds.SeriesNumber = number
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["P", "F"] if view in ("PA", "AP") else ["A", "F"]
    ds.ImageLaterality = "U"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = img.shape
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.WindowCenter, ds.WindowWidth = 128, 256
    ds.LossyImageCompression = "01"  # the source images are JPEG
    ds.PixelData = img.tobytes()
    ds.save_as(out_name, write_like_original=False)
    return ds


def describe(written):
    ds = written[0][1]
    return {"study_uid": str(ds.StudyInstanceUID), "series": sorted({str(d.SeriesInstanceUID) for _, d in written}),
            "sop_instance_uids": [str(d.SOPInstanceUID) for _, d in written],
            "files": [p for p, _ in written], "patient_id": str(ds.PatientID)}


def main():
    ap = argparse.ArgumentParser(description="DICOM studies for the covscreen pacs tests")
    ap.add_argument("datasets")
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--slices", type=int, default=12)
    a = ap.parse_args()
    data, repo, out, n = a.datasets, a.repo, a.out, a.slices
    md = os.path.join(data, "COVID-CT-MD")
    studies = {}
    studies["ct-covid"] = describe(ct_study(os.path.join(md, "COVID-19 subjects", "P001"),
                                            os.path.join(out, "ct-covid"), "P001", n))
    studies["ct-normal"] = describe(ct_study(os.path.join(md, "Normal subjects", "normal001"),
                                             os.path.join(out, "ct-normal"), "normal001", n))
    studies["ct-broken"] = describe(ct_study(os.path.join(md, "COVID-19 subjects", "P001"),
                                             os.path.join(out, "ct-broken"), "broken", n, broken=True))

    # X-ray: a frontal view from examples/, a real lateral view from covid-chestxray-dataset.
    frontal = os.path.join(repo, "examples", "cxr", "cxr-covid-1.jpg")
    lateral = None
    cxr = os.path.join(data, "covid-chestxray-dataset")
    with open(os.path.join(cxr, "metadata.csv"), newline="") as f:
        for row in csv.DictReader(f):
            p = os.path.join(cxr, row["folder"], row["filename"])
            if row["view"] == "L" and row["modality"] == "X-ray" and os.path.exists(p):
                lateral = p
                break
    if lateral is None:
        raise SystemExit("no lateral X-ray found in " + cxr)
    os.makedirs(os.path.join(out, "cxr"), exist_ok=True)
    study = uid("cxr", "study")
    pa = xray(frontal, study, uid("cxr", "series-pa"), 1, "PA", os.path.join(out, "cxr", "pa.dcm"), "CXR-0001")
    ll = xray(lateral, study, uid("cxr", "series-ll"), 2, "LL", os.path.join(out, "cxr", "ll.dcm"), "CXR-0001")
    studies["cxr"] = describe([(os.path.join(out, "cxr", "pa.dcm"), pa), (os.path.join(out, "cxr", "ll.dcm"), ll)])
    studies["cxr"]["frontal_sop_instance_uid"] = str(pa.SOPInstanceUID)
    studies["cxr"]["lateral_sop_instance_uid"] = str(ll.SOPInstanceUID)
    studies["cxr"]["frontal_source"] = os.path.relpath(frontal, repo)
    studies["cxr"]["lateral_source"] = os.path.relpath(lateral, data)
    with open(os.path.join(out, "studies.json"), "w") as f:
        json.dump(studies, f, indent=1)


if __name__ == "__main__":
    main()
