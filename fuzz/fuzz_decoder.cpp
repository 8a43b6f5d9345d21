// The decoder protocol (io/decoder_protocol.h): the bytes that cross the process boundary between
// covscreen and its decoder processes. The first byte picks the side: even = a request as the
// decoder reads it, odd = a reply as covscreen reads it (a compromised decoder could send
// anything). Malformed frames must give ProtocolError; what parses must re-encode to the same
// payload; a decoded reply's image must hold exactly rows x cols bytes.
#include <cstdint>
#include <string>

#include "covscreen/io/decoder_protocol.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace covscreen::decoder;
  if (size == 0) return 0;
  const std::string payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      const Request r = decode_request(payload);
      covscreen::fuzz::check(encode_request(r) == payload, "request does not re-encode to itself");
    } else {
      const Reply r = decode_reply(payload);
      if (r.ok) {
        covscreen::fuzz::check(r.image.gray.empty() || r.image.gray.type() == CV_8UC1, "reply image not gray uint8");
        covscreen::fuzz::check(encode_reply(r) == payload, "reply does not re-encode to itself");
      }
    }
  } catch (const ProtocolError&) {
  }
  // The frame header check: never a size over the limit.
  if (size >= 8) {
    try {
      const uint64_t n = frame_size(std::string(reinterpret_cast<const char*>(data), 8));
      covscreen::fuzz::check(n <= kMaxFrameBytes, "frame size over the limit accepted");
    } catch (const ProtocolError&) {
    }
  }
  return 0;
}
