#!/usr/bin/python3
"""Synthetic CT studies full of known PHI, for the de-identification tests.

usage: make_phi_dicoms.py OUT_DIR [--patients N] [--series S] [--slices K] [--size PX]

Writes OUT_DIR/studies/<patient folder named after the patient>/series<s>/IM<k>.dcm (one study
per patient, S series of K slices of PX x PX int16 HU - 1024), OUT_DIR/labels.csv
(patient,label,age,sex,site; the last patient has no row, so it is unlabelled) and
OUT_DIR/phi.json: {"strings": every PHI string planted (names, ids, dates, addresses, UIDs,
private values, folder names), "patients": [...], "slices": total}.
Deterministic: the same arguments give the same files.
"""
import argparse
import json
import os

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

ROOT = "1.2.826.0.1.3680043.9.7777"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--patients", type=int, default=5)
    ap.add_argument("--series", type=int, default=2)
    ap.add_argument("--slices", type=int, default=6)
    ap.add_argument("--size", type=int, default=48)
    a = ap.parse_args()

    labels = ["covid", "pneumonia", "normal"]
    phi, patients, rows = set(), [], []
    total = 0
    rng = np.random.default_rng(7)
    for i in range(a.patients):
        pid = f"PHIID{i:04d}X"
        name = f"PHINAME^PATIENT{i}"
        folder = f"{pid}_PHINAME_PATIENT{i}"
        study_uid = f"{ROOT}.{i}.1"
        frame_uid = f"{ROOT}.{i}.9"
        per = {
            "PatientName": name, "PatientID": pid, "PatientBirthDate": f"19{50 + i}0315",
            "PatientAddress": f"{i} PHISTREET PHICITY", "InstitutionName": f"PHI GENERAL HOSPITAL {i}",
            "InstitutionAddress": f"{i} PHIHOSPITAL ROAD", "ReferringPhysicianName": f"PHIDOC^REFERRING{i}",
            "StudyDate": f"202003{10 + i}", "SeriesDate": f"202003{10 + i}", "AccessionNumber": f"PHIACC{i}77",
            "OtherPatientIDs": f"PHIOTHER{i}", "StationName": f"PHISTATION{i}", "OperatorsName": f"PHIOPERATOR^{i}",
            "PerformingPhysicianName": f"PHIPERFORMER^{i}", "StudyID": f"PHISTUDY{i}",
            "StudyDescription": f"PHI STUDY DESCRIPTION {i}", "ImageComments": f"PHI IMAGE COMMENT {i}",
            "PatientTelephoneNumbers": f"555-0100-{i}", "DeviceSerialNumber": f"PHISERIAL{i}",
            "AdditionalPatientHistory": f"PHI HISTORY {i}", "PatientComments": f"PHI PATIENT COMMENT {i}",
        }
        phi.update(per.values())
        phi.update([folder, study_uid, frame_uid, f"PHIPRIVATE{i}", f"PHIREQACC{i}", "PHIVENDOR"])
        patients.append(pid)
        if i < a.patients - 1:
            rows.append(f"{pid},{labels[i % 3]},{35 + 7 * i},{'M' if i % 2 == 0 else 'F'},site-{'ab'[i % 2]}")
        for s in range(a.series):
            series_uid = f"{ROOT}.{i}.1.{s + 1}"
            phi.add(series_uid)
            d = os.path.join(a.out, "studies", folder, f"series{s + 1}")
            os.makedirs(d, exist_ok=True)
            for k in range(a.slices):
                sop_uid = f"{ROOT}.{i}.1.{s + 1}.{k + 1}"
                phi.add(sop_uid)
                implicit = (i == 0 and s == a.series - 1)
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = CTImageStorage
                meta.MediaStorageSOPInstanceUID = sop_uid
                meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
                path = os.path.join(d, f"IM{k + 1:03d}.dcm")
                ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
                ds.is_little_endian = True
                ds.is_implicit_VR = implicit
                ds.SOPClassUID = CTImageStorage
                ds.SOPInstanceUID = sop_uid
                ds.StudyInstanceUID = study_uid
                ds.SeriesInstanceUID = series_uid
                ds.FrameOfReferenceUID = frame_uid
                ds.Modality = "CT"
                ds.Manufacturer = "SYNTHETIC"
                for kw, v in per.items():
                    setattr(ds, kw, v)
                ds.PatientAge = f"0{40 + i}Y"
                ds.PatientSex = "M" if i % 2 == 0 else "F"
                ds.SeriesNumber = s + 1
                ds.InstanceNumber = a.slices - k  # reversed, so path order != slice order
                ds.ImagePositionPatient = [0, 0, -10.0 * (a.slices - k)]
                ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
                ref = Dataset()
                ref.ReferencedSOPClassUID = CTImageStorage
                ref.ReferencedSOPInstanceUID = f"{ROOT}.{i}.1.{s + 1}.{(k + 1) % a.slices + 1}"
                ds.ReferencedImageSequence = Sequence([ref])
                req = Dataset()
                req.AccessionNumber = f"PHIREQACC{i}"
                req.RequestedProcedureID = f"PHIREQACC{i}"
                ds.RequestAttributesSequence = Sequence([req])
                block = ds.private_block(0x0009, "PHIVENDOR", create=True)
                block.add_new(0x01, "LO", f"PHIPRIVATE{i}")
                ds.Rows = ds.Columns = a.size
                ds.SamplesPerPixel = 1
                ds.PhotometricInterpretation = "MONOCHROME2"
                ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
                ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
                yy, xx = np.mgrid[0:a.size, 0:a.size]
                body = ((yy - a.size / 2) ** 2 + (xx - a.size / 2) ** 2) < (a.size * 0.45) ** 2
                img = np.where(body, 1024 + 40, 0) + rng.integers(0, 300, (a.size, a.size)) * body
                img[a.size // 4: a.size // 2, a.size // 4: 3 * a.size // 4] = 1024 - 800 + 50 * k
                ds.PixelData = img.astype("<i2").tobytes()
                ds.save_as(path, write_like_original=False)
                total += 1
    with open(os.path.join(a.out, "labels.csv"), "w") as f:
        f.write("patient,label,age,sex,site\n" + "\n".join(rows) + "\n")
    with open(os.path.join(a.out, "phi.json"), "w") as f:
        json.dump({"strings": sorted(phi), "patients": patients, "slices": total}, f, indent=1)


if __name__ == "__main__":
    main()
