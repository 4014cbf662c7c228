#include "jet_tagger_producer.hpp"

#include <algorithm>
#include <iostream>
#include <stdexcept>

namespace reco {

void JetTaggerProducer::beginJob(const ProducerConfig& config) {
  e2e_gnn::TaggerOptions options;
  options.session.intra_op_threads = config.intra_op_threads;
  options.session.backend = config.cuda ? e2e_gnn::Backend::cuda : e2e_gnn::Backend::cpu;
  tagger_ = std::make_unique<e2e_gnn::Tagger>(config.model_path, options);
  // e.g. a model not marked thread_safe runs on one intra-op thread, not the threads asked
  for (const auto& note : tagger_->session().notes()) {
    std::cerr << "JetTaggerProducer: warning: " << note << "\n";
  }

  // The model says which node features it needs, in which order: find them by name.
  file_width_ = config.hit_columns.size();
  per_jet_ = config.per_jet;
  for (const auto& feature : tagger_->graph_spec().feature_names) {
    auto found = std::find(config.hit_columns.begin(), config.hit_columns.end(), feature);
    if (found == config.hit_columns.end()) {
      throw std::invalid_argument("model '" + config.model_path + "' needs hit feature '" +
                                  feature + "', which the event file does not have");
    }
    columns_.push_back(static_cast<std::size_t>(found - config.hit_columns.begin()));
  }
  std::cout << "JetTaggerProducer: model " << tagger_->spec().name << " (e2e_gnn "
            << tagger_->spec().version << ", k=" << tagger_->graph_spec().k << ", "
            << tagger_->num_features() << " features) on "
            << (tagger_->session().backend() == e2e_gnn::Backend::cuda ? "cuda" : "cpu") << "\n";
}

void JetTaggerProducer::produce(Event& event) const {
  // Collect every jet of the event into one ragged batch (no padding).
  e2e_gnn::NodeBatch nodes(tagger_->num_features());
  std::vector<float> features;
  event.scores.clear();
  for (const Jet& jet : event.jets) {
    features.clear();
    for (std::int64_t hit = 0; hit < jet.num_hits; ++hit) {
      for (std::size_t f = 0; f < columns_.size(); ++f) {
        features.push_back(jet.hits[static_cast<std::size_t>(hit) * file_width_ + columns_[f]]);
      }
    }
    nodes.add(features, jet.num_hits);
    if (per_jet_) {  // the unbatched way, kept to measure what batching saves
      store(tagger_->tag(nodes), event);
      nodes.clear();
    }
  }
  if (!per_jet_) {
    // kNN graphs as the model was trained, then ONE inference call for all jets.
    store(tagger_->tag(nodes), event);
  }
  ++events_;
  jets_ += static_cast<std::int64_t>(event.jets.size());
  calls_ += per_jet_ ? static_cast<std::int64_t>(event.jets.size()) : (event.jets.empty() ? 0 : 1);
}

void JetTaggerProducer::store(const e2e_gnn::Tensor& scores, Event& event) {
  const std::int64_t classes = scores.shape[1];
  for (std::int64_t j = 0; j < scores.shape[0]; ++j) {
    const float* first = scores.as<float>() + j * classes;
    event.scores.emplace_back(first, first + classes);
  }
}

void JetTaggerProducer::endJob() const {
  std::cout << "JetTaggerProducer: " << events_ << " events, " << jets_ << " jets tagged in "
            << calls_ << " inference calls\n";
}

}  // namespace reco
