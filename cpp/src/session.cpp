#include "e2e_gnn/session.hpp"

#include "e2e_gnn/model_spec.hpp"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "e2e_gnn/checksum.hpp"
#include "ops.hpp"

namespace e2e_gnn {
namespace {

// One ONNX Runtime environment per process (ORT requires it to outlive every session).
Ort::Env& environment() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "e2e_gnn");
  return env;
}

ONNXTensorElementDataType to_onnx(DType dtype) {
  switch (dtype) {
    case DType::float32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DType::float64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
    case DType::int32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case DType::int64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    case DType::uint8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case DType::bool_: return ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL;
  }
  throw std::invalid_argument("unsupported dtype");
}

DType from_onnx(ONNXTensorElementDataType type, const std::string& name) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return DType::float32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return DType::float64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return DType::int32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return DType::int64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return DType::uint8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return DType::bool_;
    default:
      throw std::invalid_argument("model tensor '" + name + "' has ONNX element type " +
                                  std::to_string(static_cast<int>(type)) +
                                  ", which e2e_gnn does not support");
  }
}

TensorInfo describe(const Ort::TypeInfo& type, std::string name) {
  if (type.GetONNXType() != ONNX_TYPE_TENSOR) {
    throw std::invalid_argument("model input/output '" + name + "' is not a tensor");
  }
  auto tensor = type.GetTensorTypeAndShapeInfo();
  return TensorInfo{name, from_onnx(tensor.GetElementType(), name), tensor.GetShape()};
}

// Appends the CUDA execution provider; returns false (with a warning) when this ONNX
// Runtime build has none, so the session runs on the CPU instead.
bool try_cuda(Ort::SessionOptions& options, int device) {
  auto providers = Ort::GetAvailableProviders();
  if (std::find(providers.begin(), providers.end(), "CUDAExecutionProvider") == providers.end()) {
    std::cerr << "e2e_gnn: warning: CUDA requested but this ONNX Runtime has no "
                 "CUDAExecutionProvider; running on the CPU\n";
    return false;
  }
  try {
    OrtCUDAProviderOptions cuda{};
    cuda.device_id = device;
    options.AppendExecutionProvider_CUDA(cuda);
    return true;
  } catch (const Ort::Exception& error) {
    std::cerr << "e2e_gnn: warning: CUDA execution provider unavailable (" << error.what()
              << "); running on the CPU\n";
    return false;
  }
}

}  // namespace

Session::Session(const std::string& model_path, const SessionOptions& options)
    : model_path_(model_path) {
  if (!std::filesystem::is_regular_file(model_path)) {
    throw std::invalid_argument("model file '" + model_path + "' does not exist");
  }
  if (options.verify_checksum) verify_model_checksum(model_path);
  // Before anything is loaded: the thread rule refuses a negative count (its metadata
  // argument does not matter then).
  if (options.intra_op_threads < 0) intra_op_threads_for(options.intra_op_threads, {}, "", nullptr);
  if (options.inter_op_threads < 0) {
    throw std::invalid_argument("inter-op threads is " + std::to_string(options.inter_op_threads) +
                                ", expected >= 1 (or 0: ONNX Runtime's default)");
  }
  Ort::SessionOptions ort_options;
  ort_options.SetIntraOpNumThreads(options.intra_op_threads);
  ort_options.SetInterOpNumThreads(options.inter_op_threads);
  ort_options.SetGraphOptimizationLevel(
      static_cast<GraphOptimizationLevel>(options.graph_optimization_level));
  if (options.backend == Backend::cuda && try_cuda(ort_options, options.cuda_device)) {
    backend_ = Backend::cuda;
  }
  // Models exported with fused operators run with no step by the user.
  custom_ops_ = std::make_unique<Ort::CustomOpDomain>(ops::kDomain);
  Ort::ThrowOnError(ops::add_ops(Ort::GetApi(), *custom_ops_));
  ort_options.Add(*custom_ops_);
  auto load = [&] {
    try {
      session_ = std::make_unique<Ort::Session>(environment(), model_path.c_str(), ort_options);
    } catch (const Ort::Exception& error) {
      throw std::invalid_argument("cannot load '" + model_path +
                                  "' as an ONNX model: " + error.what());
    }
  };
  load();

  Ort::AllocatorWithDefaultOptions allocator;
  for (std::size_t i = 0; i < session_->GetInputCount(); ++i) {
    inputs_.push_back(describe(session_->GetInputTypeInfo(i),
                               session_->GetInputNameAllocated(i, allocator).get()));
  }
  for (std::size_t i = 0; i < session_->GetOutputCount(); ++i) {
    outputs_.push_back(describe(session_->GetOutputTypeInfo(i),
                                session_->GetOutputNameAllocated(i, allocator).get()));
  }
  for (const auto& info : outputs_) output_names_.push_back(info.name.c_str());
  memory_ = std::make_unique<Ort::MemoryInfo>(
      Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault));
  auto model_metadata = session_->GetModelMetadata();
  for (const auto& key : model_metadata.GetCustomMetadataMapKeysAllocated(allocator)) {
    metadata_[key.get()] =
        model_metadata.LookupCustomMetadataMapAllocated(key.get(), allocator).get();
  }
  // The thread rule needs the spec, which is read from the loaded model: a model that is
  // not thread-safe is loaded again on one thread (the note says why).
  std::string note;
  const int threads =
      intra_op_threads_for(options.intra_op_threads, metadata_, "model '" + model_path + "'", &note);
  if (threads != options.intra_op_threads) {
    ort_options.SetIntraOpNumThreads(threads);
    load();
    notes_.push_back(note);
  }
}

