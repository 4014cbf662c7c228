#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include "e2e_gnn/checksum.hpp"
#include "e2e_gnn/session.hpp"
#include "test_data.hpp"

using namespace e2e_gnn;
using testing::error_of;
using namespace std::literals;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  REQUIRE(file);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// A file in a directory of this test process, removed with it.
struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("e2e_gnn_test_checksum_" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& bytes) const {
    auto file = (path / name).string();
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }
};

// model_checksums on a heap copy of exactly `bytes.size()` bytes, so that AddressSanitizer
// catches any read past the end. Returns the error message, or "ok".
std::string checksums_of_copy(std::string_view bytes) {
  auto copy = std::make_unique<char[]>(bytes.size() + (bytes.empty() ? 1 : 0));
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  try {
    model_checksums(std::string_view(copy.get(), bytes.size()), "fuzz.onnx");
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "ok";
}

// Where the largest weight of the model starts (GraphProto.initializer = 5,
// TensorProto.raw_data = 9), as an offset into `model`.
std::size_t largest_weight(const std::string& model) {
  std::string_view largest;
  for (const auto& field : proto_fields(model, "tagger.onnx")) {
    if (field.number != 7) continue;
    for (const auto& initializer : proto_fields(field.payload, "tagger.onnx")) {
      if (initializer.number != 5) continue;
      for (const auto& part : proto_fields(initializer.payload, "tagger.onnx")) {
        if (part.number == 9 && part.payload.size() > largest.size()) largest = part.payload;
      }
    }
  }
  REQUIRE(largest.size() >= 4);
  return static_cast<std::size_t>(largest.data() - model.data());
}

}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180-4 vectors and hashlib on block boundaries") {
  for (auto sha256 : {sha256_hex, sha256_hex_portable}) {
    CHECK(sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // Python's hashlib.sha256(b"a" * n) around the one/two padding block boundary.
    const std::pair<std::size_t, const char*> boundaries[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    for (const auto& [size, digest] : boundaries) {
      CAPTURE(size);
      CHECK(sha256(std::string(size, 'a')) == digest);
    }
  }
  // The CPU-extension path (when this CPU has one) and the portable one on random data.
  std::mt19937 rng(3);
  std::string data;
  for (int size = 0; size < 700; ++size) {
    CHECK(sha256_hex(data) == sha256_hex_portable(data));
    data.push_back(static_cast<char>(rng()));
  }
}

TEST_CASE("an exported model verifies: the graph field hashes to what export wrote") {
  const auto path = testing::data_path("tagger.onnx");
  const auto checksums = model_checksums(read_file(path), path);
  CHECK(checksums.stored.size() == 64);
  CHECK(checksums.computed == checksums.stored);  // stored: Python onnx's own serialization
  CHECK_NOTHROW(verify_model_checksum(path));
  Session session(path);
  CHECK(session.metadata().at("e2e_gnn.checksum") == checksums.stored);
}

TEST_CASE("a model whose weights changed after export is refused unless verification is off") {
  TempDir dir;
  auto bytes = read_file(testing::data_path("tagger.onnx"));
  const auto stored = model_checksums(bytes, "tagger.onnx").stored;
  bytes[largest_weight(bytes)] ^= 1;  // the last mantissa bit of one weight
  const auto altered = dir.write("altered.onnx", bytes);
  CHECK(model_checksums(bytes, altered).stored == stored);  // metadata kept as exported

  const auto message = error_of([&] { Session s(altered); });
  CHECK(message.find("model '" + altered + "' was changed after export") != std::string::npos);
  CHECK(message.find("says " + stored + "; re-export it") != std::string::npos);
  CHECK(message.find("verify_checksum") != std::string::npos);

  SessionOptions unchecked;
  unchecked.verify_checksum = false;
  Session session(altered, unchecked);
  CHECK(session.inputs().size() == 3);
}

TEST_CASE("a model without a checksum, or with two, is refused") {
  TempDir dir;
  const auto original = read_file(testing::data_path("tagger.onnx"));
  auto renamed = original;
  const std::string key = "e2e_gnn.checksum";
  const auto at = renamed.find(key);
  REQUIRE(at != std::string::npos);
  renamed[at + key.size() - 1] = 'M';  // same length: the protobuf stays valid
  const auto without = dir.write("without.onnx", renamed);
  CHECK(model_checksums(renamed, without).stored.empty());
  CHECK(error_of([&] { Session s(without); }).find("has no 'e2e_gnn.checksum' metadata") !=
        std::string::npos);
  SessionOptions unchecked;
  unchecked.verify_checksum = false;
  CHECK_NOTHROW(Session(without, unchecked));

  // metadata_props (field 14) entry {key: e2e_gnn.checksum, value: "0"}, appended
  auto twice = original + "\x72\x15\x0a\x10" + key + "\x12\x01" + "0";
  CHECK(error_of([&] { model_checksums(twice, "twice.onnx"); }) ==
        "model 'twice.onnx' has 2 'e2e_gnn.checksum' metadata entries, expected one");
}

TEST_CASE("files that are not one ONNX model give one clear error") {
  auto error = [](std::string_view bytes) { return checksums_of_copy(bytes); };
  const std::string prefix = "cannot load 'fuzz.onnx' as an ONNX model: ";
  CHECK(error(""sv) == prefix + "it has 0 graph fields (ModelProto field 7), expected one");
  CHECK(error("\x3a\x00\x3a\x00"sv) ==
        prefix + "it has 2 graph fields (ModelProto field 7), expected one");
  CHECK(error("\x38\x01"sv) ==
        prefix + "its graph field (ModelProto field 7) is not length-delimited");
  CHECK(error("\x08\x07 not a model"sv) == prefix + "field 13 has wire type 7 at byte 4");
  CHECK(error("\x3a\x05"
              "abc"sv) == prefix + "field 7 at byte 0 runs past its message's end 5");
  CHECK(error("\x08\xff\xff"sv) == prefix + "truncated varint at byte 1");
  CHECK(error("\x08" + std::string(11, '\xff') + "\x01") ==
        prefix + "varint longer than 10 bytes at byte 1");
  CHECK(error("\x00\x01"sv) == prefix + "field number 0 at byte 0");
  CHECK(error_of([] { Session s(testing::data_path("corrupt.onnx")); })
            .find("as an ONNX model") != std::string::npos);
}

TEST_CASE("truncated, mutated and random files never read out of bounds") {
  const auto model = read_file(testing::data_path("tagger.onnx"));
  const auto graph_end = [&] {
    for (const auto& field : proto_fields(model, "tagger.onnx")) {
      if (field.number == 7) return field.payload.data() + field.payload.size() - model.data();
    }
    return std::ptrdiff_t{0};
  }();
  // Every prefix that cuts a top-level key or length, and a sample of those that cut the
  // graph's payload: an error, except at field boundaries after the graph (fewer metadata).
  for (std::size_t size = 0; size < model.size();
       size += size < 256 || size + 256 > static_cast<std::size_t>(graph_end) ? 1 : 1009) {
    const auto result = checksums_of_copy(std::string_view(model).substr(0, size));
    if (result == "ok") {
      CHECK(static_cast<std::ptrdiff_t>(size) >= graph_end);
    } else {
      CHECK(result.find("as an ONNX model") != std::string::npos);
    }
  }

  std::mt19937 rng(12);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 3000; ++trial) {
    auto mutated = model.substr(0, std::min<std::size_t>(model.size(), 4096));
    for (int flips = 0; flips < 3; ++flips) {
      mutated[rng() % std::min<std::size_t>(mutated.size(), 64)] =
          static_cast<char>(byte(rng));
    }
    std::string noise(rng() % 96, '\0');
    for (auto& c : noise) c = static_cast<char>(byte(rng));
    for (const auto& bytes : {mutated, noise}) {
      const auto result = checksums_of_copy(bytes);
      CHECK((result == "ok" || result.find("'fuzz.onnx'") != std::string::npos));
    }
  }
}
