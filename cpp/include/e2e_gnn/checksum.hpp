// The model checksum (metadata key e2e_gnn.checksum): SHA-256 of an ONNX file's graph,
// operators and weights. An ONNX file is a serialized ModelProto whose field 7 holds the
// serialized GraphProto byte for byte: export hashes exactly these bytes
// (python/e2e_gnn/checksum.py), so verifying needs only the file's top-level protobuf fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace e2e_gnn {

/// SHA-256 (FIPS 180-4) of `data`, as 64 lowercase hex digits; with the CPU's SHA
/// extensions when it has them (x86-64 SHA-NI).
std::string sha256_hex(std::string_view data);
/// The same without CPU extensions (what sha256_hex does on other CPUs); for the tests.
std::string sha256_hex_portable(std::string_view data);

/// One field of a serialized protobuf message.
struct ProtoField {
  std::uint64_t number;
  int wire_type;             // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  std::string_view payload;  // the bytes of a length-delimited field, into the message
};

/// The fields of one serialized protobuf message, in file order. Never reads outside
/// `message`; throws std::invalid_argument "cannot load '<name>' as an ONNX model: ..."
/// for truncated input, a varint longer than 10 bytes, field number 0 or a wire type
/// other than 0, 1, 2 and 5 (ONNX uses no groups). `offset` (where `message` starts in
/// the file) only locates the error.
std::vector<ProtoField> proto_fields(std::string_view message, const std::string& name,
                                     std::size_t offset = 0);

struct ModelChecksums {
  std::string computed;  // SHA-256 of the model's graph field
  std::string stored;    // its e2e_gnn.checksum metadata, empty when it has none
};

/// Both checksums of a serialized ONNX model; throws std::invalid_argument naming `name`
/// when `model` is not one (malformed, no graph or more than one: ONNX Runtime would merge
/// them) or has more than one e2e_gnn.checksum entry.
ModelChecksums model_checksums(std::string_view model, const std::string& name);

/// Reads the model file and throws std::invalid_argument unless its graph hashes to its
/// e2e_gnn.checksum: a model changed after export, or one without a checksum, is refused.
void verify_model_checksum(const std::string& model_path);

}  // namespace e2e_gnn
