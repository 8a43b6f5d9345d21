// De-identification of one DICOM file with GDCM (rules: include/covscreen/io/deidentify.h).
// gdcm::Anonymizer's basic profile needs an X.509 certificate (it encrypts the originals into
// EncryptedAttributesSequence) and draws random UIDs, so the rules are applied here directly:
// the output is deterministic for a given key and carries no encrypted copy of the PHI.
#include "covscreen/io/deidentify.h"

#include <gdcmAttribute.h>
#include <gdcmDict.h>
#include <gdcmDicts.h>
#include <gdcmGlobal.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#include <gdcmWriter.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "gdcm_element.h"

namespace covscreen {
namespace {

using io_detail::put_element;
using io_detail::set_padded_value;

constexpr const char* kDicomUidRoot = "1.2.840.10008.";  // UIDs defined by the standard: kept

void silence() {
  static std::once_flag once;
  std::call_once(once, [] {
    gdcm::Trace::DebugOff();
    gdcm::Trace::WarningOff();
    gdcm::Trace::ErrorOff();
  });
}

std::string vr_of(const gdcm::DataElement& de) {
  gdcm::VR vr = de.GetVR();
  if (vr == gdcm::VR::INVALID || vr == gdcm::VR::UN) {
    static const gdcm::Dicts& dicts = gdcm::Global::GetInstance().GetDicts();
    vr = dicts.GetDictEntry(de.GetTag()).GetVR();
  }
  if (vr & gdcm::VR::SQ) return "SQ";
  const char* s = gdcm::VR::GetVRString(vr);
  return s && std::string(s).size() == 2 ? s : "";
}

std::string raw_value(const gdcm::DataElement& de) {
  const gdcm::ByteValue* bv = de.GetByteValue();
  if (!bv || !bv->GetPointer()) return "";
  std::string s(bv->GetPointer(), bv->GetLength());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

std::string top_string(const gdcm::DataSet& ds, uint16_t g, uint16_t e) {
  const gdcm::Tag t(g, e);
  return ds.FindDataElement(t) ? raw_value(ds.GetDataElement(t)) : "";
}

std::string replace_uids(const std::string& value, const KeyedHasher& h) {
  std::string out, item;
  std::stringstream ss(value);
  bool first = true;
  while (std::getline(ss, item, '\\')) {
    while (!item.empty() && (item.back() == ' ' || item.back() == '\0')) item.pop_back();
    if (!first) out += '\\';
    first = false;
    out += item.empty() || item.rfind(kDicomUidRoot, 0) == 0 ? item : h.replace_uid(item);
  }
  return out;
}

struct Ctx {
  const KeyedHasher& hasher;
  const std::string& pseudonym;
  DeidReport rep;
};

void process(gdcm::DataSet& ds, Ctx& c) {
  const std::vector<gdcm::DataElement> elems(ds.Begin(), ds.End());
  for (gdcm::DataElement de : elems) {
    const gdcm::Tag tag = de.GetTag();
    const uint16_t g = tag.GetGroup(), e = tag.GetElement();
    if (g == 0x0002 || (g == 0x7FE0 && e == 0x0010)) continue;  // meta header rebuilt; pixel data kept
    const std::string vr = vr_of(de);
    switch (deid_action(g, e, vr)) {
      case DeidAction::kRemove:
        ds.Remove(tag);
        ++c.rep.removed;
        break;
      case DeidAction::kEmpty:
        de.Empty();
        ds.Replace(de);
        ++c.rep.emptied;
        break;
      case DeidAction::kDummy:
        set_padded_value(de, c.pseudonym, false);
        ds.Replace(de);
        ++c.rep.replaced;
        break;
      case DeidAction::kUid: {
        const std::string v = raw_value(de);
        if (vr != "UI" && vr != "") {  // a U rule on a non-UID value: empty it
          de.Empty();
        } else {
          set_padded_value(de, replace_uids(v, c.hasher), true);
        }
        ds.Replace(de);
        ++c.rep.uids;
        break;
      }
      case DeidAction::kKeep:
        if (vr == "SQ") {
          gdcm::SmartPointer<gdcm::SequenceOfItems> sq = de.GetValueAsSQ();
          if (!sq) {  // unparsable: nothing inside it can be checked
            ds.Remove(tag);
            ++c.rep.removed;
            break;
          }
          for (gdcm::SequenceOfItems::SizeType i = 1; i <= sq->GetNumberOfItems(); ++i)
            process(sq->GetItem(i).GetNestedDataSet(), c);
          sq->SetLengthToUndefined();
          de.SetValue(*sq);
          de.SetVLToUndefined();
          ds.Replace(de);
        }
        break;
    }
  }
}

// The file's bytes and a GDCM reader that has parsed them (from memory: GDCM's file reader
// refuses some files without a meta header that its stream reader accepts).
struct OpenDicom {
  std::istringstream stream;
  gdcm::Reader reader;
};

std::unique_ptr<OpenDicom> open_dicom(const std::string& path, bool header_only) {
  silence();
  auto d = std::make_unique<OpenDicom>();
  d->stream.str(covscreen::read_file(path));
  d->reader.SetStream(d->stream);
  bool ok = false;
  try {
    ok = header_only ? d->reader.ReadUpToTag(gdcm::Tag(0x7FE0, 0x0010)) : d->reader.Read();
  } catch (const std::exception& e) {
    throw FileError(path, std::string("not a readable DICOM file (") + e.what() + ")");
  }
  if (!ok) throw FileError(path, "not a readable DICOM file");
  return d;
}

}  // namespace

DicomIdentity read_dicom_identity(const std::string& path) {
  const std::unique_ptr<OpenDicom> d = open_dicom(path, true);
  const gdcm::Reader& r = d->reader;
  const gdcm::DataSet& ds = r.GetFile().GetDataSet();
  DicomIdentity id;
  id.patient_id = top_string(ds, 0x0010, 0x0020);
  id.study_uid = top_string(ds, 0x0020, 0x000D);
  id.series_uid = top_string(ds, 0x0020, 0x000E);
  id.sop_uid = top_string(ds, 0x0008, 0x0018);
  id.modality = top_string(ds, 0x0008, 0x0060);
  id.patient_age = top_string(ds, 0x0010, 0x1010);
  id.patient_sex = top_string(ds, 0x0010, 0x0040);
  id.birth_date = top_string(ds, 0x0010, 0x0030);
  id.study_date = top_string(ds, 0x0008, 0x0020);
  const std::string inst = top_string(ds, 0x0020, 0x0013);
  char* end = nullptr;
  if (!inst.empty()) {
    const long v = std::strtol(inst.c_str(), &end, 10);
    if (end && *end == '\0') id.has_instance_number = true, id.instance_number = v;
  }
  std::stringstream pos(top_string(ds, 0x0020, 0x0032));
  std::string item;
  std::vector<double> xyz;
  while (std::getline(pos, item, '\\')) xyz.push_back(std::strtod(item.c_str(), nullptr));
  if (xyz.size() == 3 && std::isfinite(xyz[2])) id.has_position = true, id.position_z = xyz[2];
  auto us = [&](uint16_t e) -> int {
    const gdcm::Tag t(0x0028, e);
    if (!ds.FindDataElement(t)) return 0;
    const gdcm::ByteValue* bv = ds.GetDataElement(t).GetByteValue();
    if (!bv || bv->GetLength() < 2) return 0;
    const auto* p = reinterpret_cast<const uint8_t*>(bv->GetPointer());
    const bool big = r.GetFile().GetHeader().GetDataSetTransferSyntax() == gdcm::TransferSyntax::ExplicitVRBigEndian;
    return big ? (p[0] << 8 | p[1]) : (p[1] << 8 | p[0]);
  };
  id.rows = us(0x0010);
  id.cols = us(0x0011);
  id.bits_stored = us(0x0101);
  id.samples_per_pixel = std::max(1, us(0x0002));
  id.burned_in_annotation = top_string(ds, 0x0028, 0x0301) == "YES";
  return id;
}

int age_years(const DicomIdentity& id) {
  const std::string& a = id.patient_age;
  if (a.size() == 4 && std::isdigit((unsigned char)a[0]) && std::isdigit((unsigned char)a[1]) &&
      std::isdigit((unsigned char)a[2])) {
    const int n = std::stoi(a.substr(0, 3));
    switch (a[3]) {
      case 'Y':
        return n;
      case 'M':
        return n / 12;
      case 'W':
        return n / 52;
      case 'D':
        return n / 365;
      default:
        break;
    }
  }
  auto ymd = [](const std::string& d, int* y, int* m, int* dd) {
    if (d.size() != 8 || d.find_first_not_of("0123456789") != std::string::npos) return false;
    *y = std::stoi(d.substr(0, 4)), *m = std::stoi(d.substr(4, 2)), *dd = std::stoi(d.substr(6, 2));
    return true;
  };
  int by, bm, bd, sy, sm, sd;
  if (!ymd(id.birth_date, &by, &bm, &bd) || !ymd(id.study_date, &sy, &sm, &sd)) return -1;
  const int age = sy - by - ((sm < bm || (sm == bm && sd < bd)) ? 1 : 0);
  return age >= 0 && age < 150 ? age : -1;
}

std::string deidentify_dicom(const std::string& path, const KeyedHasher& hasher, const std::string& pseudonym,
                             DeidReport* report) {
  const std::unique_ptr<OpenDicom> d = open_dicom(path, false);
  gdcm::File& file = d->reader.GetFile();
  gdcm::DataSet& ds = file.GetDataSet();
  Ctx c{hasher, pseudonym, {}};
  if (!ds.FindDataElement(gdcm::Tag(0x0008, 0x0018))) {
    // GDCM would invent a random SOP Instance UID; derive one from the file's bytes instead.
    const std::string bytes = covscreen::read_file(path);
    put_element(ds, 0x0008, 0x0018, gdcm::VR::UI, hasher.replace_uid("file-sha256:" + to_hex(sha256(bytes))));
  }
  process(ds, c);
  put_element(ds, 0x0012, 0x0062, gdcm::VR::CS, "YES");
  put_element(ds, 0x0012, 0x0063, gdcm::VR::LO, kDeidentificationMethod);
  put_element(ds, 0x0028, 0x0303, gdcm::VR::CS, "REMOVED");
  // A fresh meta header: only the transfer syntax survives; the writer fills in the rest
  // (SOP class/instance from the data set, GDCM's implementation UID and version).
  gdcm::FileMetaInformation& meta = file.GetHeader();
  const gdcm::TransferSyntax ts = meta.GetDataSetTransferSyntax();
  meta.Clear();
  meta.SetDataSetTransferSyntax(ts);
  std::ostringstream out;
  gdcm::Writer w;
  w.SetFile(file);
  w.SetStream(out);
  if (!w.Write()) throw FileError(path, "the de-identified file could not be encoded");
  if (report) *report = c.rep;
  return out.str();
}

}  // namespace covscreen
