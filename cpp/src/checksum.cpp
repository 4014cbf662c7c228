#include "e2e_gnn/checksum.hpp"

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "e2e_gnn/model_spec.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define E2E_GNN_SHA_NI 1
#endif

namespace e2e_gnn {
namespace {

constexpr std::array<std::uint32_t, 64> kRound = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

constexpr std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

using State = std::array<std::uint32_t, 8>;

void compress_portable(State& state, const unsigned char* blocks, std::size_t count) {
  for (; count > 0; --count, blocks += 64) {
    std::array<std::uint32_t, 64> w{};
    for (int i = 0; i < 16; ++i) {
      w[i] = static_cast<std::uint32_t>(blocks[4 * i]) << 24 |
             static_cast<std::uint32_t>(blocks[4 * i + 1]) << 16 |
             static_cast<std::uint32_t>(blocks[4 * i + 2]) << 8 | blocks[4 * i + 3];
    }
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto [a, b, c, d, e, f, g, h] = state;
    for (int i = 0; i < 64; ++i) {
      std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                         kRound[i] + w[i];
      std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    const State add = {a, b, c, d, e, f, g, h};
    for (int i = 0; i < 8; ++i) state[i] += add[i];
  }
}

#ifdef E2E_GNN_SHA_NI
// The same with the x86 SHA extensions (Intel's SHA-NI, AMD since Zen): about 4x faster, which
// is most of the verification's cost on large models. The state lives as ABEF and CDGH.
__attribute__((target("sha,sse4.1"))) void compress_sha_ni(State& state,
                                                           const unsigned char* blocks,
                                                           std::size_t count) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i cdab = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<__m128i*>(&state[0])), 0xB1);
  __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<__m128i*>(&state[4])), 0x1B);
  __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
  __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
  for (; count > 0; --count, blocks += 64) {
    const __m128i abef_start = abef, cdgh_start = cdgh;
    __m128i w[4];  // message words 4j..4j+3 of the group j being processed, j mod 4
    for (int j = 0; j < 4; ++j) {
      w[j] = _mm_shuffle_epi8(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + 16 * j)), byte_swap);
    }
    for (int j = 0; j < 16; ++j) {
      if (j >= 4) {  // from groups j-4 (w[j%4]), j-3, j-2 and j-1
        __m128i next = _mm_sha256msg1_epu32(w[j % 4], w[(j + 1) % 4]);
        next = _mm_add_epi32(next, _mm_alignr_epi8(w[(j + 3) % 4], w[(j + 2) % 4], 4));
        w[j % 4] = _mm_sha256msg2_epu32(next, w[(j + 3) % 4]);
      }
      __m128i message = _mm_add_epi32(
          w[j % 4], _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kRound[4 * j])));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, message);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(message, 0x0E));
    }
    abef = _mm_add_epi32(abef, abef_start);
    cdgh = _mm_add_epi32(cdgh, cdgh_start);
  }
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), _mm_alignr_epi8(dchg, feba, 8));
}
#endif

using Compress = void (*)(State&, const unsigned char*, std::size_t);

std::string sha256_with(Compress compress, std::string_view data) {
  State state = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t full = data.size() / 64;
  compress(state, bytes, full);
  // The tail, a 0x80 byte, zeros and the bit length (big-endian): one or two blocks.
  std::array<unsigned char, 128> tail{};
  const std::size_t rest = data.size() - 64 * full;
  if (rest > 0) std::memcpy(tail.data(), bytes + 64 * full, rest);
  tail[rest] = 0x80;
  const std::size_t tail_size = rest < 56 ? 64 : 128;
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  for (int i = 0; i < 8; ++i) {
    tail[tail_size - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  }
  compress(state, tail.data(), tail_size / 64);

  static const char* const hex = "0123456789abcdef";
  std::string digest;
  digest.reserve(64);
  for (std::uint32_t word : state) {
    for (int shift = 28; shift >= 0; shift -= 4) digest.push_back(hex[(word >> shift) & 0xf]);
  }
  return digest;
}

[[noreturn]] void malformed(const std::string& name, const std::string& why) {
  throw std::invalid_argument("cannot load '" + name + "' as an ONNX model: " + why);
}

// Reads the varint at `pos` of `data`, advancing `pos`; bounds-checked.
std::uint64_t read_varint(std::string_view data, std::size_t& pos, const std::string& name,
                          std::size_t offset) {
  const std::size_t start = pos;
  std::uint64_t value = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos >= data.size()) {
      malformed(name, "truncated varint at byte " + std::to_string(offset + start));
    }
    const auto byte = static_cast<unsigned char>(data[pos++]);
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) return value;
  }
  malformed(name, "varint longer than 10 bytes at byte " + std::to_string(offset + start));
}

