#include "covscreen/dist/rendezvous.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "covscreen/core/error.h"

namespace covscreen::dist {
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, int fallback) {
  auto v = env(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    const int x = std::stoi(*v, &used);
    if (used != v->size()) throw std::invalid_argument(*v);
    return x;
  } catch (const std::exception&) {
    throw UsageError(std::string("environment variable ") + name + "='" + *v + "' is not an integer");
  }
}

}  // namespace

void Rendezvous::validate() const {
  if (world_size < 1) throw UsageError("distributed: world size must be >= 1, got " + std::to_string(world_size));
  if (rank < 0 || rank >= world_size)
    throw UsageError("distributed: rank " + std::to_string(rank) + " is outside [0, " + std::to_string(world_size) +
                     ")");
  if (local_rank < 0) throw UsageError("distributed: local rank must be >= 0");
  if (master_port < 1 || master_port > 65535)
    throw UsageError("distributed: master port " + std::to_string(master_port) + " is not a TCP port");
  if (master_addr.empty()) throw UsageError("distributed: master address is empty");
}

std::optional<Rendezvous> rendezvous_from_env() {
  if (!env("WORLD_SIZE")) return std::nullopt;
  Rendezvous r;
  r.world_size = env_int("WORLD_SIZE", 1);
  if (r.world_size > 1 && !env("RANK")) throw UsageError("distributed: WORLD_SIZE is set but RANK is not");
  r.rank = env_int("RANK", 0);
  r.local_rank = env_int("LOCAL_RANK", 0);
  r.master_addr = env("MASTER_ADDR").value_or(r.master_addr);
  r.master_port = env_int("MASTER_PORT", r.master_port);
  r.validate();
  return r;
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("distributed: cannot open a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw Error("distributed: cannot bind a socket on 127.0.0.1 to find a free port");
  }
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

}  // namespace covscreen::dist