Session::~Session() = default;

void Session::validate(const NamedInputs& inputs) const {
  // Runs on every call: messages (and the list of known inputs) are built only on failure.
  auto known = [&] {
    std::string names;
    for (const auto& info : inputs_) names += (names.empty() ? "" : ", ") + info.name;
    return names;
  };
  for (const auto& [name, view] : inputs) {
    auto info = std::find_if(inputs_.begin(), inputs_.end(),
                             [&](const TensorInfo& i) { return i.name == name; });
    if (info == inputs_.end()) {
      throw std::invalid_argument("model '" + model_path_ + "' has no input '" + name +
                                  "'; its inputs are: " + known());
    }
    if (std::count_if(inputs.begin(), inputs.end(),
                      [&](const auto& other) { return other.first == name; }) > 1) {
      throw std::invalid_argument("input '" + name + "' is given more than once");
    }
    if (view.dtype != info->dtype) {
      throw std::invalid_argument("input '" + name + "' has dtype " + to_string(view.dtype) +
                                  ", the model expects " + to_string(info->dtype));
    }
    bool shape_ok = view.shape.size() == info->shape.size();
    for (std::size_t d = 0; shape_ok && d < view.shape.size(); ++d) {
      shape_ok = view.shape[d] >= 0 && (info->shape[d] < 0 || info->shape[d] == view.shape[d]);
    }
    if (!shape_ok) {
      throw std::invalid_argument("input '" + name + "' has shape " +
                                  shape_to_string(view.shape) + ", the model expects " +
                                  shape_to_string(info->shape));
    }
    if (view.data == nullptr && view.size() > 0) {
      throw std::invalid_argument("input '" + name + "' has no data");
    }
  }
  for (const auto& info : inputs_) {
    if (std::none_of(inputs.begin(), inputs.end(),
                     [&](const auto& given) { return given.first == info.name; })) {
      throw std::invalid_argument("input '" + info.name + "' is missing; the model needs: " +
                                  known());
    }
  }
}

std::vector<Tensor> Session::run(const NamedInputs& inputs) const {
  validate(inputs);
  std::vector<const char*> input_names;
  std::vector<Ort::Value> input_values;
  input_names.reserve(inputs.size());
  input_values.reserve(inputs.size());
  for (const auto& [name, view] : inputs) {
    input_names.push_back(name.c_str());
    // ONNX Runtime takes a non-const pointer but does not write to inputs.
    input_values.push_back(Ort::Value::CreateTensor(
        *memory_, const_cast<void*>(view.data), view.size() * element_size(view.dtype),
        view.shape.data(), view.shape.size(), to_onnx(view.dtype)));
  }

  std::vector<Ort::Value> output_values;
  try {
    output_values = session_->Run(Ort::RunOptions{nullptr}, input_names.data(),
                                  input_values.data(), input_values.size(), output_names_.data(),
                                  output_names_.size());
  } catch (const Ort::Exception& error) {
    throw std::runtime_error("ONNX Runtime failed on '" + model_path_ + "': " + error.what());
  }

  std::vector<Tensor> outputs;
  outputs.reserve(output_values.size());
  for (std::size_t i = 0; i < output_values.size(); ++i) {
    auto info = output_values[i].GetTensorTypeAndShapeInfo();
    Tensor tensor{from_onnx(info.GetElementType(), outputs_[i].name), info.GetShape(), {}};
    tensor.bytes.resize(tensor.size() * element_size(tensor.dtype));
    if (!tensor.bytes.empty()) {
      std::memcpy(tensor.bytes.data(), output_values[i].GetTensorRawData(), tensor.bytes.size());
    }
    outputs.push_back(std::move(tensor));
  }
  return outputs;
}

}  // namespace e2e_gnn