constexpr std::uint64_t kGraphField = 7;     // ModelProto.graph
constexpr std::uint64_t kMetadataField = 14;  // ModelProto.metadata_props
constexpr std::uint64_t kKeyField = 1;        // StringStringEntryProto.key
constexpr std::uint64_t kValueField = 2;      // StringStringEntryProto.value

}  // namespace

std::string sha256_hex(std::string_view data) {
#ifdef E2E_GNN_SHA_NI
  static const bool sha_ni = __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
  if (sha_ni) return sha256_with(compress_sha_ni, data);
#endif
  return sha256_with(compress_portable, data);
}

std::string sha256_hex_portable(std::string_view data) {
  return sha256_with(compress_portable, data);
}

std::vector<ProtoField> proto_fields(std::string_view message, const std::string& name,
                                     std::size_t offset) {
  std::vector<ProtoField> fields;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const std::size_t start = pos;
    const std::uint64_t key = read_varint(message, pos, name, offset);
    ProtoField field{key >> 3, static_cast<int>(key & 7), {}};
    const auto where = " at byte " + std::to_string(offset + start);
    if (field.number == 0) malformed(name, "field number 0" + where);
    std::uint64_t size = 0;  // of what follows the key, checked against what is left
    switch (field.wire_type) {
      case 0: read_varint(message, pos, name, offset); break;
      case 1: size = 8; break;
      case 5: size = 4; break;
      case 2: size = read_varint(message, pos, name, offset); break;
      default:
        malformed(name, "field " + std::to_string(field.number) + " has wire type " +
                            std::to_string(field.wire_type) + where);
    }
    if (size > message.size() - pos) {
      malformed(name, "field " + std::to_string(field.number) + where +
                          " runs past its message's end " +
                          std::to_string(offset + message.size()));
    }
    if (field.wire_type == 2) field.payload = message.substr(pos, size);
    pos += size;
    fields.push_back(field);
  }
  return fields;
}

ModelChecksums model_checksums(std::string_view model, const std::string& name) {
  const auto fields = proto_fields(model, name);
  const ProtoField* graph = nullptr;
  std::size_t graphs = 0;
  std::vector<std::string> stored;
  for (const auto& field : fields) {
    if (field.number == kGraphField) {
      graph = &field;
      ++graphs;
    } else if (field.number == kMetadataField) {
      if (field.wire_type != 2) malformed(name, "metadata_props is not length-delimited");
      std::string_view key, value;  // protobuf semantics: the last occurrence wins
      const auto at = static_cast<std::size_t>(field.payload.data() - model.data());
      for (const auto& part : proto_fields(field.payload, name, at)) {
        if (part.number == kKeyField) key = part.payload;
        if (part.number == kValueField) value = part.payload;
      }
      if (key == kChecksumKey) stored.emplace_back(value);
    }
  }
  if (graphs != 1) {
    malformed(name, "it has " + std::to_string(graphs) +
                        " graph fields (ModelProto field 7), expected one");
  }
  if (graph->wire_type != 2) {
    malformed(name, "its graph field (ModelProto field 7) is not length-delimited");
  }
  if (stored.size() > 1) {
    throw std::invalid_argument("model '" + name + "' has " + std::to_string(stored.size()) +
                                " '" + kChecksumKey + "' metadata entries, expected one");
  }
  return {sha256_hex(graph->payload), stored.empty() ? std::string() : stored.front()};
}

void verify_model_checksum(const std::string& model_path) {
  std::ifstream file(model_path, std::ios::binary);
  std::error_code error;
  const auto size = std::filesystem::file_size(model_path, error);
  if (!file || error) {
    throw std::invalid_argument("cannot open model file '" + model_path + "'");
  }
  // Not a std::string: filling hundreds of MB with zeros first costs as much as reading them.
  const std::unique_ptr<char[]> bytes(new char[size]);
  if (!file.read(bytes.get(), static_cast<std::streamsize>(size))) {
    throw std::invalid_argument("cannot read model file '" + model_path + "'");
  }
  const auto checksums = model_checksums(std::string_view(bytes.get(), size), model_path);
  if (checksums.stored.empty()) {
    throw std::invalid_argument(
        "model '" + model_path + "' has no '" + kChecksumKey +
        "' metadata, so its weights cannot be verified: export it with e2e-gnn export-onnx "
        "(or set verify_checksum to false in the SessionOptions to load it unverified)");
  }
  if (checksums.computed != checksums.stored) {
    throw std::invalid_argument(
        "model '" + model_path + "' was changed after export: its graph and weights hash to " +
        checksums.computed + ", its '" + kChecksumKey + "' says " + checksums.stored +
        "; re-export it (or set verify_checksum to false in the SessionOptions to skip this "
        "check, e.g. for very large models)");
  }
}

}  // namespace e2e_gnn
