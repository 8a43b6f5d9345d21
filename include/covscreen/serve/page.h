#pragma once
// The web page served at GET /: one self-contained HTML document (inline CSS and JS, no
// external resources). Drag-and-drop or pick several PNG/JPEG/DICOM files; they go to
// POST /v1/screen?cam=1 in small multipart batches; a table shows per-class probabilities and
// the decision; clicking a row shows the CAM overlay; "Download CSV" saves the table. An
// optional bearer token field is sent as the Authorization header. A visible notice says the
// service is for research use and not a medical device.
// Element ids for scripted (browser) tests: #drop, #files, #token, #status, #results (table),
// #cam (img), #csv (button), #notice.
namespace covscreen {

const char* index_html();

}  // namespace covscreen
