// One ONNX Runtime session, created once and reused: typed named inputs and outputs,
// validated before ONNX Runtime sees them, thread-safe run().
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "e2e_gnn/tensor.hpp"

namespace Ort {
struct CustomOpDomain;
struct MemoryInfo;
struct Session;
}

namespace e2e_gnn {

enum class Backend { cpu, cuda };

struct SessionOptions {
  // Threads inside one call: 1 like CMSSW/Athena (frameworks parallelise over events); more,
  // or 0 (ONNX Runtime's default: all cores), only for a model whose e2e_gnn spec says
  // thread_safe: any other model runs on 1 thread and Session::notes() says so. < 0: error.
  int intra_op_threads = 1;
  int inter_op_threads = 1;  // threads across independent operators (>= 0)
  // ONNX Runtime's GraphOptimizationLevel: 0 disable, 1 basic, 2 extended, 99 all.
  int graph_optimization_level = 99;
  Backend backend = Backend::cpu;
  int cuda_device = 0;
  // Refuse a model whose graph does not hash to its e2e_gnn.checksum (changed after export,
  // or no checksum). Costs one read and SHA-256 of the file; false skips it (huge models).
  bool verify_checksum = true;
};

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;  // -1 for a dynamic dimension
};

using NamedInputs = std::vector<std::pair<std::string, TensorView>>;

class Session {
 public:
  explicit Session(const std::string& model_path, const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& model_path() const { return model_path_; }
  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  // The model's ONNX metadata_props (e2e_gnn writes its spec and checksum there).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The execution provider actually in use (CUDA requested but unavailable gives cpu).
  Backend backend() const { return backend_; }
  // Warnings of the construction, e.g. that a model not marked thread_safe runs on one
  // intra-op thread instead of the threads asked for. Print them (the bindings raise each
  // as a Python RuntimeWarning).
  const std::vector<std::string>& notes() const { return notes_; }

  // Checks names, dtypes, ranks and fixed dimensions of `inputs` against the model and
  // throws std::invalid_argument naming the input before anything reaches ONNX Runtime.
  void validate(const NamedInputs& inputs) const;

  // Runs the model; every model input must be given once. Returns the outputs in the
  // model's order. Safe to call from many threads at once.
  std::vector<Tensor> run(const NamedInputs& inputs) const;

 private:
  std::string model_path_;
  Backend backend_ = Backend::cpu;
  // e2e_gnn's custom operators (domain ai.e2e_gnn): must outlive session_.
  std::unique_ptr<Ort::CustomOpDomain> custom_ops_;
  std::unique_ptr<Ort::Session> session_;
  std::unique_ptr<Ort::MemoryInfo> memory_;  // CPU memory of the input tensors (made once)
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  std::vector<const char*> output_names_;  // into outputs_, for Ort::Session::Run
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> notes_;
};

}  // namespace e2e_gnn
