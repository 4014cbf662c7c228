#include "event_source.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace reco {
namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  for (std::string field; std::getline(stream, field, ',');) fields.push_back(field);
  return fields;
}

}  // namespace

EventFile read_events(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open event file '" + path + "'");
  EventFile file;
  std::string line;
  std::getline(in, line);
  auto header = split(line);
  if (header.size() < 3 || header[0] != "event" || header[1] != "jet") {
    throw std::runtime_error(path + ":1: expected a header 'event,jet,<features>...'");
  }
  file.columns.assign(header.begin() + 2, header.end());
  const std::size_t width = file.columns.size();
  std::int64_t last_jet = -2;
  for (std::size_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    auto fields = split(line);
    const std::int64_t event = std::strtoll(fields.at(0).c_str(), nullptr, 10);
    const std::int64_t jet = fields.size() > 1 ? std::strtoll(fields[1].c_str(), nullptr, 10) : -1;
    if (file.events.empty() || file.events.back().id != event) {
      file.events.push_back(Event{event, {}, {}});
      last_jet = -2;
    }
    if (jet < 0) continue;  // an event without jets
    if (fields.size() != width + 2) {
      throw std::runtime_error(path + ":" + std::to_string(number) + ": " +
                               std::to_string(fields.size()) + " fields, expected " +
                               std::to_string(width + 2));
    }
    auto& jets = file.events.back().jets;
    if (jet != last_jet) jets.emplace_back();
    last_jet = jet;
    for (std::size_t c = 0; c < width; ++c) {
      jets.back().hits.push_back(std::strtof(fields[c + 2].c_str(), nullptr));
    }
    ++jets.back().num_hits;
  }
  return file;
}

void write_scores(const std::string& path, const std::vector<Event>& events) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write '" + path + "'");
  char number[32];
  for (const auto& event : events) {
    for (const ScoreRow& row : event.scores) {
      out << event.id << ',' << row.jet;
      if (row.hit >= 0) out << ',' << row.hit;
      for (float score : row.values) {
        std::snprintf(number, sizeof number, "%.9g", score);
        out << ',' << number;
      }
      out << '\n';
    }
  }
}

}  // namespace reco
