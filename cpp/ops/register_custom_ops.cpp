// The entry point of libe2e_gnn_ops.so, ONNX Runtime's custom-operator library protocol:
// Python's SessionOptions.register_custom_ops_library(path), Triton's onnxruntime backend
// (model_operations { op_library_filename: ... }) and any ONNX Runtime user call it.
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "ops.hpp"

namespace {

// One domain per ONNX Runtime instance (there is one per process in practice), shared by all
// the session options it is added to: ONNX Runtime keeps a pointer, so it lives until exit.
class Domains {
 public:
  OrtStatus* add_to(const OrtApi& api, OrtSessionOptions* options) {
    std::lock_guard<std::mutex> lock(mutex_);
    OrtCustomOpDomain* domain = nullptr;
    for (const auto& [owner, known] : domains_) {
      if (owner == &api) domain = known;
    }
    if (domain == nullptr) {
      if (OrtStatus* status = api.CreateCustomOpDomain(e2e_gnn::ops::kDomain, &domain)) {
        return status;
      }
      if (OrtStatus* status = e2e_gnn::ops::add_ops(api, domain)) {
        api.ReleaseCustomOpDomain(domain);
        return status;
      }
      domains_.emplace_back(&api, domain);
    }
    return api.AddCustomOpDomain(options, domain);
  }

  ~Domains() {
    for (const auto& [api, domain] : domains_) api->ReleaseCustomOpDomain(domain);
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<const OrtApi*, OrtCustomOpDomain*>> domains_;
};

}  // namespace

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  const OrtApi* api = api_base->GetApi(e2e_gnn::ops::kOrtApiVersion);
  if (api == nullptr) {
    // Version 1 of the API, which every ONNX Runtime has, can still report the error.
    const std::string message = std::string("libe2e_gnn_ops needs ONNX Runtime >= 1.17, not ") +
                                api_base->GetVersionString();
    return api_base->GetApi(1)->CreateStatus(ORT_FAIL, message.c_str());
  }
  static Domains domains;
  return domains.add_to(*api, options);
}
