#pragma once
// Small pieces of the HTTP layer, kept free of httplib so they can be tested alone.
#include <string>

#include "covscreen/core/strings.h"

namespace covscreen::http {

// Compares in time that depends only on the lengths' maximum, not on where the strings differ.
bool constant_time_equal(const std::string& a, const std::string& b);

// True when `authorization` is "Bearer <token>" (scheme case-insensitive) with the right token.
bool bearer_ok(const std::string& authorization, const std::string& token);

using covscreen::base64_encode;  // core/strings.h

// The HTTP status for a FileError problem from io/image_reader.h:
//   empty -> 400; file/image too large -> 413; not an image / unsupported format -> 415;
//   anything else (truncated, corrupt, undecodable) -> 422.
int status_for_decode_problem(const std::string& problem);

// The media type without parameters, lower case: "Image/PNG; x=y" -> "image/png".
std::string media_type(const std::string& content_type);

// True for the raw upload types POST /v1/screen accepts (image/*, application/dicom,
// application/octet-stream, or none).
bool accepted_raw_type(const std::string& media);

// Reason phrase for the JSON error body of a status without one ("not found", ...).
std::string reason(int status);

}  // namespace covscreen::http
