// PS3.15 Table E.1-1, Basic Profile column, transcribed (attributes of CT/CR/DX images and
// their studies; where the table gives a choice such as X/Z, the stricter action is used, and
// sequences the profile cleans are removed). Generic rules for attributes not listed are in
// deid_action(); see include/covscreen/io/deidentify.h.
#include <algorithm>
#include <string>

#include "covscreen/io/deidentify.h"

namespace covscreen {
namespace {

constexpr DeidAction X = DeidAction::kRemove, Z = DeidAction::kEmpty, D = DeidAction::kDummy, U = DeidAction::kUid;

std::vector<DeidRule> make_rules() {
  std::vector<DeidRule> r = {
      {0x0008, 0x0014, U, "InstanceCreatorUID"},
      {0x0008, 0x0018, U, "SOPInstanceUID"},
      {0x0008, 0x0020, Z, "StudyDate"},
      {0x0008, 0x0021, X, "SeriesDate"},
      {0x0008, 0x0022, X, "AcquisitionDate"},
      {0x0008, 0x0023, Z, "ContentDate"},
      {0x0008, 0x0024, X, "OverlayDate"},
      {0x0008, 0x0025, X, "CurveDate"},
      {0x0008, 0x002A, X, "AcquisitionDateTime"},
      {0x0008, 0x0030, Z, "StudyTime"},
      {0x0008, 0x0031, X, "SeriesTime"},
      {0x0008, 0x0032, X, "AcquisitionTime"},
      {0x0008, 0x0033, Z, "ContentTime"},
      {0x0008, 0x0050, Z, "AccessionNumber"},
      {0x0008, 0x0080, X, "InstitutionName"},
      {0x0008, 0x0081, X, "InstitutionAddress"},
      {0x0008, 0x0082, X, "InstitutionCodeSequence"},
      {0x0008, 0x0090, Z, "ReferringPhysicianName"},
      {0x0008, 0x0092, X, "ReferringPhysicianAddress"},
      {0x0008, 0x0094, X, "ReferringPhysicianTelephoneNumbers"},
      {0x0008, 0x0096, X, "ReferringPhysicianIdentificationSequence"},
      {0x0008, 0x0201, X, "TimezoneOffsetFromUTC"},
      {0x0008, 0x1010, X, "StationName"},
      {0x0008, 0x1030, X, "StudyDescription"},
      {0x0008, 0x103E, X, "SeriesDescription"},
      {0x0008, 0x1040, X, "InstitutionalDepartmentName"},
      {0x0008, 0x1048, X, "PhysiciansOfRecord"},
      {0x0008, 0x1049, X, "PhysiciansOfRecordIdentificationSequence"},
      {0x0008, 0x1050, X, "PerformingPhysicianName"},
      {0x0008, 0x1052, X, "PerformingPhysicianIdentificationSequence"},
      {0x0008, 0x1060, X, "NameOfPhysiciansReadingStudy"},
      {0x0008, 0x1062, X, "PhysiciansReadingStudyIdentificationSequence"},
      {0x0008, 0x1070, X, "OperatorsName"},
      {0x0008, 0x1072, X, "OperatorIdentificationSequence"},
      {0x0008, 0x1080, X, "AdmittingDiagnosesDescription"},
      {0x0008, 0x1084, X, "AdmittingDiagnosesCodeSequence"},
      {0x0008, 0x1110, X, "ReferencedStudySequence"},
      {0x0008, 0x1111, X, "ReferencedPerformedProcedureStepSequence"},
      {0x0008, 0x1120, X, "ReferencedPatientSequence"},
      {0x0008, 0x1155, U, "ReferencedSOPInstanceUID"},
      {0x0008, 0x1195, U, "TransactionUID"},
      {0x0008, 0x2111, X, "DerivationDescription"},
      {0x0008, 0x4000, X, "IdentifyingComments"},
      {0x0008, 0x9123, U, "CreatorVersionUID"},
      {0x0010, 0x0010, D, "PatientName"},
      {0x0010, 0x0020, D, "PatientID"},
      {0x0010, 0x0021, X, "IssuerOfPatientID"},
      {0x0010, 0x0030, Z, "PatientBirthDate"},
      {0x0010, 0x0032, X, "PatientBirthTime"},
      {0x0010, 0x0040, Z, "PatientSex"},
      {0x0010, 0x0050, X, "PatientInsurancePlanCodeSequence"},
      {0x0010, 0x1000, X, "OtherPatientIDs"},
      {0x0010, 0x1001, X, "OtherPatientNames"},
      {0x0010, 0x1002, X, "OtherPatientIDsSequence"},
      {0x0010, 0x1005, X, "PatientBirthName"},
      {0x0010, 0x1010, X, "PatientAge"},
      {0x0010, 0x1020, X, "PatientSize"},
      {0x0010, 0x1030, X, "PatientWeight"},
      {0x0010, 0x1040, X, "PatientAddress"},
      {0x0010, 0x1050, X, "InsurancePlanIdentification"},
      {0x0010, 0x1060, X, "PatientMotherBirthName"},
      {0x0010, 0x1080, X, "MilitaryRank"},
      {0x0010, 0x1081, X, "BranchOfService"},
      {0x0010, 0x1090, X, "MedicalRecordLocator"},
      {0x0010, 0x2000, X, "MedicalAlerts"},
      {0x0010, 0x2110, X, "Allergies"},
      {0x0010, 0x2150, X, "CountryOfResidence"},
      {0x0010, 0x2152, X, "RegionOfResidence"},
      {0x0010, 0x2154, X, "PatientTelephoneNumbers"},
      {0x0010, 0x2160, X, "EthnicGroup"},
      {0x0010, 0x2180, X, "Occupation"},
      {0x0010, 0x21A0, X, "SmokingStatus"},
      {0x0010, 0x21B0, X, "AdditionalPatientHistory"},
      {0x0010, 0x21C0, X, "PregnancyStatus"},
      {0x0010, 0x21D0, X, "LastMenstrualDate"},
      {0x0010, 0x21F0, X, "PatientReligiousPreference"},
      {0x0010, 0x4000, X, "PatientComments"},
      {0x0018, 0x1000, X, "DeviceSerialNumber"},
      {0x0018, 0x1002, U, "DeviceUID"},
      {0x0018, 0x1004, X, "PlateID"},
      {0x0018, 0x1005, X, "GeneratorID"},
      {0x0018, 0x1007, X, "CassetteID"},
      {0x0018, 0x1008, X, "GantryID"},
      {0x0018, 0x1030, X, "ProtocolName"},
      {0x0018, 0x1400, X, "AcquisitionDeviceProcessingDescription"},
      {0x0018, 0x4000, X, "AcquisitionComments"},
      {0x0018, 0x700A, X, "DetectorID"},
      {0x0018, 0x9424, X, "AcquisitionProtocolDescription"},
      {0x0018, 0xA003, X, "ContributionDescription"},
      {0x0020, 0x000D, U, "StudyInstanceUID"},
      {0x0020, 0x000E, U, "SeriesInstanceUID"},
      {0x0020, 0x0010, Z, "StudyID"},
      {0x0020, 0x0052, U, "FrameOfReferenceUID"},
      {0x0020, 0x0200, U, "SynchronizationFrameOfReferenceUID"},
      {0x0020, 0x3401, X, "ModifyingDeviceID"},
      {0x0020, 0x3404, X, "ModifyingDeviceManufacturer"},
      {0x0020, 0x3406, X, "ModifiedImageDescription"},
      {0x0020, 0x4000, X, "ImageComments"},
      {0x0020, 0x9158, X, "FrameComments"},
      {0x0020, 0x9161, U, "ConcatenationUID"},
      {0x0020, 0x9164, U, "DimensionOrganizationUID"},
      {0x0028, 0x1199, U, "PaletteColorLookupTableUID"},
      {0x0028, 0x1214, U, "LargePaletteColorLookupTableUID"},
      {0x0028, 0x4000, X, "ImagePresentationComments"},
      {0x0032, 0x0012, X, "StudyIDIssuer"},
      {0x0032, 0x1020, X, "ScheduledStudyLocation"},
      {0x0032, 0x1021, X, "ScheduledStudyLocationAETitle"},
      {0x0032, 0x1030, X, "ReasonForStudy"},
      {0x0032, 0x1032, X, "RequestingPhysician"},
      {0x0032, 0x1033, X, "RequestingService"},
      {0x0032, 0x1060, X, "RequestedProcedureDescription"},
      {0x0032, 0x1070, X, "RequestedContrastAgent"},
      {0x0032, 0x4000, X, "StudyComments"},
      {0x0038, 0x0010, X, "AdmissionID"},
      {0x0038, 0x0011, X, "IssuerOfAdmissionID"},
      {0x0038, 0x0300, X, "CurrentPatientLocation"},
      {0x0038, 0x0400, X, "PatientInstitutionResidence"},
      {0x0038, 0x0500, X, "PatientState"},
      {0x0038, 0x4000, X, "VisitComments"},
      {0x0040, 0x0001, X, "ScheduledStationAETitle"},
      {0x0040, 0x0002, X, "ScheduledProcedureStepStartDate"},
      {0x0040, 0x0006, X, "ScheduledPerformingPhysicianName"},
      {0x0040, 0x0007, X, "ScheduledProcedureStepDescription"},
      {0x0040, 0x000B, X, "ScheduledPerformingPhysicianIdentificationSequence"},
      {0x0040, 0x0010, X, "ScheduledStationName"},
      {0x0040, 0x0011, X, "ScheduledProcedureStepLocation"},
      {0x0040, 0x0241, X, "PerformedStationAETitle"},
      {0x0040, 0x0242, X, "PerformedStationName"},
      {0x0040, 0x0243, X, "PerformedLocation"},
      {0x0040, 0x0244, X, "PerformedProcedureStepStartDate"},
      {0x0040, 0x0253, X, "PerformedProcedureStepID"},
      {0x0040, 0x0254, X, "PerformedProcedureStepDescription"},
      {0x0040, 0x0275, X, "RequestAttributesSequence"},
      {0x0040, 0x0280, X, "CommentsOnThePerformedProcedureStep"},
      {0x0040, 0x1001, X, "RequestedProcedureID"},
      {0x0040, 0x1004, X, "PatientTransportArrangements"},
      {0x0040, 0x1005, X, "RequestedProcedureLocation"},
      {0x0040, 0x1010, X, "NamesOfIntendedRecipientsOfResults"},
      {0x0040, 0x1400, X, "RequestedProcedureComments"},
      {0x0040, 0x2001, X, "ReasonForTheImagingServiceRequest"},
      {0x0040, 0x2016, X, "PlacerOrderNumberImagingServiceRequest"},
      {0x0040, 0x2017, X, "FillerOrderNumberImagingServiceRequest"},
      {0x0040, 0x2400, X, "ImagingServiceRequestComments"},
      {0x0040, 0x3001, X, "ConfidentialityConstraintOnPatientDataDescription"},
      {0x0040, 0xA124, U, "UID"},
      {0x0040, 0xA730, X, "ContentSequence"},
      {0x0040, 0xDB0C, U, "TemplateExtensionOrganizationUID"},
      {0x0040, 0xDB0D, U, "TemplateExtensionCreatorUID"},
      {0x0088, 0x0140, U, "StorageMediaFileSetUID"},
      {0x0400, 0x0561, X, "OriginalAttributesSequence"},
      {0x3006, 0x0024, U, "ReferencedFrameOfReferenceUID"},
      {0x3006, 0x00C2, U, "RelatedFrameOfReferenceUID"},
      {0x4000, 0x0010, X, "Arbitrary"},
      {0x4000, 0x4000, X, "TextComments"},
      {0x4008, 0x0114, X, "PhysicianApprovingInterpretation"},
      {0x4008, 0x0119, X, "DistributionName"},
      {0x4008, 0x011A, X, "DistributionAddress"},
      {0x4008, 0x0202, X, "InterpretationIDIssuer"},
      {0x4008, 0x4000, X, "ResultsComments"},
      {0xFFFA, 0xFFFA, X, "DigitalSignaturesSequence"},
      {0xFFFC, 0xFFFC, X, "DataSetTrailingPadding"},
  };
  std::sort(r.begin(), r.end(), [](const DeidRule& a, const DeidRule& b) {
    return (uint32_t(a.group) << 16 | a.element) < (uint32_t(b.group) << 16 | b.element);
  });
  return r;
}

}  // namespace

const std::vector<DeidRule>& basic_profile_rules() {
  static const std::vector<DeidRule> rules = make_rules();
  return rules;
}

DeidAction deid_action(uint16_t group, uint16_t element, const std::string& vr) {
  const auto& rules = basic_profile_rules();
  const uint32_t key = uint32_t(group) << 16 | element;
  const auto it = std::lower_bound(rules.begin(), rules.end(), key, [](const DeidRule& r, uint32_t k) {
    return (uint32_t(r.group) << 16 | r.element) < k;
  });
  if (it != rules.end() && it->group == group && it->element == element) return it->action;
  if (group & 1) return DeidAction::kRemove;                   // private
  if ((group & 0xFF00) == 0x5000) return DeidAction::kRemove;  // curves
  if ((group & 0xFF00) == 0x6000 && (element == 0x3000 || element == 0x4000)) return DeidAction::kRemove;
  if (vr == "PN") return DeidAction::kEmpty;
  if (vr == "DA" || vr == "DT" || vr == "TM") return DeidAction::kRemove;
  if (vr == "UI" && group != 0x0002) return DeidAction::kUid;  // DICOM-defined UIDs are kept by the caller
  return DeidAction::kKeep;
}

}  // namespace covscreen
