#include "daemon/cache/semantic_index.hpp"

#include <cmath>

namespace aigw::daemon::cache {

bool SemanticIndex::normalise(std::vector<float>& v)
{
    double norm = 0;
    for (float x : v) {
        norm += static_cast<double>(x) * x;
    }
    if (v.empty() || !(norm > 0) || !std::isfinite(norm)) {
        return false;
    }
    const double inv = 1.0 / std::sqrt(norm);
    for (float& x : v) {
        x = static_cast<float>(x * inv);
    }
    return true;
}

bool SemanticIndex::add(const std::string& partition, const std::string& key, std::vector<float> vector,
                        std::vector<std::string>* dropped)
{
    if (m_max_entries == 0 || !normalise(vector)) {
        return false;
    }
    remove(key);
    while (m_where.size() >= m_max_entries && !m_oldest_first.empty()) {
        std::string oldest = m_oldest_first.front();
        remove(oldest);
        if (dropped != nullptr) {
            dropped->push_back(std::move(oldest));
        }
    }
    m_partitions[partition].push_back(Item{key, std::move(vector)});
    m_oldest_first.push_back(key);
    m_where.emplace(key, Where{partition, std::prev(m_oldest_first.end())});
    return true;
}

void SemanticIndex::remove(const std::string& key)
{
    auto w = m_where.find(key);
    if (w == m_where.end()) {
        return;
    }
    auto p = m_partitions.find(w->second.partition);
    if (p != m_partitions.end()) {
        auto& items = p->second;
        for (auto it = items.begin(); it != items.end(); ++it) {
            if (it->key == key) {
                items.erase(it);
                break;
            }
        }
        if (items.empty()) {
            m_partitions.erase(p);
        }
    }
    m_oldest_first.erase(w->second.age);
    m_where.erase(w);
}

void SemanticIndex::clear()
{
    m_partitions.clear();
    m_where.clear();
    m_oldest_first.clear();
}

std::optional<SemanticMatch> SemanticIndex::best_match(const std::string& partition, std::span<const float> vector,
                                                       double threshold) const
{
    auto p = m_partitions.find(partition);
    if (p == m_partitions.end() || vector.empty()) {
        return std::nullopt;
    }
    double norm = 0;
    for (float x : vector) {
        norm += static_cast<double>(x) * x;
    }
    if (!(norm > 0)) {
        return std::nullopt;
    }
    const double inv = 1.0 / std::sqrt(norm);
    std::optional<SemanticMatch> best;
    for (const auto& item : p->second) {
        if (item.unit.size() != vector.size()) {
            continue;
        }
        double dot = 0;
        for (std::size_t i = 0; i < vector.size(); ++i) {
            dot += static_cast<double>(item.unit[i]) * vector[i];
        }
        const double similarity = dot * inv;
        if (similarity >= threshold && (!best || similarity > best->similarity)) {
            best = SemanticMatch{item.key, similarity};
        }
    }
    return best;
}

}  // namespace aigw::daemon::cache
