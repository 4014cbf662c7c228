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

  // The model says which node (and jet) features it needs, in which order: find them by
  // name.
  file_width_ = config.hit_columns.size();
  per_jet_ = config.per_jet;
  const auto column = [&](const std::string& feature) {
    auto found = std::find(config.hit_columns.begin(), config.hit_columns.end(), feature);
    if (found == config.hit_columns.end()) {
      throw std::invalid_argument("model '" + config.model_path + "' needs hit feature '" +
                                  feature + "', which the event file does not have");
    }
    return static_cast<std::size_t>(found - config.hit_columns.begin());
  };
  const e2e_gnn::GraphSpec& graph = tagger_->graph_spec();
  for (const auto& feature : graph.feature_names) columns_.push_back(column(feature));
  for (const auto& feature : graph.graph_feature_names) jet_columns_.push_back(column(feature));
  for (std::size_t i = 0; i < tagger_->session().outputs().size(); ++i) {
    per_hit_ = per_hit_ || tagger_->per_node(i);
  }
  std::cout << "JetTaggerProducer: model " << tagger_->spec().name << " (e2e_gnn "
            << tagger_->spec().version << ", " << graph.builder << " graphs"
            << (graph.builder == "knn" ? " k=" + std::to_string(graph.k) : std::string()) << ", "
            << tagger_->num_features() << " features, "
            << (per_hit_ ? "one row per hit" : "one row per jet") << ") on "
            << (tagger_->session().backend() == e2e_gnn::Backend::cuda ? "cuda" : "cpu") << "\n";
}

void JetTaggerProducer::produce(Event& event) const {
  // Collect every jet of the event into one ragged batch (no padding).
  e2e_gnn::NodeBatch nodes(tagger_->num_features(),
                           static_cast<std::int64_t>(jet_columns_.size()));
  std::vector<float> features, jet_features;
  event.scores.clear();
  for (std::size_t j = 0; j < event.jets.size(); ++j) {
    const Jet& jet = event.jets[j];
    features.clear();
    for (std::int64_t hit = 0; hit < jet.num_hits; ++hit) {
      for (std::size_t f = 0; f < columns_.size(); ++f) {
        features.push_back(jet.hits[static_cast<std::size_t>(hit) * file_width_ + columns_[f]]);
      }
    }
    jet_features.clear();  // jet-level columns: the jet's first hit holds them
    for (std::size_t c : jet_columns_) {
      jet_features.push_back(jet.num_hits > 0 ? jet.hits[c] : 0.0f);
    }
    nodes.add(features, jet.num_hits, jet_features);
    if (per_jet_) {  // the unbatched way, kept to measure what batching saves
      store(tagger_->outputs(nodes), static_cast<std::int64_t>(j), event);
      nodes.clear();
    }
  }
  if (!per_jet_) {
    // The model's graphs, then ONE inference call for all jets.
    store(tagger_->outputs(nodes), 0, event);
  }
  ++events_;
  jets_ += static_cast<std::int64_t>(event.jets.size());
  calls_ += per_jet_ ? static_cast<std::int64_t>(event.jets.size()) : (event.jets.empty() ? 0 : 1);
}

void JetTaggerProducer::store(const std::vector<e2e_gnn::TaggerOutput>& outputs,
                              std::int64_t first_jet, Event& event) const {
  const std::int64_t jets = outputs.empty() ? 0 : outputs.front().rows.num_graphs();
  // Row r of graph g of an output: its values, [rows, width] (width 1 for a rank-1 output).
  const auto append = [](const e2e_gnn::TaggerOutput& output, std::int64_t g, std::int64_t r,
                         std::vector<float>& values) {
    const auto& shape = output.rows.values.shape;
    const std::int64_t width = shape[0] == 0 ? 0 : output.rows.values.size() / shape[0];
    const float* row = output.rows.data<float>(g) + r * width;
    values.insert(values.end(), row, row + width);
  };
  for (std::int64_t g = 0; g < jets; ++g) {
    const std::int64_t hits = per_hit_ ? event.jets[first_jet + g].num_hits : 1;
    for (std::int64_t hit = 0; hit < hits; ++hit) {
      ScoreRow row{first_jet + g, per_hit_ ? hit : -1, {}};
      for (const auto& output : outputs) {
        if (output.per_node) append(output, g, hit, row.values);
      }
      for (const auto& output : outputs) {
        if (!output.per_node) append(output, g, 0, row.values);
      }
      event.scores.push_back(std::move(row));
    }
  }
}

void JetTaggerProducer::endJob() const {
  std::cout << "JetTaggerProducer: " << events_ << " events, " << jets_ << " jets tagged in "
            << calls_ << " inference calls\n";
}

}  // namespace reco
