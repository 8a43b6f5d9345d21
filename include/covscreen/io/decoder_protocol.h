#pragma once
// The bytes between covscreen and its decoder processes (io/decoder_pool.h): one request frame in,
// one reply frame out, on the decoder's stdin/stdout. Every frame is a u64 length, then that many
// bytes of payload; little-endian, versioned:
//   request: "CVDQ" u32 version u8 kind(0 path, 1 bytes) f64 window_center f64 window_width
//            u8 use_file_voi i64 max_pixels i64 max_file_bytes i32 frame u32 name_len name u64 data_len data
//            (data = the path for kind 0, the file's bytes for kind 1)
//   reply:   "CVDR" u32 version u8 ok; ok: u32 fmt_len format i32 bit_depth i32 channels i32 width
//            i32 height i32 frames
//            4 x (u32 len text: modality, body_part, image_type, series_description) f64 color_share i32 rows i32 cols
//            pixels (rows x cols gray uint8); not ok: u8 file_error u32 len message (FileError::problem, or another
//            error's text)
// The parsers take untrusted bytes (a decoder may be compromised; the protocol is fuzzed) and
// throw ProtocolError for anything malformed; they never read past the payload.
#include <cstdint>
#include <string>

#include "covscreen/core/error.h"
#include "covscreen/io/image_reader.h"

namespace covscreen::decoder {

inline constexpr uint32_t kProtocolVersion = 3;
inline constexpr uint64_t kMaxFrameBytes = uint64_t(1) << 31;  // 2 GiB: larger frames are refused

class ProtocolError : public Error {
 public:
  using Error::Error;
};

struct Request {
  bool is_path = true;
  std::string name;  // the file's name for messages
  std::string data;  // the path, or the bytes
  ReadOptions read;
};

struct Reply {
  bool ok = false;
  DecodedImage image;      // ok
  bool file_error = true;  // !ok: a FileError (the file's problem) or another failure
  std::string message;     // !ok
};

// Payloads (without the length prefix).
std::string encode_request(const Request& r);
std::string encode_reply(const Reply& r);
Request decode_request(const std::string& payload);  // throws ProtocolError
Reply decode_reply(const std::string& payload);      // throws ProtocolError

// The length prefix of a frame of `payload_size` bytes.
std::string frame_header(uint64_t payload_size);
// The payload size a frame header announces; throws ProtocolError over kMaxFrameBytes.
uint64_t frame_size(const std::string& header8);

// Blocking frame I/O on a pipe (the decoder's side; the pool reads with a deadline itself).
// read_frame: false at EOF before the first byte; ProtocolError when the stream ends mid-frame.
bool read_frame(int fd, std::string* payload);
bool write_frame(int fd, const std::string& payload);  // false when the other end is gone

// The problem a file gets when decoding it ran into the decoder's memory limit (std::bad_alloc).
inline constexpr const char* kOutOfMemoryProblem = "out of memory while decoding (over the decoder's memory limit)";

// The decoder's side of one request: decode as read_image / decode_image would, in this
// process, and describe the outcome as a reply (never throws for a bad file).
Reply serve_request(const Request& r);

}  // namespace covscreen::decoder
